#pragma once
/// \file spgemm.hpp
/// Sparse x sparse products C = A B of CSR matrices (Gustavson's row-wise algorithm).
///
/// Row i of C is sum_{p in row i of A} A(i, k_p) B(k_p, :): its partial products are merged as
/// they are made in an accumulator that fits the row (Nagasaka, Matsuoka, Azad, Buluc, "High-
/// performance sparse matrix-matrix products on Intel KNL and multicore architectures", ICPP
/// 2018; and the SMASH paper, ../shared/papers/spgemm_smash.md): an open-addressing hash
/// table sized to a power of two >= 2 x the row's flop count, or a dense array of n_cols values
/// with a touched list when the row's flops reach n_cols / 8. The intermediate products are
/// never stored.
///
/// Two passes over A and B, both parallel over rows:
///   1. symbolic (spgemm_symbolic): each row's flops, then its exact output size; the prefix
///      sum gives C's indptr, so the caller allocates C exactly (and can refuse a product that
///      would not fit in memory before any large allocation);
///   2. numeric (spgemm_numeric): each row accumulated again and written straight into C's
///      final arrays (sorted by column when asked).
/// Or, for the plain product when the caller can reserve the flop count (a bound on nnz(C)) as
/// virtual memory, one pass (spgemm_onepass): each row accumulated once and written in row
/// order, chunks that finish out of order copied into place; dropping the symbolic pass took
/// 15-40% off the time of mesh and Galerkin products (1 and 2 threads, C++ harness).
/// Load balance: rows are cut into chunks of about equal flops (8 per thread), taken
/// dynamically. Every output entry is summed by one thread in a fixed order (A's row order,
/// then B's), so results are bitwise identical for any thread count.
///
/// Variants: a mask M (CSR pattern, m x n) restricts C to the entries of M's pattern that the
/// product produces (GraphBLAS C<M> = A B, structural mask); top_k keeps the k largest values
/// of each row (after dropping values <= threshold, when one is given), columns sorted.
///
/// Extra memory beyond C: O(m) for the row counts plus per-thread accumulators of O(n_cols)
/// (and, in one pass, bounded chunk buffers).

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <numeric>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "sparsketch/common.hpp"
#include "sparsketch/parallel.hpp"

namespace sparsketch {

/// Options of spgemm.
struct SpgemmOptions {
  bool sort_indices = true;    ///< columns ascending within each output row
  int n_threads = 0;           ///< 0: omp_get_max_threads()
  std::int64_t top_k = -1;     ///< >= 0: keep the k largest values of each row
  bool use_threshold = false;  ///< top_k: drop values <= threshold first
  double threshold = 0.0;
};

/// The symbolic result: C's row pointers (int64, m + 1 entries) and its nonzero count, plus the
/// flop count (multiply-adds) of the product.
struct SpgemmPlan {
  std::vector<std::int64_t> indptr;
  std::int64_t nnz = 0;
  std::int64_t flops = 0;
  std::vector<std::int64_t> row_flops;  ///< per row
};

namespace detail {

constexpr std::int64_t kSpgemmChunksPerThread = 8;

/// Open-addressing hash accumulator (capacity a power of two >= 2 x the row's bound, linear
/// probing, Fibonacci hashing). state: 1 = allowed by the mask, not produced; 2 = produced.
template <class T>
class HashAcc {
 public:
  void begin(std::int64_t bound) {
    std::int64_t cap = 16;
    int bits = 4;
    while (cap < 2 * bound) {
      cap *= 2;
      ++bits;
    }
    shift_ = 64 - bits;
    mask_ = cap - 1;
    if (static_cast<std::int64_t>(keys_.size()) < cap) {
      keys_.assign(static_cast<std::size_t>(cap), -1);
      vals_.resize(static_cast<std::size_t>(cap));
      state_.resize(static_cast<std::size_t>(cap));
    } else {
      for (std::int64_t s : used_) keys_[static_cast<std::size_t>(s)] = -1;
    }
    used_.clear();
  }
  std::int64_t slot_of(std::int64_t j) const {
    return static_cast<std::int64_t>((static_cast<std::uint64_t>(j) * 0x9E3779B97F4A7C15ULL) >>
                                     shift_);
  }
  /// Adds v at column j (inserting it).
  void add(std::int64_t j, T v) {
    for (std::int64_t s = slot_of(j);; s = (s + 1) & mask_) {
      const std::int64_t k = keys_[static_cast<std::size_t>(s)];
      if (k == j) {
        vals_[static_cast<std::size_t>(s)] += v;
        return;
      }
      if (k < 0) {
        keys_[static_cast<std::size_t>(s)] = j;
        vals_[static_cast<std::size_t>(s)] = v;
        state_[static_cast<std::size_t>(s)] = 2;
        used_.push_back(s);
        return;
      }
    }
  }
  /// Inserts column j (structure only, state st).
  void insert(std::int64_t j, std::uint8_t st) {
    for (std::int64_t s = slot_of(j);; s = (s + 1) & mask_) {
      const std::int64_t k = keys_[static_cast<std::size_t>(s)];
      if (k == j) return;
      if (k < 0) {
        keys_[static_cast<std::size_t>(s)] = j;
        vals_[static_cast<std::size_t>(s)] = T(0);
        state_[static_cast<std::size_t>(s)] = st;
        used_.push_back(s);
        return;
      }
    }
  }
  /// Adds v at column j only if j is present (masked products).
  void add_if_present(std::int64_t j, T v) {
    for (std::int64_t s = slot_of(j);; s = (s + 1) & mask_) {
      const std::int64_t k = keys_[static_cast<std::size_t>(s)];
      if (k == j) {
        vals_[static_cast<std::size_t>(s)] += v;
        state_[static_cast<std::size_t>(s)] = 2;
        return;
      }
      if (k < 0) return;
    }
  }
  T value_of(std::int64_t j) const {
    for (std::int64_t s = slot_of(j);; s = (s + 1) & mask_)
      if (keys_[static_cast<std::size_t>(s)] == j) return vals_[static_cast<std::size_t>(s)];
  }
  const std::vector<std::int64_t>& used() const { return used_; }
  std::int64_t key(std::int64_t s) const { return keys_[static_cast<std::size_t>(s)]; }
  T val(std::int64_t s) const { return vals_[static_cast<std::size_t>(s)]; }
  std::uint8_t state(std::int64_t s) const { return state_[static_cast<std::size_t>(s)]; }

 private:
  std::vector<std::int64_t> keys_, used_;
  std::vector<T> vals_;
  std::vector<std::uint8_t> state_;
  std::int64_t mask_ = 15;
  int shift_ = 60;
};

/// Dense accumulator over all n columns: values, a bitmap of the columns touched in the
/// current row and their list (cleared row by row, O(touched)).
template <class T>
class DenseAcc {
 public:
  explicit DenseAcc(std::int64_t n) : n_(n) {}
  /// Prepares for a row of at most `bound` distinct columns (a new row stamp: nothing to
  /// clear).
  void begin(std::int64_t bound) {
    if (vals_.empty()) {
      vals_.assign(static_cast<std::size_t>(n_), T(0));
      stamp_.assign(static_cast<std::size_t>(n_), -1);
    }
    if (row_ == std::numeric_limits<std::int32_t>::max()) {  // stamps wrap: start over
      std::fill(stamp_.begin(), stamp_.end(), -1);
      row_ = -1;
    }
    ++row_;
    count_ = 0;
    // + 1: add() writes one slot past the distinct count before deciding to keep it
    const std::int64_t cap = std::min(bound, n_) + 1;
    if (static_cast<std::int64_t>(touched_.size()) < cap)
      touched_.resize(static_cast<std::size_t>(cap));
  }
  /// vals[idx[q]] += a * val[q] for q < len (= on a column's first touch in the row), the
  /// state in locals (stores through the int64 arrays could otherwise alias the members).
  /// Per-column stamps (not bits) so that nearby columns do not chain through one memory
  /// word. The touched list is written unconditionally and its count advanced only for new
  /// columns. The first-touch test stays a branch: branch-free selects (through a stack pair,
  /// or by masking the value's bits) measured 10-20% slower on 3-D Poisson A^2.
  template <class I>
  void add_scaled(const I* idx, const T* val, std::int64_t len, T a) {
    std::int32_t* stamp = stamp_.data();
    T* vals = vals_.data();
    std::int64_t* touched = touched_.data();
    const std::int32_t row = row_;
    std::int64_t count = count_;
    for (std::int64_t q = 0; q < len; ++q) {
      const auto j = static_cast<std::int64_t>(idx[q]);
      const bool seen = stamp[j] == row;
      stamp[j] = row;
      vals[j] = (seen ? vals[j] : T(0)) + a * val[q];
      touched[count] = j;
      count += !seen;
    }
    count_ = count;
  }
  std::int64_t count() const { return count_; }
  const std::int64_t* touched() const { return touched_.data(); }
  T value(std::int64_t j) const { return vals_[static_cast<std::size_t>(j)]; }
  /// Calls f on the touched columns in ascending order when a scan is cheaper than sorting
  /// them, and returns whether it did. Two-level bitmap: the columns' bits are set in `bits_`
  /// (one bit per column) and in `summary_` (one bit per non-zero word of `bits_`), after the
  /// accumulation so that adds never chain through a bitmap word; the scan then reads the
  /// summary words spanning the row and only the non-zero words of `bits_`, clearing both.
  /// Cost O(count + span / 4096); taken when span / 4096 <= 2 count log2 count (count >= 8).
  template <class F>
  bool for_each_sorted_if_cheap(F&& f) {
    if (count_ < 8) return false;
    std::int64_t lo = n_, hi = -1;
    for (std::int64_t e = 0; e < count_; ++e) {
      lo = std::min(lo, touched_[static_cast<std::size_t>(e)]);
      hi = std::max(hi, touched_[static_cast<std::size_t>(e)]);
    }
    int lg = 1;
    while ((std::int64_t{1} << lg) < count_) ++lg;
    if ((hi - lo) / 4096 > 2 * count_ * lg) return false;
    if (bits_.empty()) {
      bits_.assign(static_cast<std::size_t>((n_ + 63) / 64), 0);
      summary_.assign(static_cast<std::size_t>((n_ + 4095) / 4096), 0);
    }
    std::uint64_t* bits = bits_.data();
    std::uint64_t* summary = summary_.data();
    for (std::int64_t e = 0; e < count_; ++e) {
      const auto j = static_cast<std::uint64_t>(touched_[static_cast<std::size_t>(e)]);
      bits[j >> 6] |= std::uint64_t{1} << (j & 63);
      summary[j >> 12] |= std::uint64_t{1} << ((j >> 6) & 63);
    }
    for (std::int64_t s = lo >> 12; s <= hi >> 12; ++s) {
      std::uint64_t y = summary[s];
      summary[s] = 0;
      while (y) {
        const std::int64_t w = s * 64 + __builtin_ctzll(y);
        y &= y - 1;
        std::uint64_t x = bits[w];
        bits[w] = 0;
        while (x) {
          f(w * 64 + __builtin_ctzll(x));
          x &= x - 1;
        }
      }
    }
    return true;
  }

 private:
  std::int64_t n_;
  std::int64_t count_ = 0;
  std::int32_t row_ = -1;  ///< stamp of the current row (32-bit: less cache for the stamps)
  std::vector<T> vals_;
  std::vector<std::int32_t> stamp_;
  std::vector<std::int64_t> touched_;
  std::vector<std::uint64_t> bits_,
      summary_;  ///< all zero between calls of for_each_sorted_if_cheap
};

/// Sorts non-negative column indices < n ascending: insertion sort for short lists, std::sort
/// for medium ones, LSD radix sort (11-bit digits, as many passes as n needs) for long ones.
inline void sort_columns(std::vector<std::int64_t>& c, std::int64_t n,
                         std::vector<std::int64_t>& tmp) {
  const std::size_t len = c.size();
  if (len <= 32) {
    for (std::size_t i = 1; i < len; ++i) {
      const std::int64_t x = c[i];
      std::size_t j = i;
      for (; j > 0 && c[j - 1] > x; --j) c[j] = c[j - 1];
      c[j] = x;
    }
    return;
  }
  int bits = 1;
  while ((std::int64_t{1} << bits) < n) ++bits;
  const int passes = (bits + 10) / 11;
  if (len < 256 || static_cast<std::size_t>(passes) * 2048 > 4 * len) {
    std::sort(c.begin(), c.end());
    return;
  }
  tmp.resize(len);
  std::int64_t* src = c.data();
  std::int64_t* dst = tmp.data();
  std::size_t count[2048];
  for (int p = 0; p < passes; ++p) {
    const int sh = 11 * p;
    std::fill(count, count + 2048, 0);
    for (std::size_t i = 0; i < len; ++i) ++count[(src[i] >> sh) & 2047];
    std::size_t sum = 0;
    for (std::size_t& x : count) {
      const std::size_t t = x;
      x = sum;
      sum += t;
    }
    for (std::size_t i = 0; i < len; ++i) dst[count[(src[i] >> sh) & 2047]++] = src[i];
    std::swap(src, dst);
  }
  if (src != c.data()) std::copy(src, src + len, c.data());
}

template <class T, class IA, class IB>
std::int64_t row_flops(const CsrView<T, IA>& A, const CsrView<T, IB>& B, std::int64_t i) {
  std::int64_t f = 0;
  for (std::int64_t p = A.indptr[i]; p < A.indptr[i + 1]; ++p) {
    const std::int64_t k = A.indices[p];
    f += static_cast<std::int64_t>(B.indptr[k + 1]) - static_cast<std::int64_t>(B.indptr[k]);
  }
  return f;
}

/// Row ranges of about equal work (flops + 1 per row), `chunks` of them; depends on the
/// matrix and the chunk count only.
inline std::vector<std::int64_t> balanced_chunks(const std::vector<std::int64_t>& row_flops,
                                                 std::int64_t chunks) {
  const auto m = static_cast<std::int64_t>(row_flops.size());
  std::vector<std::int64_t> prefix(static_cast<std::size_t>(m + 1), 0);
  for (std::int64_t i = 0; i < m; ++i)
    prefix[static_cast<std::size_t>(i + 1)] =
        prefix[static_cast<std::size_t>(i)] + row_flops[static_cast<std::size_t>(i)] + 1;
  chunks = std::max<std::int64_t>(1, std::min(chunks, m));
  std::vector<std::int64_t> bounds{0};
  for (std::int64_t c = 1; c < chunks; ++c) {
    const std::int64_t target = prefix.back() / chunks * c;
    const auto it = std::lower_bound(prefix.begin(), prefix.end(), target);
    const std::int64_t r = std::max(bounds.back(), static_cast<std::int64_t>(it - prefix.begin()));
    if (r < m) bounds.push_back(r);
  }
  bounds.push_back(m);
  bounds.erase(std::unique(bounds.begin(), bounds.end()), bounds.end());
  return bounds;
}

/// Columns up to which every row uses the dense accumulator (n values and n row stamps per
/// thread, 32 MiB at the limit): a direct store beats a hash probe, and rows of mesh-like
/// matrices touch nearby columns. Measured on 3-D Poisson 60^3 (n = 216000): 67 ms with the
/// hash accumulator at 1 thread (limit 2^17), against SciPy's 29 ms.
constexpr std::int64_t kDenseAlways = std::int64_t{1} << 21;

/// Whether a row with this bound on its distinct columns uses the dense accumulator: always
/// for n <= kDenseAlways, else when the bound reaches n / 8.
inline bool use_dense(std::int64_t bound, std::int64_t n) {
  return n > 0 && (n <= kDenseAlways || bound * 8 >= n);
}

/// The top-k order on values as one integer: order_key(x) > order_key(y) iff x ranks before y
/// on value (larger numbers first, NaN last; -0.0 and +0.0 equal), so the heap below
/// compares integers and breaks ties on the column.
template <class T>
inline std::int64_t order_key(T v) {
  if (std::isnan(v)) return std::numeric_limits<std::int64_t>::min();
  if (v == T(0)) return 0;
  std::int64_t b;
  if constexpr (sizeof(T) == 8) {
    std::memcpy(&b, &v, 8);
  } else {
    std::int32_t b32;
    std::memcpy(&b32, &v, 4);
    b = b32;
  }
  // sign-magnitude to two's complement: negative numbers order by decreasing magnitude
  return b >= 0 ? b : b ^ std::numeric_limits<std::int64_t>::max();
}

/// An entry of the top-k heap: (order_key, column, value).
template <class T>
struct TopkEntry {
  std::int64_t key, col;
  T v;
  /// Ranks after e under TopkBetter's order.
  bool worse_than(const TopkEntry& e) const { return key < e.key || (key == e.key && col > e.col); }
};

/// Per-thread workspace of both passes.
template <class T>
struct RowWork {
  HashAcc<T> hash;
  DenseAcc<T> dense;
  std::vector<std::int64_t> cols, tmp;
  std::vector<std::int64_t> stamp;  ///< symbolic pass: last row that touched each column
  std::vector<std::pair<std::int64_t, T>> pairs;
  std::vector<TopkEntry<T>> heap;
  explicit RowWork(std::int64_t n) : dense(n) {}
};

/// Row i of A B into the hash (masked: only the mask row's columns) or dense accumulator.
/// Returns whether the dense one was used.
template <class T, class IA, class IB, class IM>
bool accumulate_row(const CsrView<T, IA>& A, const CsrView<T, IB>& B, const CsrView<T, IM>* M,
                    std::int64_t i, std::int64_t flops, RowWork<T>& w) {
  if (M) {
    const std::int64_t lo = M->indptr[i], hi = M->indptr[i + 1];
    w.hash.begin(hi - lo);
    for (std::int64_t q = lo; q < hi; ++q)
      w.hash.insert(static_cast<std::int64_t>(M->indices[q]), 1);
    for (std::int64_t p = A.indptr[i]; p < A.indptr[i + 1]; ++p) {
      const std::int64_t k = A.indices[p];
      const T a = A.values[p];
      for (std::int64_t q = B.indptr[k]; q < B.indptr[k + 1]; ++q)
        w.hash.add_if_present(static_cast<std::int64_t>(B.indices[q]), a * B.values[q]);
    }
    return false;
  }
  const bool dense = use_dense(flops, B.n_cols);
  if (dense)
    w.dense.begin(flops);
  else
    w.hash.begin(flops);
  for (std::int64_t p = A.indptr[i]; p < A.indptr[i + 1]; ++p) {
    const std::int64_t k = A.indices[p];
    const T a = A.values[p];
    if (dense)
      w.dense.add_scaled(B.indices + B.indptr[k], B.values + B.indptr[k],
                         static_cast<std::int64_t>(B.indptr[k + 1]) - B.indptr[k], a);
    else
      for (std::int64_t q = B.indptr[k]; q < B.indptr[k + 1]; ++q)
        w.hash.add(static_cast<std::int64_t>(B.indices[q]), a * B.values[q]);
  }
  return dense;
}

/// The accumulated row's entries as (column, value) pairs (produced entries only), unsorted.
template <class T>
void row_pairs(RowWork<T>& w, bool dense, std::vector<std::pair<std::int64_t, T>>& out) {
  out.clear();
  if (dense) {
    for (std::int64_t e = 0; e < w.dense.count(); ++e)
      out.emplace_back(w.dense.touched()[e], w.dense.value(w.dense.touched()[e]));
  } else {
    for (std::int64_t s : w.hash.used())
      if (w.hash.state(s) == 2) out.emplace_back(w.hash.key(s), w.hash.val(s));
  }
}

/// The top-k order: larger values first, NaN after every number, ties to the smaller column
/// (a strict total order on (column, value) pairs of distinct columns).
template <class T>
struct TopkBetter {
  bool operator()(const std::pair<std::int64_t, T>& x, const std::pair<std::int64_t, T>& y) const {
    const bool xn = std::isnan(x.second), yn = std::isnan(y.second);
    if (xn != yn) return yn;
    if (!xn && x.second != y.second) return x.second > y.second;
    return x.first < y.first;
  }
};

/// Top-k selection in place: drop values <= threshold, keep the k largest (ties and NaN: see
/// spgemm_topk), sorted by column.
template <class T>
void select_top_k(std::vector<std::pair<std::int64_t, T>>& out, const SpgemmOptions& o) {
  if (o.use_threshold) {
    const T thr = static_cast<T>(o.threshold);
    out.erase(
        std::remove_if(out.begin(), out.end(),
                       [thr](const std::pair<std::int64_t, T>& e) { return !(e.second > thr); }),
        out.end());
  }
  if (static_cast<std::int64_t>(out.size()) > o.top_k) {
    std::nth_element(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(o.top_k), out.end(),
                     TopkBetter<T>());
    out.resize(static_cast<std::size_t>(o.top_k));
  }
  std::sort(out.begin(), out.end(),
            [](const std::pair<std::int64_t, T>& x, const std::pair<std::int64_t, T>& y) {
              return x.first < y.first;
            });
}

/// The top-k entries of the accumulated row straight from the accumulator, into out (sorted by
/// column), under select_top_k's order (TopkBetter, a strict total order, so the kept set is
/// the same): a heap of the k best so far, worst on top, compared by (order_key, column).
/// Most entries lose to the worst kept value on one compare in the scan loop (NaN on either
/// side never rejects there); an entry that ranks before the top replaces it, sifted down once.
/// Top-10 of X X^T, TF-IDF 50k x 100k, one thread, row selection (profile share): ~380 ms
/// with a std heap of pairs under TopkBetter (pop + push for every entry offered) -> ~190 ms.
/// Rows with at most top_k entries fall back to row_pairs + select_top_k.
template <class T>
void row_top_k(RowWork<T>& w, bool dense, const SpgemmOptions& o,
               std::vector<std::pair<std::int64_t, T>>& out) {
  const std::int64_t count =
      dense ? w.dense.count() : static_cast<std::int64_t>(w.hash.used().size());
  if (count <= o.top_k) {
    row_pairs(w, dense, out);
    select_top_k(out, o);
    return;
  }
  out.clear();
  if (o.top_k == 0) return;
  const auto k = static_cast<std::size_t>(o.top_k);
  std::vector<TopkEntry<T>>& h = w.heap;
  h.clear();
  const T thr = static_cast<T>(o.threshold);
  const bool use_thr = o.use_threshold;
  T worst = T(0);  // h[0].v once k are kept
  const auto sift_down = [&](std::size_t i, const TopkEntry<T> e) {
    for (;;) {  // the worse child moves up while it ranks after e
      std::size_t c = 2 * i + 1;
      if (c >= k) break;
      c += static_cast<std::size_t>(c + 1 < k && h[c + 1].worse_than(h[c]));
      if (!h[c].worse_than(e)) break;
      h[i] = h[c];
      i = c;
    }
    h[i] = e;
  };
  const auto offer = [&](std::int64_t col, T v) {
    if (use_thr && !(v > thr)) return;
    const TopkEntry<T> e{order_key(v), col, v};
    if (h.size() < k) {
      h.push_back(e);
      if (h.size() == k) {  // heapify, worst on top
        for (std::size_t i = k / 2; i-- > 0;) sift_down(i, h[i]);
        worst = h[0].v;
      }
      return;
    }
    if (!h[0].worse_than(e)) return;
    sift_down(0, e);
    worst = h[0].v;
  };
  if (dense) {
    const std::int64_t* t = w.dense.touched();
    const std::int64_t tl = w.dense.count();
    std::int64_t e = 0;
    for (; e < tl && h.size() < k; ++e) offer(t[e], w.dense.value(t[e]));
    for (; e < tl; ++e) {
      const T v = w.dense.value(t[e]);
      if (!(v < worst)) offer(t[e], v);
    }
  } else {
    for (std::int64_t s : w.hash.used())
      if (w.hash.state(s) == 2 && !(h.size() == k && w.hash.val(s) < worst))
        offer(w.hash.key(s), w.hash.val(s));
  }
  for (const auto& e : h) out.emplace_back(e.col, e.v);  // (fewer than k: threshold)
  std::sort(out.begin(), out.end(),
            [](const std::pair<std::int64_t, T>& x, const std::pair<std::int64_t, T>& y) {
              return x.first < y.first;
            });
}

/// Writes the accumulated row (plain or masked product) to ci / cv: produced entries only,
/// sorted by column when o.sort_indices (dense rows through the bitmap scan when that is
/// cheaper than sorting). Returns the count.
template <class T, class IC>
std::int64_t emit_row(RowWork<T>& w, bool dense, const SpgemmOptions& o, std::int64_t n, IC* ci,
                      T* cv) {
  std::int64_t e = 0;
  if (dense) {
    const std::int64_t* t = w.dense.touched();
    const std::int64_t tl = w.dense.count();
    if (!o.sort_indices) {
      for (std::int64_t q = 0; q < tl; ++q) {
        ci[e] = static_cast<IC>(t[q]);
        cv[e++] = w.dense.value(t[q]);
      }
    } else if (!w.dense.for_each_sorted_if_cheap([&](std::int64_t j) {
                 ci[e] = static_cast<IC>(j);
                 cv[e++] = w.dense.value(j);
               })) {
      w.cols.assign(t, t + tl);
      sort_columns(w.cols, n, w.tmp);
      for (std::int64_t j : w.cols) {
        ci[e] = static_cast<IC>(j);
        cv[e++] = w.dense.value(j);
      }
    }
  } else if (o.sort_indices) {
    w.cols.clear();
    for (std::int64_t s : w.hash.used())
      if (w.hash.state(s) == 2) w.cols.push_back(w.hash.key(s));
    sort_columns(w.cols, n, w.tmp);
    for (std::int64_t j : w.cols) {
      ci[e] = static_cast<IC>(j);
      cv[e++] = w.hash.value_of(j);
    }
  } else {
    for (std::int64_t s : w.hash.used())
      if (w.hash.state(s) == 2) {
        ci[e] = static_cast<IC>(w.hash.key(s));
        cv[e++] = w.hash.val(s);
      }
  }
  return e;
}

template <class T, class IA, class IB, class IM>
void check_spgemm_shapes(const CsrView<T, IA>& A, const CsrView<T, IB>& B,
                         const CsrView<T, IM>* M) {
  if (A.n_cols != B.n_rows)
    throw value_error("B: shape mismatch, A is " + std::to_string(A.n_rows) + " x " +
                      std::to_string(A.n_cols) + " and B is " + std::to_string(B.n_rows) + " x " +
                      std::to_string(B.n_cols));
  if (M && (M->n_rows != A.n_rows || M->n_cols != B.n_cols))
    throw value_error("mask: expected shape " + std::to_string(A.n_rows) + " x " +
                      std::to_string(B.n_cols) + ", got " + std::to_string(M->n_rows) + " x " +
                      std::to_string(M->n_cols));
}

/// plan.row_flops (in parallel), plan.flops, and plan.indptr zeroed for the row counts.
template <class T, class IA, class IB>
void count_row_flops(const CsrView<T, IA>& A, const CsrView<T, IB>& B, int nt, SpgemmPlan& plan) {
  const std::int64_t m = A.n_rows;
  plan.row_flops.assign(static_cast<std::size_t>(m), 0);
  plan.indptr.assign(static_cast<std::size_t>(m + 1), 0);
  const int t0 = A.nnz() < 4096 ? 1 : nt;
#pragma omp parallel for num_threads(t0) if (t0 > 1) schedule(static)
  for (std::int64_t i = 0; i < m; ++i)
    plan.row_flops[static_cast<std::size_t>(i)] = row_flops(A, B, i);
  plan.flops = 0;
  for (std::int64_t f : plan.row_flops) plan.flops += f;
}

/// Row counts in plan.indptr[1..m] -> prefix sums and plan.nnz.
inline void finish_counts(SpgemmPlan& plan) {
  const auto m = static_cast<std::int64_t>(plan.indptr.size()) - 1;
  for (std::int64_t i = 0; i < m; ++i)
    plan.indptr[static_cast<std::size_t>(i) + 1] += plan.indptr[static_cast<std::size_t>(i)];
  plan.nnz = plan.indptr[static_cast<std::size_t>(m)];
}

/// Runs body(i, work) for every row, rows in flop-balanced chunks taken dynamically.
template <class T, class Body>
void for_rows(const std::vector<std::int64_t>& row_flops, std::int64_t total_flops, int nt,
              std::int64_t n_cols, Body&& body) {
  const int threads = total_flops < 16384 ? 1 : nt;
  const auto bounds = balanced_chunks(row_flops, kSpgemmChunksPerThread * threads);
  const auto n_chunks = static_cast<std::int64_t>(bounds.size()) - 1;
  ExceptionCapture ex;
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    RowWork<T> work(n_cols);
#pragma omp for schedule(dynamic, 1)
    for (std::int64_t c = 0; c < n_chunks; ++c)
      ex.run([&] {
        for (std::int64_t i = bounds[static_cast<std::size_t>(c)];
             i < bounds[static_cast<std::size_t>(c) + 1]; ++i)
          body(i, work);
      });
  }
  ex.rethrow();
}

}  // namespace detail

/// Pass 1: flops and exact output size of every row of A B (or of A B restricted to M, or of
/// its top-k rows), and C's indptr. A, B (and M) must be valid CSR (validate_csr); duplicate
/// or unsorted column indices are allowed (duplicates add up).
template <class T, class IA, class IB, class IM = IA>
SpgemmPlan spgemm_symbolic(const CsrView<T, IA>& A, const CsrView<T, IB>& B,
                           const CsrView<T, IM>* M, const SpgemmOptions& o) {
  detail::check_spgemm_shapes(A, B, M);
  const int nt = resolve_threads(o.n_threads);
  SpgemmPlan plan;
  detail::count_row_flops(A, B, nt, plan);
  std::int64_t* counts = plan.indptr.data() + 1;
  detail::for_rows<T>(
      plan.row_flops, plan.flops, nt, B.n_cols, [&](std::int64_t i, detail::RowWork<T>& w) {
        const std::int64_t f = plan.row_flops[static_cast<std::size_t>(i)];
        std::int64_t cnt = 0;
        if (f == 0) {
          cnt = 0;
        } else if (M || (o.top_k >= 0 && o.use_threshold)) {  // values matter
          const bool dense = detail::accumulate_row(A, B, M, i, f, w);
          if (o.top_k >= 0)
            detail::row_top_k(w, dense, o, w.pairs);
          else
            detail::row_pairs(w, dense, w.pairs);
          cnt = static_cast<std::int64_t>(w.pairs.size());
        } else if (detail::use_dense(f, B.n_cols)) {  // structure only: row stamps, no list
          if (w.stamp.empty()) w.stamp.assign(static_cast<std::size_t>(B.n_cols), -1);
          std::int64_t* st = w.stamp.data();
          for (std::int64_t p = A.indptr[i]; p < A.indptr[i + 1]; ++p) {
            const std::int64_t k = A.indices[p];
            for (std::int64_t q = B.indptr[k]; q < B.indptr[k + 1]; ++q) {
              const std::int64_t j = B.indices[q];
              cnt += st[j] != i;
              st[j] = i;
            }
          }
        } else {
          w.hash.begin(f);
          for (std::int64_t p = A.indptr[i]; p < A.indptr[i + 1]; ++p) {
            const std::int64_t k = A.indices[p];
            for (std::int64_t q = B.indptr[k]; q < B.indptr[k + 1]; ++q)
              w.hash.insert(static_cast<std::int64_t>(B.indices[q]), 2);
          }
          cnt = static_cast<std::int64_t>(w.hash.used().size());
        }
        if (o.top_k >= 0) cnt = std::min(cnt, o.top_k);  // (threshold: applied above)
        counts[i] = cnt;
      });
  detail::finish_counts(plan);
  return plan;
}

/// Pass 2: writes C = A B (or its masked / top-k form) into indices[plan.indptr[i] ..] and
/// values[..] (each of plan.nnz entries), row by row, in parallel.
template <class T, class IA, class IB, class IM, class IC>
void spgemm_numeric(const CsrView<T, IA>& A, const CsrView<T, IB>& B, const CsrView<T, IM>* M,
                    const SpgemmPlan& plan, IC* indices, T* values, const SpgemmOptions& o) {
  detail::check_spgemm_shapes(A, B, M);
  const int nt = resolve_threads(o.n_threads);
  const std::int64_t n = B.n_cols;
  detail::for_rows<T>(
      plan.row_flops, plan.flops, nt, n, [&](std::int64_t i, detail::RowWork<T>& w) {
        const std::int64_t lo = plan.indptr[static_cast<std::size_t>(i)];
        const std::int64_t len = plan.indptr[static_cast<std::size_t>(i) + 1] - lo;
        if (len == 0) return;
        const bool dense =
            detail::accumulate_row(A, B, M, i, plan.row_flops[static_cast<std::size_t>(i)], w);
        IC* ci = indices + lo;
        T* cv = values + lo;
        std::int64_t e = 0;
        if (o.top_k >= 0) {
          detail::row_top_k(w, dense, o, w.pairs);
          for (const auto& pr : w.pairs) {
            ci[e] = static_cast<IC>(pr.first);
            cv[e++] = pr.second;
          }
        } else {
          e = detail::emit_row(w, dense, o, n, ci, cv);
        }
        if (e != len) throw std::logic_error("spgemm: symbolic and numeric passes disagree");
      });
}

namespace detail {

/// Output entries per chunk of the one-pass product (about: chunks are cut by flops).
constexpr std::int64_t kOnepassChunkFlops = std::int64_t{1} << 16;
/// Bytes of finished but not yet placed chunk outputs above which a thread waits before it
/// starts another chunk (unless that chunk is the next one to place).
constexpr std::int64_t kOnepassStagedBytes = std::int64_t{64} << 20;

/// A chunk's output while it waits for its place in C.
template <class T, class IC>
struct ChunkBuffer {
  std::unique_ptr<IC[]> idx;
  std::unique_ptr<T[]> val;
  std::int64_t cap = 0, len = 0;
  void reserve(std::int64_t n) {
    if (n > cap) {
      idx.reset(new IC[static_cast<std::size_t>(n)]);
      val.reset(new T[static_cast<std::size_t>(n)]);
      cap = n;
    }
    len = 0;
  }
};

}  // namespace detail

/// Plain product C = A B in ONE pass over A and B, for callers that can reserve the output's
/// upper bound: `indices` and `values` must hold plan.flops entries (a bound on nnz(C); the
/// caller reserves them as virtual memory, so pages past the real nnz are never touched, then
/// shrinks them). plan holds count_row_flops's result (row_flops, flops). Writes C's row
/// pointers to indptr (m + 1 entries) and returns nnz(C).
///
/// Rows are cut into chunks of about kOnepassChunkFlops flops, handed out in order. A chunk's
/// offset in C is known once every earlier chunk has finished (offsets are assigned in chunk
/// order, under a lock). A chunk whose offset is known when it starts writes straight into C;
/// any other writes to its thread's buffer and is copied (outside the lock) to its offset by
/// the thread that finishes it or, if an earlier chunk is still running then, by the thread
/// that finishes that one. Buffers are pooled. Every row is accumulated once, by one
/// thread, exactly as in spgemm_numeric: the result is bitwise that of the two-pass product
/// for any thread count. Extra memory: the per-thread accumulators and buffers (one chunk
/// each) plus finished chunks waiting for a slow predecessor, at most max_staged_bytes
/// before threads wait (the chunk next in line never waits). This trades the symbolic pass
/// (a second accumulation of every row) for one copy of the chunks that finish out of order.
template <class T, class IA, class IB, class IC>
std::int64_t spgemm_onepass(const CsrView<T, IA>& A, const CsrView<T, IB>& B,
                            const SpgemmPlan& plan, IC* indices, T* values, IC* indptr,
                            const SpgemmOptions& o,
                            std::int64_t max_staged_bytes = detail::kOnepassStagedBytes) {
  detail::check_spgemm_shapes<T, IA, IB, IA>(A, B, nullptr);
  if (o.top_k >= 0) throw value_error("spgemm_onepass: top_k products use spgemm_topk_stage");
  const std::int64_t m = A.n_rows, n = B.n_cols;
  const int nt = resolve_threads(o.n_threads);
  const int threads = plan.flops < 16384 ? 1 : nt;
  std::int64_t chunks = 1;
  if (threads > 1)
    chunks = std::max<std::int64_t>(detail::kSpgemmChunksPerThread * threads,
                                    plan.flops / detail::kOnepassChunkFlops);
  const auto bounds = detail::balanced_chunks(plan.row_flops, chunks);
  const auto n_chunks = static_cast<std::int64_t>(bounds.size()) - 1;

  using Buffer = detail::ChunkBuffer<T, IC>;
  std::mutex mu;
  std::int64_t placed = 0;  ///< chunks whose offset in C is assigned (guarded by mu)
  std::int64_t end = 0;     ///< offset after the last of them (guarded by mu)
  std::vector<std::unique_ptr<Buffer>> waiting(
      static_cast<std::size_t>(n_chunks));    ///< finished, offset unknown (guarded by mu)
  std::vector<std::unique_ptr<Buffer>> pool;  ///< spare buffers (guarded by mu)
  std::atomic<std::int64_t> placed_now{0}, staged_bytes{0}, next{0};
  constexpr std::int64_t entry_bytes = sizeof(IC) + sizeof(T);
  ExceptionCapture ex;
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    detail::RowWork<T> work(n);
    auto buf = std::make_unique<Buffer>();
    std::vector<std::pair<std::unique_ptr<Buffer>, std::int64_t>> to_copy;  // (chunk, offset)
    for (;;) {
      const std::int64_t c = next.fetch_add(1, std::memory_order_relaxed);
      if (c >= n_chunks || ex.failed()) break;
      ex.run([&] {
        while (c > placed_now.load(std::memory_order_acquire) &&
               staged_bytes.load(std::memory_order_relaxed) > max_staged_bytes && !ex.failed())
          std::this_thread::yield();
        const std::int64_t lo = bounds[static_cast<std::size_t>(c)];
        const std::int64_t hi = bounds[static_cast<std::size_t>(c) + 1];
        bool direct;
        std::int64_t base;
        {
          std::lock_guard<std::mutex> lock(mu);
          direct = placed == c;  // every earlier chunk sized: this one's offset is known
          base = end;
        }
        IC* ci = indices + base;
        T* cv = values + base;
        if (!direct) {
          std::int64_t bound = 0;
          for (std::int64_t i = lo; i < hi; ++i)
            bound += std::min(plan.row_flops[static_cast<std::size_t>(i)], n);
          buf->reserve(bound);
          ci = buf->idx.get();
          cv = buf->val.get();
        }
        std::int64_t e = 0;
        for (std::int64_t i = lo; i < hi; ++i) {
          const std::int64_t f = plan.row_flops[static_cast<std::size_t>(i)];
          std::int64_t cnt = 0;
          if (f > 0) {
            const bool dense = detail::accumulate_row<T, IA, IB, IA>(A, B, nullptr, i, f, work);
            cnt = detail::emit_row(work, dense, o, n, ci + e, cv + e);
          }
          indptr[i + 1] = static_cast<IC>(cnt);  // row counts; prefix sums at the end
          e += cnt;
        }
        buf->len = e;
        std::int64_t own_offset = -1;
        {
          // offsets are assigned in chunk order under the lock; the copies happen outside it
          std::lock_guard<std::mutex> lock(mu);
          if (placed != c) {  // an earlier chunk is still running: wait for it
            staged_bytes.fetch_add(e * entry_bytes, std::memory_order_relaxed);
            waiting[static_cast<std::size_t>(c)] = std::move(buf);
            if (!pool.empty()) {
              buf = std::move(pool.back());
              pool.pop_back();
            } else {
              buf = std::make_unique<Buffer>();
            }
            return;
          }
          own_offset = direct ? -1 : end;
          end += e;
          ++placed;
          while (placed < n_chunks && waiting[static_cast<std::size_t>(placed)]) {
            auto& w = waiting[static_cast<std::size_t>(placed)];
            to_copy.emplace_back(std::move(w), end);
            end += to_copy.back().first->len;
            ++placed;
          }
          placed_now.store(placed, std::memory_order_release);
        }
        if (own_offset >= 0) {
          std::copy(ci, ci + e, indices + own_offset);
          std::copy(cv, cv + e, values + own_offset);
        }
        for (auto& pr : to_copy) {
          const Buffer& w = *pr.first;
          std::copy(w.idx.get(), w.idx.get() + w.len, indices + pr.second);
          std::copy(w.val.get(), w.val.get() + w.len, values + pr.second);
          staged_bytes.fetch_sub(w.len * entry_bytes, std::memory_order_relaxed);
        }
        if (!to_copy.empty()) {
          std::lock_guard<std::mutex> lock(mu);
          for (auto& pr : to_copy) pool.push_back(std::move(pr.first));
        }
        to_copy.clear();
      });
    }
  }
  ex.rethrow();
  if (placed != n_chunks) throw std::logic_error("spgemm_onepass: chunks left unplaced");
  indptr[0] = 0;
  for (std::int64_t i = 0; i < m; ++i) indptr[i + 1] += indptr[i];
  return end;
}

/// Top-k product in one pass: each row of A B (restricted to M when given) is accumulated once,
/// its top_k entries selected (select_top_k) and written to a staging area of top_k slots per
/// row (staged_cols / staged_vals, m * min(top_k, n) entries each); plan.indptr counts them.
/// spgemm_topk_compact then copies the staged rows into C's arrays. The two-pass path
/// (symbolic + numeric) accumulates every row twice; this one trades the second accumulation
/// for the staging memory, so callers use it when m * min(top_k, n) is small
/// (topk_staging_fits).
template <class T>
struct TopkStage {
  SpgemmPlan plan;
  std::int64_t slots = 0;  ///< staging slots per row
  std::vector<std::int64_t> cols;
  std::vector<T> vals;
};

/// Whether the one-pass top-k staging (16 bytes per slot at most) stays under 256 MiB.
inline bool topk_staging_fits(std::int64_t m, std::int64_t n, std::int64_t top_k) {
  const std::int64_t slots = std::min(top_k, n);
  return slots >= 0 && (m == 0 || slots <= (std::int64_t{16} << 20) / std::max<std::int64_t>(m, 1));
}

template <class T, class IA, class IB, class IM = IA>
TopkStage<T> spgemm_topk_stage(const CsrView<T, IA>& A, const CsrView<T, IB>& B,
                               const CsrView<T, IM>* M, const SpgemmOptions& o) {
  detail::check_spgemm_shapes(A, B, M);
  if (o.top_k < 0) throw value_error("spgemm_topk_stage: top_k must be >= 0");
  const std::int64_t m = A.n_rows;
  const int nt = resolve_threads(o.n_threads);
  TopkStage<T> st;
  SpgemmPlan& plan = st.plan;
  st.slots = std::min(o.top_k, B.n_cols);
  detail::count_row_flops(A, B, nt, plan);
  st.cols.resize(static_cast<std::size_t>(m * st.slots));
  st.vals.resize(static_cast<std::size_t>(m * st.slots));
  std::int64_t* counts = plan.indptr.data() + 1;
  detail::for_rows<T>(plan.row_flops, plan.flops, nt, B.n_cols,
                      [&](std::int64_t i, detail::RowWork<T>& w) {
                        const std::int64_t f = plan.row_flops[static_cast<std::size_t>(i)];
                        if (f == 0 || st.slots == 0) {
                          counts[i] = 0;
                          return;
                        }
                        const bool dense = detail::accumulate_row(A, B, M, i, f, w);
                        detail::row_top_k(w, dense, o, w.pairs);
                        std::int64_t* c = st.cols.data() + i * st.slots;
                        T* v = st.vals.data() + i * st.slots;
                        std::int64_t e = 0;
                        for (const auto& pr : w.pairs) {
                          c[e] = pr.first;
                          v[e++] = pr.second;
                        }
                        counts[i] = e;
                      });
  detail::finish_counts(plan);
  return st;
}

/// Copies the staged top-k rows into indices[plan.indptr[i] ..] and values[..].
template <class T, class IC>
void spgemm_topk_compact(const TopkStage<T>& st, IC* indices, T* values, int n_threads) {
  const auto m = static_cast<std::int64_t>(st.plan.indptr.size()) - 1;
  const int nt = resolve_threads(n_threads);
#pragma omp parallel for num_threads(nt) if (nt > 1 && st.plan.nnz > 100000) schedule(static)
  for (std::int64_t i = 0; i < m; ++i) {
    const std::int64_t lo = st.plan.indptr[static_cast<std::size_t>(i)];
    const std::int64_t len = st.plan.indptr[static_cast<std::size_t>(i) + 1] - lo;
    for (std::int64_t e = 0; e < len; ++e) {
      indices[lo + e] = static_cast<IC>(st.cols[static_cast<std::size_t>(i * st.slots + e)]);
      values[lo + e] = st.vals[static_cast<std::size_t>(i * st.slots + e)];
    }
  }
}

/// A CSR matrix owning its arrays (C++ convenience result).
template <class T, class I>
struct CsrMatrix {
  std::int64_t n_rows = 0, n_cols = 0;
  std::vector<I> indptr, indices;
  std::vector<T> values;
  CsrView<T, I> view() const {
    return {indptr.data(), indices.data(), values.data(), n_rows, n_cols};
  }
};

/// C = A B (both passes) with int64 output indices; see spgemm_symbolic / spgemm_numeric.
template <class T, class IA, class IB>
CsrMatrix<T, std::int64_t> spgemm(const CsrView<T, IA>& A, const CsrView<T, IB>& B,
                                  const SpgemmOptions& o = {}) {
  const SpgemmPlan plan = spgemm_symbolic<T, IA, IB, IA>(A, B, nullptr, o);
  CsrMatrix<T, std::int64_t> C;
  C.n_rows = A.n_rows;
  C.n_cols = B.n_cols;
  checked_bytes<T>(plan.nnz, "spgemm output");
  C.indptr = plan.indptr;
  C.indices.resize(static_cast<std::size_t>(plan.nnz));
  C.values.resize(static_cast<std::size_t>(plan.nnz));
  spgemm_numeric<T, IA, IB, IA, std::int64_t>(A, B, nullptr, plan, C.indices.data(),
                                              C.values.data(), o);
  return C;
}

}  // namespace sparsketch
