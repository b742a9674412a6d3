#pragma once
/// \file sketch.hpp
/// Random sketch operators S (m x n) applied to a tall matrix A (n x d): C = S A (m x d).
///
/// Kinds (all with E[S^T S] = I_n):
/// - gaussian:    S(i, j) = z / sqrt(m), z ~ N(0, 1) i.i.d. Cost O(m n d) by blocked GEMM on
///                tiles of S generated on the fly (S is never stored whole); O(m n) normals.
/// - srht:        S = sqrt(n'/m) P (H / sqrt(n')) D = P H D / sqrt(m): D random signs on the n
///                rows (zero padding to n' = next power of two), H the Hadamard matrix (the
///                foundation's FWHT), P m distinct rows sampled uniformly from n'. Cost
///                O(n' d log n') (Ailon-Chazelle; Tropp 2011 for the subsampled form).
/// - countsketch: one nonzero +-1 per column of S, in a uniformly random row (Charikar-Chen-
///                Farach-Colton; Clarkson-Woodruff 2013). Cost O(nnz(A)).
/// - sparse_sign: zeta nonzeros +-1/sqrt(zeta) per column, in distinct random rows (Meng-
///                Mahoney / Nelson-Nguyen OSNAP; zeta = 8 as recommended by Epperly, Meier,
///                Nakatsukasa, arXiv 2406.03468). Cost O(zeta nnz(A)).
///
/// Randomness: Philox4x32-10 keyed by the seed; the numbers that define column j of S (the
/// weights of row j of A) depend only on (seed, j): Gaussian entry (i, j) is normal number
/// j*m + i of stream sketch_gaussian, hash rows/signs of column j use positions j*zeta + k (32-bit
/// words for the rows) of streams sketch_hash / sketch_signs, SRHT signs position j of sketch_signs
/// and the SRHT row sample the keys of stream sketch_rows. Every output entry is summed in a fixed
/// order, so results are bitwise identical for any thread count. Hash sketches of short inputs
/// (n < 32768: every output entry summed over the rows of A in ascending order) are also
/// bitwise identical across C-/F-ordered dense and CSR/CSC inputs; taller row-major dense
/// inputs sum fixed row parts separately (see hash_parts), so layouts then agree to rounding.
///
/// Row blocks: a spec with col0 > 0 or n_total > n is the column block S[:, col0 : col0 + n] of
/// the operator with n_total columns, applied to rows col0 .. col0 + n of a taller matrix (for
/// data held in pieces: out-of-core, Dask). Column j of the block uses the numbers of column
/// col0 + j of the whole operator, so the blocks' products sum to S A (to rounding: the sum is
/// then split at the block boundaries). For the SRHT, with T = n padded to a power of two,
/// col0 must be a multiple of T; since col0 + j = col0 | j then,
/// H(p, col0 + j) = (-1)^popcount(p & col0) H_T(p mod T, j): one T-point FWHT per column.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "sparsketch/common.hpp"
#include "sparsketch/detail/eigen.hpp"
#include "sparsketch/fwht.hpp"
#include "sparsketch/parallel.hpp"
#include "sparsketch/random.hpp"

namespace sparsketch {

enum class SketchKind { gaussian = 0, srht = 1, countsketch = 2, sparse_sign = 3 };

inline const char* sketch_kind_name(SketchKind k) {
  switch (k) {
    case SketchKind::gaussian:
      return "gaussian";
    case SketchKind::srht:
      return "srht";
    case SketchKind::countsketch:
      return "countsketch";
    case SketchKind::sparse_sign:
      return "sparse_sign";
  }
  return "?";
}

/// A sketch operator S of shape m x n, fully determined by (kind, m, n, seed, zeta).
struct SketchSpec {
  SketchKind kind = SketchKind::sparse_sign;
  std::int64_t m = 0;
  std::int64_t n = 0;
  std::uint64_t seed = 0;
  int zeta = 8;              ///< nonzeros per column (sparse_sign); clipped to m
  std::int64_t col0 = 0;     ///< first column of the whole operator this block is (see above)
  std::int64_t n_total = 0;  ///< columns of the whole operator; 0 means col0 + n
  std::int64_t total() const { return n_total > 0 ? n_total : col0 + n; }
};

namespace detail {

inline void check_spec(const SketchSpec& s) {
  if (s.m < 1) throw value_error("m: sketch size must be >= 1, got " + std::to_string(s.m));
  if (s.n < 1)
    throw value_error("A: needs at least one row to sketch, got n = " + std::to_string(s.n));
  if (s.kind == SketchKind::sparse_sign && s.zeta < 1)
    throw value_error("zeta: must be >= 1, got " + std::to_string(s.zeta));
  if (s.col0 < 0 || s.n_total < 0 || s.col0 + s.n > s.total())
    throw value_error("start: rows " + std::to_string(s.col0) + ".." +
                      std::to_string(s.col0 + s.n) + " do not lie within the operator's " +
                      std::to_string(s.total()) + " columns");
  if (s.kind == SketchKind::srht) {
    std::int64_t np2 = 1, tile = 1;
    while (np2 < s.total()) np2 *= 2;
    while (tile < s.n) tile *= 2;
    if (s.m > np2)
      throw value_error("m: an SRHT samples distinct rows of the padded transform, so m <= " +
                        std::to_string(np2) + " (n = " + std::to_string(s.total()) +
                        " padded to a power of two), got " + std::to_string(s.m));
    if (s.col0 % tile != 0)
      throw value_error("start: an SRHT row block of " + std::to_string(s.n) +
                        " rows must start at a multiple of " + std::to_string(tile) +
                        " (its size padded to a power of two), got " + std::to_string(s.col0));
  }
}

/// Checks the spec and that S (m x n) applies to an a_rows x a_cols matrix into out_rows x
/// out_cols.
inline void check_apply(const SketchSpec& s, std::int64_t a_rows, std::int64_t a_cols,
                        std::int64_t out_rows, std::int64_t out_cols) {
  check_spec(s);
  if (a_rows != s.n)
    throw value_error("A: expected " + std::to_string(s.n) + " rows, got " +
                      std::to_string(a_rows));
  if (out_rows != s.m || out_cols != a_cols) throw value_error("out: wrong shape");
}

/// Output rows per Gaussian tile and rows of A per tile (fixed: determinism).
constexpr std::int64_t kGaussRows = 64, kGaussCols = 256;

/// The tile S[i0:i0+rows, j0:j0+cols] of a Gaussian sketch, column-major into out:
/// S(i, j) = normal number j*m + i of stream sketch_gaussian, times 1/sqrt(m).
template <class T>
void gaussian_tile(const SketchSpec& s, std::int64_t i0, std::int64_t rows, std::int64_t j0,
                   std::int64_t cols, T* out) {
  const CounterRng g(s.seed, StreamTag::sketch_gaussian);
  const double scale = 1.0 / std::sqrt(static_cast<double>(s.m));
  for (std::int64_t jj = 0; jj < cols; ++jj)
    for (std::int64_t ii = 0; ii < rows; ++ii)
      out[jj * rows + ii] = static_cast<T>(
          scale * g.normal(static_cast<std::uint64_t>((s.col0 + j0 + jj) * s.m + i0 + ii)));
}

/// Nonzeros of column j of a hash sketch: entries[j*zeta + k] = (row << 1) | negative, k < zeta,
/// with magnitude `value`. Rows within a column are distinct (Floyd's sampling: zeta draws, no
/// rejection) and depend only on (seed, j).
struct HashSketch {
  std::int64_t m = 0, n = 0;
  int zeta = 1;
  double value = 1.0;                  ///< magnitude of every nonzero
  std::vector<std::uint32_t> entries;  ///< n * zeta, column by column
  // Row buckets (built by hash_buckets, for CSR input): the entries of output row i are
  // bucket_ptr[i] .. bucket_ptr[i+1], in ascending column.
  std::vector<std::int64_t> bucket_ptr;
  std::vector<std::int64_t> bucket_col;
  std::vector<std::int8_t> bucket_sign;

  static std::int64_t row(std::uint32_t e) { return static_cast<std::int64_t>(e >> 1); }
  template <class T>
  static T weight(std::uint32_t e, T val) {
    return (e & 1u) ? -val : val;
  }
};

/// Draws the entries of every column (parallel over columns; the result does not depend on
/// the thread count).
inline HashSketch make_hash_sketch(const SketchSpec& s, int nt) {
  HashSketch h;
  h.m = s.m;
  h.n = s.n;
  h.zeta =
      s.kind == SketchKind::countsketch ? 1 : static_cast<int>(std::min<std::int64_t>(s.zeta, s.m));
  h.value = s.kind == SketchKind::countsketch ? 1.0 : 1.0 / std::sqrt(static_cast<double>(h.zeta));
  if (s.m >= (std::int64_t(1) << 31))
    throw value_error("m: hash sketches support fewer than 2^31 rows, got " + std::to_string(s.m));
  const std::int64_t z = h.zeta, m = s.m;
  const std::int64_t total = checked_mul(s.n, z, "sketch hash");
  h.entries.resize(static_cast<std::size_t>(total));
  std::uint32_t* const ent = h.entries.data();
  const CounterRng hash(s.seed, StreamTag::sketch_hash), sg(s.seed, StreamTag::sketch_signs);
  // Blocks of 512 columns; each caches its current Philox blocks.
  constexpr std::int64_t kCols = 512;
  const std::int64_t blocks = n_blocks(s.n, kCols);
  const int threads = blocks < 4 ? 1 : nt;
#pragma omp parallel for num_threads(threads) if (threads > 1) schedule(static)
  for (std::int64_t b = 0; b < blocks; ++b) {
    std::uint64_t row_block = ~std::uint64_t{0}, sign_block = ~std::uint64_t{0};
    Philox4x32Counter row_words{}, sign_words{};
    for (std::int64_t j = b * kCols, j1 = std::min(s.n, j + kCols); j < j1; ++j) {
      std::uint32_t* r = ent + j * z;
      for (std::int64_t k = 0; k < z; ++k) {
        // Draw p = (col0 + j)*z + k is 32-bit word p mod 4 of Philox block p / 4 of stream
        // sketch_hash (col0: the block's first column in the whole operator).
        // Floyd: for t = m-zeta+k draw x in [0, t] by Lemire's multiply-shift (bias at most
        // m / 2^32), and take t if x was already taken.
        const std::uint64_t p = static_cast<std::uint64_t>((s.col0 + j) * z + k);
        if ((p >> 2) != row_block) {
          row_block = p >> 2;
          row_words = hash.block(row_block);
        }
        const std::uint64_t t = static_cast<std::uint64_t>(m - z + k);
        std::uint32_t x = static_cast<std::uint32_t>((row_words[p & 3u] * (t + 1)) >> 32);
        for (std::int64_t u = 0; u < k; ++u)
          if ((r[u] >> 1) == x) {
            x = static_cast<std::uint32_t>(t);
            break;
          }
        // Sign p = bit (p mod 128) of Philox block p / 128 of stream sketch_signs (the
        // definition of CounterRng::rademacher).
        if ((p >> 7) != sign_block) {
          sign_block = p >> 7;
          sign_words = sg.block(sign_block);
        }
        const unsigned bit = static_cast<unsigned>(p & 127u);
        r[k] = (x << 1) | ((sign_words[bit >> 5] >> (bit & 31u)) & 1u);
      }
    }
  }
  return h;
}

/// Fills h's row buckets: a counting sort of the entries by row, stable in column order. Parts
/// (fixed column ranges) count and scatter in parallel; the buckets do not depend on them.
inline void hash_buckets(HashSketch& h, int nt) {
  const std::int64_t z = h.zeta, m = h.m, n = h.n, total = n * z;
  h.bucket_ptr.assign(static_cast<std::size_t>(m + 1), 0);
  h.bucket_col.resize(static_cast<std::size_t>(total));
  h.bucket_sign.resize(static_cast<std::size_t>(total));
  // parts x m counters, kept within about `total` counters.
  const std::int64_t parts =
      n < 4096 ? 1 : std::max<std::int64_t>(1, std::min<std::int64_t>(nt, total / m));
  std::vector<std::int64_t> counts(static_cast<std::size_t>(parts * m), 0);
  const auto part_begin = [&](std::int64_t q) { return n / parts * q + (n % parts) * q / parts; };
  const std::uint32_t* ent = h.entries.data();
  std::int64_t* ptr = h.bucket_ptr.data();
  std::int64_t* col = h.bucket_col.data();
  std::int8_t* sign = h.bucket_sign.data();
  const int threads = static_cast<int>(std::min<std::int64_t>(parts, nt));
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
#pragma omp for schedule(static, 1)
    for (std::int64_t q = 0; q < parts; ++q) {
      std::int64_t* cnt = counts.data() + q * m;
      for (std::int64_t e = part_begin(q) * z, e1 = part_begin(q + 1) * z; e < e1; ++e)
        ++cnt[HashSketch::row(ent[e])];
    }
    // Row totals, their prefix sum (one thread), then each part's start within every row.
#pragma omp for schedule(static)
    for (std::int64_t i = 0; i < m; ++i) {
      std::int64_t c = 0;
      for (std::int64_t q = 0; q < parts; ++q) c += counts[static_cast<std::size_t>(q * m + i)];
      ptr[i + 1] = c;
    }
#pragma omp single
    for (std::int64_t i = 0; i < m; ++i) ptr[i + 1] += ptr[i];
#pragma omp for schedule(static)
    for (std::int64_t i = 0; i < m; ++i) {
      std::int64_t base = ptr[i];
      for (std::int64_t q = 0; q < parts; ++q) {
        std::int64_t& c = counts[static_cast<std::size_t>(q * m + i)];
        const std::int64_t next = base + c;
        c = base;
        base = next;
      }
    }
#pragma omp for schedule(static, 1)
    for (std::int64_t q = 0; q < parts; ++q) {
      std::int64_t* fill = counts.data() + q * m;
      for (std::int64_t j = part_begin(q), j1 = part_begin(q + 1); j < j1; ++j)
        for (std::int64_t e = j * z; e < (j + 1) * z; ++e) {
          const std::int64_t pos = fill[HashSketch::row(ent[e])]++;
          col[pos] = j;
          sign[pos] = (ent[e] & 1u) ? -1 : 1;
        }
    }
  }
}

/// Row parts of A for the accumulator scheme of a dense hash sketch: one per 16384 rows, at
/// most 16, and at most what fits 128 MiB of m x ld accumulators (a function of the shapes
/// only, never of the thread count). 1 means: use output-row ownership instead.
inline std::int64_t hash_parts(std::int64_t n, std::int64_t m, std::int64_t d, std::size_t size) {
  const std::int64_t by_rows = std::min<std::int64_t>(16, n / 16384);
  const double per_part =
      static_cast<double>(m) * static_cast<double>(padded_ld(d, size)) * static_cast<double>(size);
  const auto by_memory = static_cast<std::int64_t>(std::min(16.0, 134217728.0 / per_part));
  return std::max<std::int64_t>(1, std::min(by_rows, by_memory));
}

/// buf(row(e), :) += weight(e) * A(j, :) for the entries e of columns j in [ja, jb) of a hash
/// sketch, in ascending j; buf has leading dimension ld.
template <class T, bool Unit>
void hash_accumulate(const ConstDenseView<T>& A, const std::uint32_t* ent, std::int64_t z, T val,
                     std::int64_t ja, std::int64_t jb, T* buf, std::int64_t ld) {
  const std::int64_t d = A.n_cols, cs = Unit ? 1 : A.col_stride;
  for (std::int64_t j = ja; j < jb; ++j) {
    const T* __restrict aj = &A(j, 0);
    const std::uint32_t* ej = ent + j * z;
    for (std::int64_t k = 0; k < z; ++k) {
      const T w = HashSketch::weight(ej[k], val);
      T* __restrict ci = buf + HashSketch::row(ej[k]) * ld;
      for (std::int64_t c = 0; c < d; ++c) ci[c] += w * aj[c * cs];  // vectorized when Unit
    }
  }
}

template <class T>
void zero_output(const DenseView<T>& C, int nt) {
  const int threads = C.n_rows * C.n_cols < (1 << 16) ? 1 : nt;
#pragma omp parallel for num_threads(threads) if (threads > 1) schedule(static)
  for (std::int64_t i = 0; i < C.n_rows; ++i)
    for (std::int64_t c = 0; c < C.n_cols; ++c) C(i, c) = T(0);
}

/// The m distinct rows of the padded transform an SRHT keeps: the m smallest 64-bit keys of
/// stream sketch_rows over positions [0, n'), ties broken by position; in key order.
inline std::vector<std::int64_t> srht_rows(std::uint64_t seed, std::int64_t m, std::int64_t np2) {
  const CounterRng g(seed, StreamTag::sketch_rows);
  std::vector<std::pair<std::uint64_t, std::int64_t>> keys(static_cast<std::size_t>(np2));
  for (std::int64_t i = 0; i < np2; ++i) keys[i] = {g.bits64(static_cast<std::uint64_t>(i)), i};
  std::nth_element(keys.begin(), keys.begin() + (m - 1), keys.end());
  std::sort(keys.begin(), keys.begin() + m);
  std::vector<std::int64_t> rows(static_cast<std::size_t>(m));
  for (std::int64_t k = 0; k < m; ++k) rows[k] = keys[k].second;
  return rows;
}

}  // namespace detail

namespace detail {
template <class T>
void sketch_dense_impl(const SketchSpec& s, const ConstDenseView<T>& A, const DenseView<T>& C,
                       int n_threads, const HashSketch* prebuilt) {
  detail::check_apply(s, A.n_rows, A.n_cols, C.n_rows, C.n_cols);
  const int nt = resolve_threads(n_threads);
  const std::int64_t d = A.n_cols;
  if (d == 0) return;
  switch (s.kind) {
    case SketchKind::countsketch:
    case SketchKind::sparse_sign: {
      detail::HashSketch built;
      if (prebuilt == nullptr) {
        built = detail::make_hash_sketch(s, nt);
        prebuilt = &built;
      }
      const detail::HashSketch& h = *prebuilt;
      const T val = static_cast<T>(h.value);
      const std::uint32_t* ent = h.entries.data();
      const std::int64_t z = h.zeta;
      const int threads = s.n * d < (1 << 15) ? 1 : nt;
      const std::int64_t parts = hash_parts(s.n, s.m, d, sizeof(T));
      if ((A.row_stride != 1 || (A.col_stride == 1 && d > 1)) && parts > 1) {
        // Rows of A contiguous (or general strides), and room for per-part accumulators: the
        // rows of A are cut into `parts` fixed ranges (their number depends on the shapes
        // only); each range is summed into its own zeroed, 64-byte aligned accumulator (m x ld,
        // ld = d rounded up to a cache line, so no vector access straddles two lines), in
        // ascending row order, and the accumulators are then added in part order. Each thread
        // streams only its share of A. Sums are in a fixed order: the result does not depend on
        // the thread count.
        const std::int64_t ld = padded_ld(d, sizeof(T));
        const std::int64_t part_size = s.m * ld;
        AlignedBuffer<T> acc(checked_mul(parts, part_size, "sketch accumulators"));
        ExceptionCapture ex;
#pragma omp parallel for num_threads(threads) if (threads > 1) schedule(dynamic, 1)
        for (std::int64_t p = 0; p < parts; ++p)
          ex.run([&] {
            T* buf = acc.data() + p * part_size;
            std::fill(buf, buf + part_size, T(0));
            const std::int64_t ja = s.n * p / parts, jb = s.n * (p + 1) / parts;
            if (A.col_stride == 1)
              hash_accumulate<T, true>(A, ent, z, val, ja, jb, buf, ld);
            else
              hash_accumulate<T, false>(A, ent, z, val, ja, jb, buf, ld);
          });
        ex.rethrow();
#pragma omp parallel for num_threads(threads) if (threads > 1) schedule(static)
        for (std::int64_t i = 0; i < s.m; ++i) {
          for (std::int64_t c = 0; c < d; ++c) {
            T sum = acc[i * ld + c];
            for (std::int64_t p = 1; p < parts; ++p) sum += acc[p * part_size + i * ld + c];
            C(i, c) = sum;
          }
        }
      } else if (A.row_stride != 1 || (A.col_stride == 1 && d > 1)) {
        // Rows of A contiguous, too many output entries for per-part accumulators: each thread
        // owns a range of output rows and streams A in row order, adding row j of A into the
        // owned rows among column j's entries. Every output row is summed by one thread in
        // ascending j, so the result is the same for any thread count. Per chunk of rows of A,
        // the owned entries are first gathered branch-free into a short list.
        detail::zero_output(C, nt);
        const bool unit = A.col_stride == 1 && C.col_stride == 1;
        ExceptionCapture ex;
#pragma omp parallel num_threads(threads) if (threads > 1)
        ex.run([&] {
#ifdef _OPENMP
          const std::int64_t team = omp_get_num_threads(), t = omp_get_thread_num();
#else
          const std::int64_t team = 1, t = 0;
#endif
          const std::int64_t i0 = s.m * t / team, width = s.m * (t + 1) / team - i0;
          constexpr std::int64_t kChunk = 1024;  // rows of A per gathered list
          std::vector<std::uint32_t> own_e(static_cast<std::size_t>(kChunk * z));
          std::vector<std::uint32_t> own_j(static_cast<std::size_t>(kChunk * z));
          for (std::int64_t j0 = 0; j0 < s.n; j0 += kChunk) {
            const std::int64_t j1 = std::min(s.n, j0 + kChunk);
            std::int64_t cnt = 0;
            for (std::int64_t j = j0; j < j1; ++j)
              for (std::int64_t k = 0; k < z; ++k) {
                const std::uint32_t e = ent[j * z + k];
                own_e[cnt] = e;
                own_j[cnt] = static_cast<std::uint32_t>(j - j0);
                cnt += static_cast<std::uint64_t>(HashSketch::row(e) - i0) <
                       static_cast<std::uint64_t>(width);
              }
            for (std::int64_t q = 0; q < cnt; ++q) {
              const std::uint32_t e = own_e[q];
              const T w = HashSketch::weight(e, val);
              const T* aj = &A(j0 + own_j[q], 0);
              T* ci = &C(HashSketch::row(e), 0);
              if (unit)
                for (std::int64_t c = 0; c < d; ++c) ci[c] += w * aj[c];  // vectorized
              else
                for (std::int64_t c = 0; c < d; ++c)
                  ci[c * C.col_stride] += w * aj[c * A.col_stride];
            }
          }
        });
        ex.rethrow();
      } else {
        // Columns of A contiguous (or a single column): stream each column once, scattering
        // into the sketch rows.
        detail::zero_output(C, nt);
#pragma omp parallel for num_threads(threads) if (threads > 1) schedule(static)
        for (std::int64_t c = 0; c < d; ++c) {
          const T* ac = &A(0, c);
          for (std::int64_t j = 0; j < s.n; ++j) {
            const T a = ac[j];
            for (std::int64_t k = 0; k < z; ++k) {
              const std::uint32_t e = ent[j * z + k];
              C(HashSketch::row(e), c) += HashSketch::weight(e, val) * a;
            }
          }
        }
      }
      return;
    }
    case SketchKind::gaussian: {
      // Output rows in fixed chunks of mc; each chunk regenerates its tile of S per block of
      // nb rows of A and multiplies (Eigen GEMM on the tile, single-threaded).
      constexpr std::int64_t mc = kGaussRows, nb = kGaussCols;
      using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>;
      using Stride = Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>;
      const std::int64_t chunks = n_blocks(s.m, mc);
      const int threads = checked_mul(s.m, s.n, "sketch") < (1 << 14) ? 1 : nt;
      ExceptionCapture ex;
#pragma omp parallel num_threads(threads) if (threads > 1)
      {
        Mat G, acc;
#pragma omp for schedule(dynamic, 1)
        for (std::int64_t ch = 0; ch < chunks; ++ch)
          ex.run([&] {
            const std::int64_t i0 = ch * mc, rows = std::min(mc, s.m - i0);
            acc.setZero(rows, d);
            for (std::int64_t j0 = 0; j0 < s.n; j0 += nb) {
              const std::int64_t cols = std::min(nb, s.n - j0);
              G.resize(rows, cols);
              detail::gaussian_tile(s, i0, rows, j0, cols, G.data());
              Eigen::Map<const Mat, 0, Stride> Ab(&A(j0, 0), cols, d,
                                                  Stride(A.col_stride, A.row_stride));
              acc.noalias() += G * Ab;  // acc += S[i0:i0+rows, j0:j0+cols] @ A[j0:j0+cols, :]
            }
            for (std::int64_t ii = 0; ii < rows; ++ii)
              for (std::int64_t c = 0; c < d; ++c) C(i0 + ii, c) = acc(ii, c);
          });
      }
      ex.rethrow();
      return;
    }
    case SketchKind::srht: {
      // np2: the whole operator's padded size (the row sample); T: this block's (== np2 for
      // the whole operator). Row p of the block's product is (-1)^popcount(p & col0) times
      // row p mod T of the block's T-point transform (see the file comment).
      std::int64_t np2 = 1, T_ = 1;
      while (np2 < s.total()) np2 *= 2;
      while (T_ < s.n) T_ *= 2;
      const auto rows = detail::srht_rows(s.seed, s.m, np2);
      std::vector<T> row_sign(static_cast<std::size_t>(s.m));
      for (std::int64_t k = 0; k < s.m; ++k)
        row_sign[k] = (__builtin_popcountll(static_cast<unsigned long long>(rows[k] & s.col0)) & 1)
                          ? T(-1)
                          : T(1);
      const CounterRng sg(s.seed, StreamTag::sketch_signs);
      const T scale = static_cast<T>(1.0 / std::sqrt(static_cast<double>(s.m)));
      // Columns in chunks of dc: W (T x dc, each column contiguous) = D A[:, chunk] padded,
      // FWHT of every column, then keep the sampled rows.
      const std::int64_t dc = std::max<std::int64_t>(
          1, std::min<std::int64_t>(
                 d, (std::int64_t{64} << 20) / (T_ * static_cast<std::int64_t>(sizeof(T)))));
      std::unique_ptr<T[]> W(
          new T[static_cast<std::size_t>(checked_mul(T_, dc, "srht workspace"))]);
      std::vector<T> sign(static_cast<std::size_t>(s.n));
      for (std::int64_t j = 0; j < s.n; ++j)
        sign[j] = static_cast<T>(sg.rademacher(static_cast<std::uint64_t>(s.col0 + j)));
      FwhtOptions fo;
      fo.n_threads = nt;
      for (std::int64_t c0 = 0; c0 < d; c0 += dc) {
        const std::int64_t w = std::min(dc, d - c0);
        const int threads = T_ * w < (1 << 15) ? 1 : nt;
#pragma omp parallel for num_threads(threads) if (threads > 1) schedule(static)
        for (std::int64_t c = 0; c < w; ++c) {
          T* wc = W.get() + c * T_;
          for (std::int64_t j = 0; j < s.n; ++j) wc[j] = sign[j] * A(j, c0 + c);
          std::fill(wc + s.n, wc + T_, T(0));
        }
        fwht(W.get(), FwhtStrides{T_, 1}, W.get(), FwhtStrides{T_, 1}, FwhtLayout{w, T_, 1}, fo);
#pragma omp parallel for num_threads(threads) if (threads > 1) schedule(static)
        for (std::int64_t k = 0; k < s.m; ++k) {
          const T sk = scale * row_sign[k];
          const std::int64_t r = rows[k] & (T_ - 1);
          for (std::int64_t c = 0; c < w; ++c) C(k, c0 + c) = sk * W[c * T_ + r];
        }
      }
      return;
    }
  }
}
}  // namespace detail

/// C = S A for a dense A (n x d, any strides) into a dense C (m x d, any strides; overwritten).
/// Threads: OpenMP; output entries are summed in a fixed order, so results do not depend on the
/// thread count. float32 inputs are summed in float32 (each entry of S A is a sum of at most n
/// terms, relative error <= n eps in the worst case, ~sqrt(n) eps typically - far below the
/// embedding distortion a sketch is used for).
template <class T>
void sketch_dense(const SketchSpec& s, const ConstDenseView<T>& A, const DenseView<T>& C,
                  int n_threads = 0) {
  detail::sketch_dense_impl(s, A, C, n_threads, nullptr);
}

/// C_i = S A_i for several dense matrices with the same operator S (e.g. A and b of a least-
/// squares problem): a hash sketch's tables are built once. Same guarantees as sketch_dense.
template <class T>
void sketch_dense_multi(const SketchSpec& s, const std::vector<ConstDenseView<T>>& As,
                        const std::vector<DenseView<T>>& Cs, int n_threads = 0) {
  if (As.size() != Cs.size()) throw value_error("sketch_dense_multi: inputs and outputs differ");
  detail::check_spec(s);
  detail::HashSketch h;
  const bool hash = s.kind == SketchKind::countsketch || s.kind == SketchKind::sparse_sign;
  if (hash && !As.empty()) h = detail::make_hash_sketch(s, resolve_threads(n_threads));
  for (std::size_t i = 0; i < As.size(); ++i)
    detail::sketch_dense_impl(s, As[i], Cs[i], n_threads, hash ? &h : nullptr);
}

/// C = S A for A in CSR (n x d). Index = int32 or int64. Same contract as sketch_dense; for
/// hash sketches the result equals the dense one bitwise when the CSR indices are sorted.
template <class T, class I>
void sketch_csr(const SketchSpec& s, const CsrView<T, I>& A, const DenseView<T>& C,
                int n_threads = 0) {
  detail::check_apply(s, A.n_rows, A.n_cols, C.n_rows, C.n_cols);
  const int nt = resolve_threads(n_threads);
  const std::int64_t d = A.n_cols;
  if (d == 0) return;
  detail::zero_output(C, nt);
  switch (s.kind) {
    case SketchKind::countsketch:
    case SketchKind::sparse_sign: {
      detail::HashSketch h = detail::make_hash_sketch(s, nt);
      detail::hash_buckets(h, nt);
      const T val = static_cast<T>(h.value);
      const int threads = A.nnz() < (1 << 14) ? 1 : nt;
#pragma omp parallel for num_threads(threads) if (threads > 1) schedule(dynamic, 16)
      for (std::int64_t i = 0; i < s.m; ++i)
        for (std::int64_t e = h.bucket_ptr[i]; e < h.bucket_ptr[i + 1]; ++e) {
          const std::int64_t j = h.bucket_col[e];
          const T w = h.bucket_sign[e] > 0 ? val : -val;
          for (std::int64_t p = A.indptr[j]; p < A.indptr[j + 1]; ++p)
            C(i, A.indices[p]) += w * A.values[p];
        }
      return;
    }
    case SketchKind::gaussian: {
      constexpr std::int64_t mc = detail::kGaussRows, nb = detail::kGaussCols;
      const std::int64_t chunks = n_blocks(s.m, mc);
      const int threads = checked_mul(s.m, s.n, "sketch") < (1 << 14) ? 1 : nt;
      ExceptionCapture ex;
#pragma omp parallel num_threads(threads) if (threads > 1)
      {
        std::vector<T> G, acc;  // G: tile of S, column-major (rows x nb); acc: rows x d col-major
#pragma omp for schedule(dynamic, 1)
        for (std::int64_t ch = 0; ch < chunks; ++ch)
          ex.run([&] {
            const std::int64_t i0 = ch * mc, rows = std::min(mc, s.m - i0);
            acc.assign(static_cast<std::size_t>(rows * d), T(0));
            G.resize(static_cast<std::size_t>(rows * nb));
            for (std::int64_t j0 = 0; j0 < s.n; j0 += nb) {
              const std::int64_t cols = std::min(nb, s.n - j0);
              detail::gaussian_tile(s, i0, rows, j0, cols, G.data());
              for (std::int64_t jj = 0; jj < cols; ++jj)
                for (std::int64_t p = A.indptr[j0 + jj]; p < A.indptr[j0 + jj + 1]; ++p) {
                  const T a = A.values[p];
                  T* dst = acc.data() + static_cast<std::int64_t>(A.indices[p]) * rows;
                  const T* gj = G.data() + jj * rows;
                  for (std::int64_t ii = 0; ii < rows; ++ii) dst[ii] += a * gj[ii];
                }
            }
            for (std::int64_t ii = 0; ii < rows; ++ii)
              for (std::int64_t c = 0; c < d; ++c) C(i0 + ii, c) = acc[c * rows + ii];
          });
      }
      ex.rethrow();
      return;
    }
    case SketchKind::srht:
      throw value_error("kind: srht on CSR input is applied through its dense form (Python layer)");
  }
}

/// C = S A for A in CSC (n x d): view the arrays as a CsrView of A^T (d x n). Hash sketches
/// only (Gaussian and SRHT go through CSR / dense in the Python layer).
template <class T, class I>
void sketch_csc(const SketchSpec& s, const CsrView<T, I>& At, const DenseView<T>& C,
                int n_threads = 0) {
  detail::check_spec(s);
  if (At.n_cols != s.n)
    throw value_error("A: expected " + std::to_string(s.n) + " rows, got " +
                      std::to_string(At.n_cols));
  if (C.n_rows != s.m || C.n_cols != At.n_rows) throw value_error("out: wrong shape");
  if (s.kind != SketchKind::countsketch && s.kind != SketchKind::sparse_sign)
    throw value_error("kind: CSC input is supported for countsketch and sparse_sign");
  const int nt = resolve_threads(n_threads);
  detail::zero_output(C, nt);
  const detail::HashSketch h = detail::make_hash_sketch(s, nt);
  const T val = static_cast<T>(h.value);
  const std::int64_t z = h.zeta;
  const int threads = At.nnz() < (1 << 14) ? 1 : nt;
#pragma omp parallel for num_threads(threads) if (threads > 1) schedule(dynamic, 4)
  for (std::int64_t c = 0; c < At.n_rows; ++c)
    for (std::int64_t p = At.indptr[c]; p < At.indptr[c + 1]; ++p) {
      const std::int64_t j = At.indices[p];
      const T a = At.values[p];
      for (std::int64_t k = 0; k < z; ++k) {
        const std::uint32_t e = h.entries[static_cast<std::size_t>(j * z + k)];
        C(detail::HashSketch::row(e), c) += detail::HashSketch::weight(e, val) * a;
      }
    }
}

}  // namespace sparsketch
