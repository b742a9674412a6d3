// Runtime information (show_config, threads) and the counter-based RNG exposed for tests.

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <cstdint>

#include "arrays.hpp"
#include "sparsketch/detail/eigen.hpp"
#include "sparsketch/detail/simd.hpp"
#include "sparsketch/parallel.hpp"
#include "sparsketch/random.hpp"

namespace py = pybind11;
using namespace sparsketch;
namespace bind = sparsketch::bind;

#ifndef SPARSKETCH_BUILD_FLAGS
#define SPARSKETCH_BUILD_FLAGS "unknown"
#endif
#ifndef SPARSKETCH_BUILD_TYPE
#define SPARSKETCH_BUILD_TYPE "unknown"
#endif
#ifndef SPARSKETCH_BUILD_ARCH
#define SPARSKETCH_BUILD_ARCH "unknown"
#endif
#ifndef SPARSKETCH_COMPILER
#define SPARSKETCH_COMPILER "unknown"
#endif

namespace {

// Fill out[i] = f(rng, start + i) in parallel over fixed blocks (thread-count independent).
template <class T, class F>
py::array_t<T> fill_stream(std::uint64_t seed, std::uint64_t tag, std::uint64_t start,
                           std::int64_t count, int n_threads, F f) {
  if (count < 0) throw value_error("count: must be non-negative, got " + std::to_string(count));
  checked_bytes<T>(count, "count");
  py::array_t<T> out(count);
  T* p = out.mutable_data();
  const CounterRng rng(seed, tag);
  const int nt = resolve_threads(n_threads);
  {
    py::gil_scoped_release release;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && count > 4096)
    for (std::int64_t i = 0; i < count; ++i) p[i] = f(rng, start + static_cast<std::uint64_t>(i));
  }
  return out;
}

// _random_<name>(seed, tag, start, count, n_threads): draws start .. start+count-1 of a stream
// (private; the tests use them to check thread independence and the distributions).
template <class T, class F>
void bind_stream(py::module_& m, const char* name, F f) {
  m.def(
      name,
      [f](std::uint64_t seed, std::uint64_t tag, std::uint64_t start, std::int64_t count,
          int n_threads) { return fill_stream<T>(seed, tag, start, count, n_threads, f); },
      py::arg("seed"), py::arg("tag"), py::arg("start"), py::arg("count"), py::arg("n_threads"));
}

}  // namespace

void bind_runtime(py::module_& m) {
  m.def("build_info", [] {
    py::dict d;
    d["version"] = SPARSKETCH_VERSION_STRING;
    d["compiler"] = SPARSKETCH_COMPILER;
    d["flags"] = SPARSKETCH_BUILD_FLAGS;
    d["build_type"] = SPARSKETCH_BUILD_TYPE;
    d["arch"] = SPARSKETCH_BUILD_ARCH;
    d["simd"] = detail::simd_level();
    d["simd_bytes"] = SPARSKETCH_SIMD_BYTES;
#ifdef _OPENMP
    d["openmp"] = _OPENMP;
#else
    d["openmp"] = py::none();
#endif
    d["eigen"] = std::to_string(EIGEN_WORLD_VERSION) + "." + std::to_string(EIGEN_MAJOR_VERSION) +
                 "." + std::to_string(EIGEN_MINOR_VERSION);
    d["pybind11"] = std::to_string(PYBIND11_VERSION_MAJOR) + "." +
                    std::to_string(PYBIND11_VERSION_MINOR) + "." +
                    std::to_string(PYBIND11_VERSION_PATCH);
    return d;
  });
  m.def(
      "all_finite",
      [](py::array x, int n_threads) {
        if (!(x.flags() & (py::array::c_style | py::array::f_style)))
          throw value_error("x: expected a C- or F-contiguous array");
        const auto count = static_cast<std::int64_t>(x.size());
        if (bind::has_dtype<double>(x)) {
          const auto* p = static_cast<const double*>(x.data());
          py::gil_scoped_release release;
          return all_finite(p, count, n_threads);
        }
        if (bind::has_dtype<float>(x)) {
          const auto* p = static_cast<const float*>(x.data());
          py::gil_scoped_release release;
          return all_finite(p, count, n_threads);
        }
        throw type_error("x: expected float32 or float64, got " + bind::dtype_name(x));
      },
      py::arg("x"), py::arg("n_threads"),
      "Whether a contiguous float32/float64 array has no NaN or Inf (parallel, GIL released).");
  m.def("omp_max_threads", &max_threads,
        "omp_get_max_threads() as seen by the OpenMP runtime sparsketch is linked to");

  m.def(
      "_philox4x32_10",
      [](std::array<std::uint32_t, 4> ctr, std::array<std::uint32_t, 2> key) {
        return philox4x32_10(ctr, key);
      },
      py::arg("counter"), py::arg("key"));
  bind_stream<double>(m, "_random_uniform",
                      [](const CounterRng& r, std::uint64_t i) { return r.uniform(i); });
  bind_stream<double>(m, "_random_normal",
                      [](const CounterRng& r, std::uint64_t i) { return r.normal(i); });
  bind_stream<std::int8_t>(m, "_random_rademacher", [](const CounterRng& r, std::uint64_t i) {
    return static_cast<std::int8_t>(r.rademacher(i));
  });
}
