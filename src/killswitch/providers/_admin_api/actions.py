"""What the LLM admin-API providers' actions and native caps share.

A provider's native cap lives on one of its objects (an OpenAI project's spend limit, an
OpenRouter key's limit), so only a budget that caps one such object each can map to it.
"""

from __future__ import annotations

from killswitch.plugins import CapRequest, CapUnsupported


def require_one_each(request: CapRequest, dim: str, who: str) -> None:
    """Refuse (:class:`CapUnsupported`) a budget that is not one ``dim`` each.

    One each is ``{each: dim}``, or no ``each`` and a ``dim`` filter listing exactly one value
    (``{projects: [one]}``: a filter's name is its dimension plus "s", see core/scope.py).
    ``who`` opens the message: "an OpenAI".
    """
    scope = request.scope
    listed = dict(scope.filters).get(dim, frozenset())
    if scope.each != dim and not (scope.each is None and len(listed) == 1):
        raise CapUnsupported(
            f"{who} native cap is per {dim}: use scope {{each: {dim}}} or {{{dim}s: [one]}}"
        )
