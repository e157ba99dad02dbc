// The bias gradient of a conv layer: db = column sums of dY (positions x K, row-major: NHWC).
#pragma once

#include "convlayer/core/eigen_types.hpp"
#include "convlayer/core/threading.hpp"
#include "convlayer/kernels/simd.hpp"
#include "convlayer/kernels/tuning.hpp"

#include <algorithm>

namespace convlayer::kernels {

/// Values of scratch conv_bias_gradient() needs on `threads` threads: a partial sum of K values
/// per thread beyond the first.
inline index_t conv_bias_gradient_scratch_elements(index_t k, int threads) { return (threads - 1) * k; }

namespace detail {
// out += the sum of rows [m0, m1) of dY (K values each, rows `ld` apart). Eigen's
// rowwise().sum() of dY as a K x positions matrix measured 2-4x slower than either loop below
// (ResNet 1x1 backward-weights 8-10% faster with them).
template <typename T>
void add_rows(const T* dy, index_t ld, index_t m0, index_t m1, index_t k, T* out) {
    using Packet = typename Simd<T>::Packet;
    constexpr index_t P = Simd<T>::kLanes;
    if (k >= 4 * P) {  // each row added to out: its 4+ independent packets hide the add latency
        VectorMap<T> sum(out, k);
        for (index_t m = m0; m < m1; ++m) sum += ConstVectorMap<T>(dy + m * ld, k);
        return;
    }
    // Few filters: one packet of them at a time, summed over four rows at once in registers.
    using Eigen::internal::padd;
    using Eigen::internal::ploadu;
    index_t j = 0;
    for (; j + P <= k; j += P) {
        Packet s0 = Eigen::internal::pset1<Packet>(T(0)), s1 = s0, s2 = s0, s3 = s0;
        const T* row = dy + m0 * ld + j;
        index_t m = m0;
        for (; m + 4 <= m1; m += 4, row += 4 * ld) {
            s0 = padd(s0, ploadu<Packet>(row));
            s1 = padd(s1, ploadu<Packet>(row + ld));
            s2 = padd(s2, ploadu<Packet>(row + 2 * ld));
            s3 = padd(s3, ploadu<Packet>(row + 3 * ld));
        }
        for (; m < m1; ++m, row += ld) s0 = padd(s0, ploadu<Packet>(row));
        Eigen::internal::pstoreu(out + j, padd(ploadu<Packet>(out + j), padd(padd(s0, s1), padd(s2, s3))));
    }
    for (; j < k; ++j) {
        T sum = T(0);
        for (index_t m = m0; m < m1; ++m) sum += dy[m * ld + j];
        out[j] += sum;
    }
}

// out = the sum of rows [m0, m1) of dY (see add_rows()).
template <typename T>
void sum_rows(const T* dy, index_t ld, index_t m0, index_t m1, index_t k, T* out) {
    std::fill_n(out, k, T(0));
    add_rows(dy, ld, m0, m1, k, out);
}
}  // namespace detail

/// Part `part` of `parts` of db: the sum of its share of dY's rows, into db (part 0) or
/// scratch + (part - 1)*K. For a caller that runs the parts in a parallel region of its own, then
/// calls add_bias_gradient_parts().
template <typename T>
void bias_gradient_part(const T* dy, index_t positions, index_t k, index_t part, int parts, T* db, T* scratch) {
    const index_t m0 = positions * part / parts, m1 = positions * (part + 1) / parts;
    detail::sum_rows(dy, k, m0, m1, k, part == 0 ? db : scratch + (part - 1) * k);
}

/// db += the parts 1 .. parts - 1 in scratch (see bias_gradient_part()).
template <typename T>
void add_bias_gradient_parts(T* db, const T* scratch, index_t k, int parts) {
    for (int part = 1; part < parts; ++part) VectorMap<T>(db, k) += ConstVectorMap<T>(scratch + (part - 1) * k, k);
}

/// db = sum over the positions of dY's rows (overwritten). On several threads each sums its own
/// range of positions (thread 0 into db, the others into `scratch`), added at the end.
template <typename T>
void conv_bias_gradient(const T* dy, index_t positions, index_t k, T* db, T* scratch, int threads) {
    if (threads <= 1 || positions * k < tuning<T>().parallel_sum_min_values || positions < threads) threads = 1;
    parallel_for(threads, threads,
                 [&](index_t part, int) { bias_gradient_part(dy, positions, k, part, threads, db, scratch); });
    add_bias_gradient_parts(db, static_cast<const T*>(scratch), k, threads);
}

}  // namespace convlayer::kernels
