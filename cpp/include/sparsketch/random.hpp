#pragma once
/// \file random.hpp
/// Counter-based random numbers: Philox4x32-10 (Salmon, Moraes, Dror, Shaw, "Parallel random
/// numbers: as easy as 1, 2, 3", SC 2011), pinned by the Random123 known-answer vectors in
/// tests/cpp/test_random.cpp.
///
/// Determinism contract: the key is the 64-bit seed, the counter is the position. The random
/// words used for element i of an object depend only on (seed, stream tag of the object, i),
/// never on the thread that computes them or on how many draws came before. So every kernel
/// gives bit-identical output for any number of threads.
///
/// Distribution transforms are our own (no std::*_distribution, whose output differs between
/// standard libraries): uniform from the top bits, Rademacher from single bits, normals by
/// Box-Muller.

#include <array>
#include <cmath>
#include <cstdint>

namespace sparsketch {

using Philox4x32Counter = std::array<std::uint32_t, 4>;
using Philox4x32Key = std::array<std::uint32_t, 2>;

namespace detail {
constexpr std::uint32_t kPhiloxM0 = 0xD2511F53u;  // multiplier applied to counter word 0
constexpr std::uint32_t kPhiloxM1 = 0xCD9E8D57u;  // multiplier applied to counter word 2
constexpr std::uint32_t kPhiloxW0 = 0x9E3779B9u;  // key schedule (golden ratio)
constexpr std::uint32_t kPhiloxW1 = 0xBB67AE85u;  // key schedule (sqrt(3) - 1)

inline void philox_round(Philox4x32Counter& c, const Philox4x32Key& k) noexcept {
  const std::uint64_t p0 = static_cast<std::uint64_t>(kPhiloxM0) * c[0];
  const std::uint64_t p1 = static_cast<std::uint64_t>(kPhiloxM1) * c[2];
  const std::uint32_t hi0 = static_cast<std::uint32_t>(p0 >> 32),
                      lo0 = static_cast<std::uint32_t>(p0);
  const std::uint32_t hi1 = static_cast<std::uint32_t>(p1 >> 32),
                      lo1 = static_cast<std::uint32_t>(p1);
  c = {hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0};
}
}  // namespace detail

/// Philox4x32 with 10 rounds: one 128-bit block of random words for (counter, key).
/// Cost: 10 rounds of two 32x32->64 multiplies. Pure function; thread-safe.
inline Philox4x32Counter philox4x32_10(Philox4x32Counter ctr, Philox4x32Key key) noexcept {
  for (int r = 0; r < 10; ++r) {
    if (r > 0) {
      key[0] += detail::kPhiloxW0;
      key[1] += detail::kPhiloxW1;
    }
    detail::philox_round(ctr, key);
  }
  return ctr;
}

/// Stream tags: each random object inside a kernel draws from its own tag so that streams never
/// overlap. Kernels pick tags from this list (append new ones; never renumber).
enum class StreamTag : std::uint64_t {
  test = 0,
  sketch_signs = 1,
  sketch_rows = 2,
  sketch_gaussian = 3,
  sketch_hash = 4,
  jl_gaussian = 5,        ///< Johnson-Lindenstrauss matrix of approximate leverage scores
  sample_uniform = 6,     ///< row sampling (Poisson inclusion / inverse-CDF draws)
  volume_uniform = 7,     ///< projection-DPP (volume) sampling draws
  sparse_wht = 8,         ///< sparse WHT: re-indexing matrices and offsets
  completion_sketch = 9,  ///< matrix completion: per-row sparse sign sketches
  completion_init = 10,   ///< matrix completion: Gaussian test matrices and random factors
  completion_gibbs = 11,  ///< Bayesian matrix completion: per-row posterior draws
  bcd_rule = 12,          ///< block coordinate descent: random block selection
};

/// A counter-based stream: block(i) = Philox4x32-10(counter = {i_lo, i_hi, tag_lo, tag_hi},
/// key = {seed_lo, seed_hi}). Copyable, stateless.
class CounterRng {
 public:
  constexpr CounterRng(std::uint64_t seed, std::uint64_t tag) noexcept : seed_(seed), tag_(tag) {}
  constexpr CounterRng(std::uint64_t seed, StreamTag tag) noexcept
      : seed_(seed), tag_(static_cast<std::uint64_t>(tag)) {}

  std::uint64_t seed() const noexcept { return seed_; }
  std::uint64_t tag() const noexcept { return tag_; }

  /// Four random 32-bit words for position i.
  Philox4x32Counter block(std::uint64_t i) const noexcept {
    return philox4x32_10(
        {static_cast<std::uint32_t>(i), static_cast<std::uint32_t>(i >> 32),
         static_cast<std::uint32_t>(tag_), static_cast<std::uint32_t>(tag_ >> 32)},
        {static_cast<std::uint32_t>(seed_), static_cast<std::uint32_t>(seed_ >> 32)});
  }

  /// A 64-bit word for position i (words 0 and 1 of block i).
  std::uint64_t bits64(std::uint64_t i) const noexcept {
    const auto b = block(i);
    return (static_cast<std::uint64_t>(b[1]) << 32) | b[0];
  }

  /// Uniform double in [0, 1) from the top 53 bits of bits64(i): k * 2^-53, k in [0, 2^53).
  double uniform(std::uint64_t i) const noexcept {
    return static_cast<double>(bits64(i) >> 11) * 0x1.0p-53;
  }

  /// Uniform double in (0, 1]: (k + 1) * 2^-53. Safe as a log() argument.
  double uniform_pos(std::uint64_t i) const noexcept {
    return static_cast<double>((bits64(i) >> 11) + 1) * 0x1.0p-53;
  }

  /// Uniform integer in [0, n) for n >= 1 by Lemire's multiply-shift on 64 bits (bias at most
  /// n / 2^64, negligible for every n a kernel uses).
  std::uint64_t below(std::uint64_t i, std::uint64_t n) const noexcept {
    return static_cast<std::uint64_t>((static_cast<unsigned __int128>(bits64(i)) * n) >> 64);
  }

  /// Rademacher sign (+1 or -1) for element i: bit (i mod 128) of block (i / 128), so one
  /// Philox call serves 128 consecutive signs.
  int rademacher(std::uint64_t i) const noexcept {
    const auto b = block(i >> 7);
    const unsigned bit = static_cast<unsigned>(i & 127u);
    return ((b[bit >> 5] >> (bit & 31u)) & 1u) ? -1 : 1;
  }

  /// Standard normal for element i by Box-Muller on block (i / 2): words (0,1) and (2,3) give
  /// two uniforms u1 in (0,1], u2 in [0,1); element 2j is r*cos(2 pi u2), element 2j+1 is
  /// r*sin(2 pi u2), r = sqrt(-2 log u1).
  double normal(std::uint64_t i) const noexcept {
    double r, t;
    box_muller(i >> 1, r, t);
    return (i & 1u) ? r * std::sin(t) : r * std::cos(t);  // one trig call per element
  }

  /// The standard normals for elements 2j and 2j + 1 (normal(2j), normal(2j + 1)) from one
  /// Philox block and one logarithm.
  void normal_pair(std::uint64_t j, double& even, double& odd) const noexcept {
    double r, t;
    box_muller(j, r, t);
    even = r * std::cos(t);
    odd = r * std::sin(t);
  }

 private:
  /// Box-Muller radius r = sqrt(-2 log u1) and angle t = 2 pi u2 of block j.
  void box_muller(std::uint64_t j, double& r, double& t) const noexcept {
    const auto b = block(j);
    const std::uint64_t w1 = (static_cast<std::uint64_t>(b[1]) << 32) | b[0];
    const std::uint64_t w2 = (static_cast<std::uint64_t>(b[3]) << 32) | b[2];
    const double u1 = static_cast<double>((w1 >> 11) + 1) * 0x1.0p-53;
    const double u2 = static_cast<double>(w2 >> 11) * 0x1.0p-53;
    r = std::sqrt(-2.0 * std::log(u1));
    t = 6.283185307179586476925286766559 * u2;
  }

  std::uint64_t seed_;
  std::uint64_t tag_;
};

}  // namespace sparsketch
