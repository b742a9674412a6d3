// Bindings of the leverage-score / IRLS passes (sparsketch/sampling.py drives the algorithms).
// CSR structure is validated once by validate_csr in the Python layer; these functions check
// shapes and dtypes only. Optional operands are passed as None.

#include "sparsketch/leverage.hpp"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <optional>
#include <type_traits>

#include "arrays.hpp"

namespace py = pybind11;
using namespace sparsketch;
namespace bind = sparsketch::bind;

namespace {

// A 1-D C-contiguous array of T with n entries, or nullptr for None.
template <class T>
const T* opt_vector(const py::object& o, std::int64_t n, const char* name) {
  if (o.is_none()) return nullptr;
  const auto a = py::reinterpret_borrow<py::array>(o);
  bind::require_dtype<T>(a, name);
  if (a.ndim() != 1 || a.shape(0) != n || !(a.flags() & py::array::c_style))
    throw type_error(std::string(name) + ": expected a contiguous vector of length " +
                     std::to_string(n));
  return static_cast<const T*>(a.data());
}

template <class T>
std::optional<ConstDenseView<T>> opt_in(const py::object& o, const char* name) {
  if (o.is_none()) return std::nullopt;
  return bind::in_view<T>(py::reinterpret_borrow<py::array>(o), name);
}

template <class T>
T* out_vector(py::array& a, std::int64_t n, const char* name) {
  bind::require_dtype<T>(a, name);
  if (a.ndim() != 1 || a.shape(0) != n || !(a.flags() & py::array::c_style))
    throw type_error(std::string(name) + ": expected a contiguous vector of length " +
                     std::to_string(n));
  return bind::mutable_data<T>(a, name);
}

template <class AView, class T>
void run_gram(const AView& a, const py::object& P, const py::object& w, const py::object& B,
              py::array& G, const py::object& C, int nt, bool p_upper = false) {
  const auto p = opt_in<T>(P, "P");
  const T* wp = opt_vector<T>(w, a.n_rows, "w");
  const auto b = opt_in<T>(B, "B");
  const auto g = bind::out_view<T>(G, "G");
  std::optional<DenseView<T>> c;
  if (!C.is_none()) {
    auto ca = py::reinterpret_borrow<py::array>(C);
    c = bind::out_view<T>(ca, "C");
  }
  if (b.has_value() != c.has_value()) throw type_error("weighted_gram: B and C go together");
  py::gil_scoped_release release;
  weighted_gram(a, p ? &*p : nullptr, wp, b ? &*b : nullptr, g, c ? &*c : nullptr, nt, p_upper);
}

void row_norms_dense_py(py::array A, py::array M, py::object w, py::array out, int nt,
                        bool float32_product) {
  bind::dispatch_float(A, "A", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const auto a = bind::in_view<T>(A, "A");
    const auto m = bind::in_view<T>(M, "M");
    const T* wp = opt_vector<T>(w, a.n_rows, "w");
    T* o = out_vector<T>(out, a.n_rows, "out");
    py::gil_scoped_release release;
    if constexpr (std::is_same_v<T, double>) {
      if (float32_product) return row_norms_product_f32(a, m, wp, o, nt);
    }
    row_norms_product(a, m, wp, o, nt);
  });
}

void row_norms_csr_py(py::array indptr, py::array indices, py::array data, std::int64_t n_rows,
                      std::int64_t n_cols, py::array M, py::object w, py::array out, int nt) {
  bind::dispatch_float_index(data, indices, "A.data", "A.indices", [&](auto st, auto it) {
    using T = typename decltype(st)::type;
    using I = typename decltype(it)::type;
    const auto a = bind::csr_view<T, I>(indptr, indices, data, n_rows, n_cols);
    const auto m = bind::in_view<T>(M, "M");
    const T* wp = opt_vector<T>(w, n_rows, "w");
    T* o = out_vector<T>(out, n_rows, "out");
    py::gil_scoped_release release;
    row_norms_product(a, m, wp, o, nt);
  });
}

void gram_dense_py(py::array A, py::object P, py::object w, py::object B, py::array G, py::object C,
                   int nt, bool p_upper) {
  bind::dispatch_float(A, "A", [&](auto tag) {
    using T = typename decltype(tag)::type;
    run_gram<ConstDenseView<T>, T>(bind::in_view<T>(A, "A"), P, w, B, G, C, nt, p_upper);
  });
}

void gram_csr_py(py::array indptr, py::array indices, py::array data, std::int64_t n_rows,
                 std::int64_t n_cols, py::object P, py::object w, py::object B, py::array G,
                 py::object C, int nt) {
  bind::dispatch_float_index(data, indices, "A.data", "A.indices", [&](auto st, auto it) {
    using T = typename decltype(st)::type;
    using I = typename decltype(it)::type;
    run_gram<CsrView<T, I>, T>(bind::csr_view<T, I>(indptr, indices, data, n_rows, n_cols), P, w, B,
                               G, C, nt);
  });
}

template <class AView, class T>
double run_lewis(const AView& a, py::array M, py::array w, double p, double eta, py::array w_out,
                 py::array G, int nt) {
  const auto m = bind::in_view<T>(M, "M");
  const double* wp = opt_vector<double>(w, a.n_rows, "w");
  double* wo = out_vector<double>(w_out, a.n_rows, "w_out");
  const auto g = bind::out_view<T>(G, "G");
  if (!wp) throw type_error("w: required");
  py::gil_scoped_release release;
  return lewis_step(a, m, wp, p, eta, wo, g, nt);
}

double lewis_dense_py(py::array A, py::array M, py::array w, double p, double eta, py::array w_out,
                      py::array G, int nt) {
  return bind::dispatch_float(A, "A", [&](auto tag) {
    using T = typename decltype(tag)::type;
    return run_lewis<ConstDenseView<T>, T>(bind::in_view<T>(A, "A"), M, w, p, eta, w_out, G, nt);
  });
}

double lewis_csr_py(py::array indptr, py::array indices, py::array data, std::int64_t n_rows,
                    std::int64_t n_cols, py::array M, py::array w, double p, double eta,
                    py::array w_out, py::array G, int nt) {
  return bind::dispatch_float_index(data, indices, "A.data", "A.indices", [&](auto st, auto it) {
    using T = typename decltype(st)::type;
    using I = typename decltype(it)::type;
    return run_lewis<CsrView<T, I>, T>(bind::csr_view<T, I>(indptr, indices, data, n_rows, n_cols),
                                       M, w, p, eta, w_out, G, nt);
  });
}

py::tuple small_svd_py(py::array Y) {
  bind::require_dtype<double>(Y, "Y");
  if (Y.ndim() != 2) throw value_error("Y: expected a 2-D array");
  const auto y = bind::in_view<double>(Y, "Y");
  const std::int64_t k = std::min(y.n_rows, y.n_cols);
  py::array_t<double> sv(k);
  py::array_t<double> Vt({k, y.n_cols});
  const auto vt = bind::out_view<double>(Vt, "Vt");
  double* svp = sv.mutable_data();
  {
    py::gil_scoped_release release;
    small_svd(y, svp, vt);
  }
  return py::make_tuple(sv, Vt);
}

}  // namespace

void bind_leverage(py::module_& m) {
  m.def("row_norms_product_dense", &row_norms_dense_py, py::arg("A"), py::arg("M"), py::arg("w"),
        py::arg("out"), py::arg("n_threads"), py::arg("float32_product") = false,
        "out[i] = w[i] * ||A[i] @ M||^2 (dense A); float32_product: the product in float32 "
        "(float64 A only).");
  m.def("row_norms_product_csr", &row_norms_csr_py, py::arg("indptr"), py::arg("indices"),
        py::arg("data"), py::arg("n_rows"), py::arg("n_cols"), py::arg("M"), py::arg("w"),
        py::arg("out"), py::arg("n_threads"), "Same for CSR A.");
  m.def("weighted_gram_dense", &gram_dense_py, py::arg("A"), py::arg("P"), py::arg("w"),
        py::arg("B"), py::arg("G"), py::arg("C"), py::arg("n_threads"), py::arg("p_upper") = false,
        "G = (A P)^T diag(w) (A P), C = (A P)^T diag(w) B (dense A; P, w, B optional; "
        "p_upper: P is upper triangular).");
  m.def("weighted_gram_csr", &gram_csr_py, py::arg("indptr"), py::arg("indices"), py::arg("data"),
        py::arg("n_rows"), py::arg("n_cols"), py::arg("P"), py::arg("w"), py::arg("B"),
        py::arg("G"), py::arg("C"), py::arg("n_threads"), "Same for CSR A.");
  m.def("lewis_step_dense", &lewis_dense_py, py::arg("A"), py::arg("M"), py::arg("w"), py::arg("p"),
        py::arg("eta"), py::arg("w_out"), py::arg("G"), py::arg("n_threads"),
        "One fused Lewis-weight iteration (dense A); returns max |log w' - log w|.");
  m.def("small_svd", &small_svd_py, py::arg("Y"),
        "(singular values, Vt) of a small float64 matrix: Householder QR, then BDCSVD (Eigen).");
  m.def("lewis_step_csr", &lewis_csr_py, py::arg("indptr"), py::arg("indices"), py::arg("data"),
        py::arg("n_rows"), py::arg("n_cols"), py::arg("M"), py::arg("w"), py::arg("p"),
        py::arg("eta"), py::arg("w_out"), py::arg("G"), py::arg("n_threads"), "Same for CSR A.");
}
