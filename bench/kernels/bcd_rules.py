"""The paper's comparisons re-made (Nutini, Laradji & Schmidt, arXiv:1712.08859, section 8):
iterations (block updates) and time to a relative stopping measure <= 1e-6 for every block
selection rule, with gradient and Newton block updates, fixed and variable (or forest)
blocks, on five synthetic problems in the spirit of its datasets A-E. The paper's exact
generators are not reproduced (only its abstract is at hand); the problems are built to have
what its rules exploit, Lipschitz constants that vary across coordinates:

A  least squares, A (1000 x 200) Gaussian with column scales 10^U(-1, 1), b = A x + noise;
B  binary logistic regression (L2, C = 1, no intercept) on the same design, labels
   sign(A x + noise);
C  multinomial logistic regression (L2, C = 1, intercepts), 1000 x 50 design scaled the same
   way, 5 classes (explicit model: every rule applies);
D  label propagation on a 50 x 50 lattice with weights U(0.5, 1.5), 2% of nodes labelled
   (2 classes), lam = 1; forest blocks in place of variable blocks;
E  Lasso (alpha = alpha_max / 20), A (1000 x 250) as in A, x with 25 nonzeros (p <= 256
   keeps the whole problem in the Gram form, where every rule applies; above that the
   solver switches to cyclic data-form sweeps).

Fixed blocks: 5 consecutive coordinates (softmax: 1 feature = 5 class weights); variable
blocks: the 5 best coordinates by the greedy score; all coordinates at once (no working
sets), as in the paper. Iterations are counted by each solver (label propagation measures its
stopping rule once per sweep, so its counts are rounded up to whole sweeps)."""

from __future__ import annotations

import time
import warnings

import numpy as np

NAME = "bcd_rules"
TOL = 1e-6
RULES = ("cyclic", "random", "lipschitz", "gs", "gsl", "gsd", "gsq")
GREEDY = ("gs", "gsl", "gsd", "gsq")


def grid(quick):
    return [dict(dataset=d, quick=bool(quick)) for d in "ABCDE"]


def _design(rng, n, p):
    return rng.standard_normal((n, p)) * 10.0 ** rng.uniform(-1, 1, p)


def _solver(dataset, quick, rng):
    from sparsketch import bcd
    import scipy.sparse as sp
    scale = 4 if quick else 1
    if dataset in "AB":
        n, p = 1000 // scale, 200 // scale
        A = _design(rng, n, p)
        z = A @ rng.standard_normal(p)
        b = z + np.std(z) * 0.1 * rng.standard_normal(n)
        if dataset == "A":
            return lambda **kw: bcd.least_squares(A, b, working_set=False, **kw)
        y = np.sign(b)
        return lambda **kw: bcd.logistic(A, y, C=1.0, fit_intercept=False, working_set=False,
                                         **kw)
    if dataset == "C":
        n, p, k = 1000 // scale, 50 // scale, 5
        A = _design(rng, n, p)
        y = np.argmax(0.3 * A @ rng.standard_normal((p, k)) + rng.gumbel(size=(n, k)), 1)

        def soft(block_size, **kw):
            return bcd.softmax(A, y, C=1.0, model="explicit", block_size=max(1, block_size // 5),
                               **kw)
        return soft
    if dataset == "D":
        side = 50 // (2 if quick else 1)
        n = side * side
        path = sp.diags([np.ones(side - 1), np.ones(side - 1)], [-1, 1])
        eye = sp.eye(side)
        W = sp.triu(sp.kron(path, eye) + sp.kron(eye, path)).tocoo()
        W = sp.csr_array((rng.uniform(0.5, 1.5, W.nnz), (W.row, W.col)), shape=(n, n))
        W = W + W.T
        y = -np.ones(n, dtype=np.int64)
        idx = rng.choice(n, n // 50, replace=False)
        y[idx] = np.arange(idx.size) % 2

        def lp(blocks="contiguous", **kw):
            return bcd.label_propagation(W, y, blocks=blocks, **kw)
        return lp
    n, p = 1000 // scale, 250 // scale
    A = _design(rng, n, p)
    x = np.zeros(p)
    x[rng.choice(p, 25 // scale, replace=False)] = rng.standard_normal(25 // scale)
    b = A @ x + 0.1 * rng.standard_normal(n)
    alpha = np.abs(A.T @ b).max() / n / 20
    return lambda **kw: bcd.lasso(A, b, alpha, working_set=False, **kw)


def run_point(point, threads, median_time):
    ds = point["dataset"]
    res = {"point": point, "times": {}, "accuracy": {}, "notes": [], "info": {}, "runs": []}
    solve = _solver(ds, point["quick"], np.random.default_rng(8))
    configs = []
    for update in ("gradient", "newton"):
        for rule in RULES:
            configs.append((rule, update, "fixed"))
            if rule in GREEDY or ds == "D":
                configs.append((rule, update, "forest" if ds == "D" else "variable"))
    for rule, update, part in configs:
        kw = dict(rule=rule, update=update, tol=TOL, seed=0, n_threads=threads,
                  max_iter=200_000 if ds != "D" else 2_000_000)
        if part == "forest":
            kw["blocks"] = "forest"
        else:
            kw["block_size"] = 5
            if part == "variable":
                kw["blocks"] = "variable"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            r = solve(**kw)
            secs = time.perf_counter() - t0
        res["runs"].append(dict(rule=rule, update=update, blocks=part, iterations=int(r.iterations),
                                seconds=secs, converged=bool(r.converged),
                                measure=float(r.measure),
                                active_set_iter=int(r.active_set_iter)))
        if not r.converged:
            res["notes"].append(f"dataset {ds}: {rule}/{update}/{part} stopped at measure "
                                f"{r.measure:.1e} after {r.iterations} iterations")
        name = f"{rule} {update} {part}"
        res["times"][name] = secs
    return res


def table(results):
    lines = [f"Block updates (and seconds) to a relative stopping measure <= {TOL:g} per rule; "
             "'-' = not reached within the cap. Fixed blocks of 5; variable blocks of 5 for "
             "the greedy rules (dataset D: forest blocks, every rule).\n"]
    for r in results:
        ds = r["point"]["dataset"]
        lines += [f"\n**Dataset {ds}**\n", "| rule | gradient, fixed | gradient, "
                  f"{'forest' if ds == 'D' else 'variable'} | newton, fixed | newton, "
                  f"{'forest' if ds == 'D' else 'variable'} |", "|---|---|---|---|---|"]
        cell = {(x["rule"], x["update"], x["blocks"]): x for x in r["runs"]}
        other = "forest" if ds == "D" else "variable"
        for rule in RULES:
            row = [rule]
            for update in ("gradient", "newton"):
                for part in ("fixed", other):
                    x = cell.get((rule, update, part))
                    if x is None:
                        row.append("")
                    elif not x["converged"]:
                        row.append("-")
                    else:
                        row.append(f"{x['iterations']:,} ({x['seconds']:.3f} s)")
            lines.append("| " + " | ".join(row) + " |")
        act = [x for x in r["runs"] if x["active_set_iter"] >= 0 and x["converged"]]
        if act:
            lines.append("\nActive set identified (then Newton on it) at block update: " +
                         ", ".join(f"{x['rule']}/{x['update']}/{x['blocks']} "
                                   f"{x['active_set_iter']:,} of {x['iterations']:,}"
                                   for x in act))
    return "\n".join(lines) + "\n"


def summary(results):
    """Per dataset: iterations of the best of random/cyclic, of GS, and of the best of
    GSL/GSD/GSQ (Newton updates, fixed blocks), and fixed vs variable/forest blocks."""
    parts = []
    for r in results:
        ds = r["point"]["dataset"]
        other = "forest" if ds == "D" else "variable"
        cell = {(x["rule"], x["update"], x["blocks"]): x for x in r["runs"] if x["converged"]}

        def best(rules, update="newton", part="fixed"):
            its = [cell[(q, update, part)]["iterations"] for q in rules
                   if (q, update, part) in cell]
            return min(its) if its else None
        basic, gs = best(("cyclic", "random")), best(("gs",))
        better = best(("gsl", "gsd", "gsq"))
        var = best(GREEDY if ds != "D" else RULES, part=other)
        fixed = best(GREEDY if ds != "D" else RULES)
        fmt = lambda v: "-" if v is None else f"{v:,}"  # noqa: E731
        parts.append(f"- dataset {ds} (Newton updates): cyclic/random {fmt(basic)}, GS "
                     f"{fmt(gs)}, best of GSL/GSD/GSQ {fmt(better)} block updates; best fixed "
                     f"{fmt(fixed)} vs best {other} {fmt(var)}")
    return "\n".join(parts)


def plot(results, prefix):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    fig, axes = plt.subplots(1, len(results), figsize=(4 * len(results), 3.6), sharey=False)
    axes = np.atleast_1d(axes)
    for ax, r in zip(axes, results):
        ds = r["point"]["dataset"]
        other = "forest" if ds == "D" else "variable"
        cell = {(x["rule"], x["update"], x["blocks"]): x for x in r["runs"]}
        xs = np.arange(len(RULES))
        for off, (update, part) in enumerate([("gradient", "fixed"), ("newton", "fixed"),
                                              ("gradient", other), ("newton", other)]):
            vals = [cell[(rl, update, part)]["iterations"]
                    if (rl, update, part) in cell and cell[(rl, update, part)]["converged"]
                    else np.nan for rl in RULES]
            ax.bar(xs + (off - 1.5) * 0.2, vals, 0.2, label=f"{update}, {part}")
        ax.set_yscale("log")
        ax.set_xticks(xs, RULES, rotation=45)
        ax.set_title(f"dataset {ds}")
        ax.set_ylabel(f"block updates to {TOL:g}")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    path = f"{prefix}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path]
