"""Config field types the admin-API usage providers (OpenAI, Anthropic) share.

Both usage sources re-read recent usage that can land late, and both read the billed-cost
report at most once per interval for their costs source and drift; the two settings mean the
same there, so they are declared once (each provider still picks the default).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from killswitch.durations import Duration

Lookback = Annotated[
    Duration,
    Field(description="each poll re-reads this much already-read usage: data can land late"),
]
ReconcileInterval = Annotated[
    Duration,
    Field(description="how often billed costs are read (the costs source and drift share it)"),
]
