// sparsketch::spgemm on CSR views against a dense triple loop (small random matrices), the
// masked and top-k variants, and the shape check.
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "check.hpp"
#include "sparsketch/sparsketch.hpp"

using namespace sparsketch;

namespace {

struct Csr {
  std::int64_t rows, cols;
  std::vector<std::int32_t> indptr, indices;
  std::vector<double> values;
  CsrView<double, std::int32_t> view() const {
    return {indptr.data(), indices.data(), values.data(), rows, cols};
  }
};

Csr random_csr(std::mt19937_64& g, std::int64_t r, std::int64_t c, double density) {
  Csr a{r, c, {0}, {}, {}};
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (std::int64_t i = 0; i < r; ++i) {
    for (std::int64_t j = 0; j < c; ++j)
      if (u(g) < density) {
        a.indices.push_back(static_cast<std::int32_t>(j));
        a.values.push_back(u(g) * 2.0 - 1.0);
      }
    a.indptr.push_back(static_cast<std::int32_t>(a.indices.size()));
  }
  return a;
}

std::vector<double> dense(const CsrView<double, std::int64_t>& c) {
  std::vector<double> d(static_cast<std::size_t>(c.n_rows * c.n_cols), 0.0);
  for (std::int64_t i = 0; i < c.n_rows; ++i)
    for (std::int64_t p = c.indptr[i]; p < c.indptr[i + 1]; ++p)
      d[static_cast<std::size_t>(i * c.n_cols + c.indices[p])] += c.values[p];
  return d;
}

/// The two-pass product (symbolic + numeric) with output indices of type IC.
template <class IC>
struct TwoPass {
  SpgemmPlan plan;
  std::vector<IC> idx;
  std::vector<double> val;
};

template <class IC>
TwoPass<IC> two_pass(const Csr& a, const Csr& b, const SpgemmOptions& o) {
  TwoPass<IC> r;
  r.plan = spgemm_symbolic<double, std::int32_t, std::int32_t, std::int32_t>(a.view(), b.view(),
                                                                             nullptr, o);
  r.idx.resize(static_cast<std::size_t>(r.plan.nnz));
  r.val.resize(static_cast<std::size_t>(r.plan.nnz));
  spgemm_numeric<double, std::int32_t, std::int32_t, std::int32_t, IC>(
      a.view(), b.view(), nullptr, r.plan, r.idx.data(), r.val.data(), o);
  return r;
}

}  // namespace

int main() {
  std::mt19937_64 g(7);
  const Csr A = random_csr(g, 40, 30, 0.2), B = random_csr(g, 30, 50, 0.2);
  std::vector<double> ref(40 * 50, 0.0);
  for (std::int64_t i = 0; i < 40; ++i)
    for (std::int32_t p = A.indptr[i]; p < A.indptr[i + 1]; ++p)
      for (std::int32_t q = B.indptr[A.indices[p]]; q < B.indptr[A.indices[p] + 1]; ++q)
        ref[static_cast<std::size_t>(i * 50 + B.indices[q])] += A.values[p] * B.values[q];
  for (int nt : {1, 3}) {
    SpgemmOptions o;
    o.n_threads = nt;
    const auto C = spgemm(A.view(), B.view(), o);
    const auto d = dense(C.view());
    double err = 0.0;
    for (std::size_t k = 0; k < d.size(); ++k) err = std::max(err, std::abs(d[k] - ref[k]));
    CHECK(err < 1e-13);
    for (std::int64_t i = 0; i < 40; ++i)  // sorted, no duplicates
      for (std::int64_t p = C.indptr[i] + 1; p < C.indptr[i + 1]; ++p)
        CHECK(C.indices[p - 1] < C.indices[p]);
  }
  // top-1 per row: the largest value of each reference row
  SpgemmOptions top;
  top.top_k = 1;
  const auto top1 = two_pass<std::int64_t>(A, B, top);
  const SpgemmPlan& plan = top1.plan;
  const std::vector<double>& val = top1.val;
  for (std::int64_t i = 0; i < 40; ++i) {
    const std::int64_t len = plan.indptr[i + 1] - plan.indptr[i];
    CHECK(len <= 1);
    if (len == 1) {
      double best = -1e300;
      for (std::int64_t j = 0; j < 50; ++j)
        if (ref[static_cast<std::size_t>(i * 50 + j)] != 0.0)
          best = std::max(best, ref[static_cast<std::size_t>(i * 50 + j)]);
      CHECK(std::abs(val[static_cast<std::size_t>(plan.indptr[i])] - best) < 1e-13);
    }
  }
  // the one-pass staged top-k equals the two-pass one, for several k and with a threshold
  for (std::int64_t k : {0, 1, 3, 50, 80}) {
    for (bool thr : {false, true}) {
      SpgemmOptions tk;
      tk.top_k = k;
      tk.use_threshold = thr;
      tk.threshold = 0.0;
      const auto ref2 = two_pass<std::int64_t>(A, B, tk);
      const SpgemmPlan& p2 = ref2.plan;
      const std::vector<std::int64_t>& i2 = ref2.idx;
      const std::vector<double>& v2 = ref2.val;
      const auto st = spgemm_topk_stage<double, std::int32_t, std::int32_t, std::int32_t>(
          A.view(), B.view(), nullptr, tk);
      CHECK(st.plan.nnz == p2.nnz && st.plan.indptr == p2.indptr);
      std::vector<std::int64_t> i1(static_cast<std::size_t>(p2.nnz));
      std::vector<double> v1(static_cast<std::size_t>(p2.nnz));
      spgemm_topk_compact<double, std::int64_t>(st, i1.data(), v1.data(), 2);
      CHECK(i1 == i2 && v1 == v2);
    }
  }
  // the one-pass product equals the two-pass one bitwise (values, indices, row pointers) for
  // any thread count, sorted or not, with a heavy row (chunks finish out of order and wait to
  // be placed) and with no staging allowed (threads wait for their turn)
  {
    Csr P = random_csr(g, 3000, 400, 0.03);
    const Csr Q = random_csr(g, 400, 600, 0.05);
    for (std::int64_t i = 10; i < 12; ++i) {  // rows 10 and 11 of P become dense
      Csr R{P.rows, P.cols, {0}, {}, {}};
      for (std::int64_t r = 0; r < P.rows; ++r) {
        if (r == i) {
          for (std::int32_t j = 0; j < 400; ++j) {
            R.indices.push_back(j);
            R.values.push_back(0.5 + j * 1e-3);
          }
        } else {
          for (std::int32_t p = P.indptr[r]; p < P.indptr[r + 1]; ++p) {
            R.indices.push_back(P.indices[p]);
            R.values.push_back(P.values[p]);
          }
        }
        R.indptr.push_back(static_cast<std::int32_t>(R.indices.size()));
      }
      P = R;
    }
    for (bool sorted : {true, false}) {
      SpgemmOptions o;
      o.sort_indices = sorted;
      const auto ref2 = two_pass<std::int32_t>(P, Q, o);
      const SpgemmPlan& p2 = ref2.plan;
      const std::vector<std::int32_t>& i2 = ref2.idx;
      const std::vector<double>& v2 = ref2.val;
      for (int nt : {1, 2, 3, 5}) {
        for (std::int64_t staged : {std::int64_t{64} << 20, std::int64_t{0}}) {
          o.n_threads = nt;
          SpgemmPlan f;
          detail::count_row_flops(P.view(), Q.view(), nt, f);
          CHECK(f.flops > 16384 * 8);  // several chunks
          std::vector<std::int32_t> i1(static_cast<std::size_t>(f.flops)), ptr(3001);
          std::vector<double> v1(static_cast<std::size_t>(f.flops));
          const std::int64_t nnz = spgemm_onepass<double, std::int32_t, std::int32_t, std::int32_t>(
              P.view(), Q.view(), f, i1.data(), v1.data(), ptr.data(), o, staged);
          CHECK(nnz == p2.nnz);
          i1.resize(static_cast<std::size_t>(nnz));
          v1.resize(static_cast<std::size_t>(nnz));
          CHECK(i1 == i2 && v1 == v2);
          for (std::size_t r = 0; r < ptr.size(); ++r) CHECK(ptr[r] == p2.indptr[r]);
        }
      }
    }
  }
  CHECK(topk_staging_fits(1000, 50, 10) && !topk_staging_fits(std::int64_t{1} << 30, 1000, 100));
  {  // the top-k heap's integer keys order values like TopkBetter: NaN lowest, -0.0 == +0.0
    const double inf = std::numeric_limits<double>::infinity();
    const std::vector<double> asc = {-inf, -3.5, -1.0, -1e-300, -0.0, 0.0, 1e-300, 1.0, 2.0, inf};
    CHECK(detail::order_key(std::nan("")) < detail::order_key(-inf));
    CHECK(detail::order_key(std::nanf("")) <
          detail::order_key(-std::numeric_limits<float>::infinity()));
    for (std::size_t q = 1; q < asc.size(); ++q) {
      const bool eq = asc[q] == asc[q - 1];
      CHECK(eq ? detail::order_key(asc[q]) == detail::order_key(asc[q - 1])
               : detail::order_key(asc[q]) > detail::order_key(asc[q - 1]));
      const auto f0 = static_cast<float>(asc[q - 1]), f1 = static_cast<float>(asc[q]);
      CHECK(f0 == f1 ? detail::order_key(f1) == detail::order_key(f0)
                     : detail::order_key(f1) > detail::order_key(f0));
    }
  }
  CHECK_THROWS(spgemm(A.view(), A.view()), value_error);
  TEST_MAIN_END()
}
