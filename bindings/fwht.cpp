// Binding of the dense fast Walsh-Hadamard transform. The Python layer (sparsketch/fwht.py)
// hands over 3-D views (outer, n, inner) with a contiguous inner axis; this file only checks
// that contract, releases the GIL and calls the kernel.

#include "sparsketch/fwht.hpp"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "arrays.hpp"

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
  if (src.itemsize() != dst.itemsize()) throw type_error("fwht: src and dst dtypes differ");
  return bind::dispatch_float(src, "x", [&](auto tag) {
    using T = typename decltype(tag)::type;
    bind::require_dtype<T>(dst, "out");
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

// Runs the kernel on C-contiguous src/dst of one shape and dtype along the last axis.
template <class T>
void run_rows(const py::array& src, py::array& dst, bool normalized, bool check_finite,
              int n_threads) {
  const std::int64_t n = src.shape(src.ndim() - 1);
  const std::int64_t total = static_cast<std::int64_t>(src.size());
  const std::int64_t outer = n == 0 ? 0 : total / n;
  const T* sp = static_cast<const T*>(src.data());
  T* dp = bind::mutable_data<T>(dst, "out");
  const FwhtOptions opt = make_options(normalized, check_finite, n_threads);
  if (total < (std::int64_t{1} << 14)) {  // a few microseconds: not worth a GIL round trip
    fwht(sp, FwhtStrides{n, 1}, dp, FwhtStrides{n, 1}, FwhtLayout{outer, n, 1}, opt);
  } else {
    py::gil_scoped_release release;
    fwht(sp, FwhtStrides{n, 1}, dp, FwhtStrides{n, 1}, FwhtLayout{outer, n, 1}, opt);
  }
}

bool is_c_float(const py::array& a) {
  return a.ndim() >= 1 && (a.flags() & py::array::c_style) &&
         (bind::has_dtype<float>(a) || bind::has_dtype<double>(a));
}

// The common calls fwht(x), fwht(x, out=x) and fwht(x, out=y): x a C-contiguous float32/float64
// array whose last axis is a power of two; out None (allocate), x itself (in place), or a
// C-contiguous, writable array of x's shape and dtype that does not overlap x. Returns the
// result, or None (having done nothing) for any other input, which the Python layer then
// validates and handles in full.
py::object fwht_fast(const py::handle& xobj, const py::handle& outobj, bool normalized,
                     bool check_finite, int n_threads) {
  if (!py::isinstance<py::array>(xobj)) return py::none();
  py::array src = py::reinterpret_borrow<py::array>(xobj);
  if (!is_c_float(src) || !is_pow2(src.shape(src.ndim() - 1))) return py::none();
  py::array dst;
  if (outobj.is_none()) {
    dst = py::array(src.dtype(), std::vector<py::ssize_t>(src.shape(), src.shape() + src.ndim()));
  } else if (outobj.is(xobj)) {
    if (!src.writeable()) return py::none();
    dst = src;
  } else {
    if (!py::isinstance<py::array>(outobj)) return py::none();
    dst = py::reinterpret_borrow<py::array>(outobj);
    if (!is_c_float(dst) || dst.itemsize() != src.itemsize() || dst.ndim() != src.ndim() ||
        !dst.writeable())
      return py::none();
    for (py::ssize_t k = 0; k < src.ndim(); ++k)
      if (src.shape(k) != dst.shape(k)) return py::none();
    const char* s0 = static_cast<const char*>(src.data());
    const char* d0 = static_cast<const char*>(dst.data());
    if (s0 < d0 + dst.nbytes() && d0 < s0 + src.nbytes()) return py::none();  // overlap
  }
  if (src.size() > 0) {
    if (src.itemsize() == 4)
      run_rows<float>(src, dst, normalized, check_finite, n_threads);
    else
      run_rows<double>(src, dst, normalized, check_finite, n_threads);
  }
  return std::move(dst);
}

}  // namespace

void bind_fwht(py::module_& m) {
  m.def("fwht", &fwht_3d, py::arg("src"), py::arg("dst"), py::arg("normalized"),
        py::arg("check_finite"), py::arg("n_threads"),
        "Batched FWHT on (outer, n, inner) views; see sparsketch.fwht.");
  m.def("fwht_fast", &fwht_fast, py::arg("x"), py::arg("out"), py::arg("normalized"),
        py::arg("check_finite"), py::arg("n_threads"),
        "fwht of the last axis of a C-contiguous float array into a new array, in place "
        "(out is x) or into a C-contiguous out; None for any other input.");
}
