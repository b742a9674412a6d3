// FWHT against the O(n^2) definition y[k] = sum_t (-1)^popcount(k & t) x[t] on small integers
// (exact in double), for every code path: tiny (< SIMD width), L1, L2, multi-pass (forced by
// small tuning sizes), batches, the (n x inner) row layout, in and out of place, 1 vs 3 threads.
#include <bitset>
#include <cstdint>
#include <vector>

#include "check.hpp"
#include "sparsketch/sparsketch.hpp"

using namespace sparsketch;

static std::vector<double> naive(const std::vector<double>& x) {
  const std::size_t n = x.size();
  std::vector<double> y(n, 0.0);
  for (std::size_t k = 0; k < n; ++k)
    for (std::size_t t = 0; t < n; ++t) y[k] += (std::bitset<64>(k & t).count() & 1) ? -x[t] : x[t];
  return y;
}

static std::vector<double> ints(std::size_t n, std::uint64_t seed) {
  const CounterRng g(seed, StreamTag::test);
  std::vector<double> x(n);
  for (std::size_t i = 0; i < n; ++i) x[i] = static_cast<double>(g.below(i, 9)) - 4.0;
  return x;
}

int main() {
  FwhtOptions small;  // tiny cache sizes force every multi-pass path on small arrays
  small.l1_bytes = 64;
  small.l2_bytes = 256;
  small.tile_bytes = 256;
  small.max_pass_stages = 2;
  small.min_parallel = 1;  // and every parallel path, including one thread per batch row
  FwhtOptions wide = small;  // 16-row tiles: the gather/scatter path (<= 8 rows sweep in place)
  wide.max_pass_stages = 4;
  for (const FwhtOptions& base : {FwhtOptions{}, small, wide}) {
    for (std::int64_t n : {1, 2, 4, 8, 16, 64, 256, 1024, 4096}) {
      const auto x = ints(static_cast<std::size_t>(n), static_cast<std::uint64_t>(n));
      const auto ref = naive(x);
      for (int threads : {1, 3}) {
        FwhtOptions o = base;
        o.n_threads = threads;
        std::vector<double> y(x.size());
        const FwhtResult r = fwht(x.data(), y.data(), n, o);  // out of place
        CHECK(y == ref);
        // The tiny tuning sizes must really take the multi-pass path.
        if (base.l2_bytes == 256 && n >= 1024) CHECK(r.passes >= 2);
        std::vector<double> z = x;
        fwht(z.data(), n, o);  // in place
        CHECK(z == ref);
        // float32 on the same integers is exact too (|y| <= 4n < 2^24).
        std::vector<float> xf(x.begin(), x.end()), yf(x.size());
        fwht(xf.data(), yf.data(), n, o);
        bool ok = true;
        for (std::size_t i = 0; i < yf.size(); ++i) ok = ok && yf[i] == static_cast<float>(ref[i]);
        CHECK(ok);
      }
      // Batch of 3 contiguous rows, and the same data as an (n x 5) row layout.
      const std::int64_t outer = 3, inner = 5;
      std::vector<double> batch(outer * n), out(outer * n);
      for (std::int64_t o = 0; o < outer; ++o) {
        const auto xo = ints(static_cast<std::size_t>(n), 100 + o);
        std::copy(xo.begin(), xo.end(), batch.begin() + o * n);
      }
      FwhtOptions o = base;
      o.n_threads = 2;
      fwht(batch.data(), FwhtStrides{n, 1}, out.data(), FwhtStrides{n, 1}, FwhtLayout{outer, n, 1},
           o);
      bool ok = true;
      for (std::int64_t b = 0; b < outer; ++b) {
        std::vector<double> xo(batch.begin() + b * n, batch.begin() + (b + 1) * n);
        const auto r = naive(xo);
        for (std::int64_t k = 0; k < n; ++k) ok = ok && out[b * n + k] == r[k];
      }
      CHECK(ok);
      // (outer=2) x (n x inner): element (o, k, i) at o*n*inner + k*inner + i; normalized.
      std::vector<double> m(2 * n * inner), mo(2 * n * inner);
      for (std::size_t i = 0; i < m.size(); ++i) m[i] = static_cast<double>((i * 7) % 11) - 5.0;
      o.normalized = true;
      fwht(m.data(), FwhtStrides{n * inner, inner}, mo.data(), FwhtStrides{n * inner, inner},
           FwhtLayout{2, n, inner}, o);
      ok = true;
      const double sc = 1.0 / std::sqrt(static_cast<double>(n));
      for (std::int64_t ob = 0; ob < 2; ++ob)
        for (std::int64_t i = 0; i < inner; ++i) {
          std::vector<double> col(n);
          for (std::int64_t k = 0; k < n; ++k) col[k] = m[ob * n * inner + k * inner + i];
          const auto r = naive(col);
          for (std::int64_t k = 0; k < n; ++k)
            ok = ok && std::fabs(mo[ob * n * inner + k * inner + i] - r[k] * sc) <=
                           1e-12 * (1 + std::fabs(r[k]));
        }
      CHECK(ok);
    }
  }
  // Errors.
  std::vector<double> v(12, 1.0);
  CHECK_THROWS(fwht(v.data(), 12), value_error);
  CHECK_THROWS(fwht(v.data(), 0), value_error);
  std::vector<double> nan(8, 1.0);
  nan[3] = std::nan("");
  std::vector<double> dst(8);
  FwhtOptions chk;
  chk.check_finite = true;
  CHECK_THROWS(fwht(nan.data(), dst.data(), 8, chk), value_error);
  fwht(nan.data(), dst.data(), 8);  // propagates without the check
  bool all_nan = true;
  for (double d : dst) all_nan = all_nan && std::isnan(d);
  CHECK(all_nan);
  TEST_MAIN_END()
}
