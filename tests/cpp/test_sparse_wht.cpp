// Sparse WHT kernels against scalar references: the butterflies down the columns of a sample
// block, the noiseless bin flags and the peeling update (SIMD paths), the nibble-table matrix
// product, and the whole transform through the array sampler's gather path against a generic
// sampler reading the same signal (same support, same values), including a nested call.
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "check.hpp"
#include "sparsketch/sparsketch.hpp"

using namespace sparsketch;
using detail::Word;

namespace {

// Naive B-point WHT of every column of a B x ld block.
std::vector<double> naive_cols(const std::vector<double>& a, std::int64_t B, int ld) {
  std::vector<double> out(a.size(), 0.0);
  for (std::int64_t j = 0; j < B; ++j)
    for (std::int64_t l = 0; l < B; ++l) {
      const double s = __builtin_parityll(static_cast<std::uint64_t>(j & l)) ? -1.0 : 1.0;
      for (int p = 0; p < ld; ++p) out[j * ld + p] += s * a[l * ld + p];
    }
  return out;
}

// The spectrum of a K-sparse signal on 2^n points and the signal itself.
struct Sparse {
  std::vector<std::uint64_t> idx;
  std::vector<double> val, x;
};
Sparse make_sparse(int n, int K, std::mt19937_64& g) {
  Sparse s;
  const std::uint64_t N = std::uint64_t{1} << n;
  std::vector<double> X(N, 0.0);
  while (static_cast<int>(s.idx.size()) < K) {
    const std::uint64_t k = g() % N;
    if (X[k] != 0.0) continue;
    X[k] = ((g() & 1) ? 1.0 : -1.0) * (1.0 + static_cast<double>(g() % 1000) / 500.0);
    s.idx.push_back(k);
  }
  std::sort(s.idx.begin(), s.idx.end());
  for (auto k : s.idx) s.val.push_back(X[k]);
  s.x.resize(N);
  fwht(X.data(), s.x.data(), static_cast<std::int64_t>(N));
  return s;
}

bool same_result(const SparseWhtResult& a, const SparseWhtResult& b) {
  if (a.indices != b.indices || a.values.size() != b.values.size()) return false;
  for (std::size_t i = 0; i < a.values.size(); ++i)
    if (std::abs(a.values[i] - b.values[i]) > 1e-9 * (1.0 + std::abs(a.values[i]))) return false;
  return a.success == b.success && a.samples == b.samples && a.unresolved == b.unresolved;
}

bool recovered(const SparseWhtResult& r, const Sparse& s, double tol) {
  if (!r.success || r.indices != s.idx) return false;
  for (std::size_t i = 0; i < s.val.size(); ++i)
    if (std::abs(r.values[i] - s.val[i]) > tol) return false;
  return true;
}

}  // namespace

int main() {
  std::mt19937_64 g(20261207);
  std::normal_distribution<double> nd;

  // Butterflies down the columns, odd and even log2 B, several row widths.
  for (std::int64_t B : {1, 2, 4, 8, 32, 128, 512})
    for (int ld : {detail::kSwhtRowAlign, 2 * detail::kSwhtRowAlign, 3 * detail::kSwhtRowAlign}) {
      std::vector<double> a(static_cast<std::size_t>(B * ld));
      for (auto& v : a) v = nd(g);
      const std::vector<double> ref = naive_cols(a, B, ld);
      detail::swht_fwht_block(a.data(), B, ld);
      double err = 0.0;
      for (std::size_t i = 0; i < a.size(); ++i) err = std::max(err, std::abs(a[i] - ref[i]));
      CHECK(err <= 1e-12 * static_cast<double>(B) * 4.0);
    }

  // Bin flags: every bit against the scalar definition, values at and around the tolerance.
  for (int trial = 0; trial < 2000; ++trial) {
    const int P = 1 + static_cast<int>(g() % 64);
    const int ld = (P + detail::kSwhtRowAlign - 1) / detail::kSwhtRowAlign * detail::kSwhtRowAlign;
    const double tol = 0.5;
    std::vector<double> u(static_cast<std::size_t>(ld), 7.0);  // padding must be ignored
    const double a0 = (g() % 3 == 0) ? 0.25 : 2.0;
    for (int p = 0; p < P; ++p) {
      const double mag = (g() % 4 == 0) ? a0 + (static_cast<double>(g() % 5) - 2.0) * 0.3
                                        : ((g() % 2) ? a0 : 0.1 * static_cast<double>(g() % 6));
      u[static_cast<std::size_t>(p)] = (g() & 1) ? -mag : mag;
    }
    u[0] = (g() & 1) ? -a0 : a0;
    Word big, dev, neg;
    detail::swht_bin_flags(u.data(), P, ld, tol, big, dev, neg);
    Word rb = 0, rd = 0, rn = 0;
    for (int p = 0; p < P; ++p) {
      const double a = std::abs(u[static_cast<std::size_t>(p)]);
      rb |= static_cast<Word>(a > tol) << p;
      rd |= static_cast<Word>(std::abs(a - std::abs(u[0])) > tol) << p;
      rn |= static_cast<Word>(std::signbit(u[static_cast<std::size_t>(p)])) << p;
    }
    CHECK(big == rb && dev == rd && neg == rn);
  }

  // Peeling update: v_p -= (-1)^(bit p) X for p < P; the padding is left alone.
  for (int trial = 0; trial < 500; ++trial) {
    const int P = 1 + static_cast<int>(g() % 64);
    const int ld = (P + detail::kSwhtRowAlign - 1) / detail::kSwhtRowAlign * detail::kSwhtRowAlign;
    std::vector<double> v(static_cast<std::size_t>(ld));
    for (auto& e : v) e = nd(g);
    std::vector<double> ref = v;
    const double X = nd(g);
    const Word sm = g();
    detail::swht_peel_row(v.data(), P, ld, X, sm);
    for (int p = 0; p < P; ++p) ref[static_cast<std::size_t>(p)] -= ((sm >> p) & 1u) ? -X : X;
    CHECK(v == ref);
  }

  // Nibble tables against the column loop.
  for (int n = 1; n <= 64; ++n) {
    detail::BitMatrix<1> m(n);
    const Word mask = detail::low_mask(n);
    for (auto& c : m.col) c.w[0] = g() & mask;
    detail::BitMatrix<1> t = m;
    t.build_tables();
    for (int r = 0; r < 50; ++r) {
      detail::Bits<1> x;
      x.w[0] = g() & mask;
      CHECK(t.apply(x) == m.apply(x));
    }
  }

  // The whole transform: gather path (ArraySampler) against a generic sampler on the same
  // signal, noiseless and robust, and against the true spectrum.
  for (int n : {8, 12, 16, 18})
    for (int K : {1, 5, 40})
      for (int robust = 0; robust < 2; ++robust) {
        const Sparse s = make_sparse(n, K, g);
        SparseWhtOptions o;
        o.n = n;
        o.k = K;
        o.robust = robust != 0;
        o.seed = g();
        const SparseWhtResult ra = sparse_wht(o, ArraySampler<double>{s.x.data()});
        const double* xp = s.x.data();
        const SparseWhtResult rg =
            sparse_wht(o, [xp](const std::uint64_t* q, std::int64_t c, double* out) {
              for (std::int64_t i = 0; i < c; ++i) out[i] = xp[q[i]];
            });
        CHECK(same_result(ra, rg));
        CHECK(recovered(ra, s, 1e-6));
        std::vector<float> xf(s.x.begin(), s.x.end());
        o.tol = 1e-6;  // float32 rounding (the Python default for float32 arrays); the robust
                       // design's noise floor follows ArraySampler<float>::sample_eps()
        CHECK(recovered(sparse_wht(o, ArraySampler<float>{xf.data()}), s, 1e-3));
      }

  // A sampler that itself runs a transform on the same thread (the thread's workspace is in
  // use): both results are right.
  {
    const Sparse outer = make_sparse(14, 10, g), inner = make_sparse(12, 6, g);
    SparseWhtOptions oi;
    oi.n = 12;
    oi.k = 6;
    oi.robust = false;
    bool inner_ok = true;
    SparseWhtOptions oo;
    oo.n = 14;
    oo.k = 10;
    oo.robust = false;
    const double* xp = outer.x.data();
    const SparseWhtResult r =
        sparse_wht(oo, [&](const std::uint64_t* q, std::int64_t c, double* out) {
          inner_ok = inner_ok &&
                     recovered(sparse_wht(oi, ArraySampler<double>{inner.x.data()}), inner, 1e-9);
          for (std::int64_t i = 0; i < c; ++i) out[i] = xp[q[i]];
        });
    CHECK(inner_ok);
    CHECK(recovered(r, outer, 1e-9));
  }

  // A non-finite sample is reported with its index.
  {
    Sparse s = make_sparse(10, 3, g);
    for (auto& v : s.x) v = std::numeric_limits<double>::quiet_NaN();
    SparseWhtOptions o;
    o.n = 10;
    o.k = 3;
    o.robust = false;
    CHECK_THROWS(sparse_wht(o, ArraySampler<double>{s.x.data()}), value_error);
    try {
      sparse_wht(o, ArraySampler<double>{s.x.data()});
    } catch (const value_error& e) {
      CHECK(std::string(e.what()).find("non-finite value at index") != std::string::npos);
    }
  }
  TEST_MAIN_END()
}
