// Binding of the block coordinate descent solvers (sparsketch/bcd.py builds the options and the
// result object). The whole solve runs with the GIL released; a Python progress callback, when
// given, is called between outer iterations with the GIL re-acquired.

#include "sparsketch/bcd.hpp"

#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

#include "arrays.hpp"
#include "sparsketch/bcd_graph.hpp"
#include "sparsketch/bcd_softmax.hpp"

namespace py = pybind11;
using namespace sparsketch;

namespace {

BcdQuadraticOptions parse_inner(const py::dict& d) {
  BcdQuadraticOptions o;
  o.rule = static_cast<BcdRule>(d["rule"].cast<int>());
  o.update = static_cast<BcdUpdate>(d["update"].cast<int>());
  o.variable_blocks = d["variable_blocks"].cast<bool>();
  o.block_size = d["block_size"].cast<std::int64_t>();
  o.active_set_newton = d["active_set_newton"].cast<bool>();
  o.seed = d["seed"].cast<std::uint64_t>();
  return o;
}

/// The optional per-coordinate block ids (None: no fixed partition); `keep` holds the array
/// alive while the returned pointer is used.
const std::int64_t* block_ids(const py::object& block_of, std::int64_t p, py::array& keep) {
  if (block_of.is_none()) return nullptr;
  keep = block_of.cast<py::array>();
  bind::require_dtype<std::int64_t>(keep, "block_of");
  if (keep.ndim() != 1 || keep.shape(0) != p || !(keep.flags() & py::array::c_style))
    throw type_error("block_of: expected a contiguous int64 vector of length p");
  return static_cast<const std::int64_t*>(keep.data());
}

BcdGlmOptions parse_options(const py::dict& d) {
  BcdGlmOptions o;
  o.loss = static_cast<BcdLoss>(d["loss"].cast<int>());
  o.lambda1 = d["lambda1"].cast<double>();
  o.lambda2 = d["lambda2"].cast<double>();
  o.fit_intercept = d["fit_intercept"].cast<bool>();
  o.tol = d["tol"].cast<double>();
  o.max_iter = d["max_iter"].cast<std::int64_t>();
  o.max_outer = d["max_outer"].cast<std::int64_t>();
  o.all_coordinates = d["all_coordinates"].cast<bool>();
  o.ws_min = d["ws_min"].cast<std::int64_t>();
  o.ws_max = d["ws_max"].cast<std::int64_t>();
  o.n_threads = d["n_threads"].cast<int>();
  o.inner = parse_inner(d);
  return o;
}

BcdSoftmaxOptions parse_softmax_options(const py::dict& d) {
  BcdSoftmaxOptions o;
  o.lambda1 = d["lambda1"].cast<double>();
  o.lambda2 = d["lambda2"].cast<double>();
  o.fit_intercept = d["fit_intercept"].cast<bool>();
  o.tol = d["tol"].cast<double>();
  o.max_iter = d["max_iter"].cast<std::int64_t>();
  o.max_outer = d["max_outer"].cast<std::int64_t>();
  o.explicit_max = d["explicit_max"].cast<std::int64_t>();
  o.data_cd = d["data_cd"].cast<bool>();
  o.n_threads = d["n_threads"].cast<int>();
  o.inner = parse_inner(d);
  return o;
}

py::dict to_dict(const BcdGlmResult& r) {
  py::dict out;
  out["iterations"] = r.iterations;
  out["outer"] = r.outer;
  out["primal"] = r.primal;
  out["gap"] = r.gap;
  out["measure"] = r.measure;
  out["measure_is_gap"] = r.measure_is_gap;
  out["converged"] = r.converged;
  out["active_set_iter"] = r.active_set_iter;
  out["newton_steps"] = r.newton_steps;
  out["line_search_steps"] = r.line_search_steps;
  py::array_t<double> trace(static_cast<py::ssize_t>(r.trace.size()));
  std::copy(r.trace.begin(), r.trace.end(), trace.mutable_data());
  out["trace"] = trace;
  const auto h = static_cast<py::ssize_t>(r.history.size());
  py::array_t<double> hist({h, static_cast<py::ssize_t>(6)});
  auto hm = hist.mutable_unchecked<2>();
  for (py::ssize_t k = 0; k < h; ++k) {
    const auto& e = r.history[static_cast<std::size_t>(k)];
    hm(k, 0) = static_cast<double>(e.iterations);
    hm(k, 1) = e.primal;
    hm(k, 2) = e.measure;
    hm(k, 3) = e.seconds;
    hm(k, 4) = static_cast<double>(e.ws_size);
    hm(k, 5) = static_cast<double>(e.support);
  }
  out["history"] = hist;
  return out;
}

/// The Python callback as a progress function (GIL re-acquired for the call); empty if None.
std::function<bool(const BcdGlmProgress&)> make_progress(const py::object& callback) {
  if (callback.is_none()) return nullptr;
  return [callback](const BcdGlmProgress& e) {
    py::gil_scoped_acquire gil;
    py::dict info;
    info["outer"] = e.outer;
    info["iterations"] = e.iterations;
    info["ws_size"] = e.ws_size;
    info["support"] = e.support;
    info["objective"] = e.primal;
    info["measure"] = e.measure;
    info["seconds"] = e.seconds;
    return py::bool_(callback(info)).cast<bool>();
  };
}

template <class Design>
py::dict solve(const Design& a, py::array y, py::array x, py::array x0, const py::dict& opts,
               py::object block_of, py::object callback, bool record_trace) {
  bind::require_dtype<double>(y, "y");
  bind::require_dtype<double>(x, "x");
  bind::require_dtype<double>(x0, "x0");
  if (y.ndim() != 1 || y.shape(0) != a.n || !(y.flags() & py::array::c_style))
    throw type_error("y: expected a contiguous float64 vector of length " + std::to_string(a.n));
  if (x.ndim() != 1 || x.shape(0) != a.p || !(x.flags() & py::array::c_style))
    throw type_error("x: expected a contiguous float64 vector of length " + std::to_string(a.p));
  if (x0.ndim() != 1 || x0.shape(0) != 1)
    throw type_error("x0: expected a float64 array of length 1");
  BcdGlmOptions o = parse_options(opts);
  py::array blk;
  o.block_of = block_ids(block_of, a.p, blk);
  std::vector<double> trace_sink;
  if (record_trace) o.inner.trace = &trace_sink;  // marks "record"; bcd_glm fills res.trace
  const auto progress = make_progress(callback);
  const double* yp = static_cast<const double*>(y.data());
  double* xp = bind::mutable_data<double>(x, "x");
  double* x0p = bind::mutable_data<double>(x0, "x0");
  BcdGlmResult r;
  {
    py::gil_scoped_release release;
    r = bcd_glm(a, yp, xp, x0p, o, progress);
  }
  return to_dict(r);
}

py::dict bcd_glm_dense_py(py::array A, py::array y, py::array x, py::array x0, py::dict opts,
                          py::object block_of, py::object callback, bool record_trace) {
  return bind::dispatch_float(A, "A", [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (A.ndim() != 2 || !(A.flags() & py::array::f_style))
      throw type_error("A: expected a Fortran-ordered 2-D array");
    const DenseColumns<T> a{static_cast<const T*>(A.data()), A.shape(0), A.shape(1), A.shape(0)};
    return solve(a, y, x, x0, opts, block_of, callback, record_trace);
  });
}

py::dict bcd_glm_csc_py(py::array indptr, py::array indices, py::array data, std::int64_t n_rows,
                        std::int64_t n_cols, py::array y, py::array x, py::array x0, py::dict opts,
                        py::object block_of, py::object callback, bool record_trace) {
  return bind::dispatch_float_index(data, indices, "A.data", "A.indices", [&](auto st, auto it) {
    using T = typename decltype(st)::type;
    using I = typename decltype(it)::type;
    // a CSC matrix is the CSR matrix of its transpose
    const auto v = bind::csr_view<T, I>(indptr, indices, data, n_cols, n_rows);
    const CscColumns<T, I> a{v.indptr, v.indices, v.values, n_rows, n_cols};
    return solve(a, y, x, x0, opts, block_of, callback, record_trace);
  });
}

template <class Design>
py::dict solve_softmax(const Design& a, py::array labels, std::int64_t k, py::array W, py::array b,
                       const py::dict& opts, py::object block_of, py::object callback) {
  bind::require_dtype<std::int32_t>(labels, "labels");
  bind::require_dtype<double>(W, "W");
  bind::require_dtype<double>(b, "b");
  if (labels.ndim() != 1 || labels.shape(0) != a.n || !(labels.flags() & py::array::c_style))
    throw type_error("labels: expected a contiguous int32 vector of length " + std::to_string(a.n));
  if (W.ndim() != 2 || W.shape(0) != a.p || W.shape(1) != k || !(W.flags() & py::array::c_style))
    throw type_error("W: expected a C-ordered float64 array of shape (p, k)");
  if (b.ndim() != 1 || b.shape(0) != k || !(b.flags() & py::array::c_style))
    throw type_error("b: expected a contiguous float64 vector of length k");
  BcdSoftmaxOptions o = parse_softmax_options(opts);
  py::array blk;
  o.block_of = block_ids(block_of, a.p, blk);
  const auto progress = make_progress(callback);
  const auto* lp = static_cast<const std::int32_t*>(labels.data());
  double* wp = bind::mutable_data<double>(W, "W");
  double* bp = bind::mutable_data<double>(b, "b");
  BcdGlmResult r;
  {
    py::gil_scoped_release release;
    r = bcd_softmax(a, lp, k, wp, bp, o, progress);
  }
  return to_dict(r);
}

py::dict bcd_softmax_dense_py(py::array A, py::array labels, std::int64_t k, py::array W,
                              py::array b, py::dict opts, py::object block_of,
                              py::object callback) {
  return bind::dispatch_float(A, "A", [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (A.ndim() != 2 || !(A.flags() & py::array::f_style))
      throw type_error("A: expected a Fortran-ordered 2-D array");
    const DenseColumns<T> a{static_cast<const T*>(A.data()), A.shape(0), A.shape(1), A.shape(0)};
    return solve_softmax(a, labels, k, W, b, opts, block_of, callback);
  });
}

py::dict bcd_softmax_csc_py(py::array indptr, py::array indices, py::array data,
                            std::int64_t n_rows, std::int64_t n_cols, py::array labels,
                            std::int64_t k, py::array W, py::array b, py::dict opts,
                            py::object block_of, py::object callback) {
  return bind::dispatch_float_index(data, indices, "A.data", "A.indices", [&](auto st, auto it) {
    using T = typename decltype(st)::type;
    using I = typename decltype(it)::type;
    const auto v = bind::csr_view<T, I>(indptr, indices, data, n_cols, n_rows);
    const CscColumns<T, I> a{v.indptr, v.indices, v.values, n_rows, n_cols};
    return solve_softmax(a, labels, k, W, b, opts, block_of, callback);
  });
}

// --- label propagation: Python passes a validated symmetric CSR graph (int64, float64) ---
GraphCsr graph_view(const py::array& indptr, const py::array& indices, const py::array& w) {
  bind::require_dtype<std::int64_t>(indptr, "indptr");
  bind::require_dtype<std::int64_t>(indices, "indices");
  bind::require_dtype<double>(w, "weights");
  if (indptr.ndim() != 1 || indptr.shape(0) < 1 || !(indptr.flags() & py::array::c_style) ||
      !(indices.flags() & py::array::c_style) || !(w.flags() & py::array::c_style) ||
      indices.ndim() != 1 || w.ndim() != 1 || indices.shape(0) != w.shape(0))
    throw type_error("graph: expected contiguous 1-D indptr, indices, weights");
  GraphCsr g;
  g.n = indptr.shape(0) - 1;
  g.ptr = static_cast<const std::int64_t*>(indptr.data());
  g.idx = static_cast<const std::int64_t*>(indices.data());
  g.w = static_cast<const double*>(w.data());
  if (g.ptr[0] != 0 || g.ptr[g.n] != indices.shape(0))
    throw value_error("graph: indptr does not match indices");
  return g;
}

py::array_t<std::int64_t> forest_blocks_py(py::array indptr, py::array indices, py::array w) {
  const GraphCsr g = graph_view(indptr, indices, w);
  std::vector<std::int64_t> b;
  {
    py::gil_scoped_release release;
    b = forest_blocks(g);
  }
  py::array_t<std::int64_t> out(static_cast<py::ssize_t>(b.size()));
  std::copy(b.begin(), b.end(), out.mutable_data());
  return out;
}

py::dict label_propagation_py(py::array indptr, py::array indices, py::array w, py::array C,
                              py::array lab, py::array X, py::array block_of, bool forest,
                              int method, int precond, py::dict opts, py::object callback) {
  const GraphCsr g = graph_view(indptr, indices, w);
  bind::require_dtype<double>(C, "C");
  bind::require_dtype<double>(lab, "lab");
  bind::require_dtype<double>(X, "X");
  bind::require_dtype<std::int64_t>(block_of, "block_of");
  if (C.ndim() != 2 || C.shape(0) != g.n || X.ndim() != 2 || X.shape(0) != g.n ||
      X.shape(1) != C.shape(1) || lab.ndim() != 1 || lab.shape(0) != g.n || block_of.ndim() != 1 ||
      block_of.shape(0) != g.n || !(C.flags() & py::array::c_style) ||
      !(X.flags() & py::array::c_style) || !(lab.flags() & py::array::c_style) ||
      !(block_of.flags() & py::array::c_style))
    throw type_error("label_propagation: inconsistent C-contiguous arrays");
  LabelPropOptions o;
  o.rule = static_cast<BcdRule>(opts["rule"].cast<int>());
  o.update = static_cast<BcdUpdate>(opts["update"].cast<int>());
  o.lambda = opts["lambda"].cast<double>();
  o.tol = opts["tol"].cast<double>();
  o.max_iter = opts["max_iter"].cast<std::int64_t>();
  o.seed = opts["seed"].cast<std::uint64_t>();
  o.n_threads = opts["n_threads"].cast<int>();
  const std::int64_t k = C.shape(1);
  const auto* bp = static_cast<const std::int64_t*>(block_of.data());
  std::vector<std::int64_t> blk(bp, bp + g.n);
  for (std::int64_t b : blk)
    if (b < 0 || b >= g.n) throw value_error("blocks: block ids must lie in [0, n)");
  const auto progress = make_progress(callback);
  const auto* cp = static_cast<const double*>(C.data());
  const auto* lp = static_cast<const double*>(lab.data());
  double* xp = bind::mutable_data<double>(X, "X");
  BcdGlmResult r;
  {
    py::gil_scoped_release release;
    r = method == 0 ? label_propagation_bcd(g, cp, lp, k, xp, blk, forest, o, progress)
                    : label_propagation_cg(g, cp, lp, k, xp, blk, precond, o, progress);
  }
  return to_dict(r);
}

}  // namespace

void bind_bcd(py::module_& m) {
  m.def("bcd_glm_dense", &bcd_glm_dense_py, py::arg("A"), py::arg("y"), py::arg("x"), py::arg("x0"),
        py::arg("options"), py::arg("block_of"), py::arg("callback"), py::arg("record_trace"),
        "Block coordinate descent on a GLM with dense Fortran-ordered A (x, x0 updated in place).");
  m.def("bcd_glm_csc", &bcd_glm_csc_py, py::arg("indptr"), py::arg("indices"), py::arg("data"),
        py::arg("n_rows"), py::arg("n_cols"), py::arg("y"), py::arg("x"), py::arg("x0"),
        py::arg("options"), py::arg("block_of"), py::arg("callback"), py::arg("record_trace"),
        "Same for CSC A.");
  m.def("bcd_softmax_dense", &bcd_softmax_dense_py, py::arg("A"), py::arg("labels"), py::arg("k"),
        py::arg("W"), py::arg("b"), py::arg("options"), py::arg("block_of"), py::arg("callback"),
        "Softmax regression by BCD with dense Fortran-ordered A (W, b updated in place).");
  m.def("bcd_softmax_csc", &bcd_softmax_csc_py, py::arg("indptr"), py::arg("indices"),
        py::arg("data"), py::arg("n_rows"), py::arg("n_cols"), py::arg("labels"), py::arg("k"),
        py::arg("W"), py::arg("b"), py::arg("options"), py::arg("block_of"), py::arg("callback"),
        "Same for CSC A.");
  m.def("forest_blocks", &forest_blocks_py, py::arg("indptr"), py::arg("indices"),
        py::arg("weights"),
        "Greedy forest partition of a symmetric CSR graph (block id per node).");
  m.def("bcd_label_propagation", &label_propagation_py, py::arg("indptr"), py::arg("indices"),
        py::arg("weights"), py::arg("C"), py::arg("lab"), py::arg("X"), py::arg("block_of"),
        py::arg("forest"), py::arg("method"), py::arg("precond"), py::arg("options"),
        py::arg("callback"),
        "Label propagation by BCD (method 0) or preconditioned CG (method 1); X updated in place.");
}
