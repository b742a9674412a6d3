#pragma once
/// \file sparse_wht.hpp
/// Sparse Walsh-Hadamard transform: the K-sparse spectrum X of a signal x of length N = 2^n,
///
///   x[t] = sum_k X[k] (-1)^popcount(k & t),   i.e.  X = H x / N,
///
/// from O(K log N) samples of x in O(K log^2 N) time, for n <= 64 (indices are 64-bit words).
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
#include <string>
#include <unordered_map>
#include <vector>

#include "sparsketch/common.hpp"
#include "sparsketch/fwht.hpp"
#include "sparsketch/random.hpp"

namespace sparsketch {

/// Options of sparse_wht.
struct SparseWhtOptions {
  int n = 0;                  ///< log2 of the signal length, 1..64
  int b = 0;                  ///< log2 of the bins per group; 0: from k (or a first guess)
  std::int64_t k = 0;         ///< expected sparsity (0: unknown)
  int groups = 3;             ///< C, subsampling groups
  bool robust = true;         ///< noise-robust design (false: noiseless design)
  double noise_sigma = -1.0;  ///< per-sample noise standard deviation; < 0: estimate (robust)
  int chains = 3;             ///< robust design: random offset chains
  int verify = 8;             ///< robust design: verification offsets
  double alpha = 1e-6;        ///< robust design: level of each chi-square / z test
  double tol = 0.0;           ///< noiseless design: bin tolerance relative to max |sample|; 0: auto
  std::int64_t max_samples = 0;  ///< 0: no limit
  int max_attempts = 8;          ///< attempts with fresh randomness (b grows on repeated failure)
  std::uint64_t seed = 0;
};

/// What sparse_wht found.
struct SparseWhtResult {
  std::vector<std::uint64_t> indices;  ///< support, ascending
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

/// An n x n matrix over F_2 stored by columns (bit i of col[j] = entry (i, j)).
struct BitMatrix {
  int n = 0;
  std::array<Word, 64> col{};
  Word apply(Word x) const {  // A x
    Word y = 0;
    while (x) {
      y ^= col[static_cast<std::size_t>(__builtin_ctzll(x))];
      x &= x - 1;
    }
    return y;
  }
  BitMatrix transpose() const {
    BitMatrix t;
    t.n = n;
    for (int j = 0; j < n; ++j)
      for (int i = 0; i < n; ++i)
        if ((col[static_cast<std::size_t>(j)] >> i) & 1u)
          t.col[static_cast<std::size_t>(i)] |= Word{1} << j;
    return t;
  }
};

/// Inverse by Gauss-Jordan elimination on rows; false if singular.
inline bool invert(const BitMatrix& A, BitMatrix& inv) {
  const int n = A.n;
  const BitMatrix At = A.transpose();  // At.col[i] = row i of A
  std::array<Word, 64> row = At.col, aug{};
  for (int i = 0; i < n; ++i) aug[static_cast<std::size_t>(i)] = Word{1} << i;
  for (int c = 0; c < n; ++c) {
    int piv = -1;
    for (int r = c; r < n; ++r)
      if ((row[static_cast<std::size_t>(r)] >> c) & 1u) {
        piv = r;
        break;
      }
    if (piv < 0) return false;
    std::swap(row[static_cast<std::size_t>(c)], row[static_cast<std::size_t>(piv)]);
    std::swap(aug[static_cast<std::size_t>(c)], aug[static_cast<std::size_t>(piv)]);
    for (int r = 0; r < n; ++r)
      if (r != c && ((row[static_cast<std::size_t>(r)] >> c) & 1u)) {
        row[static_cast<std::size_t>(r)] ^= row[static_cast<std::size_t>(c)];
        aug[static_cast<std::size_t>(r)] ^= aug[static_cast<std::size_t>(c)];
      }
  }
  BitMatrix rows_inv;  // aug holds the rows of A^-1
  rows_inv.n = n;
  rows_inv.col = aug;
  inv = rows_inv.transpose();
  return true;
}

/// Counter layout of stream sparse_wht: attempt a, group g, item q -> a*2^40 + g*2^32 + q.
inline Word swht_word(const CounterRng& rng, int attempt, int g, std::uint64_t q) {
  return rng.bits64((static_cast<std::uint64_t>(attempt) << 40) |
                    (static_cast<std::uint64_t>(g) << 32) | q);
}

/// A uniformly random invertible n x n matrix (rejection: about 3.5 draws on average).
inline BitMatrix random_invertible(const CounterRng& rng, int attempt, int g, int n) {
  const Word mask = low_mask(n);
  for (std::uint64_t draw = 0;; ++draw) {
    BitMatrix A;
    A.n = n;
    for (int j = 0; j < n; ++j)
      A.col[static_cast<std::size_t>(j)] =
          swht_word(rng, attempt, g, draw * 64 + static_cast<std::uint64_t>(j)) & mask;
    BitMatrix inv;
    if (invert(A, inv)) return A;
  }
}

/// One group of one attempt: the spectral re-indexing T (k' = T k), its inverse, the sampling
/// map G = T^T (t = G t'), and the offsets d_p (in k' coordinates).
struct SwhtGroup {
  BitMatrix T, Tinv, G;
  std::vector<Word> offsets;
};

/// Offsets of a group. Noiseless: 0, e_b, ..., e_{n-1}. Robust: chains r < R of
/// [d_r, d_r ^ e_b, ..., d_r ^ e_{n-1}], then `verify` random offsets.
inline std::vector<Word> swht_offsets(const SparseWhtOptions& o, int b, const CounterRng& rng,
                                      int attempt, int g) {
  const int n = o.n, m = n - b;
  std::vector<Word> d;
  const Word mask = low_mask(n);
  if (!o.robust) {
    d.push_back(0);
    for (int i = 0; i < m; ++i) d.push_back(Word{1} << (b + i));
    return d;
  }
  std::uint64_t q = 1u << 20;  // counters after those of the matrix draws
  for (int r = 0; r < o.chains; ++r) {
    const Word base = swht_word(rng, attempt, g, q++) & mask;
    d.push_back(base);
    for (int i = 0; i < m; ++i) d.push_back(base ^ (Word{1} << (b + i)));
  }
  for (int v = 0; v < o.verify; ++v) d.push_back(swht_word(rng, attempt, g, q++) & mask);
  return d;
}

inline int popparity(Word x) {
  return __builtin_parityll(x);
}

/// Chi-square upper tail bound of Laurent and Massart: P(chi2_p >= p + 2 sqrt(p L) + 2 L) <=
/// exp(-L).
inline double chi2_bound(double p, double L) {
  return p + 2.0 * std::sqrt(p * L) + 2.0 * L;
}

/// Decoding state of one attempt.
struct SwhtAttempt {
  int n = 0, b = 0, C = 0, P = 0;
  std::int64_t B = 0;
  std::vector<SwhtGroup> groups;
  std::vector<double> U;  ///< [g][p][j]: (C * P) rows of B bins
  double* bins(int g, int p) { return U.data() + (static_cast<std::int64_t>(g) * P + p) * B; }
};

}  // namespace detail

/// The sample indices of one attempt, in the order [group][offset][l]: C * P * B words.
inline std::vector<std::uint64_t> sparse_wht_queries(const SparseWhtOptions& o, int b, int attempt,
                                                     detail::SwhtAttempt& st) {
  using detail::Word;
  const CounterRng rng(o.seed, StreamTag::sparse_wht);
  st.n = o.n;
  st.b = b;
  st.C = o.groups;
  st.B = std::int64_t(1) << b;
  st.groups.clear();
  for (int g = 0; g < o.groups; ++g) {
    detail::SwhtGroup grp;
    grp.T = detail::random_invertible(rng, attempt, g, o.n);
    detail::invert(grp.T, grp.Tinv);
    grp.G = grp.T.transpose();
    grp.offsets = detail::swht_offsets(o, b, rng, attempt, g);
    st.groups.push_back(std::move(grp));
  }
  st.P = static_cast<int>(st.groups[0].offsets.size());
  const std::int64_t total = checked_mul(checked_mul(st.C, st.P, "sparse_wht"), st.B, "sparse_wht");
  std::vector<std::uint64_t> idx(static_cast<std::size_t>(total));
  std::int64_t pos = 0;
  for (int g = 0; g < st.C; ++g) {
    const auto& grp = st.groups[static_cast<std::size_t>(g)];
    for (int p = 0; p < st.P; ++p) {
      // t(l) = G (l ^ d) = G d ^ G l, walked in Gray-code order: one XOR per sample.
      Word t = grp.G.apply(grp.offsets[static_cast<std::size_t>(p)]);
      std::uint64_t* out = idx.data() + pos;
      out[0] = t;
      for (std::int64_t c = 1; c < st.B; ++c) {
        const int bit = __builtin_ctzll(static_cast<std::uint64_t>(c));
        t ^= grp.G.col[static_cast<std::size_t>(bit)];
        out[c ^ (c >> 1)] = t;
      }
      pos += st.B;
    }
  }
  return idx;
}

namespace detail {

/// Subtracts coefficient (k, X) from its bin in every group.
inline void swht_peel(SwhtAttempt& st, Word k, double X) {
  for (int g = 0; g < st.C; ++g) {
    const auto& grp = st.groups[static_cast<std::size_t>(g)];
    const Word kp = grp.T.apply(k);
    const std::int64_t j = static_cast<std::int64_t>(kp & low_mask(st.b));
    for (int p = 0; p < st.P; ++p) {
      const double s = popparity(kp & grp.offsets[static_cast<std::size_t>(p)]) ? -1.0 : 1.0;
      st.bins(g, p)[j] -= X * s;
    }
  }
}

}  // namespace detail

/// Decodes one attempt from its samples (same order as sparse_wht_queries). Fills indices /
/// values / unresolved / residual_energy / noise_sigma / success of `res`.
inline void sparse_wht_decode(const SparseWhtOptions& o, detail::SwhtAttempt& st,
                              const double* samples, SparseWhtResult& res) {
  using detail::Word;
  const int C = st.C, P = st.P, n = st.n, b = st.b, m = n - b;
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
  for (double& u : st.U) u *= inv_b;

  // Noise level of one observation U_p (robust design).
  const double L = std::log(1.0 / o.alpha);
  double sigma_b2 = 0.0;
  std::vector<double> energy(static_cast<std::size_t>(C * B));
  const auto bin_energy = [&](int g, std::int64_t j) {
    double e = 0.0;
    for (int p = 0; p < P; ++p) {
      const double u = st.bins(g, p)[j];
      e += u * u;
    }
    return e;
  };
  if (o.robust) {
    if (o.noise_sigma >= 0.0) {
      sigma_b2 = o.noise_sigma * o.noise_sigma * inv_b;
    } else {
      // Lower quartile of the per-bin mean energy: zero-tons make up e^{-K/B} of the bins
      // (>= 37% for K <= B), so it falls among them, where E ~ sigma_b^2 chi2_P / P.
      for (int g = 0; g < C; ++g)
        for (std::int64_t j = 0; j < B; ++j)
          energy[static_cast<std::size_t>(g * B + j)] = bin_energy(g, j) / P;
      std::vector<double> e = energy;
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

  std::unordered_map<Word, double> found;
  std::vector<double> obs(static_cast<std::size_t>(P));
  // Classifies bin (g, j); on a singleton sets k and X and returns true.
  const auto singleton = [&](int g, std::int64_t j, Word& k, double& X) -> bool {
    for (int p = 0; p < P; ++p) obs[static_cast<std::size_t>(p)] = st.bins(g, p)[j];
    const auto& grp = st.groups[static_cast<std::size_t>(g)];
    Word kp = static_cast<Word>(j);
    if (!o.robust) {
      const double u0 = obs[0];
      if (std::abs(u0) <= tol) return false;  // zero-ton or cancelling multiton
      for (int i = 0; i < m; ++i) {
        const double u = obs[static_cast<std::size_t>(1 + i)];
        if (std::abs(std::abs(u) - std::abs(u0)) > tol) return false;  // multiton
        if ((u < 0) != (u0 < 0)) kp |= Word{1} << (b + i);
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
      if (corr < 0) kp |= Word{1} << (b + i);
    }
    double xs = 0.0;
    for (int p = 0; p < Pc; ++p)
      xs += (detail::popparity(kp & grp.offsets[static_cast<std::size_t>(p)]) ? -1.0 : 1.0) *
            obs[static_cast<std::size_t>(p)];
    const double xh = xs / Pc;
    if (xh * xh * Pc < 2.0 * L * sigma_b2) return false;
    double r_all = 0.0, r_ver = 0.0;
    for (int p = 0; p < P; ++p) {
      const double s =
          detail::popparity(kp & grp.offsets[static_cast<std::size_t>(p)]) ? -1.0 : 1.0;
      const double r = obs[static_cast<std::size_t>(p)] - xh * s;
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
      for (int p = 0; p < P; ++p)
        if (std::abs(st.bins(g, p)[j]) > tol) return false;
      return true;
    }
    return bin_energy(g, j) <= zero_bound;
  };

  // Peeling: sweep every group until a sweep finds nothing new.
  // Every coefficient is found in some bin, so more than C * B of them - or more than
  // 4 C B peeling steps - means the decoding went astray: it then stops, the bins are left
  // unresolved and success is false.
  const std::size_t max_found = static_cast<std::size_t>(C) * static_cast<std::size_t>(B);
  std::int64_t peels = 0;
  const std::int64_t max_peels = 4 * static_cast<std::int64_t>(C) * B;
  for (bool changed = true; changed;) {
    changed = false;
    for (int g = 0; g < C; ++g)
      for (std::int64_t j = 0; j < B; ++j) {
        if (found.size() > max_found || peels >= max_peels) break;
        if (is_zero(g, j)) continue;
        Word k;
        double X;
        if (!singleton(g, j, k, X)) continue;
        detail::swht_peel(st, k, X);
        found[k] += X;  // a coefficient found twice (noise) accumulates its corrections
        ++peels;
        changed = true;
      }
    if (found.size() > max_found || peels >= max_peels) break;
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
  std::vector<std::pair<Word, double>> items(found.begin(), found.end());
  std::sort(items.begin(), items.end());
  res.indices.clear();
  res.values.clear();
  for (const auto& kv : items) {
    if (kv.second == 0.0) continue;
    res.indices.push_back(kv.first);
    res.values.push_back(kv.second);
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
  if (o.n < 1 || o.n > 64)
    throw value_error("n: expected 1 <= n <= 64 for integer indices, got " + std::to_string(o.n));
  if (o.groups < 1) throw value_error("groups: expected >= 1, got " + std::to_string(o.groups));
  if (o.robust && o.chains < 1)
    throw value_error("chains: expected >= 1, got " + std::to_string(o.chains));
  if (o.robust && o.verify < 0)
    throw value_error("verify: expected >= 0, got " + std::to_string(o.verify));
  if (!(o.alpha > 0.0 && o.alpha < 1.0)) throw value_error("alpha: expected 0 < alpha < 1");
  if (o.b < 0 || o.b > o.n) throw value_error("b: expected 0 <= b <= n");
  if (o.max_attempts < 1) throw value_error("max_attempts: expected >= 1");
}

/// Samples per attempt at log2 bins b.
inline std::int64_t sparse_wht_attempt_samples(const SparseWhtOptions& o, int b) {
  const std::int64_t m = o.n - b;
  const std::int64_t P = o.robust ? o.chains * (m + 1) + o.verify : m + 1;
  return checked_mul(checked_mul(o.groups, P, "sparse_wht"), std::int64_t(1) << b, "sparse_wht");
}

/// The whole transform with attempts: `sampler(indices, count, out)` fills out[i] = x[indices[i]]
/// (and throws on failure). Attempt a uses fresh randomness; b grows by one after every second
/// failed attempt (or after each one when k is unknown), while the next attempt fits in
/// max_samples.
template <class Sampler>
SparseWhtResult sparse_wht(const SparseWhtOptions& o, Sampler&& sampler) {
  check_sparse_wht_options(o);
  SparseWhtResult res;
  int b = sparse_wht_default_b(o);
  detail::SwhtAttempt st;
  std::vector<double> values;
  for (int a = 0; a < o.max_attempts; ++a) {
    if (a > 0) {
      if (res.success) break;
      const bool grow = o.b == 0 && (o.k <= 0 || a % 2 == 0);
      if (grow && b < o.n) ++b;
    }
    const std::int64_t need = sparse_wht_attempt_samples(o, b);
    if (o.max_samples > 0 && res.samples + need > o.max_samples) {
      if (a == 0)
        throw value_error("max_samples: " + std::to_string(o.max_samples) +
                          " is fewer than one attempt needs (" + std::to_string(need) + ")");
      break;
    }
    const std::vector<std::uint64_t> idx = sparse_wht_queries(o, b, a, st);
    values.resize(idx.size());
    sampler(idx.data(), static_cast<std::int64_t>(idx.size()), values.data());
    res.samples += static_cast<std::int64_t>(idx.size());
    res.attempts = a + 1;
    res.b = b;
    sparse_wht_decode(o, st, values.data(), res);
  }
  return res;
}

/// Sampler reading an in-memory signal of length 2^n (float or double); throws value_error on
/// a non-finite sample.
template <class T>
struct ArraySampler {
  const T* x;
  void operator()(const std::uint64_t* idx, std::int64_t count, double* out) const {
    for (std::int64_t i = 0; i < count; ++i) {
      const double v = static_cast<double>(x[idx[i]]);
      if (!std::isfinite(v))
        throw value_error("signal: non-finite value at index " + std::to_string(idx[i]));
      out[i] = v;
    }
  }
};

}  // namespace sparsketch
