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
/// j*m + i of stream sketch_gaussian, hash rows/signs of column j use positions j*zeta + k of
/// streams sketch_hash / sketch_signs, SRHT signs position j of sketch_signs and the SRHT row
/// sample the keys of stream sketch_rows. Every output entry is summed in a fixed order (rows of
/// A ascending), so results are bitwise identical for any thread count, and C- and F-ordered
/// dense inputs (and CSR/CSC inputs with sorted indices) give identical hash-sketch results.

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
  int zeta = 8;  ///< nonzeros per column (sparse_sign); clipped to m
};

namespace detail {

inline void check_spec(const SketchSpec& s) {
  if (s.m < 1) throw value_error("m: sketch size must be >= 1, got " + std::to_string(s.m));
  if (s.n < 1)
    throw value_error("A: needs at least one row to sketch, got n = " + std::to_string(s.n));
  if (s.kind == SketchKind::sparse_sign && s.zeta < 1)
    throw value_error("zeta: must be >= 1, got " + std::to_string(s.zeta));
  if (s.kind == SketchKind::srht) {
    std::int64_t np2 = 1;
    while (np2 < s.n) np2 *= 2;
    if (s.m > np2)
      throw value_error("m: an SRHT samples distinct rows of the padded transform, so m <= " +
                        std::to_string(np2) + " (n = " + std::to_string(s.n) +
                        " padded to a power of two), got " + std::to_string(s.m));
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
      out[jj * rows + ii] =
          static_cast<T>(scale * g.normal(static_cast<std::uint64_t>((j0 + jj) * s.m + i0 + ii)));
}

/// Nonzeros of column j of a hash sketch: rows[k], signs[k] (+-1), k < zeta. Rows are distinct
/// (Floyd's sampling: zeta draws, no rejection) and depend only on (seed, j).
struct HashSketch {
  std::int64_t m = 0, n = 0;
  int zeta = 1;
  double value = 1.0;                    ///< magnitude of every nonzero
  std::vector<std::int64_t> bucket_ptr;  ///< m + 1: entries of output row i
  std::vector<std::int64_t> bucket_col;  ///< the column j of each entry, ascending per row
  std::vector<std::int8_t> bucket_sign;
  std::vector<std::int64_t> rows;  ///< n * zeta: row of (j, k)
  std::vector<std::int8_t> signs;  ///< n * zeta
};

inline HashSketch make_hash_sketch(const SketchSpec& s, int nt) {
  HashSketch h;
  h.m = s.m;
  h.n = s.n;
  h.zeta =
      s.kind == SketchKind::countsketch ? 1 : static_cast<int>(std::min<std::int64_t>(s.zeta, s.m));
  h.value = s.kind == SketchKind::countsketch ? 1.0 : 1.0 / std::sqrt(static_cast<double>(h.zeta));
  const std::int64_t z = h.zeta;
  const std::int64_t total = checked_mul(s.n, z, "sketch hash");
  h.rows.resize(static_cast<std::size_t>(total));
  h.signs.resize(static_cast<std::size_t>(total));
  const CounterRng hash(s.seed, StreamTag::sketch_hash), sg(s.seed, StreamTag::sketch_signs);
  const int threads = s.n < 4096 ? 1 : nt;
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    std::uint64_t cached = ~std::uint64_t{0};
    Philox4x32Counter words{};
#pragma omp for schedule(static)
    for (std::int64_t j = 0; j < s.n; ++j) {
      std::int64_t* r = h.rows.data() + j * z;
      // Floyd: for t = m-zeta .. m-1 draw x in [0, t]; take t if x was already taken.
      for (std::int64_t k = 0; k < z; ++k) {
        const std::int64_t t = s.m - z + k;
        std::int64_t x = static_cast<std::int64_t>(
            hash.below(static_cast<std::uint64_t>(j * z + k), static_cast<std::uint64_t>(t + 1)));
        for (std::int64_t q = 0; q < k; ++q)
          if (r[q] == x) {
            x = t;
            break;
          }
        r[k] = x;
        // Sign = bit (p mod 128) of Philox block p / 128 of stream sketch_signs, p = j*z + k (the
        // definition of CounterRng::rademacher), with the block cached across consecutive p.
        const std::uint64_t pos = static_cast<std::uint64_t>(j * z + k);
        if ((pos >> 7) != cached) {
          cached = pos >> 7;
          words = sg.block(cached);
        }
        const unsigned bit = static_cast<unsigned>(pos & 127u);
        h.signs[static_cast<std::size_t>(pos)] = ((words[bit >> 5] >> (bit & 31u)) & 1u) ? -1 : 1;
      }
    }
  }
  // Counting sort of the entries by output row, stable in (j, k).
  h.bucket_ptr.assign(static_cast<std::size_t>(s.m + 1), 0);
  for (std::int64_t e = 0; e < total; ++e) ++h.bucket_ptr[static_cast<std::size_t>(h.rows[e] + 1)];
  for (std::int64_t i = 0; i < s.m; ++i) h.bucket_ptr[i + 1] += h.bucket_ptr[i];
  h.bucket_col.resize(static_cast<std::size_t>(total));
  h.bucket_sign.resize(static_cast<std::size_t>(total));
  std::vector<std::int64_t> fill(h.bucket_ptr.begin(), h.bucket_ptr.end() - 1);
  for (std::int64_t e = 0; e < total; ++e) {
    const std::int64_t pos = fill[static_cast<std::size_t>(h.rows[e])]++;
    h.bucket_col[static_cast<std::size_t>(pos)] = e / z;
    h.bucket_sign[static_cast<std::size_t>(pos)] = h.signs[static_cast<std::size_t>(e)];
  }
  return h;
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
      detail::zero_output(C, nt);
      if (A.col_stride == 1 || A.row_stride != 1) {
        // Rows of A contiguous (or general strides): output row i sums its bucket of rows of A
        // in ascending j. A is streamed in blocks of rows that stay in cache; each thread owns
        // a range of output rows (balanced by entries) and, per block, adds the bucket entries
        // that fall in it, keeping a cursor per row. Every output row is summed by one thread
        // in ascending j, so the result is the same for any thread count.
        const std::int64_t jb = std::max<std::int64_t>(
            64, (std::int64_t(1) << 19) / std::max<std::int64_t>(1, d * std::int64_t(sizeof(T))));
        const int threads = s.n * d < (1 << 15) ? 1 : nt;
        const std::int64_t total = h.bucket_ptr[static_cast<std::size_t>(s.m)];
        const bool unit = A.col_stride == 1 && C.col_stride == 1;
        ExceptionCapture ex;
#pragma omp parallel num_threads(threads) if (threads > 1)
        ex.run([&] {
#ifdef _OPENMP
          const std::int64_t team = omp_get_num_threads(), t = omp_get_thread_num();
#else
          const std::int64_t team = 1, t = 0;
#endif
          const auto owner_start = [&](std::int64_t q) {  // first row with ptr >= total q / team
            const std::int64_t target = total / team * q + (total % team) * q / team;
            return static_cast<std::int64_t>(
                std::lower_bound(h.bucket_ptr.begin(), h.bucket_ptr.end() - 1, target) -
                h.bucket_ptr.begin());
          };
          const std::int64_t i0 = owner_start(t), i1 = t + 1 == team ? s.m : owner_start(t + 1);
          std::vector<std::int64_t> cur(h.bucket_ptr.begin() + i0, h.bucket_ptr.begin() + i1);
          for (std::int64_t j0 = 0; j0 < s.n; j0 += jb) {
            const std::int64_t j1 = std::min(s.n, j0 + jb);
            for (std::int64_t i = i0; i < i1; ++i) {
              std::int64_t e = cur[static_cast<std::size_t>(i - i0)];
              const std::int64_t e_end = h.bucket_ptr[i + 1];
              if (e == e_end || h.bucket_col[e] >= j1) continue;
              T* ci = &C(i, 0);
              for (; e < e_end && h.bucket_col[e] < j1; ++e) {
                const T w = h.bucket_sign[e] > 0 ? val : -val;
                const T* aj = &A(h.bucket_col[e], 0);
                if (unit)
                  for (std::int64_t c = 0; c < d; ++c) ci[c] += w * aj[c];  // vectorized
                else
                  for (std::int64_t c = 0; c < d; ++c)
                    ci[c * C.col_stride] += w * aj[c * A.col_stride];
              }
              cur[static_cast<std::size_t>(i - i0)] = e;
            }
          }
        });
        ex.rethrow();
      } else {
        // Columns of A contiguous: stream each column once, scattering into the sketch rows.
        const std::int64_t z = h.zeta;
        const int threads = s.n * d < (1 << 15) ? 1 : nt;
#pragma omp parallel for num_threads(threads) if (threads > 1) schedule(static)
        for (std::int64_t c = 0; c < d; ++c) {
          const T* ac = &A(0, c);
          for (std::int64_t j = 0; j < s.n; ++j) {
            const T a = ac[j];
            for (std::int64_t k = 0; k < z; ++k) {
              const std::size_t e = static_cast<std::size_t>(j * z + k);
              C(h.rows[e], c) += (h.signs[e] > 0 ? val : -val) * a;
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
      std::int64_t np2 = 1;
      while (np2 < s.n) np2 *= 2;
      const auto rows = detail::srht_rows(s.seed, s.m, np2);
      const CounterRng sg(s.seed, StreamTag::sketch_signs);
      const T scale = static_cast<T>(1.0 / std::sqrt(static_cast<double>(s.m)));
      // Columns in chunks of dc: W (n' x dc, each column contiguous) = D A[:, chunk] padded,
      // FWHT of every column, then keep the sampled rows.
      const std::int64_t dc = std::max<std::int64_t>(
          1, std::min<std::int64_t>(
                 d, (std::int64_t{64} << 20) / (np2 * static_cast<std::int64_t>(sizeof(T)))));
      std::unique_ptr<T[]> W(
          new T[static_cast<std::size_t>(checked_mul(np2, dc, "srht workspace"))]);
      std::vector<T> sign(static_cast<std::size_t>(s.n));
      for (std::int64_t j = 0; j < s.n; ++j)
        sign[j] = static_cast<T>(sg.rademacher(static_cast<std::uint64_t>(j)));
      FwhtOptions fo;
      fo.n_threads = nt;
      for (std::int64_t c0 = 0; c0 < d; c0 += dc) {
        const std::int64_t w = std::min(dc, d - c0);
        const int threads = np2 * w < (1 << 15) ? 1 : nt;
#pragma omp parallel for num_threads(threads) if (threads > 1) schedule(static)
        for (std::int64_t c = 0; c < w; ++c) {
          T* wc = W.get() + c * np2;
          for (std::int64_t j = 0; j < s.n; ++j) wc[j] = sign[j] * A(j, c0 + c);
          std::fill(wc + s.n, wc + np2, T(0));
        }
        fwht(W.get(), FwhtStrides{np2, 1}, W.get(), FwhtStrides{np2, 1}, FwhtLayout{w, np2, 1}, fo);
#pragma omp parallel for num_threads(threads) if (threads > 1) schedule(static)
        for (std::int64_t k = 0; k < s.m; ++k)
          for (std::int64_t c = 0; c < w; ++c) C(k, c0 + c) = scale * W[c * np2 + rows[k]];
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
      const detail::HashSketch h = detail::make_hash_sketch(s, nt);
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
        const std::size_t e = static_cast<std::size_t>(j * z + k);
        C(h.rows[e], c) += (h.signs[e] > 0 ? val : -val) * a;
      }
    }
}

}  // namespace sparsketch
