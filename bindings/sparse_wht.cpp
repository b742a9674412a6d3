// Bindings of the sparse Walsh-Hadamard transform: array input (sampled in C++, GIL released)
// and callable input (the C++ core calls back into Python with one large batch per attempt).

#include "sparsketch/sparse_wht.hpp"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <tuple>

#include "arrays.hpp"

namespace py = pybind11;
using namespace sparsketch;

namespace {

// The result as a tuple (indices, values, samples, unresolved, residual_energy, noise_sigma,
// success, attempts, b). Indices: (K,) uint64 for n <= 64; (K, ceil(n / 64)) uint64 words (low
// word first) beyond, from the W words per index of the core.
py::tuple to_tuple(const SparseWhtResult& r, int n, int W) {
  const auto K = static_cast<py::ssize_t>(r.values.size());
  const py::ssize_t nw = (n + 63) / 64;
  py::array_t<std::uint64_t> idx =
      n <= 64 ? py::array_t<std::uint64_t>(K) : py::array_t<std::uint64_t>({K, nw});
  std::uint64_t* ip = idx.mutable_data();
  for (py::ssize_t i = 0; i < K; ++i)
    for (py::ssize_t q = 0; q < nw; ++q)
      ip[i * nw + q] = r.indices[static_cast<std::size_t>(i * W + q)];
  py::array_t<double> val(K);
  std::copy(r.values.begin(), r.values.end(), val.mutable_data());
  return py::make_tuple(idx, val, r.samples, r.unresolved, r.residual_energy, r.noise_sigma,
                        r.success, r.attempts, r.b);
}

// The options as a tuple in the order of SparseWhtOptions' fields (cheaper than a dict): n, b,
// k, groups, robust, noise_sigma, chains, verify, alpha, tol, max_samples, max_attempts, seed.
using OptionTuple = std::tuple<int, int, std::int64_t, int, bool, double, int, int, double, double,
                               std::int64_t, int, std::uint64_t>;

SparseWhtOptions options(const OptionTuple& t) {
  return std::apply([](auto... a) { return SparseWhtOptions{a...}; }, t);
}

py::tuple swht_array(py::array x, const OptionTuple& opts) {
  const SparseWhtOptions o = options(opts);
  if (x.ndim() != 1) throw value_error("signal: expected a 1-D array");
  if (o.n > 62 || x.shape(0) != (py::ssize_t(1) << o.n))
    throw value_error("signal: expected length 2^n");
  if (bind::elem_stride(x, 0, "signal") != 1)
    throw type_error("signal: expected a contiguous array");
  return bind::dispatch_float(x, "signal", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const ArraySampler<T> sampler{static_cast<const T*>(x.data())};
    SparseWhtResult r;
    {
      py::gil_scoped_release release;
      r = sparse_wht(o, sampler);
    }
    return to_tuple(r, o.n, 1);
  });
}

// Calls f on a batch: bits (count, n) uint8, or packed words ((count,) uint64 for n <= 64,
// (count, ceil(n / 64)) beyond); checks the answer.
template <int W>
struct CallableSampler {
  py::function f;
  int n;
  bool packed;
  mutable double eps = 0.0;  // rounding of the values returned (float16 / float32 answers)
  double sample_eps() const { return eps; }
  void operator()(const std::uint64_t* idx, std::int64_t count, double* out) const {
    py::gil_scoped_acquire gil;
    py::object q;
    const auto cnt = static_cast<py::ssize_t>(count);
    if (packed) {
      const py::ssize_t nw = (n + 63) / 64;
      py::array_t<std::uint64_t> a =
          n <= 64 ? py::array_t<std::uint64_t>(cnt) : py::array_t<std::uint64_t>({cnt, nw});
      std::uint64_t* p = a.mutable_data();
      for (py::ssize_t i = 0; i < cnt; ++i)
        for (py::ssize_t w = 0; w < nw; ++w) p[i * nw + w] = idx[i * W + w];
      q = a;
    } else {
      py::array_t<std::uint8_t> a({cnt, static_cast<py::ssize_t>(n)});
      std::uint8_t* p = a.mutable_data();
      // 8 bits at a time: byte v of an index becomes the 8 bytes kSpread[v] (bit j -> byte j)
      static const auto kSpread = [] {
        std::array<std::array<std::uint8_t, 8>, 256> t{};
        for (int v = 0; v < 256; ++v)
          for (int j = 0; j < 8; ++j) t[v][j] = static_cast<std::uint8_t>((v >> j) & 1);
        return t;
      }();
      const int nbytes = (n + 7) / 8;
      for (std::int64_t i = 0; i < count; ++i) {
        std::uint8_t* row = p + i * n;
        for (int by = 0; by < nbytes; ++by) {
          const auto v = static_cast<unsigned>((idx[i * W + by / 8] >> (8 * (by % 8))) & 0xffu);
          std::memcpy(row + 8 * by, kSpread[v].data(),
                      static_cast<std::size_t>(std::min(8, n - 8 * by)));
        }
      }
      q = a;
    }
    py::object res = f(q);  // a Python exception propagates as it is (error_already_set)
    py::module_ np = py::module_::import("numpy");
    py::array arr = np.attr("asarray")(res);
    const char kind = arr.dtype().kind();
    if (kind != 'f' && kind != 'i' && kind != 'u' && kind != 'b')
      throw type_error("signal: the callable must return real numbers, got dtype " +
                       bind::dtype_name(arr));
    if (arr.ndim() != 1 || arr.shape(0) != count)
      throw value_error("signal: the callable must return an array of shape (" +
                        std::to_string(count) + ",) for a batch of " + std::to_string(count) +
                        " queries, got shape " + py::str(arr.attr("shape")).cast<std::string>());
    if (kind == 'f' && arr.itemsize() < 8)
      eps = std::max(eps, arr.itemsize() == 4 ? 0x1p-23 : 0x1p-10);
    py::array_t<double, py::array::c_style | py::array::forcecast> v(arr);
    const double* pv = v.data();
    for (std::int64_t i = 0; i < count; ++i) {
      if (!std::isfinite(pv[i]))
        throw value_error("signal: the callable returned a non-finite value (" +
                          std::to_string(pv[i]) + ") for query " + std::to_string(i) +
                          " of the batch");
      out[i] = pv[i];
    }
  }
};

template <int W>
py::tuple swht_callable_w(py::function f, const SparseWhtOptions& o, bool packed) {
  CallableSampler<W> sampler{std::move(f), o.n, packed};
  SparseWhtResult r;
  {
    py::gil_scoped_release release;
    r = sparse_wht_words<W>(o, sampler);
  }
  return to_tuple(r, o.n, W);
}

py::tuple swht_callable(py::function f, const OptionTuple& opts, bool packed) {
  const SparseWhtOptions o = options(opts);
  check_sparse_wht_options(o);
  switch (detail::swht_words(o.n)) {
    case 1:
      return swht_callable_w<1>(std::move(f), o, packed);
    case 2:
      return swht_callable_w<2>(std::move(f), o, packed);
    case 4:
      return swht_callable_w<4>(std::move(f), o, packed);
    case 8:
      return swht_callable_w<8>(std::move(f), o, packed);
    default:
      return swht_callable_w<16>(std::move(f), o, packed);
  }
}

}  // namespace

void bind_sparse_wht(py::module_& m) {
  m.def("sparse_wht_array", &swht_array, py::arg("x"), py::arg("options"),
        "Sparse WHT of an in-memory signal of length 2^n; see sparsketch.sparse_wht.");
  m.def("sparse_wht_callable", &swht_callable, py::arg("f"), py::arg("options"), py::arg("packed"),
        "Sparse WHT of a callable signal; see sparsketch.sparse_wht.");
}
