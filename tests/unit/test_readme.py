"""The README's capability matrix is generated from the registry; they must agree."""

import re
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


REPO = README.parent
# `killswitch` on PyPI is an unrelated project: every install line must name ours.
FOREIGN = re.compile(r"(?<![\w-])killswitch(\[[\w,]+\])?(?=['\"\s`]|$)")


def _install_lines() -> list[tuple[str, str]]:
    files = [README, REPO / "Dockerfile", *REPO.glob("docs/**/*.md"), *REPO.glob("deploy/**/*")]
    files += [REPO / "src/killswitch/plugins.py"]  # the hint shown for a missing SDK
    out = []
    for f in files:
        if not f.is_file():
            continue
        for line in f.read_text(errors="replace").splitlines():
            if "pip install" in line or "pip wheel" in line or 'spec="' in line:
                out.append((str(f.relative_to(REPO)), line))
    return out


def _pip_args(line: str) -> str:
    """What pip is asked to install: the text after `pip install`, up to the end of the command."""
    for verb in ("pip install", "pip wheel", 'spec="'):
        if verb in line:
            line = line.split(verb, 1)[1]
            break
    return re.split(r"`|&&|;|\||#|\bthen\b", line, maxsplit=1)[0]


def test_every_install_line_names_this_projects_distribution() -> None:
    import tomllib

    from killswitch import DISTRIBUTION

    name = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["name"]
    assert name == DISTRIBUTION == "killswitch-daemon"
    lines = _install_lines()
    assert any("killswitch-daemon[all]" in line for f, line in lines if f == "README.md")
    assert any("killswitch-daemon" in line for f, line in lines if f == "Dockerfile")
    bad = [(f, line) for f, line in lines if FOREIGN.search(_pip_args(line))]
    assert not bad, f"install lines that would fetch PyPI's unrelated `killswitch`: {bad}"


def test_version_comes_from_the_installed_distribution() -> None:
    from importlib.metadata import version

    import killswitch

    assert killswitch.__version__ == version("killswitch-daemon")
