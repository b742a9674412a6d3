#pragma once
// Array plumbing for the bindings: numpy arrays -> sparsketch views, dtype dispatch, and the
// rule that bindings never convert silently (an unexpected dtype or stride is a bug in the
// Python layer and raises TypeError).

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <type_traits>

#include "sparsketch/common.hpp"

namespace sparsketch {
namespace bind {

namespace py = pybind11;

template <class T>
struct type_tag {
  using type = T;
};

inline std::string dtype_name(const py::array& a) {
  return py::str(a.dtype()).cast<std::string>();
}

/// True when `a` holds native-endian T (compared by kind and size, not by dtype identity:
/// numpy may hand equal dtypes as distinct objects, and int64 has two type numbers).
template <class T>
bool has_dtype(const py::array& a) {
  static_assert(std::is_arithmetic<T>::value, "has_dtype: arithmetic T");
  const py::dtype d = a.dtype();
  const char kind = std::is_floating_point<T>::value ? 'f' : std::is_signed<T>::value ? 'i' : 'u';
  if (d.kind() != kind || d.itemsize() != static_cast<py::ssize_t>(sizeof(T))) return false;
  const char bo = d.byteorder();
  const std::uint16_t probe = 1;
  const char native = *reinterpret_cast<const unsigned char*>(&probe) == 1 ? '<' : '>';
  return bo == '=' || bo == '|' || bo == native;
}

/// Call f(type_tag<float>{}) or f(type_tag<double>{}) by the dtype of `a`; TypeError otherwise.
template <class F>
decltype(auto) dispatch_float(const py::array& a, const char* name, F&& f) {
  if (has_dtype<float>(a)) return f(type_tag<float>{});
  if (has_dtype<double>(a)) return f(type_tag<double>{});
  throw type_error(std::string(name) + ": expected float32 or float64, got " + dtype_name(a));
}

/// Call f(type_tag<Scalar>{}, type_tag<Index>{}) for (float32|float64) x (int32|int64).
template <class F>
decltype(auto) dispatch_float_index(const py::array& values, const py::array& indices,
                                    const char* vname, const char* iname, F&& f) {
  return dispatch_float(values, vname, [&](auto st) -> decltype(auto) {
    if (has_dtype<std::int32_t>(indices)) return f(st, type_tag<std::int32_t>{});
    if (has_dtype<std::int64_t>(indices)) return f(st, type_tag<std::int64_t>{});
    throw type_error(std::string(iname) + ": expected int32 or int64, got " + dtype_name(indices));
  });
}

/// The array's dtype must be exactly T.
template <class T>
void require_dtype(const py::array& a, const char* name) {
  if (!has_dtype<T>(a))
    throw type_error(std::string(name) + ": expected dtype " +
                     py::str(py::dtype::of<T>()).cast<std::string>() + ", got " + dtype_name(a));
}

/// Element stride of axis k (byte stride / itemsize); TypeError if not a whole number.
inline std::int64_t elem_stride(const py::array& a, int k, const char* name) {
  const auto s = static_cast<std::int64_t>(a.strides(k));
  const auto item = static_cast<std::int64_t>(a.itemsize());
  if (s % item != 0)
    throw type_error(std::string(name) + ": stride " + std::to_string(s) +
                     " bytes is not a multiple of the item size");
  return s / item;
}

template <class T>
T* mutable_data(py::array& a, const char* name) {
  if (!a.writeable()) throw value_error(std::string(name) + ": array is read-only");
  return static_cast<T*>(a.mutable_data());
}

/// A 2-D array of dtype T as a read-only view (any strides).
template <class T>
ConstDenseView<T> in_view(const py::array& a, const char* name) {
  require_dtype<T>(a, name);
  if (a.ndim() != 2) throw type_error(std::string(name) + ": expected a 2-D array");
  return ConstDenseView<T>{static_cast<const T*>(a.data()), a.shape(0), a.shape(1),
                           elem_stride(a, 0, name), elem_stride(a, 1, name)};
}

/// A writable 2-D array of dtype T as a view.
template <class T>
DenseView<T> out_view(py::array& a, const char* name) {
  require_dtype<T>(a, name);
  if (a.ndim() != 2) throw type_error(std::string(name) + ": expected a 2-D array");
  return DenseView<T>{mutable_data<T>(a, name), a.shape(0), a.shape(1), elem_stride(a, 0, name),
                      elem_stride(a, 1, name)};
}

/// CSR arrays (C-contiguous, indptr of the indices' dtype) as a view; structure validated
/// separately (validate_csr).
template <class T, class I>
CsrView<T, I> csr_view(const py::array& indptr, const py::array& indices, const py::array& data,
                       std::int64_t n_rows, std::int64_t n_cols) {
  require_dtype<I>(indptr, "A.indptr");
  if (indptr.ndim() != 1 || indptr.shape(0) != n_rows + 1 || indices.ndim() != 1 ||
      data.ndim() != 1 || indices.shape(0) != data.shape(0) ||
      !(indptr.flags() & py::array::c_style) || !(indices.flags() & py::array::c_style) ||
      !(data.flags() & py::array::c_style))
    throw type_error("A: malformed CSR arrays");
  return CsrView<T, I>{static_cast<const I*>(indptr.data()), static_cast<const I*>(indices.data()),
                       static_cast<const T*>(data.data()), n_rows, n_cols};
}

/// CSR arrays passed from Python as a tuple (indptr, indices, data, n_rows, n_cols).
struct CsrArrays {
  py::array indptr, indices, data;
  std::int64_t n_rows = 0, n_cols = 0;
};

inline CsrArrays unpack_csr(const py::tuple& t, const char* name) {
  if (t.size() != 5)
    throw type_error(std::string(name) +
                     ": expected a CSR tuple (indptr, indices, data, n_rows, n_cols)");
  return {t[0].cast<py::array>(), t[1].cast<py::array>(), t[2].cast<py::array>(),
          t[3].cast<std::int64_t>(), t[4].cast<std::int64_t>()};
}

}  // namespace bind
}  // namespace sparsketch
