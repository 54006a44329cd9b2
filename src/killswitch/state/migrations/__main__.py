"""``python -m killswitch.state.migrations "what changed"``: draft the next revision (developers)."""

import sys

from killswitch.state.schema import new_revision

print(new_revision(" ".join(sys.argv[1:]) or "describe the change"))
