"""The benchmark harness still runs (tiny sizes, one run): numbers are never asserted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench.py"


def test_bench_runs_in_smoke_mode_and_prints_its_table() -> None:
    r = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--smoke"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert "| figure | this build (median) | floor, same run (median) |" in r.stdout
    assert "`/metrics` at 200 keys" in r.stdout and "Traceback" not in r.stderr
    assert "one 200-key cycle (poll + record + evaluate + act + publish)" in r.stdout
    assert "detection -> disable request at 200 keys" in r.stdout


def test_forecast_benchmark_runs_in_smoke_mode_and_prints_its_table() -> None:
    r = subprocess.run(
        [sys.executable, str(BENCH.with_name("forecast.py")), "--smoke"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert "| overshoot past the cap, median |" in r.stdout
    assert "false kills" in r.stdout and "Traceback" not in r.stderr
