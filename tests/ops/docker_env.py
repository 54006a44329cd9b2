"""A private Docker engine for the image test, and the cached inputs of an offline build.

* dockerd runs with ``--bridge=none --iptables=false`` (no docker0, no NAT rules) on its own socket;
  containers use ``--network=host`` and bind 127.0.0.1 only. Its data root persists under
  .ci/cache/docker/ so the base image and build layers survive between runs.
* The base image is a debootstrap'ed Debian bookworm (python3, python3-venv) imported with
  ``docker import``, because nothing can be pulled from a registry here. Its rootfs tarball is
  cached in .ci/cache/base/ (debootstrap takes about a minute).
* The wheelhouse is built on the host with ``pip wheel`` (the container build runs with
  ``--network=none`` and installs from it with ``--no-index``).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.ops.conftest import need
from tests.ops.live import REPO, Managed, wait_until

CACHE = REPO / ".ci" / "cache"
DOCKER_CACHE = CACHE / "docker"
WHEELHOUSE = CACHE / "wheelhouse"  # .dockerignore lets exactly this into the build context
BASE_PACKAGES = ("python3", "python3-venv", "ca-certificates")
BASE_TAG = "local/killswitch-base:bookworm"
BASE_KEY = hashlib.sha256(("bookworm minbase " + " ".join(BASE_PACKAGES)).encode()).hexdigest()[:16]
MIRROR = os.environ.get("KILLSWITCH_DEBIAN_MIRROR", "http://deb.debian.org/debian")
EXTRAS = "all"


@dataclass
class Docker:
    host: str
    binary: str

    def env(self) -> dict[str, str]:
        return {**os.environ, "DOCKER_HOST": self.host, "DOCKER_BUILDKIT": "0"}

    def run(
        self, *args: str, check: bool = True, timeout: float = 600, input: bytes | None = None
    ) -> subprocess.CompletedProcess[str]:
        r = subprocess.run(
            [self.binary, *args],
            capture_output=True,
            text=input is None,
            input=input,
            env=self.env(),
            timeout=timeout,
            check=False,
            cwd=REPO,
        )
        if check and r.returncode != 0:
            out = r.stdout if isinstance(r.stdout, str) else r.stdout.decode(errors="replace")
            err = r.stderr if isinstance(r.stderr, str) else r.stderr.decode(errors="replace")
            raise AssertionError(
                f"docker {' '.join(args[:3])}... failed ({r.returncode}):\n{out[-3000:]}\n{err[-3000:]}"
            )
        return r

    def image_label(self, image: str, label: str) -> str | None:
        r = self.run(
            "image", "inspect", "-f", f'{{{{index .Config.Labels "{label}"}}}}', image, check=False
        )
        return r.stdout.strip() if r.returncode == 0 else None


@contextlib.contextmanager
def private_dockerd(dockerd: str, docker: str) -> Iterator[Docker]:
    """Start dockerd on a private socket (serialised with a lock on the cached data root)."""
    DOCKER_CACHE.mkdir(parents=True, exist_ok=True)
    with (DOCKER_CACHE / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        # unix socket paths are limited to 108 bytes: keep the runtime dir short
        run_dir = Path(tempfile.mkdtemp(prefix="ks-dockerd-", dir="/tmp"))
        sock = run_dir / "docker.sock"
        proc = Managed.start(
            "dockerd",
            [
                dockerd,
                f"--data-root={DOCKER_CACHE / 'root'}",
                f"--exec-root={run_dir / 'exec'}",
                f"--pidfile={run_dir / 'dockerd.pid'}",
                f"--host=unix://{sock}",
                "--bridge=none",
                "--iptables=false",
                "--ip-masq=false",
                "--ip6tables=false",
            ],
            run_dir / "dockerd.log",
        )
        try:
            d = Docker(f"unix://{sock}", docker)
            try:
                wait_until(
                    lambda: (
                        proc.alive() and d.run("version", check=False, timeout=10).returncode == 0
                    ),
                    timeout=60,
                    what="dockerd",
                    diag=proc.tail,
                )
            except AssertionError as exc:
                # installed but cannot run here (no privileges, no overlayfs...): an
                # environment limit, reported like a missing tool
                need("a dockerd that starts", False, str(exc))
            # containers a crashed earlier run left behind
            stale = d.run("ps", "-aq", "--filter", "label=killswitch-ops-test").stdout.split()
            if stale:
                d.run("rm", "-f", *stale, check=False)
            yield d
        finally:
            proc.stop(timeout=20)
            unmount_under(run_dir)  # dockerd leaves its netns bind mount behind
            shutil.rmtree(run_dir, ignore_errors=True)


def unmount_under(path: Path) -> None:
    with open("/proc/mounts") as f:
        points = [line.split()[1] for line in f if line.split()[1].startswith(f"{path}/")]
    for point in sorted(points, reverse=True):
        subprocess.run(["umount", point], check=False, capture_output=True)


def base_rootfs(debootstrap: str) -> Path:
    """The cached bookworm rootfs tarball (python3 + venv), made with debootstrap if missing."""
    tar = CACHE / "base" / f"bookworm-{BASE_KEY}.tar"
    if tar.exists():
        return tar
    tar.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ks-rootfs-") as tmp:
        root = Path(tmp) / "rootfs"
        r = subprocess.run(
            [
                debootstrap,
                "--variant=minbase",
                f"--include={','.join(BASE_PACKAGES)}",
                "bookworm",
                str(root),
                MIRROR,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if r.returncode != 0:
            raise AssertionError(f"debootstrap failed:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
        # like the official slim images: no package caches or lists in the base
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for p in (root / junk).glob("*"):
                if p.is_file():
                    p.unlink()
        partial = tar.with_suffix(".partial")
        subprocess.run(["tar", "-C", str(root), "-cf", str(partial), "."], check=True)
        partial.rename(tar)
    return tar


def ensure_base_image(d: Docker, debootstrap: str) -> str:
    if d.image_label(BASE_TAG, "org.killswitch.base") == BASE_KEY:
        return BASE_TAG
    tar = base_rootfs(debootstrap)
    with tar.open("rb") as f:
        d.run(
            "import",
            "--change",
            f"LABEL org.killswitch.base={BASE_KEY}",
            "-",
            BASE_TAG,
            input=f.read(),
        )
    return BASE_TAG


def source_digest() -> str:
    h = hashlib.sha256()
    files = [REPO / "pyproject.toml", REPO / "README.md", *sorted((REPO / "src").rglob("*"))]
    for f in files:
        if f.is_file() and "__pycache__" not in f.parts and ".egg-info" not in str(f):
            h.update(str(f.relative_to(REPO)).encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


def build_wheelhouse() -> Path:
    """Wheels of killswitch-daemon[all] and its dependencies. Offline from the cache when it already
    has everything; otherwise pip fetches what is missing from the index. The killswitch wheel
    is only rebuilt when the source changed, so an unchanged tree reuses every image layer."""
    WHEELHOUSE.mkdir(parents=True, exist_ok=True)
    stamp = WHEELHOUSE / ".source-digest"
    digest = source_digest()
    if (
        list(WHEELHOUSE.glob("killswitch_daemon-*.whl"))
        and stamp.exists()
        and stamp.read_text() == digest
    ):
        return WHEELHOUSE
    for old in WHEELHOUSE.glob("killswitch_daemon-*.whl"):
        old.unlink()
    pip = [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--quiet",
        "--disable-pip-version-check",
        "-w",
        str(WHEELHOUSE),
    ]
    project = f"{REPO}[{EXTRAS}]"
    offline = subprocess.run(
        [*pip, "--no-index", "--find-links", str(WHEELHOUSE), project],
        capture_output=True,
        text=True,
        check=False,
    )
    if offline.returncode != 0:
        online = subprocess.run(
            [*pip, "--find-links", str(WHEELHOUSE), project, "setuptools>=77", "wheel"],
            capture_output=True,
            text=True,
            check=False,
        )
        if online.returncode != 0:
            raise AssertionError(
                f"pip wheel failed:\n{online.stdout[-2000:]}\n{online.stderr[-3000:]}"
            )
    assert list(WHEELHOUSE.glob("killswitch_daemon-*.whl")), "no killswitch wheel built"
    stamp.write_text(digest)
    return WHEELHOUSE


def build_image(d: Docker, base: str, tag: str) -> float:
    """docker build (legacy builder, no network); returns the build time in seconds.

    The build stage is tagged too (``<tag>-build``): the legacy builder leaves it dangling
    otherwise, and pruning dangling images would then throw away its cached pip-install layer."""
    args = [
        "--network=none",
        "--build-arg",
        f"BASE_IMAGE={base}",
        "--build-arg",
        f"WHEELHOUSE={WHEELHOUSE.relative_to(REPO)}",
        "--build-arg",
        f"EXTRAS={EXTRAS}",
        "--label",
        "killswitch-ops-test=1",
    ]
    t0 = time.monotonic()
    d.run("build", *args, "--target", "build", "-t", f"{tag}-build", ".", timeout=900)
    d.run("build", *args, "-t", tag, ".", timeout=900)
    seconds = time.monotonic() - t0
    # earlier builds' images are dangling now: drop them so the cached data root stays small
    d.run("image", "prune", "--force", check=False)
    return seconds
