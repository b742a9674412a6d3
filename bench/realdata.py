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


FMNIST_DIRS = ("/usr/share/datasets/fashion-mnist",)
FMNIST_PKG = "dataset-fashion-mnist"


def _fmnist_dir(cache: Path) -> Path:
    """Directory holding Fashion-MNIST's four idx .gz files: Debian's dataset-fashion-mnist
    package installs them under /usr/share/datasets/fashion-mnist; when it is not installed,
    `apt-get download` fetches the .deb (no root needed) and `dpkg-deb -x` unpacks it into
    the cache."""
    for d in FMNIST_DIRS + (str(cache / "fmnist" / "usr/share/datasets/fashion-mnist"),):
        if Path(d, "train-images-idx3-ubyte.gz").exists():
            return Path(d)
    cache.mkdir(parents=True, exist_ok=True)
    debs = sorted(glob.glob(str(cache / f"{FMNIST_PKG}_*.deb")))
    if not debs:
        proc = subprocess.run(["apt-get", "download", FMNIST_PKG], cwd=cache,
                              capture_output=True, text=True, timeout=600)
        debs = sorted(glob.glob(str(cache / f"{FMNIST_PKG}_*.deb")))
        if proc.returncode != 0 or not debs:
            raise OSError(f"could not fetch {FMNIST_PKG} with apt-get download: "
                          f"{(proc.stderr or proc.stdout).strip()[-500:]}")
    subprocess.run(["dpkg-deb", "-x", debs[0], str(cache / "fmnist")], check=True)
    return cache / "fmnist" / "usr/share/datasets/fashion-mnist"


def fashion_mnist(cache: Path | None = None):
    """(X_train, y_train, X_test, y_test): uint8 images flattened to 784 columns (60,000 and
    10,000 rows), uint8 labels 0..9 (H. Xiao, K. Rasul, R. Vollgraf, arXiv:1708.07747)."""
    import gzip
    d = _fmnist_dir(cache or cache_dir())

    def read(name, offset):
        with gzip.open(d / name) as fh:
            return np.frombuffer(fh.read(), np.uint8, offset=offset)
    return (read("train-images-idx3-ubyte.gz", 16).reshape(-1, 784),
            read("train-labels-idx1-ubyte.gz", 8),
            read("t10k-images-idx3-ubyte.gz", 16).reshape(-1, 784),
            read("t10k-labels-idx1-ubyte.gz", 8))
