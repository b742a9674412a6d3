"""SpGEMM against SciPy's ``A @ B`` (and brute force for the masked and top-k products).

Tolerance: each entry of C is a sum of at most k products, summed in a different order than
SciPy's; |fl(c) - c| <= k eps (|A| |B|)_ij, checked entrywise with a factor 2.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import sparsketch
from conftest import eps


def _rand(rng, m, n, density, dtype=np.float64, fmt="csr", idx=np.int32):
    X = sp.random_array((m, n), density=density, random_state=rng, format="csr",
                        dtype=np.float64)
    X.data = rng.standard_normal(X.nnz)
    X = X.astype(dtype)
    X.indices = X.indices.astype(idx)
    X.indptr = X.indptr.astype(idx)
    return X.asformat(fmt)


def _check(C, A, B, dtype, sorted_=True):
    A64 = sp.csr_array(A).astype(np.float64)
    B64 = sp.csr_array(B).astype(np.float64)
    ref = (A64 @ B64).toarray()
    bound = 2 * max(A.shape[1], 1) * eps(dtype) * (abs(A64) @ abs(B64)).toarray() + 1e-300
    Cd = sp.csr_array(C).toarray().astype(np.float64)
    assert np.all(np.abs(Cd - ref) <= bound)
    Cc = sp.csr_array(C)
    # canonical: no duplicates, sorted when asked, pattern = SciPy's pattern
    rows = np.repeat(np.arange(Cc.shape[0]), np.diff(Cc.indptr))
    keys = rows.astype(np.int64) * max(Cc.shape[1], 1) + Cc.indices
    assert np.unique(keys).size == keys.size
    if sorted_:
        assert all(np.all(np.diff(Cc.indices[Cc.indptr[i]:Cc.indptr[i + 1]]) > 0)
                   for i in range(Cc.shape[0]))
    R = (A64 @ B64).tocsr()
    R.sum_duplicates()
    assert Cc.nnz == R.nnz


SHAPES = [(50, 40, 30, 0.1), (1, 30, 20, 0.5), (30, 1, 20, 0.5), (30, 20, 1, 0.5),
          (200, 300, 150, 0.02), (40, 40, 40, 0.9), (0, 5, 7, 0.1), (5, 0, 7, 0.1),
          (5, 7, 0, 0.1), (100, 100, 3000, 0.05)]


@pytest.mark.parametrize("m,k,n,density", SHAPES)
@pytest.mark.parametrize("idx", [np.int32, np.int64])
def test_matches_scipy(m, k, n, density, idx, dtype, rng):
    A = _rand(rng, m, k, density, dtype, idx=idx)
    B = _rand(rng, k, n, density, dtype, idx=idx)
    C = sparsketch.spgemm(A, B)
    assert C.dtype == dtype and C.shape == (m, n) and isinstance(C, sp.csr_array)
    _check(C, A, B, dtype)
    Cu = sparsketch.spgemm(A, B, sort_indices=False)
    _check(Cu, A, B, dtype, sorted_=False)


def test_formats_kinds_and_promotion(rng):
    A = _rand(rng, 60, 50, 0.1)
    B = _rand(rng, 50, 40, 0.1)
    for fmt in ("csr", "csc", "coo"):
        C = sparsketch.spgemm(A.asformat(fmt), B.asformat(fmt))
        assert C.format == fmt and isinstance(C, sp.sparray)
        _check(C, A, B, np.float64)
    Cm = sparsketch.spgemm(sp.csr_matrix(A), sp.csc_matrix(B))
    assert isinstance(Cm, sp.csr_matrix)
    C = sparsketch.spgemm(A.astype(np.float32), B)  # float32 x float64 -> float64
    assert C.dtype == np.float64
    Ci = sparsketch.spgemm(sp.csr_array((A != 0).astype(np.int64)), B)
    assert Ci.dtype == np.float64
    _check(Ci, sp.csr_array((A != 0).astype(np.float64)), B, np.float64)


def test_duplicates_unsorted_and_empty_rows(rng):
    # COO with duplicate entries (they add up), CSR with unsorted indices, empty rows
    row = np.array([0, 0, 0, 2, 2, 4])
    col = np.array([1, 1, 3, 0, 0, 2])
    val = np.array([1.0, 2.0, -1.0, 0.5, 0.25, 4.0])
    A = sp.coo_array((val, (row, col)), shape=(6, 4))
    B = _rand(rng, 4, 9, 0.6)
    perm = sp.csr_array(B, copy=True)
    for r in range(perm.shape[0]):  # scramble the order inside every row
        lo, hi = perm.indptr[r], perm.indptr[r + 1]
        perm.indices[lo:hi] = perm.indices[lo:hi][::-1].copy()
        perm.data[lo:hi] = perm.data[lo:hi][::-1].copy()
    perm.has_sorted_indices = False
    for Bx in (B, perm):
        C = sparsketch.spgemm(A, Bx)
        _check(C, sp.csr_array(A.toarray()), B, np.float64)
        assert C.format == "coo"


def test_dense_rows_take_the_dense_accumulator(rng):
    # a few rows with flops >= n / 8 (dense accumulator), the rest hashed
    A = _rand(rng, 30, 200, 0.02)
    A = sp.csr_array(sp.vstack([A, sp.csr_array(np.ones((3, 200)))]))
    B = _rand(rng, 200, 64, 0.3)
    for sort in (True, False):
        _check(sparsketch.spgemm(A, B, sort_indices=sort), A, B, np.float64, sorted_=sort)


@pytest.mark.parametrize("n,a_density", [(20000, 0.15), (2_000_000, 0.05)])
def test_sorted_rows_across_bitmap_blocks(n, a_density, rng):
    """Sorted output of dense-accumulator rows: columns straddling the 64-column words and the
    4096-column blocks of the two-level bitmap scan (n = 20000), and rows too sparse for a scan
    over their span, which are sorted instead (n = 2e6: ~12 columns spread over 488 blocks)."""
    edges = np.arange(4096, n, 4096)
    cols = np.unique(np.concatenate([edges - 1, edges, edges + 63, edges + 64, [0, n - 1]]))
    k = 40
    rows = [np.sort(rng.choice(cols, size=6, replace=False)) for _ in range(k)]
    indptr = np.concatenate([[0], np.cumsum([r.size for r in rows])])
    B = sp.csr_array((rng.standard_normal(indptr[-1]), np.concatenate(rows), indptr),
                     shape=(k, n))
    A = _rand(rng, 50, k, a_density)
    R = (A @ B).tocsr()
    R.sum_duplicates()
    R.sort_indices()
    for sort in (True, False):
        C = sparsketch.spgemm(A, B, sort_indices=sort)
        assert C.nnz == R.nnz
        assert abs(C - R).max() <= 1e-12 * max(abs(R).max(), 1.0)
        if sort:  # same pattern, in SciPy's sorted order
            assert np.array_equal(C.indptr, R.indptr) and np.array_equal(C.indices, R.indices)


def test_inputs_not_modified(rng):
    """Unsorted CSR, COO with duplicates and a mask are read, never sorted or summed in place."""
    A = _rand(rng, 40, 30, 0.2)
    for r in range(A.shape[0]):
        lo, hi = A.indptr[r], A.indptr[r + 1]
        A.indices[lo:hi] = A.indices[lo:hi][::-1].copy()
        A.data[lo:hi] = A.data[lo:hi][::-1].copy()
    A.has_sorted_indices = False
    Bc = sp.coo_array((np.ones(4), (np.array([0, 0, 3, 3]), np.array([1, 1, 2, 2]))), shape=(30, 5))
    M = _rand(rng, 40, 5, 0.5)
    before = [x.copy() for x in (A.indices, A.data, A.indptr, Bc.row, Bc.col, Bc.data,
                                 M.indices, M.data)]
    sparsketch.spgemm(A, Bc, mask=M)
    sparsketch.spgemm_topk(A, Bc, 2)
    after = (A.indices, A.data, A.indptr, Bc.row, Bc.col, Bc.data, M.indices, M.data)
    assert all(np.array_equal(x, y) for x, y in zip(before, after))


def test_nan_propagates():
    A = sp.csr_array(np.array([[1.0, np.nan], [0.0, 2.0]]))
    B = sp.csr_array(np.array([[1.0, 0.0], [1.0, 3.0]]))
    C = sparsketch.spgemm(A, B).toarray()
    R = (A @ B).toarray()
    assert np.array_equal(np.isnan(C), np.isnan(R)) and C[1, 1] == 6.0


def test_thread_invariance(rng):
    A = _rand(rng, 3000, 2000, 0.005)
    B = _rand(rng, 2000, 2500, 0.005)
    ref = sparsketch.spgemm(A, B, n_threads=1)
    for nt in (2, 3, 5):
        C = sparsketch.spgemm(A, B, n_threads=nt)
        assert np.array_equal(C.indptr, ref.indptr) and np.array_equal(C.indices, ref.indices)
        assert np.array_equal(C.data, ref.data)
    T1 = sparsketch.spgemm_topk(A, B, 5, n_threads=1)
    T3 = sparsketch.spgemm_topk(A, B, 5, n_threads=3)
    assert np.array_equal(T1.data, T3.data) and np.array_equal(T1.indices, T3.indices)


def test_masked_product_matches_brute_force(rng, dtype):
    A = _rand(rng, 80, 60, 0.08, dtype)
    B = _rand(rng, 60, 70, 0.08, dtype)
    M = _rand(rng, 80, 70, 0.1)
    M.data[:5] = 0.0  # stored zeros still belong to the (structural) mask
    C = sparsketch.spgemm(A, B, mask=M)
    full = sp.csr_array((A.astype(np.float64) @ B.astype(np.float64)))
    full.sum_duplicates()
    pat_full = set(zip(*full.nonzero())) | {(i, j) for i in range(full.shape[0])
                                           for j in full.indices[full.indptr[i]:full.indptr[i + 1]]}
    pat_mask = {(i, j) for i in range(M.shape[0]) for j in M.indices[M.indptr[i]:M.indptr[i + 1]]}
    Cc = sp.csr_array(C)
    got = {(i, j) for i in range(Cc.shape[0]) for j in Cc.indices[Cc.indptr[i]:Cc.indptr[i + 1]]}
    assert got == pat_full & pat_mask
    ref = full.toarray()
    tol = 2 * 60 * eps(dtype) * (abs(A.astype(np.float64)) @ abs(B.astype(np.float64))).toarray()
    for (i, j) in got:
        assert abs(Cc[i, j] - ref[i, j]) <= tol[i, j] + 1e-300


def test_triangle_count_by_masked_product(rng):
    G = sp.random_array((120, 120), density=0.08, random_state=rng, format="csr")
    G = ((G + G.T) > 0).astype(np.float64)
    G.setdiag(0)
    G.eliminate_zeros()
    L = sp.csr_array(sp.tril(G, k=-1))
    t = sparsketch.spgemm(L, L, mask=L).sum()
    Gd = G.toarray()
    assert t == pytest.approx(np.trace(Gd @ Gd @ Gd) / 6)


@pytest.mark.parametrize("k,threshold", [(0, None), (1, None), (3, None), (3, 0.5), (50, None),
                                         (5, -1e9)])
def test_topk_matches_brute_force(k, threshold, rng):
    A = _rand(rng, 60, 50, 0.15)
    B = _rand(rng, 50, 80, 0.15)
    T = sp.csr_array(sparsketch.spgemm_topk(A, B, k, threshold=threshold))
    full = sp.csr_array(A @ B)
    full.sum_duplicates()
    for i in range(60):
        cols = full.indices[full.indptr[i]:full.indptr[i + 1]]
        vals = full.data[full.indptr[i]:full.indptr[i + 1]]
        if threshold is not None:
            keep = vals > threshold
            cols, vals = cols[keep], vals[keep]
        order = np.lexsort((cols, -vals))[:k]  # largest values, ties to the smaller column
        exp_cols = np.sort(cols[order])
        got_cols = T.indices[T.indptr[i]:T.indptr[i + 1]]
        np.testing.assert_array_equal(got_cols, exp_cols)
        np.testing.assert_allclose(T.data[T.indptr[i]:T.indptr[i + 1]],
                                   full[[i], :][:, exp_cols].toarray().ravel(), rtol=1e-12)


@pytest.mark.parametrize("n_cols", [80, 4000])  # hash and dense accumulators
@pytest.mark.parametrize("k", [1, 4, 7])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_topk_ties_and_nan_order(n_cols, k, dtype, rng):
    # small integer values: many equal products, so the tie rule (smaller column first) decides;
    # a NaN in A makes NaN entries, which rank below every number (documented order); +-inf in
    # B make infinite entries (and NaN where they meet), ranked like any other number
    # (signed small integers: exact in float32 too, so every tie and sign is reproducible)
    A = sp.random_array((40, 30), density=0.3, random_state=rng, format="csr",
                        data_sampler=lambda size: rng.choice([-2.0, -1.0, 1.0, 2.0], size))
    B = sp.random_array((30, n_cols), density=0.3 if n_cols == 80 else 0.6, random_state=rng,
                        format="csr", data_sampler=lambda size: rng.integers(1, 3, size).astype(float))
    A.data[0] = np.nan
    B.data[1], B.data[2] = np.inf, -np.inf
    A, B = A.astype(dtype), B.astype(dtype)
    T = sp.csr_array(sparsketch.spgemm_topk(A, B, k))
    assert T.dtype == dtype
    # the product's pattern from |A| |B| (no cancellation; SciPy drops entries that cancel to 0,
    # spgemm keeps them), its values from A @ B (0 where SciPy dropped one)
    pattern = (abs(A) @ abs(B)).tocsr()
    pattern.sort_indices()
    full = sp.csr_array(A @ B)
    for i in range(40):
        cols = pattern.indices[pattern.indptr[i]:pattern.indptr[i + 1]]
        vals = full[[i], :].toarray().ravel()[cols]
        nan = np.isnan(vals)
        order = np.lexsort((cols, -np.where(nan, 0, vals), nan))[:k]
        np.testing.assert_array_equal(T.indices[T.indptr[i]:T.indptr[i + 1]],
                                      np.sort(cols[order]))


def test_bad_input(rng):
    A = _rand(rng, 5, 4, 0.5)
    with pytest.raises(ValueError, match="shape mismatch"):
        sparsketch.spgemm(A, A)
    with pytest.raises(TypeError, match="scipy.sparse"):
        sparsketch.spgemm(A.toarray(), A.T)
    with pytest.raises(TypeError, match="complex"):
        sparsketch.spgemm(A.astype(complex), A.T)
    with pytest.raises(ValueError, match="mask"):
        sparsketch.spgemm(A, A.T, mask=A)
    bad = sp.csr_array((np.ones(2), np.array([0, 7]), np.array([0, 1, 2, 2, 2, 2])),
                       shape=(5, 4))  # column 7 out of range, built by hand
    with pytest.raises(IndexError, match="out of range"):
        sparsketch.spgemm(bad, A.T)
    with pytest.raises(ValueError, match="k"):
        sparsketch.spgemm_topk(A, A.T, -1)
    with pytest.raises(TypeError, match="k"):
        sparsketch.spgemm_topk(A, A.T, 2.5)
    with pytest.raises(ValueError, match="n_threads"):
        sparsketch.spgemm(A, A.T, n_threads=0)


def test_memory_error_before_allocating(monkeypatch, rng):
    import sys
    mod = sys.modules["sparsketch.spgemm"]  # the module (sparsketch.spgemm is the function)
    A = _rand(rng, 200, 200, 0.1)
    monkeypatch.setattr(mod, "_memory_limit", lambda need: 1000.0)
    with pytest.raises(MemoryError, match="nonzeros"):
        sparsketch.spgemm(A, A)


def test_upper_bound_too_large_falls_back_to_exact_count(monkeypatch, rng):
    """The one-pass product reserves nnz <= flops entries; when that bound does not fit the
    memory limit but the exact count does, the two-pass product gives the same bits."""
    import sys
    mod = sys.modules["sparsketch.spgemm"]
    A = _rand(rng, 300, 200, 0.08)
    B = _rand(rng, 200, 250, 0.08)
    ref = sparsketch.spgemm(A, B)
    flops = int(np.diff(B.indptr)[A.indices].sum())
    assert flops > ref.nnz  # the bound is loose enough to tell the two budgets apart
    exact = ref.nnz * 12 + (A.shape[0] + 1) * 4
    calls = []

    def limit(need):
        calls.append(need)
        return float(exact)
    monkeypatch.setattr(mod, "_memory_limit", limit)
    C = sparsketch.spgemm(A, B)
    assert calls[0] > exact >= calls[-1]  # asked for the bound first, then the exact size
    assert np.array_equal(C.indptr, ref.indptr) and np.array_equal(C.indices, ref.indices)
    assert np.array_equal(C.data, ref.data)


def test_one_pass_output_is_shrunk_to_nnz(rng):
    A = _rand(rng, 500, 400, 0.05)
    C = sparsketch.spgemm(A, A.T)
    assert C.data.shape == (C.nnz,) and C.indices.shape == (C.nnz,)
    assert C.indptr[-1] == C.nnz and C.indices.dtype == np.int32
    C.check_format(full_check=True)
    assert abs(C - (A @ A.T)).max() < 1e-12


@pytest.mark.parametrize("cls", [sp.csr_array, sp.csr_matrix])
@pytest.mark.parametrize("sort", [True, False])
def test_result_container_matches_scipy_constructor(cls, sort, rng):
    """The result is wrapped by copying a constructed template's attributes (scipy's
    constructor re-checks the arrays); it must behave as the public constructor's object."""
    A = cls(_rand(rng, 60, 50, 0.1))
    B = cls(_rand(rng, 50, 40, 0.1))
    C = sparsketch.spgemm(A, B, sort_indices=sort)
    D = cls((C.data.copy(), C.indices.copy(), C.indptr.copy()), shape=C.shape)
    assert type(C) is type(D) and C.shape == D.shape and C.dtype == D.dtype
    assert set(vars(D)) <= set(vars(C))
    assert C.has_sorted_indices == sort and C.has_canonical_format == sort
    C.check_format(full_check=True)
    assert abs(C - D).max() == 0 and abs(C - A @ B).max() < 1e-12
    assert (C.T @ C).shape == (40, 40) and C.copy().nnz == C.nnz


def test_docstring_examples_run():
    import doctest
    import sys
    res = doctest.testmod(sys.modules["sparsketch.spgemm"])
    assert res.attempted > 0 and res.failed == 0
