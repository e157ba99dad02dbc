// Threads: one knob for the whole library, OpenMP when it is enabled, serial otherwise.
//
// convlayer parallelises inside each layer call (over blocks of output positions) and runs its own
// GEMM micro-kernel on each block; no layer calls Eigen's matrix product, so Eigen's own GEMM
// threads never nest inside convlayer's. The thread count starts at OpenMP's default
// (OMP_NUM_THREADS, else the number of cores) and is changed by set_num_threads().
#pragma once

#include <algorithm>
#include <stdexcept>
#include <string>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "convlayer/core/checked_math.hpp"

namespace convlayer {

/// True when convlayer was compiled with OpenMP (-fopenmp): otherwise everything runs serially.
constexpr bool has_openmp() {
#ifdef _OPENMP
    return true;
#else
    return false;
#endif
}

namespace detail {
inline int& thread_count_setting() {
#ifdef _OPENMP
    static int n = omp_get_max_threads();
#else
    static int n = 1;
#endif
    return n;
}
}  // namespace detail

/// Threads convlayer will use.
inline int num_threads() { return detail::thread_count_setting(); }

/// Sets convlayer's thread count (std::invalid_argument if n < 1). Without OpenMP any n is
/// accepted and the code stays serial.
inline void set_num_threads(int n) {
    if (n < 1) throw std::invalid_argument("convlayer::set_num_threads: need at least 1 thread, got " + std::to_string(n));
    detail::thread_count_setting() = has_openmp() ? n : 1;
}

/// Calls f(i, thread) for i in [0, count), spread statically over `threads` threads
/// (thread in [0, threads)). Runs serially when threads == 1, without OpenMP, or when already
/// inside a parallel region. f must not throw.
template <typename F>
void parallel_for(index_t count, int threads, F&& f) {
#ifdef _OPENMP
    threads = static_cast<int>(std::min<index_t>(threads, count));
    if (threads > 1 && !omp_in_parallel()) {
#pragma omp parallel for schedule(static) num_threads(threads)
        for (index_t i = 0; i < count; ++i) f(i, omp_get_thread_num());
        return;
    }
#else
    (void)threads;
#endif
    for (index_t i = 0; i < count; ++i) f(i, 0);
}

}  // namespace convlayer
