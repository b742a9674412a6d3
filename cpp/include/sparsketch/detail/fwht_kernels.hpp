#pragma once
/// \file detail/fwht_kernels.hpp
/// Butterfly primitives of the fast Walsh-Hadamard transform on contiguous arrays.
///
/// A "stage h" maps every pair (x[j], x[j+h]) with (j & h) == 0 to (x[j] + x[j+h], x[j] - x[j+h]).
/// The transform of length m is the stages h = 1, 2, ..., m/2 in any order. Every primitive
/// below computes each stage with exactly these two operations (a + b and a - b, same operand
/// order), whatever the fusion (radix-2/4/8) or vector width, so the result is bitwise the same
/// for every blocking, thread count and code path.

#include <cstdint>
#include <cstring>

#include "sparsketch/detail/simd.hpp"

namespace sparsketch {
namespace detail {

/// Scalar stages h = h0, 2*h0, ..., < h1 on x[0..m). Used for tiny arrays and tails.
template <class T>
inline void fwht_scalar_stages(T* x, std::int64_t m, std::int64_t h0, std::int64_t h1) noexcept {
  for (std::int64_t h = h0; h < h1; h *= 2)
    for (std::int64_t j = 0; j < m; j += 2 * h)
      for (std::int64_t k = j; k < j + h; ++k) {
        const T a = x[k], b = x[k + h];
        x[k] = a + b;
        x[k + h] = a - b;
      }
}

/// True when every x[i], i < m, is finite: sum of x[i] * 0 is NaN iff some x[i] is NaN or Inf.
template <class T>
inline bool all_finite(const T* x, std::int64_t m) noexcept {
  using V = typename Simd<T>::V;
  constexpr int W = Simd<T>::W;
  V acc = {};
  std::int64_t i = 0;
  for (; i + W <= m; i += W) acc += vload<V>(x + i) * T(0);
  T s = T(0);
  for (int l = 0; l < W; ++l) s += acc[l];
  for (; i < m; ++i) s += x[i] * T(0);
  return s == s;
}

/// Stages 1, 2, ..., W/2 (the strides inside one SIMD register) on src[0..m), written to
/// dst[0..m) (dst may equal src), m a multiple of W. This is also where the input is first
/// read, so it copies and (Check) tests finiteness in the same sweep; returns false if a NaN or
/// Inf was seen. Lane l of the partner vector y is lane l^h of v; lanes with bit h set need
/// y - v, the others v + y, so v * s + y with s = -1 on those lanes and +1 elsewhere (exact).
template <bool Check, class T>
inline bool fwht_register_stages(const T* src, T* dst, std::int64_t m) noexcept {
  using S = Simd<T>;
  using V = typename S::V;
  constexpr int W = S::W;
#if SPARSKETCH_HAVE_SHUFFLE
  using M = typename S::M;
  constexpr int L = (W >= 2) + (W >= 4) + (W >= 8) + (W >= 16);
  V sgn[L];
  M msk[L];
  for (int s = 0; s < L; ++s)
    for (int l = 0; l < W; ++l) {
      sgn[s][l] = (l >> s) & 1 ? T(-1) : T(1);
      msk[s][l] = l ^ (1 << s);
    }
  V acc = {};
  for (std::int64_t i = 0; i < m; i += W) {
    V v = vload<V>(src + i);
    if (Check) acc += v * T(0);
    for (int s = 0; s < L; ++s) v = v * sgn[s] + __builtin_shuffle(v, msk[s]);
    vstore(dst + i, v);
  }
  if (!Check) return true;
  T t = T(0);
  for (int l = 0; l < W; ++l) t += acc[l];
  return t == t;
#else
  if (src != dst) std::memcpy(dst, src, static_cast<std::size_t>(m) * sizeof(T));
  const bool ok = !Check || all_finite(dst, m);
  fwht_scalar_stages(dst, m, 1, W);
  return ok;
#endif
}

/// Radix-8 (three stages h, 2h, 4h) on the eight rows x + q*h, q = 0..7, each of length len.
/// len is a multiple of W.
template <class T>
inline void fwht_radix8(T* x, std::int64_t h, std::int64_t len) noexcept {
  using V = typename Simd<T>::V;
  constexpr int W = Simd<T>::W;
  for (std::int64_t k = 0; k < len; k += W) {
    T* p = x + k;
    V a0 = vload<V>(p), a1 = vload<V>(p + h), a2 = vload<V>(p + 2 * h), a3 = vload<V>(p + 3 * h);
    V a4 = vload<V>(p + 4 * h), a5 = vload<V>(p + 5 * h), a6 = vload<V>(p + 6 * h),
      a7 = vload<V>(p + 7 * h);
    // stage h: pairs (0,1) (2,3) (4,5) (6,7)
    V b0 = a0 + a1, b1 = a0 - a1, b2 = a2 + a3, b3 = a2 - a3;
    V b4 = a4 + a5, b5 = a4 - a5, b6 = a6 + a7, b7 = a6 - a7;
    // stage 2h: pairs (0,2) (1,3) (4,6) (5,7)
    V c0 = b0 + b2, c2 = b0 - b2, c1 = b1 + b3, c3 = b1 - b3;
    V c4 = b4 + b6, c6 = b4 - b6, c5 = b5 + b7, c7 = b5 - b7;
    // stage 4h: pairs (0,4) (1,5) (2,6) (3,7)
    vstore(p, c0 + c4);
    vstore(p + h, c1 + c5);
    vstore(p + 2 * h, c2 + c6);
    vstore(p + 3 * h, c3 + c7);
    vstore(p + 4 * h, c0 - c4);
    vstore(p + 5 * h, c1 - c5);
    vstore(p + 6 * h, c2 - c6);
    vstore(p + 7 * h, c3 - c7);
  }
}

/// Radix-4 (stages h, 2h) on the four rows x + q*h, q = 0..3, each of length len (multiple of W).
template <class T>
inline void fwht_radix4(T* x, std::int64_t h, std::int64_t len) noexcept {
  using V = typename Simd<T>::V;
  constexpr int W = Simd<T>::W;
  for (std::int64_t k = 0; k < len; k += W) {
    T* p = x + k;
    V a0 = vload<V>(p), a1 = vload<V>(p + h), a2 = vload<V>(p + 2 * h), a3 = vload<V>(p + 3 * h);
    V b0 = a0 + a1, b1 = a0 - a1, b2 = a2 + a3, b3 = a2 - a3;
    vstore(p, b0 + b2);
    vstore(p + h, b1 + b3);
    vstore(p + 2 * h, b0 - b2);
    vstore(p + 3 * h, b1 - b3);
  }
}

/// Radix-2 (stage h) on the two rows x, x + h of length len (multiple of W).
template <class T>
inline void fwht_radix2(T* x, std::int64_t h, std::int64_t len) noexcept {
  using V = typename Simd<T>::V;
  constexpr int W = Simd<T>::W;
  for (std::int64_t k = 0; k < len; k += W) {
    V a = vload<V>(x + k), b = vload<V>(x + k + h);
    vstore(x + k, a + b);
    vstore(x + k + h, a - b);
  }
}

/// Stages h = h0, 2*h0, ..., < h1 on the contiguous array x[0..m) (m a multiple of h1; h0 any
/// positive integer, each later stride twice the previous). Strides that are multiples of the
/// SIMD width W are vectorised and fused three at a time while at least three remain; the others
/// run scalar.
template <class T>
inline void fwht_sweep_stages(T* x, std::int64_t m, std::int64_t h0, std::int64_t h1) noexcept {
  constexpr int W = Simd<T>::W;
  std::int64_t h = h0;
  for (; h < h1 && h % W != 0; h *= 2) fwht_scalar_stages(x, m, h, 2 * h);
  while (h < h1) {
    if (8 * h <= h1) {
      for (std::int64_t j = 0; j < m; j += 8 * h) fwht_radix8(x + j, h, h);
      h *= 8;
    } else if (4 * h <= h1) {
      for (std::int64_t j = 0; j < m; j += 4 * h) fwht_radix4(x + j, h, h);
      h *= 4;
    } else {
      for (std::int64_t j = 0; j < m; j += 2 * h) fwht_radix2(x + j, h, h);
      h *= 2;
    }
  }
}

/// All stages of the transform of src[0..m) into dst[0..m) (dst may equal src) for a block
/// that fits the L1 cache. Returns false if (Check) a NaN or Inf was read.
template <bool Check, class T>
inline bool fwht_l1_block(const T* src, T* dst, std::int64_t m) noexcept {
  constexpr int W = Simd<T>::W;
  if (m < W) {
    if (src != dst) std::memcpy(dst, src, static_cast<std::size_t>(m) * sizeof(T));
    const bool ok = !Check || all_finite(dst, m);
    fwht_scalar_stages(dst, m, 1, m);
    return ok;
  }
  const bool ok = fwht_register_stages<Check>(src, dst, m);
  fwht_sweep_stages(dst, m, W, m);
  return ok;
}

/// All stages of the transform of src[0..m) into dst[0..m): L1-sized sub-blocks first, then the
/// larger strides over the whole block (meant for m up to the L2 size). Returns false if
/// (check) a NaN or Inf was read.
template <class T>
inline bool fwht_cached_block(const T* src, T* dst, std::int64_t m, std::int64_t l1_elems,
                              bool check) noexcept {
  const std::int64_t b = m < l1_elems ? m : l1_elems;
  bool ok = true;
  for (std::int64_t j = 0; j < m; j += b)
    ok = (check ? fwht_l1_block<true>(src + j, dst + j, b)
                : fwht_l1_block<false>(src + j, dst + j, b)) &&
         ok;
  if (b < m) fwht_sweep_stages(dst, m, b, m);
  return ok;
}

/// x[i] *= scale for i < m.
template <class T>
inline void scale_inplace(T* x, std::int64_t m, T scale) noexcept {
  for (std::int64_t i = 0; i < m; ++i) x[i] *= scale;
}

}  // namespace detail
}  // namespace sparsketch
