// Bindings of the sketch operators. The Python layer (sparsketch/sketch.py) validates the
// input, converts it (dense: float32/float64 with non-negative strides; sparse: CSR or CSC
// with int32/int64 indices), allocates the zeroed output and calls one of these.

#include "sparsketch/sketch.hpp"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "arrays.hpp"

namespace py = pybind11;
using namespace sparsketch;
namespace bind = sparsketch::bind;

namespace {

// col0, n_total: the row block's first row and the whole operator's columns (0: the whole
// operator is applied); see SketchSpec.
SketchSpec make_spec(int kind, std::int64_t m, std::int64_t n, std::uint64_t seed, int zeta,
                     std::int64_t col0, std::int64_t n_total) {
  if (kind < 0 || kind > 3) throw value_error("kind: unknown sketch kind");
  SketchSpec s;
  s.kind = static_cast<SketchKind>(kind);
  s.m = m;
  s.n = n;
  s.seed = seed;
  s.zeta = zeta;
  s.col0 = col0;
  s.n_total = n_total;
  return s;
}

template <class T>
DenseView<T> out_view(py::array& C) {
  if (C.ndim() != 2) throw type_error("out: expected a 2-D array");
  return DenseView<T>{bind::mutable_data<T>(C, "out"), C.shape(0), C.shape(1),
                      bind::elem_stride(C, 0, "out"), bind::elem_stride(C, 1, "out")};
}

void sketch_dense_py(int kind, std::int64_t m, std::uint64_t seed, int zeta, py::array A,
                     py::array C, int n_threads, std::int64_t col0, std::int64_t n_total) {
  if (A.ndim() != 2) throw type_error("A: expected a 2-D array");
  bind::dispatch_float(A, "A", [&](auto tag) {
    using T = typename decltype(tag)::type;
    bind::require_dtype<T>(C, "out");
    const SketchSpec s = make_spec(kind, m, A.shape(0), seed, zeta, col0, n_total);
    const ConstDenseView<T> a{static_cast<const T*>(A.data()), A.shape(0), A.shape(1),
                              bind::elem_stride(A, 0, "A"), bind::elem_stride(A, 1, "A")};
    const DenseView<T> c = out_view<T>(C);
    py::gil_scoped_release release;
    sketch_dense(s, a, c, n_threads);
  });
}

// Several dense (A_i, out_i) pairs with one operator: the hash tables are built once.
void sketch_dense_multi_py(int kind, std::int64_t m, std::uint64_t seed, int zeta,
                           std::vector<py::array> As, std::vector<py::array> Cs, int n_threads,
                           std::int64_t col0, std::int64_t n_total) {
  if (As.empty() || As.size() != Cs.size()) throw value_error("A: expected matching lists");
  bind::dispatch_float(As[0], "A", [&](auto tag) {
    using T = typename decltype(tag)::type;
    std::vector<ConstDenseView<T>> av;
    std::vector<DenseView<T>> cv;
    for (std::size_t i = 0; i < As.size(); ++i) {
      bind::require_dtype<T>(As[i], "A");
      bind::require_dtype<T>(Cs[i], "out");
      if (As[i].ndim() != 2 || As[i].shape(0) != As[0].shape(0))
        throw type_error("A: expected 2-D arrays with the same number of rows");
      av.push_back(ConstDenseView<T>{static_cast<const T*>(As[i].data()), As[i].shape(0),
                                     As[i].shape(1), bind::elem_stride(As[i], 0, "A"),
                                     bind::elem_stride(As[i], 1, "A")});
      cv.push_back(out_view<T>(Cs[i]));
    }
    const SketchSpec s = make_spec(kind, m, As[0].shape(0), seed, zeta, col0, n_total);
    py::gil_scoped_release release;
    sketch_dense_multi(s, av, cv, n_threads);
  });
}

// CSR (csr=true) or CSC (csr=false) arrays of an n_rows x n_cols matrix A.
void sketch_sparse_py(int kind, std::int64_t m, std::uint64_t seed, int zeta, bool csr,
                      py::array indptr, py::array indices, py::array values, std::int64_t n_rows,
                      std::int64_t n_cols, py::array C, int n_threads, std::int64_t col0,
                      std::int64_t n_total) {
  bind::dispatch_float_index(values, indices, "A.data", "A.indices", [&](auto st, auto it) {
    using T = typename decltype(st)::type;
    using I = typename decltype(it)::type;
    bind::require_dtype<I>(indptr, "A.indptr");
    bind::require_dtype<T>(C, "out");
    if (indptr.ndim() != 1 || indices.ndim() != 1 || values.ndim() != 1 ||
        !(indptr.flags() & py::array::c_style) || !(indices.flags() & py::array::c_style) ||
        !(values.flags() & py::array::c_style))
      throw type_error("A: expected contiguous 1-D indptr, indices and data");
    const std::int64_t major = csr ? n_rows : n_cols, minor = csr ? n_cols : n_rows;
    if (indptr.shape(0) != major + 1)
      throw value_error("A.indptr: expected length " + std::to_string(major + 1) + ", got " +
                        std::to_string(indptr.shape(0)));
    if (indices.shape(0) != values.shape(0))
      throw value_error("A.indices: length differs from A.data");
    const CsrView<T, I> v{static_cast<const I*>(indptr.data()),
                          static_cast<const I*>(indices.data()),
                          static_cast<const T*>(values.data()), major, minor};
    const SketchSpec s = make_spec(kind, m, n_rows, seed, zeta, col0, n_total);
    const DenseView<T> c = out_view<T>(C);
    py::gil_scoped_release release;
    validate_csr(v, static_cast<std::int64_t>(indices.shape(0)), false, "A");
    if (csr)
      sketch_csr(s, v, c, n_threads);
    else
      sketch_csc(s, v, c, n_threads);
  });
}

}  // namespace

void bind_sketch(py::module_& m) {
  m.def("sketch_dense", &sketch_dense_py, py::arg("kind"), py::arg("m"), py::arg("seed"),
        py::arg("zeta"), py::arg("A"), py::arg("out"), py::arg("n_threads"), py::arg("col0") = 0,
        py::arg("n_total") = 0, "out = S @ A for a dense 2-D A; see sparsketch.sketch.");
  m.def("sketch_dense_multi", &sketch_dense_multi_py, py::arg("kind"), py::arg("m"),
        py::arg("seed"), py::arg("zeta"), py::arg("As"), py::arg("outs"), py::arg("n_threads"),
        py::arg("col0") = 0, py::arg("n_total") = 0,
        "outs[i] = S @ As[i] for dense 2-D arrays with one operator S.");
  m.def("sketch_sparse", &sketch_sparse_py, py::arg("kind"), py::arg("m"), py::arg("seed"),
        py::arg("zeta"), py::arg("csr"), py::arg("indptr"), py::arg("indices"), py::arg("data"),
        py::arg("n_rows"), py::arg("n_cols"), py::arg("out"), py::arg("n_threads"),
        py::arg("col0") = 0, py::arg("n_total") = 0,
        "out = S @ A for A in CSR or CSC form; see sparsketch.sketch.");
}
