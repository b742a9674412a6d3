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
/// - C groups. Group g has a random invertible T_g over F_2 (n x n) and reads, for each of its
///   P offsets d (n-bit words), the B = 2^b samples u[l] = x[T_g^T (l ^ d)], l < B (l in the low
///   b bits). The scaled B-point WHT of u is
///       U[j] = (1/B) sum_l u[l] (-1)^popcount(j & l) = sum_{k : low_b(T_g k) = j} X[k] (-1)^<T_g
///       k, d>,
///   so bin j of group g sums the coefficients whose re-indexed k' = T_g k hashes to j, each
///   with the sign of <k', d>. The random T_g makes structured supports (low Hamming weight,
///   shared prefixes) hash like random ones.
/// - A bin holding a single coefficient (singleton) gives k' bit by bit: for offsets d and
///   d ^ e_i, the ratio of the two observations is (-1)^(k'_i). The low b bits of k' are j.
/// - Noiseless design: offsets 0 and e_i for the n - b unhashed bits (P = n - b + 1).
///   Zero-ton: every |U_p| <= tol; singleton: every |U_p| = |U_0| > tol (within tol).
/// - Noise-robust design: `chains` random base offsets d_r, each with its n - b delayed copies
///   d_r ^ e_i; bit i is decided by the sign of sum_r U(d_r) U(d_r ^ e_i) (a soft majority over
///   chains); plus `verify` random offsets used only to confirm a singleton. With sigma_b^2
///   the noise variance of one observation U_p, tests at level alpha (L = ln(1 / alpha)):
///     zero-ton    sum_p U_p^2 <= sigma_b^2 (P + 2 sqrt(P L) + 2 L)   (chi-square tail,
///                 Laurent-Massart 2000),
///     singleton   the estimate X^ (mean over the chain offsets of s_p U_p) has
///                 |X^| sqrt(P_c) / sigma_b >= sqrt(2 L), and the residuals sum (U_p - X^ s_p)^2
///                 over all P offsets, and over the verification offsets alone, pass the
///                 same chi-square bound.
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
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "sparsketch/common.hpp"
#include "sparsketch/fwht.hpp"
#include "sparsketch/random.hpp"

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
  friend bool operator==(const Bits& a, const Bits& b) { return a.w == b.w; }
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
  explicit BitMatrix(int n_ = 0) : n(n_), col(static_cast<std::size_t>(n_)) {}
  Bits<W> apply(const Bits<W>& x) const {  // A x
    Bits<W> y;
    for (int q = 0; q < W; ++q) {
      Word v = x.w[static_cast<std::size_t>(q)];
      while (v) {
        y ^= col[static_cast<std::size_t>(q * 64 + __builtin_ctzll(v))];
        v &= v - 1;
      }
    }
    return y;
  }
  BitMatrix transpose() const {
    BitMatrix t(n);
    for (int j = 0; j < n; ++j) {  // branch-free bit moves (random bits mispredict)
      const Bits<W>& cj = col[static_cast<std::size_t>(j)];
      for (int i = 0; i < n; ++i)
        t.col[static_cast<std::size_t>(i)].w[static_cast<std::size_t>(j >> 6)] |=
            ((cj.w[static_cast<std::size_t>(i >> 6)] >> (i & 63)) & 1u) << (j & 63);
    }
    return t;
  }
};

/// Inverse by Gauss-Jordan elimination with column operations: the operations that reduce A to
/// the identity, applied to the identity, give A^-1 (columns are XORed whole, so no transposes;
/// O(n^2 W) word operations). False if A is singular.
template <int W>
bool invert(const BitMatrix<W>& A, BitMatrix<W>& inv) {
  const int n = A.n;
  BitMatrix<W> a = A;
  inv = BitMatrix<W>(n);
  for (int i = 0; i < n; ++i) inv.col[static_cast<std::size_t>(i)] = Bits<W>::unit(i);
  for (int r = 0; r < n; ++r) {  // make row r of a equal to e_r^T
    int piv = -1;
    for (int c = r; c < n; ++c)
      if (a.col[static_cast<std::size_t>(c)].test(r)) {
        piv = c;
        break;
      }
    if (piv < 0) return false;
    std::swap(a.col[static_cast<std::size_t>(r)], a.col[static_cast<std::size_t>(piv)]);
    std::swap(inv.col[static_cast<std::size_t>(r)], inv.col[static_cast<std::size_t>(piv)]);
    const Bits<W> ar = a.col[static_cast<std::size_t>(r)],
                  ir = inv.col[static_cast<std::size_t>(r)];
    const int wr = r >> 6, sr = r & 63;
    for (int c = 0; c < n; ++c) {  // branch-free: the bits are random, a branch mispredicts
      Bits<W>& ac = a.col[static_cast<std::size_t>(c)];
      const Word hit = (ac.w[static_cast<std::size_t>(wr)] >> sr) & static_cast<Word>(c != r);
      const Word mask = Word{0} - hit;
      Bits<W>& ic = inv.col[static_cast<std::size_t>(c)];
      for (int q = 0; q < W; ++q) {
        ac.w[static_cast<std::size_t>(q)] ^= ar.w[static_cast<std::size_t>(q)] & mask;
        ic.w[static_cast<std::size_t>(q)] ^= ir.w[static_cast<std::size_t>(q)] & mask;
      }
    }
  }
  return true;
}

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

/// A uniformly random invertible n x n matrix and its inverse (rejection: a random matrix over
/// F_2 is invertible with probability > 0.288, so about 3.5 draws on average).
template <int W>
void random_invertible(const CounterRng& rng, int attempt, int g, int n, BitMatrix<W>& A,
                       BitMatrix<W>& inv) {
  const std::uint64_t per_draw = 64u * W * W;
  A = BitMatrix<W>(n);
  for (std::uint64_t draw = 0;; ++draw) {
    if ((draw + 1) * per_draw > (std::uint64_t{1} << 20))  // probability < 0.712^64 = 4e-10
      throw std::runtime_error("sparse_wht: no invertible re-indexing drawn; change the seed");
    for (int j = 0; j < n; ++j)
      A.col[static_cast<std::size_t>(j)] =
          swht_bits<W>(rng, attempt, g, draw * per_draw + static_cast<std::uint64_t>(j) * W, n);
    if (invert(A, inv)) return;
  }
}

/// One group of one attempt: the spectral re-indexing T (k' = T k), its inverse, the sampling
/// map G = T^T (t = G t'), and the offsets d_p (in k' coordinates).
template <int W>
struct SwhtGroup {
  BitMatrix<W> T, Tinv, G;
  std::vector<Bits<W>> offsets;
};

/// Offsets of a group. Noiseless: 0, e_b, ..., e_{n-1}. Robust: chains r < R of
/// [d_r, d_r ^ e_b, ..., d_r ^ e_{n-1}], then `verify` random offsets.
template <int W>
std::vector<Bits<W>> swht_offsets(const SparseWhtOptions& o, int b, const CounterRng& rng,
                                  int attempt, int g) {
  const int n = o.n, m = n - b;
  std::vector<Bits<W>> d;
  if (!o.robust) {
    d.emplace_back();
    for (int i = 0; i < m; ++i) d.push_back(Bits<W>::unit(b + i));
    return d;
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
  return d;
}

/// Chi-square upper tail bound of Laurent and Massart: P(chi2_p >= p + 2 sqrt(p L) + 2 L) <=
/// exp(-L).
inline double chi2_bound(double p, double L) {
  return p + 2.0 * std::sqrt(p * L) + 2.0 * L;
}

/// Decoding state of one attempt.
template <int W>
struct SwhtAttempt {
  int n = 0, b = 0, C = 0, P = 0;
  std::int64_t B = 0;
  std::vector<SwhtGroup<W>> groups;
  std::vector<double> U;  ///< [g][p][j]: (C * P) rows of B samples, transformed in place
  std::vector<double> V;  ///< [g][j][p]: the P observations of each bin, contiguous
  double* bin(int g, std::int64_t j) {
    return V.data() + (static_cast<std::int64_t>(g) * B + j) * P;
  }
};

/// Index words per query / coefficient for n variables: 1, 2, 4, 8 or 16 (n <= 1024).
inline int swht_words(int n) {
  int w = 1;
  while (64 * w < n) w *= 2;
  return w;
}

}  // namespace detail

/// The sample indices of one attempt, in the order [group][offset][l]: C * P * B queries of W
/// words each (word q holds bits 64 q .. 64 q + 63 of the index).
template <int W>
std::vector<std::uint64_t> sparse_wht_queries(const SparseWhtOptions& o, int b, int attempt,
                                              detail::SwhtAttempt<W>& st) {
  using detail::Bits;
  const CounterRng rng(o.seed, StreamTag::sparse_wht);
  st.n = o.n;
  st.b = b;
  st.C = o.groups;
  st.B = std::int64_t(1) << b;
  st.groups.clear();
  for (int g = 0; g < o.groups; ++g) {
    detail::SwhtGroup<W> grp;
    detail::random_invertible(rng, attempt, g, o.n, grp.T, grp.Tinv);
    grp.G = grp.T.transpose();
    grp.offsets = detail::swht_offsets<W>(o, b, rng, attempt, g);
    st.groups.push_back(std::move(grp));
  }
  st.P = static_cast<int>(st.groups[0].offsets.size());
  const std::int64_t total = checked_mul(
      checked_mul(checked_mul(st.C, st.P, "sparse_wht"), st.B, "sparse_wht"), W, "sparse_wht");
  std::vector<std::uint64_t> idx(static_cast<std::size_t>(total));
  std::int64_t pos = 0;
  for (int g = 0; g < st.C; ++g) {
    const auto& grp = st.groups[static_cast<std::size_t>(g)];
    for (int p = 0; p < st.P; ++p) {
      // t(l) = G (l ^ d) = G d ^ G l, walked in Gray-code order: one XOR per sample.
      Bits<W> t = grp.G.apply(grp.offsets[static_cast<std::size_t>(p)]);
      std::uint64_t* out = idx.data() + pos * W;
      std::copy(t.w.begin(), t.w.end(), out);
      for (std::int64_t c = 1; c < st.B; ++c) {
        t ^= grp.G.col[static_cast<std::size_t>(__builtin_ctzll(static_cast<std::uint64_t>(c)))];
        std::copy(t.w.begin(), t.w.end(), out + (c ^ (c >> 1)) * W);
      }
      pos += st.B;
    }
  }
  return idx;
}

/// Decodes one attempt from its samples (same order as sparse_wht_queries). Fills indices
/// (W words per coefficient) / values / unresolved / residual_energy / noise_sigma / success of
/// `res`.
template <int W>
void sparse_wht_decode(const SparseWhtOptions& o, detail::SwhtAttempt<W>& st, const double* samples,
                       SparseWhtResult& res) {
  using detail::Bits;
  using detail::parity_and;
  const int C = st.C, P = st.P, b = st.b, m = st.n - b;
  const std::int64_t B = st.B;
  const std::int64_t total = static_cast<std::int64_t>(C) * P * B;
  st.U.assign(samples, samples + total);
  double amax = 0.0;
  for (std::int64_t i = 0; i < total; ++i) amax = std::max(amax, std::abs(st.U[i]));
  FwhtOptions fo;
  fo.n_threads = 1;
  fwht(st.U.data(), FwhtStrides{B, 1}, st.U.data(), FwhtStrides{B, 1},
       FwhtLayout{static_cast<std::int64_t>(C) * P, B, 1}, fo);
  const double inv_b = 1.0 / static_cast<double>(B);
  st.V.resize(static_cast<std::size_t>(total));
  for (int g = 0; g < C; ++g)  // scaled by 1 / B, bin-major: a bin's observations contiguous
    for (int p = 0; p < P; ++p) {
      const double* u = st.U.data() + (static_cast<std::int64_t>(g) * P + p) * B;
      double* v = st.V.data() + static_cast<std::int64_t>(g) * B * P + p;
      for (std::int64_t j = 0; j < B; ++j) v[j * P] = u[j] * inv_b;
    }

  // Noise level of one observation U_p (robust design).
  const double L = std::log(1.0 / o.alpha);
  double sigma_b2 = 0.0;
  const auto bin_energy = [&](int g, std::int64_t j) {
    const double* v = st.bin(g, j);
    double e = 0.0;
    for (int p = 0; p < P; ++p) e += v[p] * v[p];
    return e;
  };
  if (o.robust) {
    if (o.noise_sigma >= 0.0) {
      sigma_b2 = o.noise_sigma * o.noise_sigma * inv_b;
    } else {
      // Lower quartile of the per-bin mean energy: zero-tons make up e^{-K/B} of the bins
      // (>= 37% for K <= B), so it falls among them, where E ~ sigma_b^2 chi2_P / P.
      std::vector<double> e(static_cast<std::size_t>(C * B));
      for (int g = 0; g < C; ++g)
        for (std::int64_t j = 0; j < B; ++j)
          e[static_cast<std::size_t>(g * B + j)] = bin_energy(g, j) / P;
      const std::size_t q = e.size() / 4;
      std::nth_element(e.begin(), e.begin() + static_cast<std::ptrdiff_t>(q), e.end());
      sigma_b2 = e[q];
    }
    const double floor = 1e-12 * amax;  // rounding of the transforms
    sigma_b2 = std::max(sigma_b2, floor * floor);
    res.noise_sigma = std::sqrt(sigma_b2 * static_cast<double>(B));
  }
  const double tol =
      (o.tol > 0.0 ? o.tol : 1e-9) * std::max(amax, std::numeric_limits<double>::min());
  const double zero_bound = sigma_b2 * detail::chi2_bound(P, L);
  const int chain_len = m + 1, Pc = o.robust ? o.chains * chain_len : 1;

  std::vector<std::pair<Bits<W>, double>> found;
  std::vector<double> obs(static_cast<std::size_t>(P));
  // Classifies bin (g, j); on a singleton sets k and X and returns true.
  const auto singleton = [&](int g, std::int64_t j, Bits<W>& k, double& X) -> bool {
    const double* v = st.bin(g, j);
    std::copy(v, v + P, obs.begin());
    const auto& grp = st.groups[static_cast<std::size_t>(g)];
    Bits<W> kp;
    kp.w[0] = static_cast<detail::Word>(j);
    if (!o.robust) {
      const double u0 = obs[0];
      if (std::abs(u0) <= tol) return false;  // zero-ton or cancelling multiton
      for (int i = 0; i < m; ++i) {
        const double u = obs[static_cast<std::size_t>(1 + i)];
        if (std::abs(std::abs(u) - std::abs(u0)) > tol) return false;  // multiton
        const int bit = b + i;
        kp.w[static_cast<std::size_t>(bit >> 6)] |= static_cast<detail::Word>((u < 0) != (u0 < 0))
                                                    << (bit & 63);
      }
      k = grp.Tinv.apply(kp);
      X = u0;
      return true;
    }
    double e = 0.0;
    for (double u : obs) e += u * u;
    if (e <= zero_bound) return false;  // zero-ton
    for (int i = 0; i < m; ++i) {
      double corr = 0.0;
      for (int r = 0; r < o.chains; ++r)
        corr += obs[static_cast<std::size_t>(r * chain_len)] *
                obs[static_cast<std::size_t>(r * chain_len + 1 + i)];
      const int bit = b + i;
      kp.w[static_cast<std::size_t>(bit >> 6)] |= static_cast<detail::Word>(corr < 0) << (bit & 63);
    }
    constexpr double pm[2] = {1.0, -1.0};  // sign (-1)^parity without a branch
    double xs = 0.0;
    for (int p = 0; p < Pc; ++p)
      xs += pm[parity_and(kp, grp.offsets[static_cast<std::size_t>(p)])] *
            obs[static_cast<std::size_t>(p)];
    const double xh = xs / Pc;
    if (xh * xh * Pc < 2.0 * L * sigma_b2) return false;
    double r_all = 0.0, r_ver = 0.0;
    for (int p = 0; p < P; ++p) {
      const double r = obs[static_cast<std::size_t>(p)] -
                       xh * pm[parity_and(kp, grp.offsets[static_cast<std::size_t>(p)])];
      r_all += r * r;
      if (p >= Pc) r_ver += r * r;
    }
    const double inflate = 1.0 + 1.0 / Pc;  // the estimate's own noise
    if (r_all > sigma_b2 * inflate * detail::chi2_bound(P, L)) return false;
    if (P > Pc && r_ver > sigma_b2 * inflate * detail::chi2_bound(P - Pc, L)) return false;
    k = grp.Tinv.apply(kp);
    X = xh;
    return true;
  };

  const auto is_zero = [&](int g, std::int64_t j) {
    if (!o.robust) {
      const double* v = st.bin(g, j);
      bool big = false;  // no early exit: branch-free, vectorized
      for (int p = 0; p < P; ++p) big |= std::abs(v[p]) > tol;
      return !big;
    }
    return bin_energy(g, j) <= zero_bound;
  };

  // Peeling from a queue of bins to examine: first every bin, then each bin a peeled
  // coefficient changes (one per group), until the queue is empty.
  // Every coefficient is found in some bin, so more than C * B of them - or more than
  // 4 C B peeling steps - means the decoding went astray: it then stops, the bins are left
  // unresolved and success is false.
  const std::int64_t n_bins = static_cast<std::int64_t>(C) * B;
  const std::int64_t max_peels = 4 * n_bins;
  std::vector<std::int64_t> queue(static_cast<std::size_t>(n_bins));
  std::vector<char> queued(static_cast<std::size_t>(n_bins), 1);
  for (std::int64_t i = 0; i < n_bins; ++i) queue[static_cast<std::size_t>(i)] = i;
  std::int64_t peels = 0;
  for (std::size_t head = 0; head < queue.size(); ++head) {
    if (static_cast<std::int64_t>(found.size()) > n_bins || peels >= max_peels) break;
    const std::int64_t id = queue[head];
    queued[static_cast<std::size_t>(id)] = 0;
    const int g = static_cast<int>(id / B);
    const std::int64_t j = id % B;
    if (is_zero(g, j)) continue;
    Bits<W> k;
    double X;
    if (!singleton(g, j, k, X)) continue;
    for (int h = 0; h < C; ++h) {  // subtract (k, X) from its bin in every group
      const auto& grp = st.groups[static_cast<std::size_t>(h)];
      const Bits<W> kp = grp.T.apply(k);
      const std::int64_t jh = static_cast<std::int64_t>(kp.w[0] & detail::low_mask(b));
      double* v = st.bin(h, jh);
      const double xs[2] = {X, -X};  // indexed by the parity: no unpredictable branch
      for (int p = 0; p < P; ++p)
        v[p] -= xs[parity_and(kp, grp.offsets[static_cast<std::size_t>(p)])];
      const std::int64_t idh = h * B + jh;
      if (!queued[static_cast<std::size_t>(idh)]) {
        queued[static_cast<std::size_t>(idh)] = 1;
        queue.push_back(idh);
      }
    }
    found.emplace_back(k, X);  // a coefficient found twice (noise) accumulates its corrections
    ++peels;
  }
  res.unresolved = 0;
  double resid = 0.0;
  for (int g = 0; g < C; ++g)
    for (std::int64_t j = 0; j < B; ++j) {
      if (!is_zero(g, j)) ++res.unresolved;
      resid += bin_energy(g, j) / P;
    }
  // Residual coefficient energy: per group, the bins' mean energy less the noise's share.
  res.residual_energy = std::max(0.0, resid / C - static_cast<double>(B) * sigma_b2);
  res.success = res.unresolved == 0;
  res.indices.clear();
  res.values.clear();
  std::stable_sort(found.begin(), found.end(),
                   [](const auto& x, const auto& y) { return x.first < y.first; });
  for (std::size_t i = 0; i < found.size();) {  // ascending index, repeats summed in order
    double v = 0.0;
    std::size_t e = i;
    for (; e < found.size() && found[e].first == found[i].first; ++e) v += found[e].second;
    if (v != 0.0) {
      res.indices.insert(res.indices.end(), found[i].first.w.begin(), found[i].first.w.end());
      res.values.push_back(v);
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
/// out[i] = x[query i] (query i = words queries[i W .. i W + W - 1]) and throws on failure.
/// Attempt a uses fresh randomness; b grows by one after every second failed attempt (or after
/// each one when k is unknown), while the next attempt fits in max_samples. The result's
/// `indices` hold W words per coefficient.
template <int W, class Sampler>
SparseWhtResult sparse_wht_words(const SparseWhtOptions& o, Sampler&& sampler) {
  check_sparse_wht_options(o);
  if (detail::swht_words(o.n) > W) throw value_error("n: too many variables for W index words");
  SparseWhtResult res;
  int b = sparse_wht_default_b(o);
  detail::SwhtAttempt<W> st;
  std::vector<double> values;
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
    const std::vector<std::uint64_t> idx = sparse_wht_queries<W>(o, b, a, st);
    values.resize(idx.size() / W);
    sampler(idx.data(), static_cast<std::int64_t>(values.size()), values.data());
    res.samples += static_cast<std::int64_t>(values.size());
    res.attempts = a + 1;
    res.b = b;
    sparse_wht_decode<W>(o, st, values.data(), res);
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
};

}  // namespace sparsketch
