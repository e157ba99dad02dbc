// Convolution as im2col + Eigen GEMM, over blocks of output positions, on several threads.
//
//   forward:   Y_blk  = P_blk * W + 1 b^T          P_blk = im2col rows of the block
//              (packed micro-kernel GEMM, packed_gemm.hpp: W packed once per call, P_blk in
//              cache-sized sub-blocks)
//   backward:  dW    += P_blk^T * dY_blk           db = column sums of dY
//              dX    += col2im(dY_blk * W^T)
// with Y, dY as (positions x K) row-major (NHWC) and W as (Fh*Fw*D1 x K) column-major (OHWI).
// Each thread owns one block of the workspace, so the buffer is bounded by the packed weights +
// threads x the block budget, never by the batch or the image. (For 1x1, stride 1, no padding, where im2col is the
// identity, see gemm1x1.hpp.)
//
// Threads: forward blocks are independent. dW is accumulated block by block, the threads
// splitting each block's im2col by rows and its GEMM by rows of dW. dX blocks scatter into
// overlapping input rows, so they run in two colours: blocks of at least ceil(F_eff/S) output
// rows are far enough apart that every other block touches disjoint input rows.
#pragma once

#include <algorithm>

#include "convlayer/core/conv_shape.hpp"
#include "convlayer/core/eigen_types.hpp"
#include "convlayer/core/threading.hpp"
#include "convlayer/kernels/im2col.hpp"
#include "convlayer/kernels/packed_gemm.hpp"

namespace convlayer::kernels {

/// Smallest block (in output positions) for which every other block scatters into disjoint input
/// rows: ceil(F_eff/S) output rows. (Blocks i and i+2 are then at least F_eff input rows apart.)
inline index_t im2col_two_colour_min_rows(const ConvShape& s) {
    const index_t f_eff = effective_kernel(s.y.kernel, s.y.dilation);
    return (f_eff + s.y.stride - 1) / s.y.stride * s.x.out;
}

/// Block size in output positions: as many patch rows as fit `budget_bytes` (at least 1, at most
/// all). With several threads the number of blocks is a multiple of the thread count (so the
/// static schedule is balanced), and a block spans im2col_two_colour_min_rows(), which the
/// two-colour dX schedule needs.
inline index_t im2col_block_rows(const ConvShape& s, index_t budget_bytes, index_t scalar_bytes, int threads = 1) {
    const index_t M = s.output_positions();
    index_t rows = std::max<index_t>(1, budget_bytes / (s.patch_length() * scalar_bytes));
    if (threads > 1) {
        const index_t blocks = ((M + rows - 1) / rows + threads - 1) / threads * threads;
        rows = std::max((M + blocks - 1) / blocks, im2col_two_colour_min_rows(s));
    }
    return std::min(rows, M);
}

/// Depth and row blocking of the packed forward GEMM: at most kGemmKc patch columns x kGemmMc
/// patch rows of A are packed at a time (about 100 KiB, resident in L2 while all of W's panels
/// stream past).
inline constexpr index_t kGemmKc = 256;
inline constexpr index_t kGemmMc = 96;

/// Depth of each block: the patch length split into equal blocks of at most kGemmKc (800 taps
/// become 4 x 200, not 3 x 256 + 32).
inline index_t gemm_depth_block(index_t patch_length) {
    const index_t blocks = (patch_length + kGemmKc - 1) / kGemmKc;
    return (patch_length + blocks - 1) / blocks;
}

/// Elements of W packed for the forward GEMM: (Fh*Fw*D1) x K rounded up to whole NR panels.
template <typename T>
index_t packed_weight_elements(const ConvShape& s) {
    constexpr index_t NR = GemmTile<T>::NR;
    return checked_mul(s.patch_length(), (s.k + NR - 1) / NR * NR, "packed weights");
}

/// Elements of workspace im2col_conv_* need: the packed weights, then per thread one block of
/// `block_rows` patch rows and one packed kGemmMc x kGemmKc sub-block.
template <typename T>
index_t im2col_workspace_elements(const ConvShape& s, index_t block_rows, int threads = 1) {
    constexpr index_t MR = GemmTile<T>::MR;
    const index_t per_thread = checked_add(checked_mul(block_rows, s.patch_length(), "im2col workspace"),
                                           (kGemmMc + MR - 1) / MR * MR * kGemmKc, "im2col workspace");
    return checked_add(packed_weight_elements<T>(s), checked_mul(per_thread, threads, "im2col workspace"),
                       "im2col workspace");
}

namespace detail {
// [begin, end) of part `i` of `n` nearly equal parts of [0, total).
inline std::pair<index_t, index_t> split_range(index_t total, index_t n, index_t i) {
    return {total * i / n, total * (i + 1) / n};
}
}  // namespace detail

/// y = conv(x, w) + b. `b` may be null. `workspace` holds im2col_workspace_elements() elements.
template <typename T>
void im2col_conv_forward(const ConvShape& s, const T* x, const T* w, const T* b, T* y, T* workspace,
                         index_t block_rows, int threads = 1) {
    constexpr index_t MR = GemmTile<T>::MR;
    const index_t M = s.output_positions(), L = s.patch_length(), Kp = packed_weight_elements<T>(s) / L;
    T* packed_w = workspace;
    // W in NR-column panels, one depth block after another.
    const index_t KC = gemm_depth_block(L);
    parallel_for((L + KC - 1) / KC, threads, [&](index_t kb, int) {
        const index_t k0 = kb * KC;
        pack_b_panels_colmajor(w + k0, L, std::min(KC, L - k0), s.k, packed_w + k0 * Kp);
    });
    const index_t per_thread = block_rows * L + (kGemmMc + MR - 1) / MR * MR * kGemmKc;
    const index_t blocks = (M + block_rows - 1) / block_rows;
    parallel_for(blocks, threads, [&](index_t blk, int t) {
        const index_t m0 = blk * block_rows, rows = std::min(block_rows, M - m0);
        T* patches = workspace + Kp * L + t * per_thread;
        T* packed_a = patches + block_rows * L;
        im2col(s, x, m0, m0 + rows, patches);
        for (index_t r0 = 0; r0 < rows; r0 += kGemmMc) {
            const index_t mc = std::min(kGemmMc, rows - r0);
            for (index_t k0 = 0; k0 < L; k0 += KC) {
                const index_t kc = std::min(KC, L - k0);
                pack_a_panels(patches + r0 * L + k0, L, mc, kc, packed_a);
                gemm_packed(packed_a, packed_w + k0 * Kp, mc, s.k, kc, y + (m0 + r0) * s.k, s.k, k0 > 0, b);
            }
        }
    });
}

/// dw = sum over blocks of P_blk^T dY_blk (overwritten). The threads share one block of
/// threads*block_rows patch rows at a time.
template <typename T>
void im2col_conv_backward_weights(const ConvShape& s, const T* x, const T* dy, T* dw, T* workspace,
                                  index_t block_rows, int threads = 1) {
    const index_t M = s.output_positions(), L = s.patch_length();
    const index_t shared_rows = block_rows * threads;
    MatrixMap<T>(dw, L, s.k).setZero();
    for (index_t m0 = 0; m0 < M; m0 += shared_rows) {
        const index_t rows = std::min(shared_rows, M - m0);
        parallel_for(threads, threads, [&](index_t part, int) {
            const auto [r0, r1] = detail::split_range(rows, threads, part);
            im2col(s, x, m0 + r0, m0 + r1, workspace + r0 * L);
        });
        const ConstRowMatrixMap<T> dY(dy + m0 * s.k, rows, s.k);
        parallel_for(threads, threads, [&](index_t part, int) {
            const auto [l0, l1] = detail::split_range(L, threads, part);
            using Cols = Eigen::Map<const RowMatrix<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
            using DwRows = Eigen::Map<Matrix<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
            DwRows(dw + l0, l1 - l0, s.k, Eigen::OuterStride<>(L)).noalias() +=
                Cols(workspace + l0, rows, l1 - l0, Eigen::OuterStride<>(L)).transpose() * dY;
        });
    }
}

/// dx = sum over blocks of col2im(dY_blk W^T) (overwritten), blocks in two colours. Blocks
/// smaller than im2col_two_colour_min_rows() run on one thread.
template <typename T>
void im2col_conv_backward_data(const ConvShape& s, const T* dy, const T* w, T* dx, T* workspace, index_t block_rows,
                               int threads = 1) {
    const index_t M = s.output_positions(), L = s.patch_length();
    if (block_rows < im2col_two_colour_min_rows(s) && block_rows < M) threads = 1;
    const index_t blocks = (M + block_rows - 1) / block_rows;
    std::fill(dx, dx + s.input().size(), T(0));
    for (index_t colour = 0; colour < 2; ++colour) {
        parallel_for((blocks - colour + 1) / 2, threads, [&](index_t i, int t) {
            const index_t m0 = (2 * i + colour) * block_rows, rows = std::min(block_rows, M - m0);
            T* dpatches = workspace + t * block_rows * L;
            RowMatrixMap<T>(dpatches, rows, L).noalias() =
                ConstRowMatrixMap<T>(dy + m0 * s.k, rows, s.k) * ConstMatrixMap<T>(w, L, s.k).transpose();
            col2im_add(s, dpatches, m0, m0 + rows, dx);
        });
    }
}

/// Gradients of conv: dx (may be null: not needed), dw and db (may be null) are overwritten.
/// `workspace` holds im2col_workspace_elements() elements.
template <typename T>
void im2col_conv_backward(const ConvShape& s, const T* x, const T* dy, const T* w, T* dx, T* dw, T* db,
                          T* workspace, index_t block_rows, int threads = 1) {
    if (db)
        VectorMap<T>(db, s.k).noalias() =
            ConstRowMatrixMap<T>(dy, s.output_positions(), s.k).colwise().sum().transpose();
    if (dw) im2col_conv_backward_weights(s, x, dy, dw, workspace, block_rows, threads);
    if (dx) im2col_conv_backward_data(s, dy, w, dx, workspace, block_rows, threads);
}

}  // namespace convlayer::kernels
