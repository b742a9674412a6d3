// Views, checked sizes, CSR validation and exception capture across an OpenMP region.
#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>
#include <vector>

#include "check.hpp"
#include "sparsketch/sparsketch.hpp"

using namespace sparsketch;

int main() {
  CHECK(checked_mul(3, 4) == 12);
  CHECK_THROWS(checked_mul(std::numeric_limits<std::int64_t>::max() / 2, 3), memory_error);
  CHECK_THROWS(checked_bytes<double>(std::int64_t{1} << 61), memory_error);
  CHECK(is_pow2(1) && is_pow2(1024) && !is_pow2(0) && !is_pow2(12));
  CHECK(ilog2(1) == 0 && ilog2(1024) == 10);
  CHECK(padded_ld(100, 8) == 104 && padded_ld(8, 8) == 8 && padded_ld(1, 4) == 16);
  AlignedBuffer<double> buf(1000);
  CHECK(reinterpret_cast<std::uintptr_t>(buf.data()) % 64 == 0);

  // all_finite: a NaN/Inf anywhere in a large array, for 1 and several threads
  std::vector<double> xs((std::int64_t{1} << 18) + 5, 1e308);
  CHECK(all_finite(xs.data(), static_cast<std::int64_t>(xs.size()), 2));
  for (std::int64_t pos : {std::int64_t{0}, std::int64_t{40000}, std::int64_t(xs.size()) - 1}) {
    xs[pos] = std::numeric_limits<double>::infinity();
    CHECK(!all_finite(xs.data(), static_cast<std::int64_t>(xs.size()), 1));
    CHECK(!all_finite(xs.data(), static_cast<std::int64_t>(xs.size()), 3));
    xs[pos] = 1.0;
  }
  std::vector<float> xf(10, 1.0f);
  xf[9] = std::numeric_limits<float>::quiet_NaN();
  CHECK(!all_finite(xf.data(), 10, 1) && all_finite(xf.data(), 9, 1));

  // CSR: 2 x 3 [[1, 0, 2], [0, 3, 0]]
  std::vector<std::int32_t> indptr{0, 2, 3}, indices{0, 2, 1};
  std::vector<double> values{1, 2, 3};
  CsrView<double, std::int32_t> a{indptr.data(), indices.data(), values.data(), 2, 3};
  validate_csr(a, 3, true);
  CHECK(a.nnz() == 3);
  std::vector<std::int32_t> bad_idx{0, 3, 1};
  CsrView<double, std::int32_t> b{indptr.data(), bad_idx.data(), values.data(), 2, 3};
  CHECK_THROWS(validate_csr(b, 3, false), index_error);
  std::vector<std::int32_t> unsorted{2, 0, 1};
  CsrView<double, std::int32_t> c{indptr.data(), unsorted.data(), values.data(), 2, 3};
  CHECK_THROWS(validate_csr(c, 3, true), value_error);
  validate_csr(c, 3, false);  // unsorted is fine when not required
  std::vector<std::int32_t> bad_ptr{0, 3, 2};
  CsrView<double, std::int32_t> d{bad_ptr.data(), indices.data(), values.data(), 2, 3};
  CHECK_THROWS(validate_csr(d, 2, false), value_error);
  {  // random small CSRs (empty rows, descents at row starts, out-of-range entries): the
     // vectorized checks accept exactly the matrices an entry-by-entry scan accepts
    std::mt19937_64 gen(7);
    for (int trial = 0; trial < 3000; ++trial) {
      const int m = static_cast<int>(gen() % 6), n = 1 + static_cast<int>(gen() % 5);
      std::vector<std::int64_t> ptr{0}, ix;
      bool in_range = true, sorted = true;
      for (int i = 0; i < m; ++i) {
        const int len = static_cast<int>(gen() % 4);
        for (int q = 0; q < len; ++q) {
          const std::int64_t j = static_cast<std::int64_t>(gen() % (n + 2)) - 1;  // -1 .. n
          in_range = in_range && j >= 0 && j < n;
          if (q > 0 && j <= ix.back()) sorted = false;
          ix.push_back(j);
        }
        ptr.push_back(static_cast<std::int64_t>(ix.size()));
      }
      const CsrView<double, std::int64_t> v{ptr.data(), ix.data(), nullptr, m, n};
      const auto nnz = static_cast<std::int64_t>(ix.size());
      for (const bool req : {false, true}) {
        bool threw = false;
        try {
          validate_csr(v, nnz, req);
        } catch (const index_error&) {
          threw = true;
          CHECK(!in_range);
        } catch (const value_error&) {
          threw = true;
          CHECK(req && !sorted);  // (the first fault in row order is reported)
        }
        CHECK(threw == (!in_range || (req && !sorted)));
      }
    }
  }

  // An exception thrown in one iteration of a parallel loop surfaces once, after the region.
  ExceptionCapture ex;
  std::vector<int> done(1000, 0);
#pragma omp parallel for num_threads(2)
  for (int i = 0; i < 1000; ++i)
    ex.run([&] {
      if (i == 500) throw value_error("x: boom at 500");
      done[i] = 1;
    });
  bool caught = false;
  try {
    ex.rethrow();
  } catch (const value_error& e) {
    caught = std::string(e.what()) == "x: boom at 500";
  }
  CHECK(caught);

  // DenseView indexing and layout predicates.
  std::vector<double> m{1, 2, 3, 4, 5, 6};  // 2 x 3, C order
  DenseView<double> cv{m.data(), 2, 3, 3, 1};
  CHECK(cv(1, 2) == 6 && cv.c_contiguous() && !cv.f_contiguous());
  DenseView<double> fv{m.data(), 3, 2, 1, 3};  // 3 x 2, Fortran order
  CHECK(fv(2, 1) == 6 && fv.f_contiguous());
  TEST_MAIN_END()
}
