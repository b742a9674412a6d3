#pragma once
/// \file detail/simd.hpp
/// A minimal fixed-width SIMD vector on GCC/Clang vector extensions, sized to the widest
/// register the compile flags allow (AVX-512: 64 bytes, AVX: 32, otherwise 16). The same source
/// compiles to SSE2 for baseline wheels and to AVX-512 with -march=native.

#include <cstdint>
#include <cstring>

#if defined(__AVX512F__)
#define SPARSKETCH_SIMD_BYTES 64
#elif defined(__AVX__)
#define SPARSKETCH_SIMD_BYTES 32
#else
#define SPARSKETCH_SIMD_BYTES 16
#endif

// In-register butterflies need a runtime-mask shuffle, which only GCC's __builtin_shuffle has;
// elsewhere the smallest strides fall back to scalar code.
#if defined(__GNUC__) && !defined(__clang__)
#define SPARSKETCH_HAVE_SHUFFLE 1
#else
#define SPARSKETCH_HAVE_SHUFFLE 0
#endif

namespace sparsketch {
namespace detail {

/// Human-readable name of the instruction set this translation unit was compiled for.
inline const char* simd_level() noexcept {
#if defined(__AVX512F__)
  return "AVX512F";
#elif defined(__AVX2__)
  return "AVX2";
#elif defined(__AVX__)
  return "AVX";
#elif defined(__SSE4_2__)
  return "SSE4.2";
#elif defined(__SSE2__) || defined(_M_X64)
  return "SSE2";
#elif defined(__ARM_NEON)
  return "NEON";
#else
  return "scalar";
#endif
}

template <class T>
struct Simd;

template <>
struct Simd<double> {
  typedef double V __attribute__((vector_size(SPARSKETCH_SIMD_BYTES)));
  typedef std::int64_t M __attribute__((vector_size(SPARSKETCH_SIMD_BYTES)));
  static constexpr int W = SPARSKETCH_SIMD_BYTES / sizeof(double);
};

template <>
struct Simd<float> {
  typedef float V __attribute__((vector_size(SPARSKETCH_SIMD_BYTES)));
  typedef std::int32_t M __attribute__((vector_size(SPARSKETCH_SIMD_BYTES)));
  static constexpr int W = SPARSKETCH_SIMD_BYTES / sizeof(float);
};

/// Unaligned load/store (memcpy compiles to one vmovu*).
template <class V, class T>
inline V vload(const T* p) noexcept {
  V v;
  std::memcpy(&v, p, sizeof(V));
  return v;
}
template <class V, class T>
inline void vstore(T* p, const V& v) noexcept {
  std::memcpy(p, &v, sizeof(V));
}

}  // namespace detail
}  // namespace sparsketch
