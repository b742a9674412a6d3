"""Build C++ against the *installed* package with CMake: the C++ unit tests (tests/cpp: Philox
known answers, exception capture across OpenMP, FWHT code paths) and a downstream consumer
project (tests/consumer) using find_package(sparsketch CONFIG REQUIRED)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import sparsketch

HERE = Path(__file__).resolve().parent


def _cmake() -> str:
    exe = shutil.which("cmake")
    if exe is None:
        pytest.skip("cmake not found (pip install '.[test]' installs it)")
    return exe


def _build(src: Path, build: Path, *extra: str) -> None:
    cmake = _cmake()
    gen = ["-G", "Ninja"] if shutil.which("ninja") else []
    cfg = subprocess.run([cmake, "-S", str(src), "-B", str(build), *gen,
                          "-DCMAKE_BUILD_TYPE=Release",
                          f"-Dsparsketch_DIR={sparsketch.get_cmake_dir()}", *extra],
                         capture_output=True, text=True)
    assert cfg.returncode == 0, cfg.stdout + cfg.stderr
    bld = subprocess.run([cmake, "--build", str(build), "--parallel", "2"],
                         capture_output=True, text=True)
    assert bld.returncode == 0, bld.stdout + bld.stderr


def test_cmake_dir_is_installed():
    d = Path(sparsketch.get_cmake_dir())
    assert (d / "sparsketchConfig.cmake").is_file()
    assert (d / "sparsketchTargets.cmake").is_file()
    assert (Path(sparsketch.get_include()) / "sparsketch" / "sparsketch.hpp").is_file()
    assert (Path(sparsketch.get_include()) / "Eigen" / "Core").is_file()
    out = subprocess.run([sys.executable, "-m", "sparsketch", "--cmake-dir"],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert out == sparsketch.get_cmake_dir()


def test_consumer_project_builds_and_runs(tmp_path):
    _build(HERE / "consumer", tmp_path / "build")
    exe = tmp_path / "build" / "consumer"
    run = subprocess.run([str(exe)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"sparsketch {sparsketch.__version__} consumer OK" in run.stdout


def test_cpp_unit_tests(tmp_path):
    _build(HERE / "cpp", tmp_path / "build")
    env = dict(os.environ, OMP_NUM_THREADS="2")
    for name in ("test_random", "test_common", "test_fwht", "test_spgemm"):
        run = subprocess.run([str(tmp_path / "build" / name)], capture_output=True, text=True,
                             env=env)
        assert run.returncode == 0, f"{name}:\n{run.stdout}{run.stderr}"
        assert "0 failure(s)" in run.stdout
