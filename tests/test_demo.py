"""The README's main job: python -m sparsketch demo."""

from __future__ import annotations

import io
import subprocess
import sys

from sparsketch.__main__ import demo


def test_demo_rows_are_accurate():
    buf = io.StringIO()
    rows = demo(out=buf)
    assert {r["kernel"] for r in rows} >= {"fwht float64", "fwht float32 batch", "fwht round trip",
                                          "sketch sparse_sign", "sketch srht",
                                          "lstsq precondition", "leverage_scores approx",
                                          "sample_rows leverage", "lp_regression p=1",
                                          "sparse_wht noisy", "spgemm A @ A"}
    for r in rows:  # each row's documented tolerance (1e-5 unless the method is approximate)
        assert r["error"] < r.get("tolerance", 1e-5) and r["time"] > 0, r
    assert "fwht float64" in buf.getvalue()


def test_demo_command_exits_cleanly():
    run = subprocess.run([sys.executable, "-m", "sparsketch", "demo"], capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "kernel" in run.stdout and "fwht" in run.stdout


def test_cli_config():
    run = subprocess.run([sys.executable, "-m", "sparsketch", "config"], capture_output=True,
                         text=True, check=True)
    assert "sparsketch" in run.stdout and "simd" in run.stdout
