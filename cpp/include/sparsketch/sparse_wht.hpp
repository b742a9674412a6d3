#pragma once
/// \file sparse_wht.hpp
/// Sparse Walsh-Hadamard transform: the K-sparse spectrum X of a signal x of length N = 2^n,
///
///   x[t] = sum_k X[k] (-1)^popcount(k & t),   i.e.  X = H x / N,
///
/// from O(K log N) samples of x in O(K log^2 N) time, for n <= 1024 (indices are bitsets of W
/// 64-bit words, W = 1, 2, 4, 8 or 16; sparse_wht_words<W> - n <= 64 takes W = 1).
///
/// Method (Scheibler, Haghighatshoar, Vetterli, "A fast Hadamard transform for signals with
/// sub-linear sparsity in the transform domain", IEEE T-IT 2015 - SparseFHT - for the noiseless
/// design; Li, Bradley, Ramchandran, "SPRIGHT: a fast and robust framework for sparse
/// Walsh-Hadamard transform", arXiv 1508.06336, for the noise-robust one):
///
/// - C groups. Group g has an invertible T_g over F_2 (n x n) and reads, for each of its
///   P offsets d (n-bit words), the B = 2^b samples u[l] = x[T_g^T (l ^ d)], l < B (l in the low
///   b bits). Rows 0..b-1 of T_g (the hash) are uniformly random, so two given indices share a
///   bin with probability 2^-b whatever the support's structure; rows b..n-1 are the unit rows
///   of the columns that are not pivots of the hash rows, which makes T_g invertible. The
///   scaled B-point WHT of u is
///       U[j] = (1/B) sum_l u[l] (-1)^popcount(j & l) = sum_{k : low_b(T_g k) = j} X[k] (-1)^<T_g
///       k, d>,
///   so bin j of group g sums the coefficients whose re-indexed k' = T_g k hashes to j, each
///   with the sign of <k', d>. The random hash rows make structured supports (low Hamming
///   weight, shared prefixes) hash like random ones.
/// - A bin holding a single coefficient (singleton) gives k' bit by bit: for offsets d and
///   d ^ e_i, the ratio of the two observations is (-1)^(k'_i). The low b bits of k' are j.
/// - Noiseless design: offsets 0 and e_i for the n - b unhashed bits (P = n - b + 1).
///   Zero-ton: every |U_p| <= tol; singleton: every |U_p| = |U_0| > tol (within tol).
/// - Noise-robust design: `chains` random base offsets d_r, each with its n - b delayed copies
///   d_r ^ e_i; bit i is first decided by the sign of sum_r U(d_r) U(d_r ^ e_i) (a soft
///   majority over chains), then refined twice with each chain's sign taken from all its
///   observations; of the two candidates, the one the verification offsets agree with more is
///   kept. `verify` random offsets are used only to confirm a singleton. With sigma_b^2
///   the noise variance of one observation U_p, tests at level alpha (L = ln(1 / alpha)):
///     zero-ton    sum_p U_p^2 <= sigma_b^2 (P + 2 sqrt(P L) + 2 L)   (chi-square tail,
///                 Laurent-Massart 2000),
///     singleton   the estimate X^ (mean over the chain offsets of s_p U_p) has
///                 |X^| sqrt(P_c) / sigma_b >= sqrt(2 L), and the residuals sum (U_p - X^ s_p)^2
///                 over all P offsets, and over the verification offsets alone, pass the
///                 same chi-square bound; and the verification offsets' own estimate has the
///                 sign of X^ and is >= 2 of its standard errors (sigma_b / sqrt(verify)).
///   Coefficients found more than once are summed and dropped if the sum fails the z-test.
/// - Peeling: a singleton found in any group is subtracted from its bin in every group, which
///   may turn other bins into singletons; repeated until no bin changes. Success: every bin of
///   every group is a zero-ton at the end.
///
/// Randomness: Philox stream sparse_wht keyed by the seed; attempt a, group g and the offsets
/// use fixed counter ranges, so the result depends only on (seed, options), never on threads.

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "sparsketch/common.hpp"
#include "sparsketch/detail/simd.hpp"
#include "sparsketch/fwht.hpp"
#include "sparsketch/random.hpp"

#if defined(__AVX__)
#include <immintrin.h>
#endif

namespace sparsketch {

/// Most variables supported (16 index words).
constexpr int kSparseWhtMaxN = 1024;

/// Options of sparse_wht.
struct SparseWhtOptions {
  int n = 0;                  ///< log2 of the signal length, 1..kSparseWhtMaxN
  int b = 0;                  ///< log2 of the bins per group; 0: from k (or a first guess)
  std::int64_t k = 0;         ///< expected sparsity (0: unknown)
  int groups = 3;             ///< C, subsampling groups
  bool robust = true;         ///< noise-robust design (false: noiseless design)
  double noise_sigma = -1.0;  ///< per-sample noise standard deviation; < 0: estimate (robust)
  int chains = 5;             ///< robust design: random offset chains
  int verify = 16;            ///< robust design: verification offsets
  double alpha = 1e-6;        ///< robust design: level of each chi-square / z test
  double tol = 0.0;           ///< noiseless design: bin tolerance relative to max |sample|; 0: auto
  std::int64_t max_samples = 0;  ///< 0: no limit
  int max_attempts = 8;          ///< attempts with fresh randomness (b grows on repeated failure)
  std::uint64_t seed = 0;
};

/// What sparse_wht found.
struct SparseWhtResult {
  std::vector<std::uint64_t> indices;  ///< support, ascending: W words per index (low first)
  std::vector<double> values;          ///< X[indices]
  std::int64_t samples = 0;            ///< samples read, all attempts
  std::int64_t unresolved = 0;         ///< bins not zero-tons at the end of the last attempt
  double residual_energy = 0.0;        ///< estimated sum of |X_k|^2 left unresolved
  double noise_sigma = 0.0;            ///< per-sample noise sd used (robust) or 0
  bool success = false;
  int attempts = 0;
  int b = 0;  ///< log2 bins per group of the last attempt
};

namespace detail {

using Word = std::uint64_t;

inline Word low_mask(int bits) {
  return bits >= 64 ? ~Word{0} : ((Word{1} << bits) - 1);
}

/// An n-bit vector in W 64-bit words: bit i is bit i % 64 of word i / 64 (n <= 64 W).
template <int W>
struct Bits {
  std::array<Word, W> w{};

  bool test(int i) const { return (w[static_cast<std::size_t>(i >> 6)] >> (i & 63)) & 1u; }
  void set(int i) { w[static_cast<std::size_t>(i >> 6)] |= Word{1} << (i & 63); }
  Bits& operator^=(const Bits& o) {
    for (int i = 0; i < W; ++i) w[static_cast<std::size_t>(i)] ^= o.w[static_cast<std::size_t>(i)];
    return *this;
  }
  static Bits unit(int i) {
    Bits b;
    b.set(i);
    return b;
  }
  friend bool operator==(const Bits& a, const Bits& b) {
    Word d = 0;
    for (int i = 0; i < W; ++i)
      d |= a.w[static_cast<std::size_t>(i)] ^ b.w[static_cast<std::size_t>(i)];
    return d == 0;
  }
  friend bool operator<(const Bits& a, const Bits& b) {  // as integers: high word first
    for (int i = W - 1; i >= 0; --i)
      if (a.w[static_cast<std::size_t>(i)] != b.w[static_cast<std::size_t>(i)])
        return a.w[static_cast<std::size_t>(i)] < b.w[static_cast<std::size_t>(i)];
    return false;
  }
};

/// popcount(a & b) mod 2.
template <int W>
int parity_and(const Bits<W>& a, const Bits<W>& b) {
  Word x = 0;
  for (int i = 0; i < W; ++i)
    x ^= a.w[static_cast<std::size_t>(i)] & b.w[static_cast<std::size_t>(i)];
  return __builtin_parityll(x);
}

/// An n x n matrix over F_2 stored by columns (bit i of col[j] = entry (i, j)).
template <int W>
struct BitMatrix {
  int n = 0;
  std::vector<Bits<W>> col;
  /// W = 1, after build_tables(): entry 16 c + v = the sum of the columns 4 c + i with bit i
  /// of v set, so A x is one lookup per 4 bits of x.
  std::vector<Word> nib;
  explicit BitMatrix(int n_ = 0) : n(n_), col(static_cast<std::size_t>(n_)) {}
  void build_tables() {
    static_assert(W == 1, "nibble tables for one-word indices only");
    const int chunks = (n + 3) / 4;
    nib.resize(static_cast<std::size_t>(16 * chunks));
    for (int c = 0; c < chunks; ++c) {
      Word* t = nib.data() + 16 * c;
      t[0] = 0;
      for (unsigned v = 1; v < 16; ++v) {
        const int i = 4 * c + __builtin_ctz(v);
        t[v] = t[v & (v - 1)] ^ (i < n ? col[static_cast<std::size_t>(i)].w[0] : Word{0});
      }
    }
  }
  Bits<W> apply(const Bits<W>& x) const {  // A x
    Bits<W> y;
    if constexpr (W == 1) {
      const Word v = x.w[0];
      Word acc = 0;
      if (!nib.empty()) {
        const int chunks = (n + 3) / 4;
        for (int c = 0; c < chunks; ++c)
          acc ^= nib[static_cast<std::size_t>(16 * c + ((v >> (4 * c)) & 15u))];
      } else {  // branch-free: the bits of x are random, a branch mispredicts
        for (int i = 0; i < n; ++i)
          acc ^= col[static_cast<std::size_t>(i)].w[0] & (Word{0} - ((v >> i) & 1u));
      }
      y.w[0] = acc;
      return y;
    }
    for (int q = 0; q < W; ++q) {
      Word v = x.w[static_cast<std::size_t>(q)];
      while (v) {
        y ^= col[static_cast<std::size_t>(q * 64 + __builtin_ctzll(v))];
        v &= v - 1;
      }
    }
    return y;
  }
};

/// Counter layout of stream sparse_wht: attempt a, group g, item q -> a*2^40 + g*2^32 + q.
/// Items: the matrix draws take q = draw * 64 W^2 + j W + word (< 2^20); offsets q >= 2^20.
inline Word swht_word(const CounterRng& rng, int attempt, int g, std::uint64_t q) {
  return rng.bits64((static_cast<std::uint64_t>(attempt) << 40) |
                    (static_cast<std::uint64_t>(g) << 32) | q);
}

/// W words of the stream from item q0 on, masked to n bits.
template <int W>
Bits<W> swht_bits(const CounterRng& rng, int attempt, int g, std::uint64_t q0, int n) {
  Bits<W> x;
  for (int q = 0; q < W; ++q) {
    const int lo = 64 * q;
    x.w[static_cast<std::size_t>(q)] =
        lo >= n ? 0
                : swht_word(rng, attempt, g, q0 + static_cast<std::uint64_t>(q)) & low_mask(n - lo);
  }
  return x;
}

/// One group of one attempt: the spectral re-indexing T (k' = T k, stored by columns) and its
/// inverse, the sampling map G = T^T (t = G t'; its first b columns are T's hash rows) and the
/// offsets d_p (in k' coordinates; the sample indices use G d_p, SwhtAttempt::gdw).
template <int W>
struct SwhtGroup {
  BitMatrix<W> T, Tinv, G;
  std::vector<Bits<W>> offsets;
};

/// Sets `m` to the n x n zero matrix, reusing its storage.
template <int W>
void reset_bit_matrix(BitMatrix<W>& m, int n) {
  m.n = n;
  m.col.assign(static_cast<std::size_t>(n), Bits<W>{});
  m.nib.clear();
}

/// The re-indexing of group g: rows 0..b-1 of T are uniformly random n-bit rows H_r (redrawn
/// while rank deficient, probability < 2^(b - n + 1)); rows b..n-1 are the unit rows e_c of the
/// columns c that are not pivots of H, ascending. Gauss-Jordan elimination on the rows gives
/// R = E H with R the identity on the pivot columns p_r, so T k = k' solves as k_c = k'_(b+q)
/// for the q-th non-pivot column c and k_(p_r) = (E k'_low)_r ^ <R_r, k> over the non-pivot
/// columns: T, T^-1 and G = T^T are built in O(n b W) word operations.
template <int W>
void random_reindexing(const CounterRng& rng, int attempt, int g, int n, int b, SwhtGroup<W>& grp) {
  constexpr int kMaxB = 40;                    // b <= 40 (check_sparse_wht_options)
  const std::uint64_t per_draw = 64u * W * W;  // items draw * per_draw + r W + word, r < b
  const auto ub = static_cast<std::size_t>(b);
  std::array<Bits<W>, kMaxB> H, R;
  std::array<Word, kMaxB> E{};  // row r of E: bit j = coefficient of H_j
  std::array<int, kMaxB> piv{};
  for (std::uint64_t draw = 0;; ++draw) {
    if ((draw + 1) * per_draw > (std::uint64_t{1} << 20))  // each draw fails w.p. < 0.72
      throw std::runtime_error("sparse_wht: no full-rank hash drawn; change the seed");
    for (std::size_t r = 0; r < ub; ++r) {
      H[r] = swht_bits<W>(rng, attempt, g, draw * per_draw + r * W, n);
      R[r] = H[r];
      E[r] = Word{1} << r;
    }
    bool full_rank = true;
    for (std::size_t r = 0; r < ub; ++r) {
      int p = -1;  // lowest set bit of R_r: earlier pivots are already eliminated from it
      for (int q = 0; q < W && p < 0; ++q)
        if (R[r].w[static_cast<std::size_t>(q)])
          p = 64 * q + __builtin_ctzll(R[r].w[static_cast<std::size_t>(q)]);
      if (p < 0) {
        full_rank = false;
        break;
      }
      piv[r] = p;
      const Bits<W> rr = R[r];
      const Word er = E[r];
      for (std::size_t s = 0; s < ub; ++s) {  // branch-free: the bits are random
        const Word mask = Word{0} - (static_cast<Word>(R[s].test(p)) & static_cast<Word>(s != r));
        for (int q = 0; q < W; ++q)
          R[s].w[static_cast<std::size_t>(q)] ^= rr.w[static_cast<std::size_t>(q)] & mask;
        E[s] ^= er & mask;
      }
    }
    if (full_rank) break;
  }
  Bits<W> pivots;  // bit c: column c is a pivot
  for (std::size_t r = 0; r < ub; ++r) pivots.set(piv[r]);
  reset_bit_matrix(grp.T, n);
  reset_bit_matrix(grp.Tinv, n);
  reset_bit_matrix(grp.G, n);
  for (std::size_t r = 0; r < ub; ++r) {
    grp.G.col[r] = H[r];
    for (int c = 0; c < n; ++c)  // T e_c, bit r: entry (r, c) of the hash rows
      grp.T.col[static_cast<std::size_t>(c)].w[0] |= static_cast<Word>(H[r].test(c)) << r;
    for (std::size_t j = 0; j < ub; ++j)  // T^-1 e_j, j < b: k_(p_r) = E_rj
      grp.Tinv.col[j].w[static_cast<std::size_t>(piv[r] >> 6)] |= ((E[r] >> j) & 1u)
                                                                  << (piv[r] & 63);
  }
  int q = b;  // row of T holding e_c for the next non-pivot column c
  for (int c = 0; c < n; ++c) {
    if (pivots.test(c)) continue;
    grp.G.col[static_cast<std::size_t>(q)] = Bits<W>::unit(c);
    grp.T.col[static_cast<std::size_t>(c)].set(q);
    Bits<W>& ic = grp.Tinv.col[static_cast<std::size_t>(q)];  // T^-1 e_q: e_c + R_rc e_(p_r)
    ic.set(c);
    for (std::size_t r = 0; r < ub; ++r)
      ic.w[static_cast<std::size_t>(piv[r] >> 6)] |= static_cast<Word>(R[r].test(c))
                                                     << (piv[r] & 63);
    ++q;
  }
}

/// Offsets of a group, into d. Noiseless: 0, e_b, ..., e_{n-1}. Robust: chains r < R of
/// [d_r, d_r ^ e_b, ..., d_r ^ e_{n-1}], then `verify` random offsets.
template <int W>
void swht_offsets(const SparseWhtOptions& o, int b, const CounterRng& rng, int attempt, int g,
                  std::vector<Bits<W>>& d) {
  const int n = o.n, m = n - b;
  d.clear();
  if (!o.robust) {
    d.emplace_back();
    for (int i = 0; i < m; ++i) d.push_back(Bits<W>::unit(b + i));
    return;
  }
  std::uint64_t q = std::uint64_t{1} << 20;
  for (int r = 0; r < o.chains; ++r, q += W) {
    const Bits<W> base = swht_bits<W>(rng, attempt, g, q, n);
    d.push_back(base);
    for (int i = 0; i < m; ++i) {
      Bits<W> x = base;
      x ^= Bits<W>::unit(b + i);
      d.push_back(x);
    }
  }
  for (int v = 0; v < o.verify; ++v, q += W) d.push_back(swht_bits<W>(rng, attempt, g, q, n));
}

/// Chi-square upper tail bound of Laurent and Massart: P(chi2_p >= p + 2 sqrt(p L) + 2 L) <=
/// exp(-L).
inline double chi2_bound(double p, double L) {
  return p + 2.0 * std::sqrt(p * L) + 2.0 * L;
}

/// A coefficient found by peeling (seq: the order it was found in).
template <int W>
struct SwhtFound {
  Bits<W> k;
  std::int64_t seq;
  double x;
};

/// Decoding state of one attempt and the scratch of the decoder, kept between attempts and
/// (per thread, see swht_thread_workspace) between calls, so that a small transform allocates
/// nothing.
template <int W>
struct SwhtAttempt {
  int n = 0, b = 0, C = 0, P = 0;
  double sample_eps = 0.0;  ///< relative rounding of the samples (the sampler's sample_eps())
  int ld = 0;  ///< row stride of V: P rounded up to a multiple of kSwhtRowAlign (padding 0)
  std::int64_t B = 0;
  std::vector<SwhtGroup<W>> groups;
  /// [g][l][p] (rows of ld): the samples u_p[l], transformed in place over l into [g][j][p]:
  /// the P observations of bin j of group g, contiguous (classified, decoded and peeled as
  /// short vectors).
  std::vector<double> V;
  std::vector<double> raw;  ///< a generic sampler's answers, in query order [g][p][l]
  std::vector<Word> gl;     ///< [g][l]: G_g l (W words)
  std::vector<Word> gdw;    ///< [g][p]: G_g d_p (W words)
  std::vector<Word> idx;    ///< the queries, for a sampler without gather_xor
  // decoder scratch
  std::vector<char> cls, queued, dirty;
  std::vector<Word> hi_bits;
  std::vector<double> cpi, cnew, energy;
  std::vector<std::int64_t> queue;
  std::vector<SwhtFound<W>> found;
  bool busy = false;

  std::size_t capacity_bytes() const {
    std::size_t s =
        (V.capacity() + raw.capacity() + cpi.capacity() + cnew.capacity() + energy.capacity()) *
            sizeof(double) +
        (gl.capacity() + gdw.capacity() + idx.capacity() + hi_bits.capacity()) * sizeof(Word) +
        cls.capacity() + queued.capacity() + dirty.capacity() +
        queue.capacity() * sizeof(std::int64_t) + found.capacity() * sizeof(SwhtFound<W>);
    for (const auto& g : groups)
      s +=
          (g.T.col.capacity() + g.Tinv.col.capacity() + g.G.col.capacity() + g.offsets.capacity()) *
              sizeof(Bits<W>) +
          (g.T.nib.capacity() + g.Tinv.nib.capacity()) * sizeof(Word);
    return s;
  }
};

/// The calling thread's workspace for index width W, or nullptr while it is in use (a
/// callable signal that itself calls sparse_wht on the same thread): the caller then makes
/// its own.
template <int W>
SwhtAttempt<W>* swht_thread_workspace() {
  thread_local SwhtAttempt<W> ws;
  return ws.busy ? nullptr : &ws;
}

/// Index words per query / coefficient for n variables: 1, 2, 4, 8 or 16 (n <= 1024).
inline int swht_words(int n) {
  int w = 1;
  while (64 * w < n) w *= 2;
  return w;
}

/// Noiseless bin test on the P <= 64 observations u[0..P) (u readable up to ld, a multiple of 4):
/// bit p of `big` is |u_p| > tol, of `dev` ||u_p| - |u_0|| > tol, of `neg` the sign bit of u_p.
inline void swht_bin_flags(const double* u, int P, int ld, double tol, Word& big, Word& dev,
                           Word& neg) {
  const Word valid = low_mask(P);
  Word bg = 0, dv = 0, ng = 0;
#if defined(__AVX__)
  const __m256d absmask = _mm256_castsi256_pd(_mm256_set1_epi64x(0x7fffffffffffffffLL));
  const __m256d vt = _mm256_set1_pd(tol);
  const __m256d a0 = _mm256_set1_pd(std::abs(u[0]));
  for (int p = 0; p < ld; p += 4) {
    const __m256d v = _mm256_loadu_pd(u + p);
    const __m256d a = _mm256_and_pd(v, absmask);
    const __m256d d = _mm256_and_pd(_mm256_sub_pd(a, a0), absmask);
    bg |= static_cast<Word>(_mm256_movemask_pd(_mm256_cmp_pd(a, vt, _CMP_GT_OQ))) << p;
    dv |= static_cast<Word>(_mm256_movemask_pd(_mm256_cmp_pd(d, vt, _CMP_GT_OQ))) << p;
    ng |= static_cast<Word>(_mm256_movemask_pd(v)) << p;
  }
#else
  (void)ld;
  const double a0 = std::abs(u[0]);
  for (int p = 0; p < P; ++p) {
    const double a = std::abs(u[p]);
    bg |= static_cast<Word>(a > tol) << p;
    dv |= static_cast<Word>(std::abs(a - a0) > tol) << p;
    ng |= static_cast<Word>(std::signbit(u[p])) << p;
  }
#endif
  big = bg & valid;
  dev = dv & valid;
  neg = ng & valid;
}

/// Sign-bit (bit p of the index: lane p negative) and lane (bit p: lane p kept) masks for 4
/// doubles.
struct SwhtLaneLuts {
  alignas(32) std::uint64_t sign[16][4];
  alignas(32) std::uint64_t keep[16][4];
  constexpr SwhtLaneLuts() : sign{}, keep{} {
    for (int i = 0; i < 16; ++i)
      for (int l = 0; l < 4; ++l) {
        sign[i][l] = ((i >> l) & 1) ? 0x8000000000000000ULL : 0;
        keep[i][l] = ((i >> l) & 1) ? ~0ULL : 0;
      }
  }
};
inline constexpr SwhtLaneLuts kSwhtLanes{};

/// v[p] -= (-1)^(bit p of sm) X for p < P (v readable and writable up to ld, a multiple of 4,
/// entries P..ld-1 unchanged): one coefficient peeled from a bin (noiseless, P <= 64).
inline void swht_peel_row(double* v, int P, int ld, double X, Word sm) {
#if defined(__AVX__)
  const Word valid = low_mask(P);
  const __m256d xv = _mm256_set1_pd(X);
  for (int p = 0; p < ld; p += 4) {
    const __m256d sg =
        _mm256_load_pd(reinterpret_cast<const double*>(kSwhtLanes.sign[(sm >> p) & 15u]));
    const __m256d kp =
        _mm256_load_pd(reinterpret_cast<const double*>(kSwhtLanes.keep[(valid >> p) & 15u]));
    const __m256d d = _mm256_and_pd(_mm256_xor_pd(xv, sg), kp);
    _mm256_storeu_pd(v + p, _mm256_sub_pd(_mm256_loadu_pd(v + p), d));
  }
#else
  (void)ld;
  std::uint64_t xbits;
  std::memcpy(&xbits, &X, sizeof X);
  for (int p = 0; p < P; ++p) {
    const std::uint64_t sx = xbits ^ (((sm >> p) & 1u) << 63);
    double xp;
    std::memcpy(&xp, &sx, sizeof xp);
    v[p] -= xp;
  }
#endif
}

/// Row stride of the sample block: P rounded up to a multiple of this (4 doubles, or the
/// native SIMD width when wider).
constexpr int kSwhtRowAlign = Simd<double>::W < 4 ? 4 : Simd<double>::W;

/// In-place B-point WHTs down the columns of a B x ld row-major block (ld a multiple of
/// kSwhtRowAlign): radix-4 butterflies on whole rows, a last radix-2 stage when log2 B is odd.
inline void swht_fwht_block(double* a, std::int64_t B, int ld) {
  using V = Simd<double>::V;
  constexpr int vw = Simd<double>::W;
  const auto lds = static_cast<std::int64_t>(ld);
  std::int64_t h = 1;
  for (; 4 * h <= B; h *= 4)
    for (std::int64_t i = 0; i < B; i += 4 * h)
      for (std::int64_t j = i; j < i + h; ++j) {
        double* r0 = a + j * lds;
        double* r1 = r0 + h * lds;
        double* r2 = r1 + h * lds;
        double* r3 = r2 + h * lds;
        for (int q = 0; q < ld; q += vw) {
          const V x0 = vload<V>(r0 + q), x1 = vload<V>(r1 + q);
          const V x2 = vload<V>(r2 + q), x3 = vload<V>(r3 + q);
          const V s0 = x0 + x1, d0 = x0 - x1, s1 = x2 + x3, d1 = x2 - x3;
          vstore(r0 + q, s0 + s1);
          vstore(r1 + q, d0 + d1);
          vstore(r2 + q, s0 - s1);
          vstore(r3 + q, d0 - d1);
        }
      }
  if (h < B)  // one radix-2 stage left
    for (std::int64_t j = 0; j < h; ++j) {
      double* r0 = a + j * lds;
      double* r1 = r0 + h * lds;
      for (int q = 0; q < ld; q += vw) {
        const V x0 = vload<V>(r0 + q), x1 = vload<V>(r1 + q);
        vstore(r0 + q, x0 + x1);
        vstore(r1 + q, x0 - x1);
      }
    }
}

template <class S, class = void>
struct swht_has_eps : std::false_type {};
template <class S>
struct swht_has_eps<S, std::void_t<decltype(std::declval<const S&>().sample_eps())>>
    : std::true_type {};

/// The relative rounding of a sampler's values: its `sample_eps()` (e.g. 2^-23 for float32
/// storage), 0 (exact doubles) for samplers without one.
template <class S>
double swht_sample_eps(const S& s) {
  if constexpr (swht_has_eps<S>::value)
    return s.sample_eps();
  else
    return 0.0;
}

/// Samplers with a `gather_xor(gl, gd, P, B, out, ld)` member (out[l ld + p] = x[gl[l] ^ gd[p]]
/// for p < P, 0 for P <= p < ld; one word per index) are handed the tables instead of the
/// C P B queries.
template <class S, class = void>
struct swht_has_gather : std::false_type {};
template <class S>
struct swht_has_gather<
    S, std::void_t<decltype(std::declval<const S&>().gather_xor(
           static_cast<const std::uint64_t*>(nullptr), static_cast<const std::uint64_t*>(nullptr),
           0, std::int64_t{0}, static_cast<double*>(nullptr), 0))>> : std::true_type {};

}  // namespace detail

/// Plans attempt `attempt` at log2 bins b: the groups' re-indexings and offsets, and the
/// tables G l (l < B) and G d_p from which the sample indices t = G l ^ G d_p follow.
template <int W>
void sparse_wht_plan(const SparseWhtOptions& o, int b, int attempt, detail::SwhtAttempt<W>& st) {
  using detail::Bits;
  const CounterRng rng(o.seed, StreamTag::sparse_wht);
  st.n = o.n;
  st.b = b;
  st.C = o.groups;
  st.B = std::int64_t(1) << b;
  st.groups.resize(static_cast<std::size_t>(o.groups));
  for (int g = 0; g < o.groups; ++g) {
    auto& grp = st.groups[static_cast<std::size_t>(g)];
    detail::random_reindexing(rng, attempt, g, o.n, b, grp);
    detail::swht_offsets<W>(o, b, rng, attempt, g, grp.offsets);
    if constexpr (W == 1) {  // T and T^-1 are applied once per peeled coefficient
      grp.T.build_tables();
      grp.Tinv.build_tables();
    }
  }
  st.P = static_cast<int>(st.groups[0].offsets.size());
  st.ld = (st.P + detail::kSwhtRowAlign - 1) / detail::kSwhtRowAlign * detail::kSwhtRowAlign;
  // the sample block (C B ld doubles) and the query words (C P B W) must be addressable
  checked_mul(checked_mul(st.C, st.B, "sparse_wht"),
              std::max<std::int64_t>(st.ld, static_cast<std::int64_t>(st.P) * W), "sparse_wht");
  st.gl.resize(static_cast<std::size_t>(st.C * st.B * W));
  st.gdw.resize(static_cast<std::size_t>(st.C * st.P * W));
  for (int g = 0; g < st.C; ++g) {
    auto& grp = st.groups[static_cast<std::size_t>(g)];
    std::uint64_t* gl = st.gl.data() + g * st.B * W;
    Bits<W> t;  // G l walked in Gray-code order: one XOR per l
    for (std::int64_t c = 0; c < st.B; ++c) {
      if (c > 0)
        t ^= grp.G.col[static_cast<std::size_t>(__builtin_ctzll(static_cast<std::uint64_t>(c)))];
      std::copy(t.w.begin(), t.w.end(), gl + (c ^ (c >> 1)) * W);
    }
    for (int p = 0; p < st.P; ++p) {  // noiseless: G 0 = 0, G e_(b+p-1) = column b + p - 1
      const Bits<W> gd = o.robust ? grp.G.apply(grp.offsets[static_cast<std::size_t>(p)])
                         : p == 0 ? Bits<W>{}
                                  : grp.G.col[static_cast<std::size_t>(b + p - 1)];
      std::copy(gd.w.begin(), gd.w.end(),
                st.gdw.data() + (static_cast<std::int64_t>(g) * st.P + p) * W);
    }
  }
}

/// The sample indices of a planned attempt, in the order [group][offset][l] (query
/// (g, p, l) = G_g l ^ G_g d_p): C * P * B queries of W words each (word q holds bits
/// 64 q .. 64 q + 63 of the index), into st.idx.
template <int W>
void sparse_wht_queries(detail::SwhtAttempt<W>& st) {
  st.idx.resize(static_cast<std::size_t>(st.C * st.P * st.B * W));
  for (int g = 0; g < st.C; ++g) {
    const std::uint64_t* gl = st.gl.data() + g * st.B * W;
    for (int p = 0; p < st.P; ++p) {
      const std::uint64_t* gd = st.gdw.data() + (static_cast<std::int64_t>(g) * st.P + p) * W;
      std::uint64_t* out = st.idx.data() + (static_cast<std::int64_t>(g) * st.P + p) * st.B * W;
      for (std::int64_t l = 0; l < st.B; ++l)
        for (int q = 0; q < W; ++q) out[l * W + q] = gl[l * W + q] ^ gd[q];
    }
  }
}

/// Reads the C P B samples of a planned attempt into st.V ([g][l][p], rows of st.ld, padding
/// 0): through the sampler's gather_xor when it has one (W = 1), else as one batch of queries
/// in the order of sparse_wht_queries. Returns the number of samples.
template <int W, class Sampler>
std::int64_t sparse_wht_sample(detail::SwhtAttempt<W>& st, Sampler& sampler) {
  const std::int64_t count = static_cast<std::int64_t>(st.C) * st.P * st.B;
  const std::int64_t gsize = st.B * st.ld;  // V per group
  st.V.resize(static_cast<std::size_t>(st.C * gsize));
  if constexpr (W == 1 && detail::swht_has_gather<std::decay_t<Sampler>>::value) {
    for (int g = 0; g < st.C; ++g)
      sampler.gather_xor(st.gl.data() + g * st.B,
                         st.gdw.data() + static_cast<std::int64_t>(g) * st.P, st.P, st.B,
                         st.V.data() + g * gsize, st.ld);
  } else {
    sparse_wht_queries<W>(st);
    st.raw.resize(static_cast<std::size_t>(count));
    sampler(st.idx.data(), count, st.raw.data());
    for (int g = 0; g < st.C; ++g) {
      double* v = st.V.data() + g * gsize;
      for (int p = 0; p < st.P; ++p) {
        const double* r = st.raw.data() + (static_cast<std::int64_t>(g) * st.P + p) * st.B;
        for (std::int64_t l = 0; l < st.B; ++l) v[l * st.ld + p] = r[l];
      }
      for (std::int64_t l = 0; l < st.B; ++l)
        for (int p = st.P; p < st.ld; ++p) v[l * st.ld + p] = 0.0;
    }
  }
  return count;
}

/// Decodes one attempt from its samples, which sparse_wht_sample stored in `st.V` ([g][l][p],
/// rows of st.ld; transformed in place). Fills indices (W words per coefficient) / values /
/// unresolved / residual_energy / noise_sigma / success of `res`.
template <int W>
void sparse_wht_decode(const SparseWhtOptions& o, detail::SwhtAttempt<W>& st,
                       SparseWhtResult& res) {
  using detail::Bits;
  using detail::parity_and;
  using detail::SwhtFound;
  using detail::Word;
  const int C = st.C, P = st.P, b = st.b, m = st.n - b;
  const std::int64_t B = st.B, jmask = B - 1;
  const int ld = st.ld;
  const std::int64_t n_bins = static_cast<std::int64_t>(C) * B;
  const std::int64_t total = n_bins * ld;
  if (static_cast<std::int64_t>(st.V.size()) != total)
    throw std::logic_error("sparse_wht_decode: st.V does not hold the attempt's samples");
  double* const V = st.V.data();
  // The observations of bin j of group g: row g B + j of V (ld wide, P used).
  const auto row = [&](std::int64_t id) -> double* { return V + id * ld; };
  double amax = 0.0;
#pragma omp simd reduction(max : amax)
  for (std::int64_t i = 0; i < total; ++i) amax = std::max(amax, std::abs(V[i]));
  // The B-point WHTs down the columns of each group's B x ld block, one thread. The noiseless
  // design works on them unscaled - B U, with its tolerance scaled by B, which is exact for a
  // power of two - and scales the coefficients at the end; the robust one scales them by 1 / B
  // here. The samples are finite (checked by the sampler).
  if (B * ld <= (std::int64_t{1} << 15)) {  // 256 KiB: butterflies on whole rows
    for (int g = 0; g < C; ++g)
      detail::swht_fwht_block(V + static_cast<std::int64_t>(g) * B * ld, B, ld);
  } else {  // the foundation's FWHT on (B x ld) matrices
    FwhtOptions fo;
    fo.n_threads = 1;
    fo.check_finite = false;
    fwht(V, FwhtStrides{B * ld, ld}, V, FwhtStrides{B * ld, ld}, FwhtLayout{C, B, ld}, fo);
  }
  const double inv_b = 1.0 / static_cast<double>(B);
  if (o.robust) {
#pragma omp simd
    for (std::int64_t i = 0; i < total; ++i) V[i] *= inv_b;
  }

  // Energy of every bin (robust design).
  std::vector<double>& energy = st.energy;
  const auto bin_energy = [&](std::int64_t id) {
    const double* u = row(id);
    double e = 0.0;
#pragma omp simd reduction(+ : e)
    for (int p = 0; p < ld; ++p) e += u[p] * u[p];
    return e;
  };
  const auto bin_energies = [&]() {
    energy.resize(static_cast<std::size_t>(n_bins));
    for (std::int64_t i = 0; i < n_bins; ++i) energy[static_cast<std::size_t>(i)] = bin_energy(i);
  };
  // Noise level of one observation U_p (robust design).
  const double L = std::log(1.0 / o.alpha);
  double sigma_b2 = 0.0;
  if (o.robust) {
    if (o.noise_sigma >= 0.0) {
      sigma_b2 = o.noise_sigma * o.noise_sigma * inv_b;
    } else {
      // Lower quartile of the per-bin mean energy: zero-tons make up e^{-K/B} of the bins
      // (>= 37% for K <= B), so it falls among them, where E ~ sigma_b^2 chi2_P / P.
      bin_energies();  // reordered here; computed again after peeling
      const std::size_t q = energy.size() / 4;
      std::nth_element(energy.begin(), energy.begin() + static_cast<std::ptrdiff_t>(q),
                       energy.end());
      sigma_b2 = energy[q] / P;
    }
    // rounding: of the transforms, and of the samples when the signal is stored in float32
    const double floor = std::max(1e-12, st.sample_eps) * amax;
    sigma_b2 = std::max(sigma_b2, floor * floor);
    res.noise_sigma = std::sqrt(sigma_b2 * static_cast<double>(B));
  }
  // Noiseless tolerance on the unscaled bins.
  const double tol = (o.tol > 0.0 ? o.tol : 1e-9) *
                     std::max(amax, std::numeric_limits<double>::min()) * static_cast<double>(B);
  const double zero_bound = sigma_b2 * detail::chi2_bound(P, L);
  const int chain_len = m + 1, Pc = o.robust ? o.chains * chain_len : 1;

  // Bin classes. Noiseless: zero-ton when every |U_p| <= tol, singleton when |U_0| > tol and
  // every |U_p| = |U_0| within tol (bit b + i of k' = T k is then sign(U_(1+i)) != sign(U_0)),
  // anything else a multiton. Robust: zero-ton when the bin's energy passes the chi-square
  // bound, else a singleton candidate that decode() confirms or rejects. Every bin is examined
  // once, then again each time peeling changes it.
  enum Bin : char { zero, singleton, other };
  std::vector<char>& cls = st.cls;
  cls.resize(static_cast<std::size_t>(n_bins));
  std::vector<Word>& hi_bits = st.hi_bits;  // noiseless, n <= 64: the m sign bits of each bin
  if (W == 1 && !o.robust) hi_bits.resize(static_cast<std::size_t>(n_bins));
  const auto examine = [&](std::int64_t id) -> Bin {
    const double* u = row(id);
    if (o.robust) return bin_energy(id) <= zero_bound ? zero : singleton;
    const double a0 = std::abs(u[0]);
    if constexpr (W == 1) {  // P = m + 1 <= 64: the flags as bit masks
      Word big, dev, neg;
      detail::swht_bin_flags(u, P, ld, tol, big, dev, neg);
      // the sign pattern relative to u_0 (a singleton's |u_p| > tol, so no signed zeros)
      hi_bits[static_cast<std::size_t>(id)] =
          ((neg ^ (Word{0} - (neg & 1u))) & detail::low_mask(P)) >> 1;
      return a0 <= tol ? ((big >> 1) ? other : zero) : ((dev >> 1) ? other : singleton);
    } else {
      bool big = false, dev = false;
      for (int p = 1; p < P; ++p) {
        const double a = std::abs(u[p]);
        big |= a > tol;
        dev |= std::abs(a - a0) > tol;
      }
      return a0 <= tol ? (big ? other : zero) : (dev ? other : singleton);
    }
  };
  // Decodes the singleton (candidate) bin id = g B + j (noiseless: from the sign bits
  // examine() left): k and X (unscaled when noiseless), or false (robust tests failed).
  std::vector<double>& cpi = st.cpi;  // robust sign pattern
  std::vector<double>& cnew = st.cnew;
  cpi.assign(static_cast<std::size_t>(m + 1), 0.0);
  cnew.assign(static_cast<std::size_t>(m + 1), 0.0);
  constexpr double pm[2] = {1.0, -1.0};  // sign (-1)^parity without a branch
  Bits<W> kp;                            // the last decoded k' = T_g k
  const auto decode = [&](std::int64_t id, Bits<W>& k, double& X) -> bool {
    const int g = static_cast<int>(id >> b);
    const auto& grp = st.groups[static_cast<std::size_t>(g)];
    const double* u = row(id);
    kp = Bits<W>{};
    kp.w[0] = static_cast<Word>(id & jmask);
    if (!o.robust) {
      if constexpr (W == 1) {  // m = n - b < 64 sign bits above the b hashed ones
        kp.w[0] |= hi_bits[static_cast<std::size_t>(id)] << b;
      } else {
        const bool neg0 = u[0] < 0;
        for (int i = 0; i < m; ++i) {
          const int bit = b + i;
          kp.w[static_cast<std::size_t>(bit >> 6)] |= static_cast<Word>((u[1 + i] < 0) != neg0)
                                                      << (bit & 63);
        }
      }
      k = grp.Tinv.apply(kp);
      X = u[0];
      return true;
    }
    const double* const obs = u;  // the bin's P observations (contiguous)
    // Chain r observes v_r = X s_r pi + noise, pi = (1, (-1)^(k'_b), ..., (-1)^(k'_(n-1))) and
    // s_r the sign of its base. First pi_i = sign(sum_r v_r0 v_ri) (each chain's base as its
    // sign reference), then two rounds of s_r = sign(<v_r, pi>) (a reference from all m + 1
    // observations of the chain, sqrt(m + 1) times less noisy) and pi_i = sign(sum_r s_r v_ri),
    // read relative to pi_0.
    std::fill(cpi.begin(), cpi.end(), 0.0);
    for (int r = 0; r < o.chains; ++r) {
      const double* v = obs + static_cast<std::ptrdiff_t>(r) * chain_len;
      for (int i = 0; i <= m; ++i) cpi[static_cast<std::size_t>(i)] += v[0] * v[i];
    }
    const auto pattern = [&]() {  // k' from the signs of cpi relative to cpi_0
      Bits<W> kq = kp;
      for (int i = 0; i < m; ++i) {
        const int bit = b + i;
        const bool flip = (cpi[static_cast<std::size_t>(1 + i)] < 0) != (cpi[0] < 0);
        kq.w[static_cast<std::size_t>(bit >> 6)] |= static_cast<Word>(flip) << (bit & 63);
      }
      return kq;
    };
    const Bits<W> k0 = pattern();
    for (int round = 0; round < 2; ++round) {
      for (int i = 1; i <= m; ++i)  // pi_i relative to pi_0 (> 0 unless X = 0)
        cpi[static_cast<std::size_t>(i)] *= cpi[0] < 0 ? -1.0 : 1.0;
      cpi[0] = 1.0;
      std::fill(cnew.begin(), cnew.end(), 0.0);
      for (int r = 0; r < o.chains; ++r) {
        const double* v = obs + static_cast<std::ptrdiff_t>(r) * chain_len;
        double proj = 0.0;
        for (int i = 0; i <= m; ++i) proj += (cpi[static_cast<std::size_t>(i)] < 0 ? -v[i] : v[i]);
        const double sr = proj < 0 ? -1.0 : 1.0;
        for (int i = 0; i <= m; ++i) cnew[static_cast<std::size_t>(i)] += sr * v[i];
      }
      cpi.swap(cnew);
    }
    kp = pattern();
    if (!(kp == k0) && P > Pc) {
      // The two candidates disagree: keep the one the verification offsets (not used by
      // either fit) agree with more, |mean_v (-1)^<k', d_v> U_v|.
      const auto agree = [&](const Bits<W>& kq) {
        double a = 0.0;
        for (int p = Pc; p < P; ++p)
          a += pm[parity_and(kq, grp.offsets[static_cast<std::size_t>(p)])] * obs[p];
        return std::abs(a);
      };
      if (agree(k0) > agree(kp)) kp = k0;
    }
    double xs = 0.0;
    for (int p = 0; p < Pc; ++p)
      xs += pm[parity_and(kp, grp.offsets[static_cast<std::size_t>(p)])] * obs[p];
    const double xh = xs / Pc;
    if (xh * xh * Pc < 2.0 * L * sigma_b2) return false;
    double r_all = 0.0, r_ver = 0.0, xv = 0.0;
    for (int p = 0; p < P; ++p) {
      const double sp = pm[parity_and(kp, grp.offsets[static_cast<std::size_t>(p)])];
      const double r = obs[p] - xh * sp;
      r_all += r * r;
      if (p >= Pc) {
        r_ver += r * r;
        xv += sp * obs[p];
      }
    }
    const double inflate = 1.0 + 1.0 / Pc;  // the estimate's own noise
    if (r_all > sigma_b2 * inflate * detail::chi2_bound(P, L)) return false;
    if (P > Pc) {
      const int nv = P - Pc;
      if (r_ver > sigma_b2 * inflate * detail::chi2_bound(nv, L)) return false;
      // The verification offsets' own estimate of X (independent of the fit) must have the
      // sign of the chains' one and be 2 standard errors away from 0: a wrong index fitted to
      // the chains' noise has xv ~ 0 while xh is as large as the fit made it (one-sided
      // z-test at 2.3%; a true coefficient of |X| = 2 sigma_b fails it with probability
      // Phi(2 - 2 sqrt(nv)) = 5e-5 at nv = 16).
      xv /= nv;
      if ((xh < 0 ? -xv : xv) < 2.0 * std::sqrt(sigma_b2 / nv)) return false;
    }
    k = grp.Tinv.apply(kp);
    X = xh;
    return true;
  };

  // Peeling from a queue of bins to examine: first every bin, then each bin a peeled
  // coefficient changes, until the queue is empty. Every change re-queues the bin and marks it
  // dirty, so once the queue is empty each bin's last class tells whether it is resolved (a
  // zero-ton). In the noiseless design the bin a coefficient was decoded from is left with
  // observations ||U_p| - |U_0|| <= tol, a zero-ton, without another look. Every coefficient
  // is found in some bin, so more than C * B of them - or more than 4 C B peeling steps - means
  // the decoding went astray: it then stops, the bins are left unresolved and success is false.
  const std::int64_t max_peels = 4 * n_bins;
  std::vector<std::int64_t>& queue = st.queue;
  queue.resize(static_cast<std::size_t>(n_bins));
  std::vector<char>& queued = st.queued;
  queued.assign(static_cast<std::size_t>(n_bins), 1);
  std::vector<char>& dirty = st.dirty;
  dirty.assign(static_cast<std::size_t>(n_bins), 1);
  for (std::int64_t i = 0; i < n_bins; ++i) queue[static_cast<std::size_t>(i)] = i;
  std::vector<SwhtFound<W>>& found = st.found;
  found.clear();
  std::int64_t peels = 0;
  bool drained = true;
  for (std::size_t head = 0; head < queue.size(); ++head) {
    if (static_cast<std::int64_t>(found.size()) > n_bins || peels >= max_peels) {
      drained = false;
      break;
    }
    const std::int64_t id = queue[head];
    const auto uid = static_cast<std::size_t>(id);
    queued[uid] = 0;
    if (dirty[uid]) {
      cls[uid] = examine(id);
      dirty[uid] = 0;
    }
    if (cls[uid] != singleton) continue;
    Bits<W> k;
    double X;
    const int g0 = static_cast<int>(id >> b);  // T_g0 k = kp, set by decode()
    if (!decode(id, k, X)) {
      cls[uid] = other;
      continue;
    }
    std::uint64_t xbits;
    std::memcpy(&xbits, &X, sizeof X);
    for (int h = 0; h < C; ++h) {  // subtract (k, X) from its bin in every group
      const auto& grp = st.groups[static_cast<std::size_t>(h)];
      const Bits<W> kh = h == g0 ? kp : grp.T.apply(k);  // its bin: the low b bits
      const std::int64_t jh = static_cast<std::int64_t>(kh.w[0]) & jmask;
      const std::int64_t idh = h * B + jh;
      double* v = row(idh);
      // X (-1)^<T k, d_p>, the sign bit flipped without a branch (the parities are random);
      // noiseless: d_0 = 0, d_p = e_(b+p-1), the parity is bit b + p - 1 of T k.
      if (o.robust) {
        for (int p = 0; p < P; ++p) {
          const std::uint64_t sx =
              xbits ^
              (static_cast<std::uint64_t>(parity_and(kh, grp.offsets[static_cast<std::size_t>(p)]))
               << 63);
          double xp;
          std::memcpy(&xp, &sx, sizeof xp);
          v[p] -= xp;
        }
      } else if constexpr (W == 1) {  // bit p of sm: the parity of offset p
        detail::swht_peel_row(v, P, ld, X, (kh.w[0] >> b) << 1);
      } else {
        v[0] -= X;
        for (int p = 1; p < P; ++p) {
          const std::uint64_t sx = xbits ^ (static_cast<std::uint64_t>(kh.test(b + p - 1)) << 63);
          double xp;
          std::memcpy(&xp, &sx, sizeof xp);
          v[p] -= xp;
        }
      }
      const auto uh = static_cast<std::size_t>(idh);
      if (!o.robust && idh == id) {
        cls[uh] = zero;
        continue;
      }
      dirty[uh] = 1;
      if (!queued[uh]) {
        queued[uh] = 1;
        queue.push_back(idh);
      }
    }
    found.push_back(SwhtFound<W>{k, static_cast<std::int64_t>(found.size()), X});
    ++peels;
  }
  res.unresolved = 0;
  double resid = 0.0;
  if (o.robust) {  // the noise's share is estimated from every bin
    bin_energies();
    for (std::int64_t i = 0; i < n_bins; ++i) {
      res.unresolved += energy[static_cast<std::size_t>(i)] > zero_bound;
      resid += energy[static_cast<std::size_t>(i)] / P;
    }
  } else {  // the bins left open (all of them examined again if peeling stopped early: a
            // drained queue leaves no bin dirty)
    for (std::int64_t i = 0; i < n_bins; ++i) {
      const auto ui = static_cast<std::size_t>(i);
      if (!drained) cls[ui] = examine(i);
      if (cls[ui] == zero) continue;
      ++res.unresolved;
      resid += bin_energy(i) * inv_b * inv_b / P;
    }
  }
  // Residual coefficient energy: per group, the bins' mean energy less the noise's share.
  res.residual_energy = std::max(0.0, resid / C - static_cast<double>(B) * sigma_b2);
  res.success = res.unresolved == 0;
  res.indices.clear();
  res.values.clear();
  std::sort(found.begin(), found.end(), [](const SwhtFound<W>& x, const SwhtFound<W>& y) {
    return x.k < y.k || (x.k == y.k && x.seq < y.seq);
  });
  const double xscale = o.robust ? 1.0 : inv_b;
  // Robust design: a coefficient found more than once (its later finds correct the first
  // estimate) is kept only if the total still passes the singleton z-test - a wrongly decoded
  // index peeled from bins where it does not belong is found again there with the opposite
  // sign, and the two cancel.
  const double keep = o.robust ? std::sqrt(2.0 * L * sigma_b2 / Pc) : 0.0;
  for (std::size_t i = 0; i < found.size();) {  // ascending index, repeats summed in order
    double v = 0.0;
    std::size_t e = i;
    for (; e < found.size() && found[e].k == found[i].k; ++e) v += found[e].x;
    if (v != 0.0 && (e - i == 1 || std::abs(v) >= keep)) {
      res.indices.insert(res.indices.end(), found[i].k.w.begin(), found[i].k.w.end());
      res.values.push_back(v * xscale);
    }
    i = e;
  }
}

/// Default log2 bins per group: K/B <= 1 (noiseless) or <= 1/2 (robust), clipped to [1, n].
inline int sparse_wht_default_b(const SparseWhtOptions& o) {
  int b = o.b;
  if (b <= 0) {
    const std::int64_t k = o.k > 0 ? o.k : 16;
    b = 0;
    while ((std::int64_t(1) << b) < k) ++b;
    if (o.robust) ++b;
  }
  return std::max(1, std::min(b, o.n));
}

inline void check_sparse_wht_options(const SparseWhtOptions& o) {
  if (o.n < 1 || o.n > kSparseWhtMaxN)
    throw value_error("n: expected 1 <= n <= " + std::to_string(kSparseWhtMaxN) + ", got " +
                      std::to_string(o.n));
  if (o.groups < 1) throw value_error("groups: expected >= 1, got " + std::to_string(o.groups));
  if (o.robust && o.chains < 1)
    throw value_error("chains: expected >= 1, got " + std::to_string(o.chains));
  if (o.robust && o.verify < 0)
    throw value_error("verify: expected >= 0, got " + std::to_string(o.verify));
  if (!(o.alpha > 0.0 && o.alpha < 1.0)) throw value_error("alpha: expected 0 < alpha < 1");
  if (o.b < 0 || o.b > std::min(o.n, 40)) throw value_error("b: expected 0 <= b <= min(n, 40)");
  if (o.max_attempts < 1) throw value_error("max_attempts: expected >= 1");
}

/// Samples per attempt at log2 bins b.
inline std::int64_t sparse_wht_attempt_samples(const SparseWhtOptions& o, int b) {
  const std::int64_t m = o.n - b;
  const std::int64_t P = o.robust ? o.chains * (m + 1) + o.verify : m + 1;
  return checked_mul(checked_mul(o.groups, P, "sparse_wht"), std::int64_t(1) << b, "sparse_wht");
}

/// The whole transform with attempts, indices in W words: `sampler(queries, count, out)` fills
/// out[i] = x[query i] (query i = words queries[i W .. i W + W - 1]) and throws on failure (or,
/// for W = 1, `sampler.gather_xor(gl, gd, P, B, out, ld)` fills out[l ld + p] =
/// x[gl[l] ^ gd[p]] when the sampler has that member).
/// Attempt a uses fresh randomness; b grows by one after every second failed attempt (or after
/// each one when k is unknown), while the next attempt fits in max_samples. The result's
/// `indices` hold W words per coefficient.
template <int W, class Sampler>
SparseWhtResult sparse_wht_words(const SparseWhtOptions& o, Sampler&& sampler) {
  check_sparse_wht_options(o);
  if (detail::swht_words(o.n) > W) throw value_error("n: too many variables for W index words");
  SparseWhtResult res;
  int b = sparse_wht_default_b(o);
  // The thread's workspace (a nested call on the same thread makes its own); above 16 MiB it
  // is freed again on the way out.
  std::unique_ptr<detail::SwhtAttempt<W>> own;
  detail::SwhtAttempt<W>* ws = detail::swht_thread_workspace<W>();
  if (ws == nullptr) {
    own = std::make_unique<detail::SwhtAttempt<W>>();
    ws = own.get();
  }
  struct Lease {
    detail::SwhtAttempt<W>* w;
    explicit Lease(detail::SwhtAttempt<W>* w_) : w(w_) { w->busy = true; }
    ~Lease() {
      if (w->capacity_bytes() > (std::size_t{16} << 20)) *w = detail::SwhtAttempt<W>();
      w->busy = false;
    }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
  } lease(ws);
  detail::SwhtAttempt<W>& st = *ws;
  for (int a = 0; a < o.max_attempts; ++a) {
    if (a > 0) {
      if (res.success) break;
      const bool grow = o.b == 0 && (o.k <= 0 || a % 2 == 0);
      if (grow && b < std::min(o.n, 40)) ++b;
    }
    const std::int64_t need = sparse_wht_attempt_samples(o, b);
    if (o.max_samples > 0 && res.samples + need > o.max_samples) {
      if (a == 0)
        throw value_error("max_samples: " + std::to_string(o.max_samples) +
                          " is fewer than one attempt needs (" + std::to_string(need) + ")");
      break;
    }
    sparse_wht_plan<W>(o, b, a, st);
    res.samples += sparse_wht_sample<W>(st, sampler);
    st.sample_eps = detail::swht_sample_eps<std::decay_t<Sampler>>(sampler);
    res.attempts = a + 1;
    res.b = b;
    sparse_wht_decode<W>(o, st, res);
  }
  return res;
}

/// The transform for n <= 64 (one word per index).
template <class Sampler>
SparseWhtResult sparse_wht(const SparseWhtOptions& o, Sampler&& sampler) {
  return sparse_wht_words<1>(o, std::forward<Sampler>(sampler));
}

/// Sampler reading an in-memory signal of length 2^n (float or double); throws value_error on
/// a non-finite sample (checked in one vectorized pass after the gathers).
template <class T>
struct ArraySampler {
  const T* x;
  /// Relative rounding of the stored values (the robust design's noise floor).
  double sample_eps() const { return std::is_same<T, float>::value ? 0x1p-23 : 0.0; }
  void operator()(const std::uint64_t* idx, std::int64_t count, double* out) const {
    constexpr std::int64_t ahead = 16;  // software prefetch distance (random reads)
    for (std::int64_t i = 0; i < count; ++i) {
      if (i + ahead < count) __builtin_prefetch(x + idx[i + ahead]);
      out[i] = static_cast<double>(x[idx[i]]);
    }
    if (!all_finite(out, count, 1))
      for (std::int64_t i = 0; i < count; ++i)
        if (!std::isfinite(out[i]))
          throw value_error("signal: non-finite value at index " + std::to_string(idx[i]));
  }
  /// out[l ld + p] = x[gl[l] ^ gd[p]] for p < P, 0 for P <= p < ld.
  void gather_xor(const std::uint64_t* gl, const std::uint64_t* gd, int P, std::int64_t B,
                  double* out, int ld) const {
    constexpr std::int64_t ahead = 16;  // software prefetch distance (random reads)
    const std::int64_t lp = std::max<std::int64_t>(0, B - ahead);
    for (int p = 0; p < P; ++p) {
      const std::uint64_t d = gd[p];
      std::int64_t l = 0;
      for (; l < lp; ++l) {
        __builtin_prefetch(x + (gl[l + ahead] ^ d));
        out[l * ld + p] = static_cast<double>(x[gl[l] ^ d]);
      }
      for (; l < B; ++l) out[l * ld + p] = static_cast<double>(x[gl[l] ^ d]);
    }
    for (std::int64_t l = 0; l < B; ++l)
      for (int p = P; p < ld; ++p) out[l * ld + p] = 0.0;
    if (!all_finite(out, B * ld, 1))
      for (std::int64_t l = 0; l < B; ++l)
        for (int p = 0; p < P; ++p)
          if (!std::isfinite(out[l * ld + p]))
            throw value_error("signal: non-finite value at index " + std::to_string(gl[l] ^ gd[p]));
  }
};

}  // namespace sparsketch
