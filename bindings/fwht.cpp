// Binding of the dense fast Walsh-Hadamard transform. The Python layer (sparsketch/fwht.py)
// hands over 3-D views (outer, n, inner) with a contiguous inner axis; this file only checks
// that contract, releases the GIL and calls the kernel.

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "arrays.hpp"
#include "sparsketch/fwht.hpp"

namespace py = pybind11;
using namespace sparsketch;
namespace bind = sparsketch::bind;

namespace {

FwhtOptions make_options(bool normalized, bool check_finite, int n_threads) {
  FwhtOptions opt;
  opt.normalized = normalized;
  opt.check_finite = check_finite;
  opt.n_threads = n_threads;
  return opt;
}

void fwht_3d(py::array src, py::array dst, bool normalized, bool check_finite, int n_threads) {
  if (src.ndim() != 3 || dst.ndim() != 3)
    throw type_error("fwht: expected 3-D (outer, n, inner) views");
  for (int k = 0; k < 3; ++k)
    if (src.shape(k) != dst.shape(k)) throw type_error("fwht: src and dst shapes differ");
  if (!src.dtype().is(dst.dtype())) throw type_error("fwht: src and dst dtypes differ");
  return bind::dispatch_float(src, "x", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const FwhtLayout lay{src.shape(0), src.shape(1), src.shape(2)};
    auto strides = [&](const py::array& a, const char* nm) {
      if (lay.inner > 1 && bind::elem_stride(a, 2, nm) != 1)
        throw type_error(std::string(nm) + ": inner axis must be contiguous");
      return FwhtStrides{bind::elem_stride(a, 0, nm), bind::elem_stride(a, 1, nm)};
    };
    FwhtStrides ss = strides(src, "x"), ds = strides(dst, "out");
    if (lay.inner == 1 && lay.n == 1) ss.n = ds.n = 1;  // stride of a length-1 axis is moot
    if (lay.outer == 1) ss.outer = ds.outer = 0;
    const T* sp = static_cast<const T*>(src.data());
    T* dp = bind::mutable_data<T>(dst, "out");
    const FwhtOptions opt = make_options(normalized, check_finite, n_threads);
    py::gil_scoped_release release;
    fwht(sp, ss, dp, ds, lay, opt);
  });
}

// Fast path for the common call: C-contiguous src and dst of equal shape and dtype, transform
// along the last axis (a batch of contiguous rows of length n).
void fwht_rows(py::array src, py::array dst, bool normalized, bool check_finite, int n_threads) {
  constexpr auto c_style = py::array::c_style;
  if (src.ndim() < 1 || src.ndim() != dst.ndim() || !(src.flags() & c_style) ||
      !(dst.flags() & c_style) || !src.dtype().is(dst.dtype()))
    throw type_error("fwht: expected C-contiguous src and dst of equal shape and dtype");
  const std::int64_t n = src.shape(src.ndim() - 1);
  std::int64_t outer = 1;
  for (py::ssize_t k = 0; k < src.ndim(); ++k) {
    if (src.shape(k) != dst.shape(k)) throw type_error("fwht: src and dst shapes differ");
    if (k + 1 < src.ndim()) outer *= src.shape(k);
  }
  bind::dispatch_float(src, "x", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* sp = static_cast<const T*>(src.data());
    T* dp = bind::mutable_data<T>(dst, "out");
    const FwhtOptions opt = make_options(normalized, check_finite, n_threads);
    py::gil_scoped_release release;
    fwht(sp, FwhtStrides{n, 1}, dp, FwhtStrides{n, 1}, FwhtLayout{outer, n, 1}, opt);
  });
}

}  // namespace

void bind_fwht(py::module_& m) {
  m.def("fwht", &fwht_3d, py::arg("src"), py::arg("dst"), py::arg("normalized"),
        py::arg("check_finite"), py::arg("n_threads"),
        "Batched FWHT on (outer, n, inner) views; see sparsketch.fwht.");
  m.def("fwht_rows", &fwht_rows, py::arg("src"), py::arg("dst"), py::arg("normalized"),
        py::arg("check_finite"), py::arg("n_threads"),
        "FWHT of the last axis of C-contiguous arrays; see sparsketch.fwht.");
}
