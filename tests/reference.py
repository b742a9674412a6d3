"""Independent, naive references the tests compare against. Nothing here calls sparsketch."""

from __future__ import annotations

import numpy as np


def hadamard_matrix(n: int) -> np.ndarray:
    """Sylvester Hadamard matrix from the definition H[k, t] = (-1)^popcount(k & t)."""
    k = np.arange(n, dtype=np.uint64)
    kt = k[:, None] & k[None, :]
    parity = np.zeros_like(kt)
    while kt.any():
        parity ^= kt & np.uint64(1)
        kt >>= np.uint64(1)
    return np.where(parity == 1, -1.0, 1.0)


def fwht_kronecker(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """FWHT along `axis` in float64 by H_N = H_2 (x) ... (x) H_2: reshape the axis into log2(N)
    axes of length 2 and apply [[1, 1], [1, -1]] along each with einsum."""
    x = np.moveaxis(np.asarray(x, dtype=np.float64), axis, -1)
    shape = x.shape
    n = shape[-1]
    L = n.bit_length() - 1
    y = x.reshape(shape[:-1] + (2,) * L)
    h2 = np.array([[1.0, 1.0], [1.0, -1.0]])
    for k in range(L):
        y = np.moveaxis(np.tensordot(y, h2, axes=([y.ndim - L + k], [1])), -1, y.ndim - L + k)
    return np.moveaxis(y.reshape(shape), -1, axis)


def leverage_qr(A, ridge=0.0, rcond=None) -> np.ndarray:
    """Leverage scores from LAPACK: squared row norms of the left singular vectors of rank
    r (SVD, numpy.linalg.matrix_rank's threshold); ridge: sum_j U_ij^2 s_j^2 / (s_j^2 + lam)."""
    A = np.asarray(A.toarray() if hasattr(A, "toarray") else A, dtype=np.float64)
    U, s, _ = np.linalg.svd(A, full_matrices=False)
    if ridge > 0:
        return (U**2) @ (s**2 / (s**2 + ridge))
    tol = s.max() * max(A.shape) * np.finfo(np.float64).eps if rcond is None else rcond * s.max()
    r = int(np.sum(s > tol))
    return np.sum(U[:, :r] ** 2, axis=1)


def lewis_fixed_point_residual(A, w, p) -> float:
    """max_i |w_i / tau_i(W^{1/2-1/p} A) - 1| over rows with w_i > 0 (0 at the Lewis weights)."""
    A = np.asarray(A.toarray() if hasattr(A, "toarray") else A, dtype=np.float64)
    s = np.where(w > 0, w, 1.0) ** (0.5 - 1.0 / p)
    tau = leverage_qr(A * s[:, None])
    keep = w > 0
    return float(np.max(np.abs(w[keep] / tau[keep] - 1.0)))


def lad_linprog(A, b, weights=None):
    """min_x sum_i c_i |a_i x - b_i| as a linear program (HiGHS): variables (x, u, v) >= (., 0, 0),
    A x + u - v = b, objective c^T (u + v). Returns (x, optimum)."""
    import scipy.sparse as sp
    from scipy.optimize import linprog
    A = np.asarray(A, dtype=np.float64)
    n, d = A.shape
    c = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    cost = np.r_[np.zeros(d), c, c]
    I = sp.identity(n, format="csr")
    Aeq = sp.hstack([sp.csr_matrix(A), I, -I], format="csr")
    bounds = [(None, None)] * d + [(0, None)] * (2 * n)
    res = linprog(cost, A_eq=Aeq, b_eq=b, bounds=bounds, method="highs")
    assert res.status == 0, res.message
    return res.x[:d], float(res.fun)


def lp_objective_minimize(A, b, p, x0):
    """min_x sum |A x - b|^p for p > 1 by scipy's BFGS with the exact gradient (smooth for
    p > 1), to gradient tolerance 1e-12 relative. Returns (x, optimum)."""
    from scipy.optimize import minimize
    A = np.asarray(A, dtype=np.float64)

    def f(x):
        r = A @ x - b
        return float(np.sum(np.abs(r) ** p)), p * (A.T @ (np.abs(r) ** (p - 1) * np.sign(r)))

    res = minimize(f, x0, jac=True, method="BFGS", options={"gtol": 1e-12, "maxiter": 10000})
    return res.x, float(res.fun)


def lp_distortion(A, SA, p, rng, n_dirs=2000) -> float:
    """Empirical l_p subspace-embedding distortion: max over test directions x of
    max(||SA x|| / ||A x||, ||A x|| / ||SA x||) - 1. Exact for p = 2 (from the singular values
    of SA R^-1 with A = QR); for p != 2 a lower bound over random directions, the columns of
    R^-1 and of the identity."""
    A = np.asarray(A.toarray() if hasattr(A, "toarray") else A, dtype=np.float64)
    SA = np.asarray(SA.toarray() if hasattr(SA, "toarray") else SA, dtype=np.float64)
    Q, R = np.linalg.qr(A)
    Rinv = np.linalg.pinv(R)
    if p == 2:
        s = np.linalg.svd(SA @ Rinv, compute_uv=False)
        return float(max(s.max(), 1.0 / s.min()) - 1.0)
    d = A.shape[1]
    X = np.hstack([rng.standard_normal((d, n_dirs)), Rinv, np.eye(d),
                   Rinv @ rng.standard_normal((d, n_dirs))])
    num = np.sum(np.abs(SA @ X) ** p, axis=0) ** (1 / p)
    den = np.sum(np.abs(A @ X) ** p, axis=0) ** (1 / p)
    ratio = num / den
    return float(max(ratio.max(), 1.0 / ratio.min()) - 1.0)


def ridge_rows(indptr, indices, data, F, other_bias, mu, reg, by_count, biases, weights=None):
    """Independent reference of one ALS half-step: for each CSR row, the ridge solution
    (X^T W X + lambda I)^-1 X^T W y by numpy.linalg.solve, X = [F[cols], 1],
    y = r - mu - c[cols], W = diag(weights) (identity when None)."""
    m = len(indptr) - 1
    k = F.shape[1]
    d = k + (1 if biases else 0)
    U = np.zeros((m, k))
    b = np.zeros(m)
    for i in range(m):
        lo, hi = indptr[i], indptr[i + 1]
        if hi == lo:
            continue
        cols = indices[lo:hi]
        X = F[cols].astype(np.float64)
        if biases:
            X = np.hstack([X, np.ones((hi - lo, 1))])
        y = data[lo:hi].astype(np.float64) - mu
        if other_bias is not None:
            y = y - other_bias[cols]
        W = np.ones(hi - lo) if weights is None else weights[lo:hi].astype(np.float64)
        lam = reg * ((hi - lo) if by_count else 1.0)
        u = np.linalg.solve(X.T @ (W[:, None] * X) + lam * np.eye(d), X.T @ (W * y))
        U[i] = u[:k]
        if biases:
            b[i] = u[k]
    return U, b


def normal_wishart_posterior_draw(F, beta0, z_a, chi2, z_mu):
    """NumPy reference of one BPMF hyperparameter draw (Salakhutdinov & Mnih 2008, eq. 14,
    mu_0 = 0, W_0 = I) given the Bartlett variates: Lambda = (L A)(L A)^T with L = chol(W*),
    A = diag(sqrt(chi2)) + strictly-lower part of z_a; mean = mu* + chol((beta0+N) Lambda)^{-T}
    z_mu."""
    F = np.asarray(F, dtype=np.float64)
    N, k = F.shape
    fbar = F.mean(axis=0)
    S = np.cov(F, rowvar=False, bias=True) * N if N > 1 else np.zeros((k, k))
    W = np.linalg.inv(np.eye(k) + S + beta0 * N / (beta0 + N) * np.outer(fbar, fbar))
    L = np.linalg.cholesky((W + W.T) / 2)
    A = np.tril(z_a, -1) + np.diag(np.sqrt(chi2))
    Lam = (L @ A) @ (L @ A).T
    C = np.linalg.cholesky((beta0 + N) * Lam)
    mean = N * fbar / (beta0 + N) + np.linalg.solve(C.T, z_mu)
    return mean, Lam


def gaussian_row_posterior(X, y, alpha, Lam, mean):
    """Mean and covariance of u | y for y ~ N(X u, I / alpha), u ~ N(mean, Lam^{-1})."""
    P = Lam + alpha * X.T @ X
    cov = np.linalg.inv(P)
    return cov @ (alpha * X.T @ y + Lam @ mean), cov
