"""Acting on decisions: plan (pure rails) -> journal (intent) -> runner (provider call) ->
journal (outcome) -> announce (events returned to the engine). See ``executor.py`` for the order
that makes a kill crash-safe.
"""

from killswitch.act.executor import Acted, Executor
from killswitch.act.journal import Journal, JournalOp, JournalStatus, KillMode
from killswitch.act.plan import KillBatch, KillFate, KillPlan, Op, RestorePlan, Undo
from killswitch.act.policy import policy_of, resolve
from killswitch.act.runner import ActionResult, Outcome, run_op

__all__ = [
    "Acted",
    "ActionResult",
    "Executor",
    "Journal",
    "JournalOp",
    "JournalStatus",
    "KillBatch",
    "KillFate",
    "KillMode",
    "KillPlan",
    "Op",
    "Outcome",
    "RestorePlan",
    "Undo",
    "policy_of",
    "resolve",
    "run_op",
]
