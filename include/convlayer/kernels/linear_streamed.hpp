// The three products of a linear map (linear.hpp's Y = X W^T + b, dX = dY W, dW = dY^T X) for
// weights each call reads once: a locally connected layer's K x L weights of one output
// position, hundreds of megabytes over all positions, multiplied by a small batch. The
// micro-kernel would then idle most of its tile (a batch of 1 fills 1 of its NR columns) and read
// W column by column; these loops read W (and write dW) row by row, in the order it lies in
// memory, with whole packets of its rows in registers. The forward also serves the opposite case,
// a W of few rows that stays in cache (a classifier's 10 outputs) against a batch streamed past it
// (linear_streamed_forward_by_samples()).
#pragma once

#include <algorithm>
#include <type_traits>

#include "convlayer/core/checked_math.hpp"
#include "convlayer/core/threading.hpp"
#include "convlayer/kernels/simd.hpp"

namespace convlayer::kernels {

namespace detail {
// out[o * NB + j] = dot(row o of W, row j of X) (+ bias[o]) over `depth`, for KO rows of W (ldw
// apart) and j < nb <= NB rows of X. Rows past nb repeat the last one (their sums are dropped), so
// a short block still has KO x NB independent chains of FMAs; each packet of X loaded serves KO
// rows of W. Each sum is the same whatever KO.
template <int KO, int NB, typename T>
void dot_rows_block(const T* w, index_t ldw, const T* x, index_t ldx, int nb, index_t depth, const T* bias, T* out) {
    using namespace Eigen::internal;
    using Packet = typename Simd<T>::Packet;
    constexpr index_t P = Simd<T>::kLanes;
    const T* xr[NB];
    for (int j = 0; j < NB; ++j) xr[j] = x + std::min(j, nb - 1) * ldx;
    Packet acc[KO][NB];
    for (int o = 0; o < KO; ++o)
        for (int j = 0; j < NB; ++j) acc[o][j] = pset1<Packet>(T(0));
    index_t l = 0;
    for (; l + P <= depth; l += P) {
        Packet xv[NB];
        for (int j = 0; j < NB; ++j) xv[j] = ploadu<Packet>(xr[j] + l);
        for (int o = 0; o < KO; ++o) {
            const Packet wv = ploadu<Packet>(w + o * ldw + l);
            for (int j = 0; j < NB; ++j) acc[o][j] = pmadd(wv, xv[j], acc[o][j]);
        }
    }
    for (int o = 0; o < KO; ++o)
        for (int j = 0; j < nb; ++j) {
            T sum = predux(acc[o][j]);
            for (index_t t = l; t < depth; ++t) sum += w[o * ldw + t] * xr[j][t];
            out[o * NB + j] = sum + (bias ? bias[o] : T(0));
        }
}

// out[j] = dot(w, row j of X) (+ bias) over `depth`, for j < nb <= NB: one row of W.
template <int NB, typename T>
void dot_rows(const T* w, const T* x, index_t ldx, int nb, index_t depth, const T* bias, T* out) {
    dot_rows_block<1, NB>(w, 0, x, ldx, nb, depth, bias, out);
}

// acc[0..count) += sum over i < KB of c[i * ldc] * src[i * lds + 0..count): KB rows weighted by
// broadcast coefficients, a packet of each row at a time.
template <int KB, typename T>
void add_weighted_rows(const T* src, index_t lds, const T* c, index_t ldc, index_t count, T* acc) {
    using namespace Eigen::internal;
    using Packet = typename Simd<T>::Packet;
    constexpr index_t P = Simd<T>::kLanes;
    Packet cv[KB];
    for (int i = 0; i < KB; ++i) cv[i] = pset1<Packet>(c[i * ldc]);
    index_t l = 0;
    for (; l + P <= count; l += P) {
        Packet a = ploadu<Packet>(acc + l);
        for (int i = 0; i < KB; ++i) a = pmadd(cv[i], ploadu<Packet>(src + i * lds + l), a);
        pstoreu(acc + l, a);
    }
    for (; l < count; ++l)
        for (int i = 0; i < KB; ++i) acc[l] += c[i * ldc] * src[i * lds + l];
}
}  // namespace detail

/// y (rows x out, ldy) = x (rows x in, ldx) W^T + b, W (out x in, row-major) read in place;
/// b may be null.
template <typename T>
void linear_streamed_forward(const T* x, index_t ldx, const T* w, const T* b, T* y, index_t ldy, index_t rows,
                             index_t in, index_t out) {
    // One row of W at a time (reading several rows at once measured up to 2x slower from memory)
    // against four samples: four chains of FMAs in flight.
    constexpr int NB = 4;
    for (index_t k = 0; k < out; ++k)
        for (index_t n0 = 0; n0 < rows; n0 += NB) {
            const int nb = static_cast<int>(std::min<index_t>(NB, rows - n0));
            T dots[NB];
            detail::dot_rows<NB>(w + k * in, x + n0 * ldx, ldx, nb, in, b ? b + k : nullptr, dots);
            for (int j = 0; j < nb; ++j) y[(n0 + j) * ldy + k] = dots[j];
        }
}

/// linear_streamed_forward() with the samples outermost, in groups of four split over `threads`:
/// for a W small enough to stay in cache (few outputs), which every group then reads from there
/// while X streams past once. Each output is the same sum as linear_streamed_forward()'s, so the
/// result does not depend on the thread count.
template <typename T>
void linear_streamed_forward_by_samples(const T* x, index_t ldx, const T* w, const T* b, T* y, index_t ldy,
                                        index_t rows, index_t in, index_t out, int threads) {
    constexpr int NB = 4;
    parallel_for((rows + NB - 1) / NB, threads, [&](index_t group, int) {
        const index_t n0 = group * NB;
        const int nb = static_cast<int>(std::min<index_t>(NB, rows - n0));
        // Outputs [k, k + KO) of the group's samples.
        auto rows_of_w = [&](auto ko, index_t k) {
            constexpr int KO = decltype(ko)::value;
            T dots[KO * NB];
            detail::dot_rows_block<KO, NB>(w + k * in, in, x + n0 * ldx, ldx, nb, in, b ? b + k : nullptr, dots);
            for (int o = 0; o < KO; ++o)
                for (int j = 0; j < nb; ++j) y[(n0 + j) * ldy + k + o] = dots[o * NB + j];
        };
        index_t k = 0;
        for (; k + 4 <= out; k += 4) rows_of_w(std::integral_constant<int, 4>{}, k);  // 16 chains of FMAs
        for (; k < out; ++k) rows_of_w(std::integral_constant<int, 1>{}, k);
    });
}

/// dx (rows x in, ldx) = dy (rows x out, ldy) W, W (out x in, row-major) read in place.
template <typename T>
void linear_streamed_backward_data(const T* dy, index_t ldy, const T* w, T* dx, index_t ldx, index_t rows,
                                   index_t in, index_t out) {
    for (index_t n = 0; n < rows; ++n) std::fill(dx + n * ldx, dx + n * ldx + in, T(0));
    // Four rows of W a pass cut dx's loads and stores by 4; one sample is bound by reading W
    // instead, which one row at a time keeps sequential (four measured 30% slower).
    const bool four_rows = rows > 1;
    index_t k = 0;
    for (; four_rows && k + 4 <= out; k += 4)
        for (index_t n = 0; n < rows; ++n)
            detail::add_weighted_rows<4>(w + k * in, in, dy + n * ldy + k, 1, in, dx + n * ldx);
    for (; k < out; ++k)
        for (index_t n = 0; n < rows; ++n)
            detail::add_weighted_rows<1>(w + k * in, in, dy + n * ldy + k, 1, in, dx + n * ldx);
}

/// dw (out x in, row-major) = dy^T x, each row of dw written once, in order.
template <typename T>
void linear_streamed_backward_weights(const T* x, index_t ldx, const T* dy, index_t ldy, T* dw, index_t rows,
                                      index_t in, index_t out) {
    for (index_t k = 0; k < out; ++k) {
        T* row = dw + k * in;
        std::fill(row, row + in, T(0));
        index_t n = 0;
        for (; n + 4 <= rows; n += 4) detail::add_weighted_rows<4>(x + n * ldx, ldx, dy + n * ldy + k, ldy, in, row);
        for (; n < rows; ++n) detail::add_weighted_rows<1>(x + n * ldx, ldx, dy + n * ldy + k, ldy, in, row);
    }
}

namespace detail {
// dw[o][c0, c0 + CP*P) = sum over rows n of dy[n][o] x[n][c0, c0 + CP*P) for o < KO (dw's rows
// ldw apart): KO x CP packets of dW in registers while the rows of X stream past once, each
// packet of X loaded serving KO rows.
template <int KO, int CP, typename T>
void dw_register_block(const T* x, index_t ldx, const T* dy, index_t ldy, index_t rows, T* dw, index_t ldw) {
    using namespace Eigen::internal;
    using Packet = typename Simd<T>::Packet;
    constexpr index_t P = Simd<T>::kLanes;
    Packet acc[KO][CP];
    for (int o = 0; o < KO; ++o)
        for (int c = 0; c < CP; ++c) acc[o][c] = pset1<Packet>(T(0));
    for (index_t n = 0; n < rows; ++n) {
        Packet xv[CP];
        for (int c = 0; c < CP; ++c) xv[c] = ploadu<Packet>(x + n * ldx + c * P);
        for (int o = 0; o < KO; ++o) {
            const Packet d = pset1<Packet>(dy[n * ldy + o]);
            for (int c = 0; c < CP; ++c) acc[o][c] = pmadd(d, xv[c], acc[o][c]);
        }
    }
    for (int o = 0; o < KO; ++o)
        for (int c = 0; c < CP; ++c) pstoreu(dw + o * ldw + c * P, acc[o][c]);
}
}  // namespace detail

/// dw (out x in, row-major) = dy^T x with X read in place, for few outputs: blocks of 4 packets of
/// dW's columns split over `threads`, each summing every row of X into registers, 4 rows of dW at
/// a time. Each value of dW is the sum over the rows in order, whatever the thread count.
template <typename T>
void linear_streamed_backward_weights_by_columns(const T* x, index_t ldx, const T* dy, index_t ldy, T* dw,
                                                 index_t rows, index_t in, index_t out, int threads) {
    constexpr index_t CP = 4, width = CP * Simd<T>::kLanes;
    const index_t blocks = in / width;
    parallel_for(blocks, threads, [&](index_t b, int) {
        const index_t c0 = b * width;
        index_t k = 0;
        for (; k + 4 <= out; k += 4)
            detail::dw_register_block<4, CP>(x + c0, ldx, dy + k, ldy, rows, dw + k * in + c0, in);
        for (; k < out; ++k) detail::dw_register_block<1, CP>(x + c0, ldx, dy + k, ldy, rows, dw + k * in + c0, in);
    });
    for (index_t k = 0; k < out; ++k)  // the columns past the last whole block
        for (index_t c = blocks * width; c < in; ++c) {
            T sum = T(0);
            for (index_t n = 0; n < rows; ++n) sum += dy[n * ldy + k] * x[n * ldx + c];
            dw[k * in + c] = sum;
        }
}

}  // namespace convlayer::kernels
