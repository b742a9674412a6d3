// Bindings of the matrix-completion kernels: one ALS half-step, residuals on the observed set,
// SDDMM, sparse x dense products and the Gaussian fill used by the randomized SVD start.
// Inputs arrive validated and converted by sparsketch/completion.py (CSR validated once per
// fit, factors C-contiguous of the data's dtype); these functions check dtypes and shapes only
// and release the GIL around the kernels.

#include "sparsketch/completion.hpp"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

#include "arrays.hpp"

namespace py = pybind11;
using namespace sparsketch;
namespace bind = sparsketch::bind;
using Csr = bind::CsrArrays;

namespace {

// A C-contiguous array of T with exactly `n` elements (any shape), or nullptr for None.
template <class T>
const T* opt_in(const py::object& o, std::int64_t n, const char* name) {
  if (o.is_none()) return nullptr;
  const auto a = py::reinterpret_borrow<py::array>(o);
  bind::require_dtype<T>(a, name);
  if (a.size() != n || !(a.flags() & py::array::c_style))
    throw type_error(std::string(name) + ": expected a C-contiguous array of " + std::to_string(n) +
                     " elements");
  return static_cast<const T*>(a.data());
}

template <class T>
T* opt_out(const py::object& o, std::int64_t n, const char* name) {
  if (o.is_none()) return nullptr;
  auto a = py::reinterpret_borrow<py::array>(o);
  bind::require_dtype<T>(a, name);
  if (a.size() != n || !(a.flags() & py::array::c_style))
    throw type_error(std::string(name) + ": expected a C-contiguous array of " + std::to_string(n) +
                     " elements");
  return bind::mutable_data<T>(a, name);
}

// The rank k of a half-step's factors: U (n_rows x k) and V (n_cols x k); TypeError otherwise.
std::int64_t half_step_rank(const py::array& U, const py::array& V, const Csr& r) {
  if (U.ndim() != 2 || U.shape(0) != r.n_rows)
    throw type_error("U: expected shape (" + std::to_string(r.n_rows) + ", k)");
  const std::int64_t k = U.shape(1);
  if (V.ndim() != 2 || V.shape(0) != r.n_cols || V.shape(1) != k)
    throw type_error("V: expected shape (" + std::to_string(r.n_cols) + ", " + std::to_string(k) +
                     ")");
  return k;
}

AlsSolver parse_solver(const std::string& s) {
  if (s == "cholesky") return AlsSolver::cholesky;
  if (s == "cg") return AlsSolver::cg;
  if (s == "sketch") return AlsSolver::sketch;
  if (s == "auto") return AlsSolver::automatic;
  throw value_error("solver: expected 'auto', 'cholesky', 'cg' or 'sketch', got '" + s + "'");
}

py::dict als_half_step_py(const py::tuple& r_t, const py::object& weights, const py::array& V,
                          const py::object& other_bias, double mu, py::array& U,
                          const py::object& own_bias, double reg, double bias_reg,
                          bool reg_by_count, const std::string& solver, double cg_tol,
                          std::int64_t cg_max_iter, std::int64_t sketch_factor,
                          std::int64_t sketch_nnz, std::uint64_t seed, int n_threads,
                          bool compute_sse) {
  const Csr r = bind::unpack_csr(r_t, "R");
  AlsOptions o;
  o.compute_sse = compute_sse;
  o.reg = reg;
  o.bias_reg = bias_reg;
  o.reg_by_count = reg_by_count;
  o.solver = parse_solver(solver);
  o.cg_tol = cg_tol;
  o.cg_max_iter = cg_max_iter;
  o.sketch_factor = sketch_factor;
  o.sketch_nnz = sketch_nnz;
  o.seed = seed;
  o.n_threads = n_threads;
  const std::int64_t k = half_step_rank(U, V, r);
  const AlsStepInfo info =
      bind::dispatch_float_index(r.data, r.indices, "R.data", "R.indices", [&](auto st, auto it) {
        using T = typename decltype(st)::type;
        using I = typename decltype(it)::type;
        const auto R = bind::csr_view<T, I>(r.indptr, r.indices, r.data, r.n_rows, r.n_cols);
        const T* w = opt_in<T>(weights, R.nnz(), "weights");
        const T* v = opt_in<T>(V, r.n_cols * k, "V");
        const T* c = opt_in<T>(other_bias, r.n_cols, "other_bias");
        T* u = opt_out<T>(U, r.n_rows * k, "U");
        T* b = opt_out<T>(own_bias, r.n_rows, "own_bias");
        py::gil_scoped_release release;
        return als_half_step<T, I>(R, w, v, k, c, static_cast<T>(mu), u, b, o);
      });
  py::dict d;
  d["rows"] = info.rows;
  d["exact_rows"] = info.exact_rows;
  d["cg_rows"] = info.cg_rows;
  d["sketch_rows"] = info.sketch_rows;
  d["iterations"] = info.iterations;
  d["singular_rows"] = info.singular_rows;
  d["sse"] = info.sse;
  return d;
}

double residuals_py(const py::tuple& r_t, const py::array& U, const py::array& V,
                    const py::object& b, const py::object& c, double mu, const py::object& weights,
                    const py::object& out, int n_threads) {
  const Csr r = bind::unpack_csr(r_t, "R");
  if (U.ndim() != 2 || V.ndim() != 2 || U.shape(0) != r.n_rows || V.shape(0) != r.n_cols ||
      U.shape(1) != V.shape(1))
    throw type_error("U, V: expected shapes (n_rows, k) and (n_cols, k)");
  const std::int64_t k = U.shape(1);
  return bind::dispatch_float_index(
      r.data, r.indices, "R.data", "R.indices", [&](auto st, auto it) {
        using T = typename decltype(st)::type;
        using I = typename decltype(it)::type;
        const auto R = bind::csr_view<T, I>(r.indptr, r.indices, r.data, r.n_rows, r.n_cols);
        const T* u = opt_in<T>(U, r.n_rows * k, "U");
        const T* v = opt_in<T>(V, r.n_cols * k, "V");
        const T* bp = opt_in<T>(b, r.n_rows, "row_bias");
        const T* cp = opt_in<T>(c, r.n_cols, "col_bias");
        const T* w = opt_in<T>(weights, R.nnz(), "weights");
        T* res = opt_out<T>(out, R.nnz(), "out");
        py::gil_scoped_release release;
        return completion_residuals<T, I>(R, u, v, k, bp, cp, static_cast<T>(mu), w, res,
                                          n_threads);
      });
}

void sddmm_py(const py::tuple& s_t, bool scale, const py::array& U, const py::array& V,
              py::array& out, int n_threads) {
  const Csr s = bind::unpack_csr(s_t, "S");
  if (U.ndim() != 2 || V.ndim() != 2 || U.shape(0) != s.n_rows || V.shape(0) != s.n_cols ||
      U.shape(1) != V.shape(1))
    throw type_error("U, V: expected shapes (n_rows, k) and (n_cols, k)");
  const std::int64_t k = U.shape(1);
  bind::dispatch_float_index(s.data, s.indices, "S.data", "S.indices", [&](auto st, auto it) {
    using T = typename decltype(st)::type;
    using I = typename decltype(it)::type;
    auto S = bind::csr_view<T, I>(s.indptr, s.indices, s.data, s.n_rows, s.n_cols);
    if (!scale) S.values = nullptr;
    const T* u = opt_in<T>(U, s.n_rows * k, "U");
    const T* v = opt_in<T>(V, s.n_cols * k, "V");
    T* o = opt_out<T>(out, S.nnz(), "out");
    py::gil_scoped_release release;
    sddmm<T, I>(S, u, k, v, k, k, o, n_threads);
  });
}

void spmm_py(const py::tuple& a_t, const py::array& X, py::array& Y, int n_threads) {
  const Csr a = bind::unpack_csr(a_t, "A");
  if (X.ndim() != 2 || X.shape(0) != a.n_cols || Y.ndim() != 2 || Y.shape(0) != a.n_rows ||
      Y.shape(1) != X.shape(1))
    throw type_error("X, out: expected shapes (n_cols, c) and (n_rows, c)");
  const std::int64_t c = X.shape(1);
  bind::dispatch_float_index(a.data, a.indices, "A.data", "A.indices", [&](auto st, auto it) {
    using T = typename decltype(st)::type;
    using I = typename decltype(it)::type;
    const auto A = bind::csr_view<T, I>(a.indptr, a.indices, a.data, a.n_rows, a.n_cols);
    const T* x = opt_in<T>(X, a.n_cols * c, "X");
    T* y = opt_out<T>(Y, a.n_rows * c, "out");
    py::gil_scoped_release release;
    spmm<T, I>(A, x, c, c, y, c, n_threads);
  });
}

std::int64_t gibbs_half_step_py(const py::tuple& r_t, const py::array& V, double mu, double alpha,
                                const py::array& Lambda, const py::array& mean, py::array& U,
                                std::uint64_t seed, int n_threads) {
  const Csr r = bind::unpack_csr(r_t, "R");
  const std::int64_t k = half_step_rank(U, V, r);
  return bind::dispatch_float_index(
      r.data, r.indices, "R.data", "R.indices", [&](auto st, auto it) {
        using T = typename decltype(st)::type;
        using I = typename decltype(it)::type;
        const auto R = bind::csr_view<T, I>(r.indptr, r.indices, r.data, r.n_rows, r.n_cols);
        const T* v = opt_in<T>(V, r.n_cols * k, "V");
        const T* lam = opt_in<T>(Lambda, k * k, "Lambda");
        const T* mu0 = opt_in<T>(mean, k, "mean");
        T* u = opt_out<T>(U, r.n_rows * k, "U");
        py::gil_scoped_release release;
        return gibbs_half_step<T, I>(R, v, k, static_cast<T>(mu), alpha, lam, mu0, seed, u,
                                     n_threads);
      });
}

py::tuple normal_wishart_draw_py(const py::array& F, double beta0, const py::array& z_a,
                                 const py::array& chi2, const py::array& z_mu) {
  if (F.ndim() != 2 || F.shape(0) < 1) throw type_error("F: expected a non-empty (N, k) array");
  const std::int64_t N = F.shape(0), k = F.shape(1);
  const double* za = opt_in<double>(z_a, k * k, "z_a");
  const double* c2 = opt_in<double>(chi2, k, "chi2");
  const double* zm = opt_in<double>(z_mu, k, "z_mu");
  return bind::dispatch_float(F, "F", [&](auto st) -> py::tuple {
    using T = typename decltype(st)::type;
    const T* f = opt_in<T>(F, N * k, "F");
    py::array_t<T> Lam({k, k});
    py::array_t<T> mu(k);
    T* lp = Lam.mutable_data();
    T* mp = mu.mutable_data();
    {
      py::gil_scoped_release release;
      normal_wishart_draw<T>(f, N, k, beta0, za, c2, zm, lp, mp);
    }
    return py::tuple(py::make_tuple(mu, Lam));
  });
}

// Canonical CSR of a validated coordinate list (int64 rows/cols in range, finite float64
// values): (indptr, indices, data, nnz, dup_row, dup_col); nnz = -1 and the first duplicate
// pair with policy "raise".
py::tuple coo_to_csr_py(std::int64_t m, const py::array& rows, const py::array& cols,
                        const py::array& vals, const std::string& policy, const py::object& dtype,
                        bool int64_indices, int n_threads) {
  DuplicatePolicy pol;
  if (policy == "raise")
    pol = DuplicatePolicy::raise;
  else if (policy == "sum")
    pol = DuplicatePolicy::sum;
  else if (policy == "mean")
    pol = DuplicatePolicy::mean;
  else if (policy == "last")
    pol = DuplicatePolicy::last;
  else
    throw value_error("duplicates: expected 'raise', 'sum', 'mean' or 'last'");
  const std::int64_t nnz = static_cast<std::int64_t>(rows.size());
  const auto* r = opt_in<std::int64_t>(rows, nnz, "rows");
  const auto* c = opt_in<std::int64_t>(cols, nnz, "cols");
  const double* v = opt_in<double>(vals, nnz, "vals");
  const py::dtype dt = py::dtype::from_args(dtype);
  auto run = [&](auto st, auto it) -> py::tuple {
    using T = typename decltype(st)::type;
    using I = typename decltype(it)::type;
    py::array_t<I> indptr(m + 1);
    py::array_t<I> indices(nnz);
    py::array_t<T> data(nnz);
    std::int64_t dr = -1, dc = -1, out = 0;
    I* ip = indptr.mutable_data();
    I* ix = indices.mutable_data();
    T* dp = data.mutable_data();
    {
      py::gil_scoped_release release;
      out = coo_to_csr<T, I>(m, nnz, r, c, v, pol, ip, ix, dp, &dr, &dc, n_threads);
    }
    return py::make_tuple(indptr, indices, data, out, dr, dc);
  };
  const bool f64 = dt.is(py::dtype::of<double>());
  if (!f64 && !dt.is(py::dtype::of<float>()))
    throw type_error("dtype: expected float32 or float64");
  if (f64)
    return int64_indices ? run(bind::type_tag<double>{}, bind::type_tag<std::int64_t>{})
                         : run(bind::type_tag<double>{}, bind::type_tag<std::int32_t>{});
  return int64_indices ? run(bind::type_tag<float>{}, bind::type_tag<std::int64_t>{})
                       : run(bind::type_tag<float>{}, bind::type_tag<std::int32_t>{});
}

// Standard normals N(0, 1) for element i of a C-order array: CounterRng(seed,
// completion_init).normal(offset + i), so the values do not depend on the thread count.
void standard_normal_py(py::array& out, std::uint64_t seed, std::uint64_t offset, int n_threads) {
  bind::dispatch_float(out, "out", [&](auto st) {
    using T = typename decltype(st)::type;
    T* o = opt_out<T>(out, static_cast<std::int64_t>(out.size()), "out");
    const auto n = static_cast<std::int64_t>(out.size());
    const int nt = resolve_threads(n_threads);
    py::gil_scoped_release release;
    const CounterRng rng(seed, StreamTag::completion_init);
#pragma omp parallel for num_threads(nt) if (nt > 1 && n > 65536) schedule(static)
    for (std::int64_t i = 0; i < n; ++i)
      o[i] = static_cast<T>(rng.normal(offset + static_cast<std::uint64_t>(i)));
  });
}

}  // namespace

void bind_completion(py::module_& m) {
  m.def("als_half_step", &als_half_step_py, py::arg("R"), py::arg("weights"), py::arg("V"),
        py::arg("other_bias"), py::arg("mu"), py::arg("U"), py::arg("own_bias"), py::arg("reg"),
        py::arg("bias_reg"), py::arg("reg_by_count"), py::arg("solver"), py::arg("cg_tol"),
        py::arg("cg_max_iter"), py::arg("sketch_factor"), py::arg("sketch_nnz"), py::arg("seed"),
        py::arg("n_threads"), py::arg("compute_sse") = false,
        "One ALS half-step in place on U (and own_bias); returns solver diagnostics (and, with "
        "compute_sse, the residual sum of squares at the new factors as 'sse').");
  m.def("normal_wishart_draw", &normal_wishart_draw_py, py::arg("F"), py::arg("beta0"),
        py::arg("z_a"), py::arg("chi2"), py::arg("z_mu"),
        "(mean, Lambda) of F's rows from their Normal-Wishart posterior (BPMF), randomness "
        "given: z_a (k x k standard normals), chi2 (k chi-square draws), z_mu (k normals).");
  m.def("coo_to_csr", &coo_to_csr_py, py::arg("m"), py::arg("rows"), py::arg("cols"),
        py::arg("vals"), py::arg("duplicates"), py::arg("dtype"), py::arg("int64_indices"),
        py::arg("n_threads"),
        "Canonical CSR of a validated coordinate list: (indptr, indices, data, nnz, dup_row, "
        "dup_col); nnz = -1 at the first duplicate with duplicates='raise'.");
  m.def("gibbs_half_step", &gibbs_half_step_py, py::arg("R"), py::arg("V"), py::arg("mu"),
        py::arg("alpha"), py::arg("Lambda"), py::arg("mean"), py::arg("U"), py::arg("seed"),
        py::arg("n_threads"),
        "One BPMF Gibbs half-step: draws every row of U (in place) from its conditional "
        "posterior; returns the number of rows that needed a diagonal shift.");
  m.def("completion_residuals", &residuals_py, py::arg("R"), py::arg("U"), py::arg("V"),
        py::arg("row_bias"), py::arg("col_bias"), py::arg("mu"), py::arg("weights"), py::arg("out"),
        py::arg("n_threads"),
        "Residuals R - (mu + b + c + U V^T) on R's entries (into out unless None); returns the "
        "(weighted) sum of squares.");
  m.def("sddmm", &sddmm_py, py::arg("S"), py::arg("scale"), py::arg("U"), py::arg("V"),
        py::arg("out"), py::arg("n_threads"), "out[p] = (S.data[p] if scale) * U[i] . V[j].");
  m.def("spmm", &spmm_py, py::arg("A"), py::arg("X"), py::arg("out"), py::arg("n_threads"),
        "out = A @ X for CSR A and C-contiguous X.");
  m.def("standard_normal", &standard_normal_py, py::arg("out"), py::arg("seed"), py::arg("offset"),
        py::arg("n_threads"),
        "Fills out (float32/float64, C-contiguous) with N(0, 1) draws of the completion_init "
        "stream.");
}
