// Binding of the sparse x sparse product: both passes in C++ with the GIL released; the output
// arrays are allocated here, after the symbolic pass has counted them and the caller's memory
// limit has been checked. Inputs are validated CSR arrays of one index dtype (the Python layer
// converts), so only dtype x index instantiations exist.

#include "sparsketch/spgemm.hpp"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <limits>
#include <string>

#include "arrays.hpp"

namespace py = pybind11;
using namespace sparsketch;
using bind::CsrArrays;

namespace {

/// The plain product in one pass (spgemm_onepass) into numpy arrays of the flop count (an
/// upper bound on nnz(C): virtual memory, only the pages written become resident), shrunk to
/// nnz(C) afterwards (numpy's resize reallocates in place). Returns None when the bound does
/// not fit the memory limit or its int32 indices, or cannot be reserved: the caller then
/// counts exactly first (two passes).
template <class T, class I>
py::object run_onepass(const CsrView<T, I>& A, const CsrView<T, I>& B, const CsrArrays& a,
                       const SpgemmOptions& o, const py::object& memory_limit) {
  constexpr std::int64_t i32max = std::numeric_limits<std::int32_t>::max();
  if (B.n_cols > i32max) return py::none();
  SpgemmPlan plan;
  {
    py::gil_scoped_release release;
    detail::check_spgemm_shapes<T, I, I, I>(A, B, nullptr);
    detail::count_row_flops(A, B, resolve_threads(o.n_threads), plan);
  }
  if (plan.flops > i32max) return py::none();
  const double need =
      static_cast<double>(plan.flops) * (4.0 + sizeof(T)) + static_cast<double>(a.n_rows + 1) * 4.0;
  const double max_bytes = memory_limit(need).cast<double>();
  if (max_bytes > 0 && need > max_bytes) return py::none();
  py::array_t<T> data;
  py::array_t<std::int32_t> indices, indptr;
  try {
    data = py::array_t<T>(static_cast<py::ssize_t>(plan.flops));
    indices = py::array_t<std::int32_t>(static_cast<py::ssize_t>(plan.flops));
    indptr = py::array_t<std::int32_t>(static_cast<py::ssize_t>(a.n_rows + 1));
  } catch (const py::error_already_set& e) {
    if (!e.matches(PyExc_MemoryError)) throw;
    return py::none();
  }
  T* dp = data.mutable_data();
  std::int32_t* ip = indices.mutable_data();
  std::int32_t* pp = indptr.mutable_data();
  std::int64_t nnz = 0;
  {
    py::gil_scoped_release release;
    nnz = spgemm_onepass<T, I, I, std::int32_t>(A, B, plan, ip, dp, pp, o);
  }
  data.resize({static_cast<py::ssize_t>(nnz)}, false);
  indices.resize({static_cast<py::ssize_t>(nnz)}, false);
  return py::make_tuple(data, indices, indptr, plan.flops);
}

template <class T, class I>
py::object run(const CsrArrays& a, const CsrArrays& b, const CsrArrays* m, const SpgemmOptions& o,
               const py::object& memory_limit) {
  const auto A = bind::csr_view<T, I>(a.indptr, a.indices, a.data, a.n_rows, a.n_cols);
  const auto B = bind::csr_view<T, I>(b.indptr, b.indices, b.data, b.n_rows, b.n_cols);
  CsrView<T, I> M{};
  if (m) {  // the mask's values are not used (structural mask); its data may be any dtype
    bind::require_dtype<I>(m->indptr, "mask.indptr");
    bind::require_dtype<I>(m->indices, "mask.indices");
    M = CsrView<T, I>{static_cast<const I*>(m->indptr.data()),
                      static_cast<const I*>(m->indices.data()), nullptr, m->n_rows, m->n_cols};
  }
  const CsrView<T, I>* Mp = m ? &M : nullptr;
  if (!m && o.top_k < 0) {
    py::object c = run_onepass<T, I>(A, B, a, o, memory_limit);
    if (!c.is_none()) return c;
  }
  // top-k with small staging: one pass (each row accumulated once), else symbolic + numeric
  const bool staged = o.top_k >= 0 && topk_staging_fits(a.n_rows, b.n_cols, o.top_k);
  TopkStage<T> stage;
  SpgemmPlan two_pass;
  {
    py::gil_scoped_release release;
    if (staged)
      stage = spgemm_topk_stage<T, I, I, I>(A, B, Mp, o);
    else
      two_pass = spgemm_symbolic<T, I, I, I>(A, B, Mp, o);
  }
  const SpgemmPlan& plan = staged ? stage.plan : two_pass;
  const bool wide = plan.nnz > std::numeric_limits<std::int32_t>::max() ||
                    b.n_cols > std::numeric_limits<std::int32_t>::max();
  const double isz = wide ? 8.0 : 4.0;
  const double need =
      static_cast<double>(plan.nnz) * (isz + sizeof(T)) + static_cast<double>(a.n_rows + 1) * isz;
  const double max_bytes = memory_limit(need).cast<double>();
  if (max_bytes > 0 && need > max_bytes)
    throw memory_error("spgemm: the product has " + std::to_string(plan.nnz) +
                       " nonzeros and needs " + std::to_string(need / 1073741824.0) +
                       " GiB, more than the " + std::to_string(max_bytes / 1073741824.0) +
                       " GiB available");
  const auto nnz = static_cast<py::ssize_t>(plan.nnz);
  py::array_t<T> data(nnz);
  T* dp = data.mutable_data();
  auto finish = [&](auto tag) {
    using IC = typename decltype(tag)::type;
    py::array_t<IC> indices(nnz), indptr(static_cast<py::ssize_t>(a.n_rows + 1));
    IC* ip = indices.mutable_data();
    IC* pp = indptr.mutable_data();
    {
      py::gil_scoped_release release;
      if (staged) {
        spgemm_topk_compact<T, IC>(stage, ip, dp, o.n_threads);
      } else {
        spgemm_numeric<T, I, I, I, IC>(A, B, Mp, plan, ip, dp, o);
      }
      for (std::int64_t i = 0; i <= a.n_rows; ++i)
        pp[i] = static_cast<IC>(plan.indptr[static_cast<std::size_t>(i)]);
    }
    return py::make_tuple(data, indices, indptr, plan.flops);
  };
  if (wide) return finish(bind::type_tag<std::int64_t>{});
  return finish(bind::type_tag<std::int32_t>{});
}

py::object spgemm_py(const py::tuple& a_t, const py::tuple& b_t, py::object m_t, bool sort_indices,
                     int n_threads, std::int64_t top_k, py::object threshold,
                     const py::object& memory_limit) {
  const CsrArrays a = bind::unpack_csr(a_t, "A"), b = bind::unpack_csr(b_t, "B");
  CsrArrays mm{};
  const CsrArrays* m = nullptr;
  if (!m_t.is_none()) {
    mm = bind::unpack_csr(m_t.cast<py::tuple>(), "mask");
    m = &mm;
  }
  SpgemmOptions o;
  o.sort_indices = sort_indices;
  o.n_threads = n_threads;
  o.top_k = top_k;
  if (!threshold.is_none()) {
    o.use_threshold = true;
    o.threshold = threshold.cast<double>();
  }
  return bind::dispatch_float_index(a.data, a.indices, "A.data", "A.indices",
                                    [&](auto st, auto it) {
                                      using T = typename decltype(st)::type;
                                      using I = typename decltype(it)::type;
                                      return run<T, I>(a, b, m, o, memory_limit);
                                    });
}

}  // namespace

void bind_spgemm(py::module_& m) {
  m.def("spgemm_csr", &spgemm_py, py::arg("A"), py::arg("B"), py::arg("mask"),
        py::arg("sort_indices"), py::arg("n_threads"), py::arg("top_k"), py::arg("threshold"),
        py::arg("memory_limit"),
        "C = A @ B for CSR tuples (indptr, indices, data, n_rows, n_cols) of one value and index "
        "dtype; memory_limit(need_bytes) -> bytes the output may use (0: unchecked), called "
        "after the symbolic pass; returns (data, indices, indptr, flops). See "
        "sparsketch.spgemm.");
}
