// A packed GEMM micro-kernel written with Eigen's packet primitives.
//
//   C (rows x cols, row-major, leading dimension ldc)  =  bias + A * B   (first depth block)
//                                                      +=  A * B         (later depth blocks)
// A is packed in micro-panels of MR rows: element (i, k) at a[k*MR + i]; B in micro-panels of
// NR = 2 packets of columns: element (k, j) at b[k*NR + j]. The MR x NR tile of C lives in
// 2*MR packet registers for the whole depth loop (MR = 12 on AVX-512: 24 of 32 registers), so
// every loaded B packet feeds MR fused multiply-adds.
#pragma once

#include <Eigen/Core>

#include <algorithm>

#include "convlayer/core/checked_math.hpp"

namespace convlayer::kernels {

template <typename T>
struct GemmTile {
    using Packet = typename Eigen::internal::packet_traits<T>::type;
    static constexpr int kLanes = Eigen::internal::unpacket_traits<Packet>::size;
    /// Rows of a tile: as many as the packet registers allow (32 with AVX-512, 16 otherwise).
#if defined(__AVX512F__)
    static constexpr int MR = 12;
#else
    static constexpr int MR = 6;
#endif
    static constexpr int NR = 2 * kLanes;
};

/// Packs rows [0, rows) x depth [0, depth) of a row-major matrix (leading dimension lda) into
/// MR-row micro-panels, zero-padding the last panel. dst holds ceil(rows/MR)*MR*depth values.
template <typename T>
void pack_a_panels(const T* a, index_t lda, index_t rows, index_t depth, T* dst) {
    constexpr int MR = GemmTile<T>::MR;
    for (index_t i0 = 0; i0 < rows; i0 += MR, dst += MR * depth) {
        const index_t r = std::min<index_t>(MR, rows - i0);
        // Row by row: each source row is read sequentially, which the prefetcher follows even
        // when A is far from the core.
        for (index_t i = 0; i < r; ++i) {
            const T* src = a + (i0 + i) * lda;
            for (index_t k = 0; k < depth; ++k) dst[k * MR + i] = src[k];
        }
        for (index_t i = r; i < MR; ++i)
            for (index_t k = 0; k < depth; ++k) dst[k * MR + i] = T(0);
    }
}

/// Packs rows [0, rows) x depth [0, depth) of a column-major matrix (element (i, k) at
/// a[k*lda + i]) into MR-row micro-panels, zero-padding the last panel.
template <typename T>
void pack_a_panels_colmajor(const T* a, index_t lda, index_t rows, index_t depth, T* dst) {
    constexpr int MR = GemmTile<T>::MR;
    for (index_t i0 = 0; i0 < rows; i0 += MR, dst += MR * depth) {
        const index_t r = std::min<index_t>(MR, rows - i0);
        for (index_t k = 0; k < depth; ++k) {
            T* d = dst + k * MR;
            const T* src = a + k * lda + i0;
            for (index_t i = 0; i < r; ++i) d[i] = src[i];
            for (index_t i = r; i < MR; ++i) d[i] = T(0);
        }
    }
}

/// Packs depth [0, depth) x columns [0, cols) of a row-major B (element (k, j) at b[k*ldb + j])
/// into NR-column micro-panels, zero-padding the last one.
template <typename T>
void pack_b_panels_rowmajor(const T* b, index_t ldb, index_t depth, index_t cols, T* dst) {
    constexpr int NR = GemmTile<T>::NR;
    for (index_t j0 = 0; j0 < cols; j0 += NR, dst += NR * depth) {
        const index_t c = std::min<index_t>(NR, cols - j0);
        for (index_t k = 0; k < depth; ++k) {
            const T* src = b + k * ldb + j0;
            T* d = dst + k * NR;
            std::copy(src, src + c, d);
            std::fill(d + c, d + NR, T(0));
        }
    }
}

/// Packs depth [0, depth) x columns [0, cols) of B, given column-major (element (k, j) at
/// b[j*ldb + k]), into NR-column micro-panels, zero-padding the last one.
template <typename T>
void pack_b_panels_colmajor(const T* b, index_t ldb, index_t depth, index_t cols, T* dst) {
    constexpr int NR = GemmTile<T>::NR;
    for (index_t j0 = 0; j0 < cols; j0 += NR, dst += NR * depth) {
        const index_t c = std::min<index_t>(NR, cols - j0);
        for (index_t j = 0; j < c; ++j) {
            const T* src = b + (j0 + j) * ldb;
            for (index_t k = 0; k < depth; ++k) dst[k * NR + j] = src[k];
        }
        for (index_t j = c; j < NR; ++j)
            for (index_t k = 0; k < depth; ++k) dst[k * NR + j] = T(0);
    }
}

/// One MR x NR tile: c[0:rows, 0:cols] = (accumulate ? c : bias) + a_panel * b_panel over
/// `depth`. bias (`cols` values, may be null = 0) is used only when !accumulate.
template <typename T>
EIGEN_ALWAYS_INLINE void gemm_micro_kernel(index_t depth, const T* a, const T* b, T* c, index_t ldc, index_t rows,
                                           index_t cols, bool accumulate, const T* bias) {
    using namespace Eigen::internal;
    using Tile = GemmTile<T>;
    using Packet = typename Tile::Packet;
    constexpr int MR = Tile::MR, L = Tile::kLanes;
    Packet acc0[MR], acc1[MR];
    for (int i = 0; i < MR; ++i) acc0[i] = acc1[i] = pset1<Packet>(T(0));
    for (index_t k = 0; k < depth; ++k, a += MR, b += 2 * L) {
        const Packet b0 = ploadu<Packet>(b), b1 = ploadu<Packet>(b + L);
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC unroll 16
#endif
        for (int i = 0; i < MR; ++i) {
            const Packet ai = pset1<Packet>(a[i]);
            acc0[i] = pmadd(ai, b0, acc0[i]);
            acc1[i] = pmadd(ai, b1, acc1[i]);
        }
    }
    if (rows == MR && cols == 2 * L) {
        for (int i = 0; i < MR; ++i) {
            T* ci = c + i * ldc;
            Packet c0, c1;
            if (accumulate) {
                c0 = ploadu<Packet>(ci);
                c1 = ploadu<Packet>(ci + L);
            } else if (bias) {
                c0 = ploadu<Packet>(bias);
                c1 = ploadu<Packet>(bias + L);
            } else {
                c0 = c1 = pset1<Packet>(T(0));
            }
            pstoreu(ci, padd(c0, acc0[i]));
            pstoreu(ci + L, padd(c1, acc1[i]));
        }
        return;
    }
    EIGEN_ALIGN_MAX T tile[MR * 2 * L];
    for (int i = 0; i < MR; ++i) {
        pstore(tile + i * 2 * L, acc0[i]);
        pstore(tile + i * 2 * L + L, acc1[i]);
    }
    for (index_t i = 0; i < rows; ++i)
        for (index_t j = 0; j < cols; ++j) {
            const T base = accumulate ? c[i * ldc + j] : (bias ? bias[j] : T(0));
            c[i * ldc + j] = base + tile[i * 2 * L + j];
        }
}

/// C = bias + A * B (or C += A * B when accumulate) for packed A (rows x depth, MR panels) and
/// packed B (depth x cols, NR panels); bias holds `cols` values (may be null).
template <typename T>
void gemm_packed(const T* a_packed, const T* b_packed, index_t rows, index_t cols, index_t depth, T* c, index_t ldc,
                 bool accumulate, const T* bias) {
    constexpr int MR = GemmTile<T>::MR, NR = GemmTile<T>::NR;
    for (index_t j0 = 0; j0 < cols; j0 += NR) {
        const T* bp = b_packed + (j0 / NR) * NR * depth;
        const index_t nc = std::min<index_t>(NR, cols - j0);
        for (index_t i0 = 0; i0 < rows; i0 += MR)
            gemm_micro_kernel(depth, a_packed + (i0 / MR) * MR * depth, bp, c + i0 * ldc + j0, ldc,
                              std::min<index_t>(MR, rows - i0), nc, accumulate, bias ? bias + j0 : nullptr);
    }
}

}  // namespace convlayer::kernels
