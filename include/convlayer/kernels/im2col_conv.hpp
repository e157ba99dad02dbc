// Convolution as im2col + Eigen GEMM, over blocks of output positions.
//
//   forward:   Y_blk  = P_blk * W + 1 b^T          P_blk = im2col rows of the block
//   backward:  dW    += P_blk^T * dY_blk           db = column sums of dY
//              dX    += col2im(dY_blk * W^T)
// with Y, dY as (positions x K) row-major (NHWC) and W as (Fh*Fw*D1 x K) column-major (OHWI).
// The patch buffer holds one block of rows, so its size is bounded by the caller's budget, not by
// the batch or the image. (For 1x1, stride 1, no padding, where im2col is the identity, see
// gemm1x1.hpp.)
#pragma once

#include <algorithm>

#include "convlayer/core/conv_shape.hpp"
#include "convlayer/core/eigen_types.hpp"
#include "convlayer/kernels/im2col.hpp"

namespace convlayer::kernels {

/// Rows of the patch matrix per block so one block fits `budget_bytes` (at least 1, at most all).
inline index_t im2col_block_rows(const ConvShape& s, index_t budget_bytes, index_t scalar_bytes) {
    const index_t row_bytes = s.patch_length() * scalar_bytes;
    const index_t rows = std::max<index_t>(1, budget_bytes / row_bytes);
    return std::min(rows, s.output_positions());
}

/// Elements of workspace im2col_conv_* need for blocks of `block_rows` rows.
inline index_t im2col_workspace_elements(const ConvShape& s, index_t block_rows) {
    return checked_mul(block_rows, s.patch_length(), "im2col workspace");
}

/// y = conv(x, w) + b. `b` may be null. `workspace` holds im2col_workspace_elements() elements.
template <typename T>
void im2col_conv_forward(const ConvShape& s, const T* x, const T* w, const T* b, T* y,
                         T* workspace, index_t block_rows) {
    const index_t M = s.output_positions(), L = s.patch_length();
    const ConstMatrixMap<T> W(w, L, s.k);
    for (index_t m0 = 0; m0 < M; m0 += block_rows) {
        const index_t rows = std::min(block_rows, M - m0);
        im2col(s, x, m0, m0 + rows, workspace);
        RowMatrixMap<T> Y(y + m0 * s.k, rows, s.k);
        Y.noalias() = ConstRowMatrixMap<T>(workspace, rows, L) * W;
        if (b) Y.rowwise() += ConstVectorMap<T>(b, s.k).transpose();
    }
}

/// Gradients of conv: dx (may be null: not needed), dw and db (may be null) are overwritten.
/// `workspace` holds im2col_workspace_elements() elements.
template <typename T>
void im2col_conv_backward(const ConvShape& s, const T* x, const T* dy, const T* w, T* dx, T* dw,
                          T* db, T* workspace, index_t block_rows) {
    const index_t M = s.output_positions(), L = s.patch_length();
    const ConstMatrixMap<T> W(w, L, s.k);
    if (db) VectorMap<T>(db, s.k).noalias() = ConstRowMatrixMap<T>(dy, M, s.k).colwise().sum().transpose();
    if (dw) MatrixMap<T>(dw, L, s.k).setZero();
    if (dx) std::fill(dx, dx + s.input().size(), T(0));
    for (index_t m0 = 0; m0 < M; m0 += block_rows) {
        const index_t rows = std::min(block_rows, M - m0);
        const ConstRowMatrixMap<T> dY(dy + m0 * s.k, rows, s.k);
        if (dw) {
            im2col(s, x, m0, m0 + rows, workspace);
            MatrixMap<T>(dw, L, s.k).noalias() += ConstRowMatrixMap<T>(workspace, rows, L).transpose() * dY;
        }
        if (dx) {
            RowMatrixMap<T>(workspace, rows, L).noalias() = dY * W.transpose();
            col2im_add(s, workspace, m0, m0 + rows, dx);
        }
    }
}

}  // namespace convlayer::kernels
