"""What the LLM admin-API providers (OpenAI, Anthropic, and the xAI/Azure shape checks) share.

Not a provider: the registry skips ``_``-prefixed packages, and the import-linter contract lets
every provider import this kit (and nothing of each other). One place for:

* :mod:`.shapes`: the small response validators (object, count, optional string, page envelope);
* :mod:`.client`: the paced HTTP client and ``page=<next_page>`` report paging;
* :mod:`.config`: the ``lookback`` and ``reconcile_interval`` field types both usage configs use;
* :mod:`.pages`: cursor pagination that refuses to loop or to guess past its page limit;
* :mod:`.costs`: the billed-cost snapshot cache, its reader and source bases, ``floor_day``;
* :mod:`.reconcile`: estimate-vs-billed drift, the one rule for when it alerts, and the
  usage sources' :class:`~.reconcile.Reconciler` (their estimates and when they last compared).
"""
