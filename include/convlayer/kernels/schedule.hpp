// How kernels spread work over threads, in one place: equal ranges, per-thread accumulators
// (cleared and summed), and the two rules every GEMM-based kernel shares: whether the threads
// split a GEMM's columns rather than its rows, and whether backward-weights gives each thread a
// private dW or splits dW's columns.
#pragma once

#include <algorithm>
#include <utility>

#include "convlayer/core/conv_shape.hpp"
#include "convlayer/core/threading.hpp"
#include "convlayer/kernels/packed_gemm.hpp"
#include "convlayer/kernels/tuning.hpp"

namespace convlayer::kernels {

namespace detail {
// [begin, end) of part `i` of `n` nearly equal parts of [0, total).
inline std::pair<index_t, index_t> split_range(index_t total, index_t n, index_t i) {
    return {total * i / n, total * (i + 1) / n};
}

// dst[0, size) += the threads - 1 private accumulators stored one after another at `acc`,
// each thread summing its own range of elements (one thread for a small sum).
template <typename T>
void add_private_accumulators(T* dst, const T* acc, index_t size, int threads) {
    const int summing = size * (threads - 1) < tuning<T>().parallel_sum_min_values ? 1 : threads;
    parallel_for(threads, summing, [&](index_t part, int) {
        const auto [e0, e1] = split_range(size, threads, part);
        for (int t = 1; t < threads; ++t)
            for (index_t e = e0; e < e1; ++e) dst[e] += acc[(t - 1) * size + e];
    });
}

// Clears dst[0, size) and the copies - 1 private accumulators of `size` values stored one after
// another at `acc`, every thread clearing an equal share (one thread for a small total).
template <typename T>
void clear_with_accumulators(T* dst, T* acc, index_t size, index_t copies, int threads) {
    const index_t total = size * copies;
    const int clearing = total < tuning<T>().parallel_sum_min_values ? 1 : threads;
    parallel_for(threads, clearing, [&](index_t part, int) {
        const auto [i0, i1] = split_range(total, threads, part);
        for (index_t i = i0; i < i1;) {  // [i0, i1) may span dst and the accumulators
            const index_t copy = i / size, end = std::min(i1, (copy + 1) * size);
            T* base = copy == 0 ? dst : acc + (copy - 1) * size;
            std::fill(base + (i - copy * size), base + (end - copy * size), T(0));
            i = end;
        }
    });
}

// Whether the threads should split a GEMM's output columns (cols of them) rather than its rows,
// for M output positions: at most kSplitColumnsMaxRowPanelsPerThread MR-row panels per thread,
// and at least one NR panel of columns each.
template <typename T>
bool threads_split_columns(index_t M, index_t cols, int threads) {
    const index_t row_panels = (M + GemmTile<T>::MR - 1) / GemmTile<T>::MR;
    const index_t col_panels = (cols + GemmTile<T>::NR - 1) / GemmTile<T>::NR;
    const auto t = static_cast<index_t>(threads);
    return threads > 1 && row_panels <= kSplitColumnsMaxRowPanelsPerThread * t && col_panels >= t;
}

}  // namespace detail

/// Whether the forward pass splits the filters over the threads (each thread all output rows
/// for its filters) rather than the rows (see detail::threads_split_columns; VGG conv5_2 at N = 1).
template <typename T>
bool forward_splits_filters(const ConvShape& s, int threads) {
    return detail::threads_split_columns<T>(s.output_positions(), s.k, threads);
}

/// True when backward-weights gives each thread beyond the first a private dW accumulator: dW is
/// at most kPrivateDwBytes and has fewer than kSplitDwMinPanelsPerThread panels of NR patch
/// columns per thread, or it fits L2 (Tuning::private_dw_cached_bytes) and each thread has
/// kPrivateDwPositionsPerThread positions to sum over.
/// Otherwise the threads split dW's columns: disjoint writes and no sum, but each thread reads
/// every position. (The measurements behind the rule: docs/performance.md.)
template <typename T>
bool private_dw(const ConvShape& s, int threads) {
    const index_t panels = (s.patch_length() + GemmTile<T>::NR - 1) / GemmTile<T>::NR;
    const index_t bytes = s.patch_length() * s.k * static_cast<index_t>(sizeof(T));
    const auto t = static_cast<index_t>(threads);
    return threads > 1 && bytes <= kPrivateDwBytes &&
           (panels < kSplitDwMinPanelsPerThread * t ||
            (bytes <= tuning<T>().private_dw_cached_bytes && s.output_positions() >= kPrivateDwPositionsPerThread * t));
}

}  // namespace convlayer::kernels
