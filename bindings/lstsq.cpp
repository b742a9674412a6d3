// Bindings of the one-pass least-squares kernels (sparsketch/lstsq.py drives the iteration).
// CSR inputs are validated once by validate_csr (sparsketch.lstsq calls it first); the pass
// functions trust their input and only check shapes and dtypes.

#include "sparsketch/lstsq.hpp"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "arrays.hpp"

namespace py = pybind11;
using namespace sparsketch;
namespace bind = sparsketch::bind;

namespace {

void gram_apply_dense_py(py::array A, py::array W, py::array out, int nt) {
  bind::dispatch_float(A, "A", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const auto a = bind::in_view<T>(A, "A");
    const auto w = bind::in_view<T>(W, "W");
    const auto o = bind::out_view<T>(out, "out");
    py::gil_scoped_release release;
    gram_apply(a, w, o, nt);
  });
}

void gram_apply_csr_py(py::array indptr, py::array indices, py::array data, std::int64_t n_rows,
                       std::int64_t n_cols, py::array W, py::array out, int nt) {
  bind::dispatch_float_index(data, indices, "A.data", "A.indices", [&](auto st, auto it) {
    using T = typename decltype(st)::type;
    using I = typename decltype(it)::type;
    const auto a = bind::csr_view<T, I>(indptr, indices, data, n_rows, n_cols);
    const auto w = bind::in_view<T>(W, "W");
    const auto o = bind::out_view<T>(out, "out");
    py::gil_scoped_release release;
    gram_apply(a, w, o, nt);
  });
}

// Runs residual_gradient (A dense or CSR) with the GIL released; returns (rr, frob2 or None).
template <class AView, class T>
py::tuple run_residual(const AView& a, const ConstDenseView<T>& b, const ConstDenseView<T>& x,
                       const DenseView<T>& g, bool want_frob, int nt) {
  py::array_t<T> rr(x.n_cols);
  T frob = T(0);
  T* rrp = rr.mutable_data();
  {
    py::gil_scoped_release release;
    residual_gradient(a, b, x, g, rrp, want_frob ? &frob : nullptr, nt);
  }
  return py::make_tuple(py::object(rr),
                        want_frob ? py::object(py::float_(frob)) : py::object(py::none()));
}

// Returns (rr, frob2): rr[q] = ||B[:, q] - A X[:, q]||^2; frob2 = ||A||_F^2 or None.
py::tuple residual_gradient_dense_py(py::array A, py::array B, py::array X, py::array G,
                                     bool want_frob, int nt) {
  return bind::dispatch_float(A, "A", [&](auto tag) -> py::tuple {
    using T = typename decltype(tag)::type;
    const auto a = bind::in_view<T>(A, "A");
    const auto b = bind::in_view<T>(B, "b");
    const auto x = bind::in_view<T>(X, "x");
    const auto g = bind::out_view<T>(G, "G");
    return run_residual(a, b, x, g, want_frob, nt);
  });
}

py::tuple residual_gradient_csr_py(py::array indptr, py::array indices, py::array data,
                                   std::int64_t n_rows, std::int64_t n_cols, py::array B,
                                   py::array X, py::array G, bool want_frob, int nt) {
  return bind::dispatch_float_index(
      data, indices, "A.data", "A.indices", [&](auto st, auto it) -> py::tuple {
        using T = typename decltype(st)::type;
        using I = typename decltype(it)::type;
        const auto a = bind::csr_view<T, I>(indptr, indices, data, n_rows, n_cols);
        const auto b = bind::in_view<T>(B, "b");
        const auto x = bind::in_view<T>(X, "x");
        const auto g = bind::out_view<T>(G, "G");
        return run_residual(a, b, x, g, want_frob, nt);
      });
}

void validate_csr_py(py::array indptr, py::array indices, std::int64_t n_rows, std::int64_t n_cols,
                     bool require_sorted, const std::string& name) {
  auto run = [&](auto it) {
    using I = typename decltype(it)::type;
    bind::require_dtype<I>(indptr, (name + ".indptr").c_str());
    if (indptr.ndim() != 1 || indptr.shape(0) != n_rows + 1)
      throw value_error(name + ".indptr: expected length " + std::to_string(n_rows + 1));
    const CsrView<double, I> v{static_cast<const I*>(indptr.data()),
                               static_cast<const I*>(indices.data()), nullptr, n_rows, n_cols};
    py::gil_scoped_release release;
    validate_csr(v, static_cast<std::int64_t>(indices.shape(0)), require_sorted, name.c_str());
  };
  if (bind::has_dtype<std::int32_t>(indices))
    run(bind::type_tag<std::int32_t>{});
  else if (bind::has_dtype<std::int64_t>(indices))
    run(bind::type_tag<std::int64_t>{});
  else
    throw type_error("A.indices: expected int32 or int64, got " + bind::dtype_name(indices));
}

}  // namespace

void bind_lstsq(py::module_& m) {
  m.def("gram_apply_dense", &gram_apply_dense_py, py::arg("A"), py::arg("W"), py::arg("out"),
        py::arg("n_threads"), "out = A.T @ (A @ W) in one pass over dense A.");
  m.def("gram_apply_csr", &gram_apply_csr_py, py::arg("indptr"), py::arg("indices"),
        py::arg("data"), py::arg("n_rows"), py::arg("n_cols"), py::arg("W"), py::arg("out"),
        py::arg("n_threads"), "out = A.T @ (A @ W) in one pass over CSR A.");
  m.def("residual_gradient_dense", &residual_gradient_dense_py, py::arg("A"), py::arg("B"),
        py::arg("X"), py::arg("G"), py::arg("want_frob"), py::arg("n_threads"),
        "G = A.T @ (B - A @ X); returns (||B - A X||^2 per column, ||A||_F^2 or None).");
  m.def("residual_gradient_csr", &residual_gradient_csr_py, py::arg("indptr"), py::arg("indices"),
        py::arg("data"), py::arg("n_rows"), py::arg("n_cols"), py::arg("B"), py::arg("X"),
        py::arg("G"), py::arg("want_frob"), py::arg("n_threads"), "Same for CSR A.");
  m.def("validate_csr", &validate_csr_py, py::arg("indptr"), py::arg("indices"), py::arg("n_rows"),
        py::arg("n_cols"), py::arg("require_sorted"), py::arg("name") = "A",
        "Validate CSR structure in O(nnz) (ValueError / IndexError naming the matrix).");
}
