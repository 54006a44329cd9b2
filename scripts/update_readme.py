"""Regenerate README sections that are derived from code (the capability matrix).

Run after adding or changing a provider: `.venv/bin/python scripts/update_readme.py`.
tests/unit/test_readme.py fails when the README and the registry disagree.
"""

from __future__ import annotations

import re
from pathlib import Path

from killswitch.capabilities import matrix, render_markdown

README = Path(__file__).resolve().parents[1] / "README.md"
START, END = "<!-- matrix:start -->", "<!-- matrix:end -->"


def render() -> str:
    return f"{START}\n{render_markdown(matrix())}\n{END}"


def main() -> None:
    text = README.read_text()
    new = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: render(), text, flags=re.S)
    README.write_text(new)


if __name__ == "__main__":
    main()
