"""The README's capability matrix is generated from the registry; they must agree."""

from pathlib import Path

from killswitch.capabilities import matrix, render_markdown

README = Path(__file__).resolve().parents[2] / "README.md"


def test_capability_matrix_matches_the_registry() -> None:
    text = README.read_text()
    assert render_markdown(matrix()) in text, (
        "README capability matrix is stale: run `.venv/bin/python scripts/update_readme.py`"
    )


def test_readme_shows_the_two_commands_and_every_metric() -> None:
    text = README.read_text()
    assert "make run" in text and "make test" in text
    from killswitch.metrics import Metrics

    m = Metrics()
    names = {f.name for f in m.registry.collect()}
    for name in names:
        assert f"`{name}" in text, f"metric {name} missing from the README metrics table"
