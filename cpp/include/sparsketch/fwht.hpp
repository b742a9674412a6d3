#pragma once
/// \file fwht.hpp
/// Dense fast Walsh-Hadamard transform (FWHT), natural (Hadamard) order.
///
///   y[k] = scale * sum_t (-1)^popcount(k & t) * x[t],   k, t in [0, n), n = 2^L,
///
/// i.e. y = scale * H_n x with the Sylvester-ordered Hadamard matrix H_n = H_2 (x) ... (x) H_2
/// (scipy.linalg.hadamard(n)); scale = 1 (default; then H(Hx) = n x) or 1/sqrt(n) (normalized,
/// orthonormal and involutive). Cost: n log2(n) additions per transform.
///
/// Implementation (the blocking of FFHT, Andoni et al. 2015, and of the out-of-core FWHT
/// literature): stages inside one SIMD register by shuffles, then the strides inside an L1-sized
/// block, then inside an L2-sized block, all fused three stages (radix-8) at a time; the strides
/// beyond the L2 block are applied in one or two further passes over memory, each gathering a
/// (rows x w) tile of the stride pattern into a contiguous cache-resident buffer. OpenMP splits
/// every pass into fixed tiles; every output element sees the same operations in the same order
/// whatever the tiling or thread count, so results are bitwise identical for any n_threads.
/// float32 is computed in float32 (each output is a sum of n terms with error at most
/// log2(n) * eps * sqrt(n) * ||x||_2 by the usual butterfly error analysis).

#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "sparsketch/common.hpp"
#include "sparsketch/detail/fwht_kernels.hpp"
#include "sparsketch/parallel.hpp"

namespace sparsketch {

/// Options of fwht().
struct FwhtOptions {
  bool normalized = false;    ///< scale by 1/sqrt(n) (orthonormal) instead of 1
  bool check_finite = false;  ///< throw value_error if the input holds NaN or Inf
  int n_threads = 0;          ///< 0: omp_get_max_threads() at call time
  // Tuning (defaults suit current x86-64 caches; results do not depend on them).
  std::int64_t l1_bytes = 16 << 10;        ///< block done entirely in L1
  std::int64_t l2_bytes = 1 << 20;         ///< block done in the first pass
  std::int64_t tile_bytes = 256 << 10;     ///< gather buffer of the later passes
  int max_pass_stages = 10;                ///< stages per later pass (2^stages rows per tile)
  std::int64_t row_cache_bytes = 4 << 20;  ///< batch rows up to this size: one thread per row
  std::int64_t min_parallel = 1 << 17;  ///< fewer elements: one thread (fork/join would cost more)
};

/// What fwht() did.
struct FwhtResult {
  std::int64_t n = 0;             ///< transform length
  std::int64_t n_transforms = 0;  ///< number of transforms (outer * inner)
  int passes = 0;                 ///< passes over memory
  int n_threads = 1;              ///< threads used
};

/// A batch of transforms: for o < outer, i < inner, the transform runs over k < n on the
/// elements data[o * stride_outer + k * stride_n + i] (the `inner` index is contiguous).
/// inner == 1 with stride_n == 1 is a batch of contiguous vectors; inner > 1 transforms the
/// rows of (n x inner) matrices, vectorised across the contiguous inner index.
struct FwhtLayout {
  std::int64_t outer = 1;
  std::int64_t n = 0;
  std::int64_t inner = 1;
};
struct FwhtStrides {
  std::int64_t outer = 0;  ///< elements between consecutive outer indices
  std::int64_t n = 1;      ///< elements between consecutive transform indices
};

namespace detail {

struct FwhtPlan {
  std::int64_t l1 = 0, l2 = 0, tile = 0;
  int max_stages = 10;
  std::int64_t min_parallel = 1 << 17;
};

template <class T>
FwhtPlan fwht_plan(const FwhtOptions& o) {
  FwhtPlan p;
  auto elems = [](std::int64_t bytes) {
    std::int64_t e = 1;
    while (e * 2 * static_cast<std::int64_t>(sizeof(T)) <= bytes) e *= 2;
    return e;
  };
  p.l1 = elems(o.l1_bytes);
  p.l2 = elems(o.l2_bytes);
  if (p.l2 < p.l1) p.l2 = p.l1;
  p.tile = elems(o.tile_bytes);
  p.max_stages = o.max_pass_stages < 1 ? 1 : o.max_pass_stages;
  p.min_parallel = o.min_parallel;
  return p;
}

/// Split `stages` into passes of at most max_stages, as even as possible.
inline std::vector<int> split_stages(int stages, int max_stages) {
  std::vector<int> out;
  if (stages <= 0) return out;
  const int passes = (stages + max_stages - 1) / max_stages;
  for (int i = 0; i < passes; ++i) out.push_back(stages / passes + (i < stages % passes ? 1 : 0));
  return out;
}

[[noreturn]] inline void throw_nonfinite(std::int64_t o, std::int64_t k, std::int64_t i,
                                         const FwhtLayout& lay) {
  std::string where = "element " + std::to_string(k) + " of the transform axis";
  if (lay.outer > 1 || lay.inner > 1)
    where += " (batch index " + std::to_string(o * lay.inner + i) + ")";
  throw value_error("x: contains NaN or Inf at " + where +
                    "; pass check_finite=False to let non-finite values propagate");
}

/// Locate the first non-finite input (error path only; serial).
template <class T>
[[noreturn]] void report_nonfinite(const T* src, const FwhtLayout& lay, const FwhtStrides& s) {
  for (std::int64_t o = 0; o < lay.outer; ++o)
    for (std::int64_t k = 0; k < lay.n; ++k)
      for (std::int64_t i = 0; i < lay.inner; ++i)
        if (!std::isfinite(src[o * s.outer + k * s.n + i])) throw_nonfinite(o, k, i, lay);
  throw value_error("x: contains NaN or Inf");  // unreachable unless src changed concurrently
}

/// Geometry of one tiled pass applying the row strides 2^s0 .. 2^(s0+r-1) to `outer` matrices
/// of rows x cols (contiguous columns): tiles of R = 2^r rows (spaced 2^s0 apart) x w columns.
struct TileGeom {
  std::int64_t R = 1, w = 1, clusters = 1, chunks = 1, tasks = 0, lo_mask = 0, step = 1;
  int s0 = 0, r = 0;
};

template <class T>
TileGeom tile_geometry(std::int64_t outer, std::int64_t rows, std::int64_t cols, int s0, int r,
                       const FwhtPlan& plan) {
  TileGeom g;
  g.s0 = s0;
  g.r = r;
  g.R = std::int64_t{1} << r;
  g.lo_mask = (std::int64_t{1} << s0) - 1;
  g.step = std::int64_t{1} << s0;
  const std::int64_t line = 64 / static_cast<std::int64_t>(sizeof(T));
  g.w = plan.tile / g.R;
  if (g.w < line) g.w = line;
  if (g.w > cols) g.w = cols;
  g.clusters = rows / g.R;
  g.chunks = (cols + g.w - 1) / g.w;
  g.tasks = checked_mul(checked_mul(outer, g.clusters, "fwht"), g.chunks, "fwht");
  return g;
}

/// Tile t of a pass: gather its 2^r rows x w columns into buf (contiguous; the row strides of
/// the tile are then the strides w, 2w, ... of buf), transform, scale, scatter back. Returns
/// false if (check) a NaN or Inf was gathered.
template <class T>
bool tile_task(std::int64_t t, const TileGeom& g, std::int64_t cols, const T* src,
               const FwhtStrides& ss, T* dst, const FwhtStrides& ds, bool check, T scale, T* buf) {
  const std::int64_t ch = t % g.chunks;
  const std::int64_t rest = t / g.chunks;
  const std::int64_t cl = rest % g.clusters;
  const std::int64_t o = rest / g.clusters;
  const std::int64_t base = ((cl & ~g.lo_mask) << g.r) | (cl & g.lo_mask);
  const std::int64_t c0 = ch * g.w;
  const std::int64_t wc = (c0 + g.w <= cols) ? g.w : cols - c0;
  const T* sp = src + o * ss.outer + c0;
  T* dp = dst + o * ds.outer + c0;
  if (g.R <= 8 && src == dst && ss.n == ds.n && !check && wc % Simd<T>::W == 0) {
    // Up to 8 rows: few enough streams for the cache's associativity, so sweep them in place
    // (no gather/scatter copies).
    T* p = dp + base * ds.n;
    const std::int64_t h = g.step * ds.n;
    if (g.R == 8) fwht_radix8(p, h, wc);
    if (g.R == 4) fwht_radix4(p, h, wc);
    if (g.R == 2) fwht_radix2(p, h, wc);
    if (scale != T(1))
      for (std::int64_t q = 0; q < g.R; ++q) scale_inplace(p + q * h, wc, scale);
    return true;
  }
  const std::size_t bytes = static_cast<std::size_t>(wc) * sizeof(T);
  for (std::int64_t q = 0; q < g.R; ++q)
    std::memcpy(buf + q * wc, sp + (base + q * g.step) * ss.n, bytes);
  const bool ok = !check || all_finite(buf, g.R * wc);
  fwht_sweep_stages(buf, g.R * wc, wc, g.R * wc);
  if (scale != T(1)) scale_inplace(buf, g.R * wc, scale);
  for (std::int64_t q = 0; q < g.R; ++q)
    std::memcpy(dp + (base + q * g.step) * ds.n, buf + q * wc, bytes);
  return ok;
}

/// One tiled pass over `outer` matrices of rows x cols, from src to dst (dst may alias src
/// exactly), parallel over tiles.
template <class T>
void fwht_tile_pass(const T* src, const FwhtStrides& ss, T* dst, const FwhtStrides& ds,
                    std::int64_t outer, std::int64_t rows, std::int64_t cols, int s0, int r,
                    bool check, T scale, const FwhtPlan& plan, int nt, bool& nonfinite) {
  const TileGeom g = tile_geometry<T>(outer, rows, cols, s0, r, plan);
  const std::int64_t work = checked_mul(checked_mul(outer, rows, "fwht"), cols, "fwht");
  const int threads = (work < plan.min_parallel || g.tasks < 2) ? 1 : nt;
  // Per-thread buffers are allocated here, outside the parallel region, so that a failed
  // allocation throws (std::bad_alloc -> MemoryError) instead of crossing the region.
  const std::int64_t per = g.R * g.w;
  std::unique_ptr<T[]> bufs(
      new T[static_cast<std::size_t>(checked_mul(per, threads, "fwht workspace"))]);
  int bad = 0;
#pragma omp parallel for num_threads(threads) if (threads > 1) schedule(static) reduction(| : bad)
  for (std::int64_t t = 0; t < g.tasks; ++t) {
    T* buf = bufs.get() + per * thread_id();
    if (!tile_task(t, g, cols, src, ss, dst, ds, check, scale, buf)) bad = 1;
  }
  if (bad) nonfinite = true;
}

/// One whole contiguous transform of length n by one thread: blocks of B in cache, then the
/// tiled passes `groups` over the (n/B) x B view, all through the caller's buffer `buf`
/// (at least max_tile_elems(...) elements). Returns false if (check) a NaN or Inf was read.
template <class T>
bool fwht_row_serial(const T* s, T* d, std::int64_t n, std::int64_t B,
                     const std::vector<int>& groups, bool check, T scale, const FwhtPlan& plan,
                     T* buf) {
  bool ok = true;
  for (std::int64_t b = 0; b < n; b += B)
    ok = fwht_cached_block(s + b, d + b, B, plan.l1, check) && ok;
  if (B == n) {
    if (scale != T(1)) scale_inplace(d, n, scale);
    return ok;
  }
  const FwhtStrides ms{0, B};
  int s0 = 0;
  for (std::size_t k = 0; k < groups.size(); ++k) {
    const TileGeom g = tile_geometry<T>(1, n / B, B, s0, groups[k], plan);
    const T sc = (k + 1 == groups.size()) ? scale : T(1);
    for (std::int64_t t = 0; t < g.tasks; ++t) tile_task(t, g, B, d, ms, d, ms, false, sc, buf);
    s0 += groups[k];
  }
  return ok;
}

/// Largest tile buffer (elements) the passes `groups` over an (n/B) x B view need.
template <class T>
std::int64_t max_tile_elems(std::int64_t n, std::int64_t B, const std::vector<int>& groups,
                            const FwhtPlan& plan) {
  std::int64_t m = 1;
  int s0 = 0;
  for (int r : groups) {
    const TileGeom g = tile_geometry<T>(1, n / B, B, s0, r, plan);
    if (g.R * g.w > m) m = g.R * g.w;
    s0 += r;
  }
  return m;
}

}  // namespace detail

/// Batched FWHT from src to dst (dst may be src itself, with equal strides, for in place).
///
/// Shapes: see FwhtLayout; both arrays have a contiguous inner index, and when inner == 1 the
/// transform index must be contiguous too (stride n == 1).
/// Cost: outer*inner*n*log2(n) additions; 1 pass over memory when a transform (or an n x w
/// tile) fits in L2, 2 passes up to ~2^26 elements, 3 beyond.
/// Threads: OpenMP over fixed tiles; bitwise identical results for any n_threads.
/// Errors: value_error if n is not a power of two, a size is negative, the layout is not
/// supported, or (check_finite) the input holds NaN/Inf; memory_error if sizes overflow.
template <class T>
FwhtResult fwht(const T* src, const FwhtStrides& src_strides, T* dst,
                const FwhtStrides& dst_strides, const FwhtLayout& lay,
                const FwhtOptions& opt = {}) {
  static_assert(std::is_same<T, float>::value || std::is_same<T, double>::value,
                "fwht: T must be float or double");
  if (lay.outer < 0 || lay.inner < 0 || lay.n < 0)
    throw value_error("x: negative shape in fwht layout");
  if (!is_pow2(lay.n))
    throw value_error("x: length of the transform axis must be a power of two, got " +
                      std::to_string(lay.n));
  if (lay.inner == 1 && (src_strides.n != 1 || dst_strides.n != 1))
    throw value_error("fwht: with inner == 1 the transform axis must be contiguous (stride 1)");
  if (src == dst && (src_strides.n != dst_strides.n || src_strides.outer != dst_strides.outer))
    throw value_error("fwht: in-place transform needs equal source and destination strides");
  const std::int64_t total = checked_mul(checked_mul(lay.outer, lay.n, "x"), lay.inner, "x");
  checked_bytes<T>(total, "x");

  FwhtResult res;
  res.n = lay.n;
  res.n_transforms = lay.outer * lay.inner;
  res.n_threads = resolve_threads(opt.n_threads);
  if (total == 0) return res;

  const detail::FwhtPlan plan = detail::fwht_plan<T>(opt);
  const int nt = res.n_threads;
  const T scale =
      opt.normalized ? static_cast<T>(1.0 / std::sqrt(static_cast<double>(lay.n))) : T(1);
  const int stages = ilog2(lay.n);
  bool nonfinite = false;

  if (lay.inner == 1 && lay.n > plan.l2 && nt > 1 && lay.outer >= nt &&
      total >= plan.min_parallel &&
      lay.n * static_cast<std::int64_t>(sizeof(T)) <= opt.row_cache_bytes) {
    // A batch of rows that each fit the cache: one thread per row, all passes in cache, so
    // memory is read and written once.
    const std::int64_t B = plan.l2;
    const auto groups = detail::split_stages(stages - ilog2(B), plan.max_stages);
    const std::int64_t buf_elems = detail::max_tile_elems<T>(lay.n, B, groups, plan);
    std::unique_ptr<T[]> bufs(
        new T[static_cast<std::size_t>(checked_mul(buf_elems, nt, "fwht workspace"))]);
    int bad = 0;
#pragma omp parallel for num_threads(nt) schedule(static) reduction(| : bad)
    for (std::int64_t o = 0; o < lay.outer; ++o) {
      T* buf = bufs.get() + buf_elems * thread_id();
      if (!detail::fwht_row_serial(src + o * src_strides.outer, dst + o * dst_strides.outer, lay.n,
                                   B, groups, opt.check_finite, scale, plan, buf))
        bad = 1;
    }
    nonfinite = bad != 0;
    res.passes = 1;
  } else if (lay.inner == 1) {
    // Pass 1: contiguous blocks of B elements, each transformed completely in cache. Blocks are
    // shrunk (not below L1 size) until every thread has one.
    const int threads = total < plan.min_parallel ? 1 : nt;
    std::int64_t B = lay.n < plan.l2 ? lay.n : plan.l2;
    while (B > plan.l1 && lay.outer * (lay.n / B) < threads) B /= 2;
    const std::int64_t nb = lay.n / B;
    const std::int64_t tasks = lay.outer * nb;
    const bool last = (B == lay.n);
    int bad = 0;
#pragma omp parallel for num_threads(threads) if (threads > 1) schedule(static) reduction(| : bad)
    for (std::int64_t t = 0; t < tasks; ++t) {
      const std::int64_t o = t / nb, b = t % nb;
      const T* s = src + o * src_strides.outer + b * B;
      T* d = dst + o * dst_strides.outer + b * B;
      if (!detail::fwht_cached_block(s, d, B, plan.l1, opt.check_finite)) bad = 1;
      if (last && scale != T(1)) detail::scale_inplace(d, B, scale);
    }
    nonfinite = bad != 0;
    res.passes = 1;
    if (!nonfinite && !last) {
      // The remaining strides B, 2B, ... are row strides of the (n/B) x B matrix view.
      const auto groups = detail::split_stages(stages - ilog2(B), plan.max_stages);
      int s0 = 0;
      const FwhtStrides ms{dst_strides.outer, B};
      for (std::size_t g = 0; g < groups.size(); ++g) {
        const bool lastg = (g + 1 == groups.size());
        detail::fwht_tile_pass(dst, ms, dst, ms, lay.outer, nb, B, s0, groups[g], false,
                               lastg ? scale : T(1), plan, nt, nonfinite);
        s0 += groups[g];
        ++res.passes;
      }
    }
  } else {
    // Rows of (n x inner) matrices: every stage is a row stride.
    if (stages == 0) {
      detail::fwht_tile_pass(src, src_strides, dst, dst_strides, lay.outer, 1, lay.inner, 0, 0,
                             opt.check_finite, T(1), plan, nt, nonfinite);
      res.passes = 1;
    } else {
      const auto groups = detail::split_stages(stages, plan.max_stages);
      int s0 = 0;
      for (std::size_t g = 0; g < groups.size(); ++g) {
        const bool first = (g == 0), lastg = (g + 1 == groups.size());
        detail::fwht_tile_pass(first ? src : dst, first ? src_strides : dst_strides, dst,
                               dst_strides, lay.outer, lay.n, lay.inner, s0, groups[g],
                               first && opt.check_finite, lastg ? scale : T(1), plan, nt,
                               nonfinite);
        if (nonfinite) break;
        s0 += groups[g];
        ++res.passes;
      }
    }
  }
  if (nonfinite) {
    if (src == dst)  // the input was overwritten: no location to report
      throw value_error(
          "x: contains NaN or Inf (the in-place output is undefined); pass "
          "check_finite=False to let non-finite values propagate");
    detail::report_nonfinite(src, lay, src_strides);
  }
  return res;
}

/// In-place FWHT of the contiguous vector x[0..n). See the batched overload.
template <class T>
FwhtResult fwht(T* x, std::int64_t n, const FwhtOptions& opt = {}) {
  return fwht(x, FwhtStrides{n, 1}, x, FwhtStrides{n, 1}, FwhtLayout{1, n, 1}, opt);
}

/// Out-of-place FWHT of the contiguous vector src[0..n) into dst[0..n).
template <class T>
FwhtResult fwht(const T* src, T* dst, std::int64_t n, const FwhtOptions& opt = {}) {
  return fwht(src, FwhtStrides{n, 1}, dst, FwhtStrides{n, 1}, FwhtLayout{1, n, 1}, opt);
}

}  // namespace sparsketch
