#pragma once
/// \file parallel.hpp
/// OpenMP helpers: thread-count resolution, fixed data blocks, and exception capture so that
/// no exception ever crosses an OpenMP region.

#include <atomic>
#include <cstdint>
#include <exception>
#include <mutex>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace sparsketch {

/// Threads to use: `requested` if positive, else omp_get_max_threads() at call time (which
/// honours OMP_NUM_THREADS, omp_set_num_threads and threadpoolctl). Never changes global state.
inline int resolve_threads(int requested) noexcept {
  if (requested > 0) return requested;
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

/// Index of the calling thread in the current team (0 outside a parallel region / no OpenMP).
inline int thread_id() noexcept {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

/// Number of threads in the current team (1 outside a parallel region / no OpenMP).
inline int team_size() noexcept {
#ifdef _OPENMP
  return omp_get_num_threads();
#else
  return 1;
#endif
}

/// omp_get_max_threads(), or 1 without OpenMP.
inline int max_threads() noexcept {
  return resolve_threads(0);
}

/// Captures the first exception thrown inside a parallel region; rethrow() after the region.
/// Usage:
///   ExceptionCapture ex;
///   #pragma omp parallel for
///   for (...) ex.run([&] { ... });
///   ex.rethrow();
class ExceptionCapture {
 public:
  template <class F>
  void run(F&& f) noexcept {
    if (failed_.load(std::memory_order_relaxed)) return;  // skip work after a failure
    try {
      f();
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu_);
      if (!ptr_) ptr_ = std::current_exception();
      failed_.store(true, std::memory_order_relaxed);
    }
  }
  bool failed() const noexcept { return failed_.load(std::memory_order_relaxed); }
  void rethrow() {
    if (ptr_) std::rethrow_exception(ptr_);
  }

 private:
  std::exception_ptr ptr_;
  std::mutex mu_;
  std::atomic<bool> failed_{false};
};

/// Number of fixed-size blocks covering [0, n). Blocks depend on the data size only, never on
/// the thread count, so per-block partial results combined in block order are deterministic.
inline std::int64_t n_blocks(std::int64_t n, std::int64_t block) noexcept {
  return block <= 0 ? 0 : (n + block - 1) / block;
}

}  // namespace sparsketch
