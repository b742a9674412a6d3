"""Real datasets for the benchmarks (never committed; fetched into a cache on first use).

MovieLens-100K (F. M. Harper, J. A. Konstan, "The MovieLens Datasets: History and Context",
ACM TiiS 2015; 100,000 ratings 1-5 of 1,682 movies by 943 users) ships inside the PyPI wheel
recbole==1.2.1 as recbole/dataset_example/ml-100k/ml-100k.inter (tab-separated user_id,
item_id, rating, timestamp, one header line). `pip download` fetches that wheel and zipfile
reads the file from it.
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np

RECBOLE = "recbole==1.2.1"
ML100K_MEMBER = "recbole/dataset_example/ml-100k/ml-100k.inter"


def cache_dir() -> Path:
    d = os.environ.get("SPARSKETCH_BENCH_DATA")
    return Path(d) if d else Path(__file__).resolve().parent / ".data"


def _recbole_wheel(cache: Path, timeout: float = 120.0) -> Path:
    found = sorted(glob.glob(str(cache / "recbole-1.2.1-*.whl")))
    if found:
        return Path(found[0])
    cache.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", RECBOLE,
                           "-d", str(cache)], capture_output=True, text=True, timeout=timeout)
    found = sorted(glob.glob(str(cache / "recbole-1.2.1-*.whl")))
    if proc.returncode != 0 or not found:
        raise OSError(f"could not fetch {RECBOLE} with pip download: "
                      f"{(proc.stderr or proc.stdout).strip()[-500:]}")
    return Path(found[0])


def movielens_100k(cache: Path | None = None):
    """(users, items, ratings, shape): 0-based int32 ids (in order of first sorted appearance),
    float64 ratings 1..5, shape (943, 1682). Raises OSError when the wheel cannot be fetched."""
    whl = _recbole_wheel(cache or cache_dir())
    with zipfile.ZipFile(whl) as z:
        lines = z.read(ML100K_MEMBER).decode().splitlines()[1:]
    a = np.array([ln.split("\t")[:3] for ln in lines if ln.strip()], dtype=np.float64)
    _, u = np.unique(a[:, 0].astype(np.int64), return_inverse=True)
    _, i = np.unique(a[:, 1].astype(np.int64), return_inverse=True)
    return u.astype(np.int32), i.astype(np.int32), a[:, 2], (int(u.max()) + 1, int(i.max()) + 1)


def split(n: int, seed: int = 0, train: float = 0.9):
    """Seeded random train/test index split (permutation of range(n))."""
    perm = np.random.default_rng(seed).permutation(n)
    nt = int(train * n)
    return perm[:nt], perm[nt:]
