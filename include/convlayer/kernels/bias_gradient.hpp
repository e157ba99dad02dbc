// The bias gradient of a conv layer: db = column sums of dY (positions x K, row-major: NHWC).
#pragma once

#include "convlayer/core/eigen_types.hpp"
#include "convlayer/core/threading.hpp"

namespace convlayer::kernels {

/// Below this many dY values one thread sums them all (a fork costs about as much).
inline constexpr index_t kParallelBiasGradientValues = index_t{1} << 16;

/// Values of scratch conv_bias_gradient() needs on `threads` threads: a partial sum of K values
/// per thread beyond the first.
inline index_t conv_bias_gradient_scratch_elements(index_t k, int threads) { return (threads - 1) * k; }

/// db = sum over the positions of dY's rows (overwritten). On several threads each sums its own
/// range of positions (thread 0 into db, the others into `scratch`), added at the end.
template <typename T>
void conv_bias_gradient(const T* dy, index_t positions, index_t k, T* db, T* scratch, int threads) {
    // dY as K x positions column-major: the sum of its columns reads dY in order.
    auto sum_rows = [&](index_t m0, index_t m1, T* out) {
        VectorMap<T>(out, k).noalias() = ConstMatrixMap<T>(dy + m0 * k, k, m1 - m0).rowwise().sum();
    };
    if (threads <= 1 || positions * k < kParallelBiasGradientValues || positions < threads) {
        sum_rows(0, positions, db);
        return;
    }
    parallel_for(threads, threads, [&](index_t part, int) {
        sum_rows(positions * part / threads, positions * (part + 1) / threads,
                 part == 0 ? db : scratch + (part - 1) * k);
    });
    for (int t = 1; t < threads; ++t) VectorMap<T>(db, k) += VectorMap<T>(scratch + (t - 1) * k, k);
}

}  // namespace convlayer::kernels
