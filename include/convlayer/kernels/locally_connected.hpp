// Locally connected layer kernels: a conv whose filters differ at every output position.
//
// For output position p = oy*W2 + ox, with P_p the N x (Fh*Fw*D1) patches of p across the batch
// (im2col rows n*H2*W2 + p), W_p its (Fh*Fw*D1) x K weights and b_p its K biases:
//   forward:   Y_p  = P_p * W_p + 1 b_p^T       (rows n*H2*W2 + p of the NHWC output)
//   backward:  dW_p = P_p^T * dY_p,  db_p = column sums of dY_p,  dX += col2im(dY_p * W_p^T)
// so the whole batch goes through each position's weights in one small GEMM.
#pragma once

#include <algorithm>

#include "convlayer/core/conv_shape.hpp"
#include "convlayer/core/eigen_types.hpp"
#include "convlayer/kernels/im2col.hpp"

namespace convlayer::kernels {

/// Elements of workspace the locally connected kernels need: one N x (Fh*Fw*D1) patch block.
inline index_t locally_connected_workspace_elements(const ConvShape& s) {
    return checked_mul(s.n, s.patch_length(), "locally connected workspace");
}

namespace detail {
// Rows n*positions + p of an NHWC (positions*N) x K matrix: an N x K view with a row stride.
template <typename T>
using BatchRowsMap = Eigen::Map<RowMatrix<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
template <typename T>
using ConstBatchRowsMap = Eigen::Map<const RowMatrix<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
}  // namespace detail

/// y = locally connected conv of x. w holds H2*W2 blocks of K*Fh*Fw*D1 (OHWI per position), b
/// holds H2*W2*K biases (may be null). `workspace` holds locally_connected_workspace_elements().
template <typename T>
void locally_connected_forward(const ConvShape& s, const T* x, const T* w, const T* b, T* y, T* workspace) {
    const index_t L = s.patch_length(), positions = s.y.out * s.x.out;
    RowMatrixMap<T> patches(workspace, s.n, L);
    for (index_t p = 0; p < positions; ++p) {
        for (index_t n = 0; n < s.n; ++n) im2col_row(s, x, n * positions + p, workspace + n * L);
        detail::BatchRowsMap<T> Y(y + p * s.k, s.n, s.k, Eigen::OuterStride<>(positions * s.k));
        Y.noalias() = patches * ConstMatrixMap<T>(w + p * L * s.k, L, s.k);
        if (b) Y.rowwise() += ConstVectorMap<T>(b + p * s.k, s.k).transpose();
    }
}

/// Gradients of the locally connected conv: dx (may be null), dw, db (may be null) overwritten.
template <typename T>
void locally_connected_backward(const ConvShape& s, const T* x, const T* dy, const T* w, T* dx, T* dw,
                                T* db, T* workspace) {
    const index_t L = s.patch_length(), positions = s.y.out * s.x.out;
    RowMatrixMap<T> block(workspace, s.n, L);
    if (dx) std::fill(dx, dx + s.input().size(), T(0));
    for (index_t p = 0; p < positions; ++p) {
        const detail::ConstBatchRowsMap<T> dY(dy + p * s.k, s.n, s.k, Eigen::OuterStride<>(positions * s.k));
        if (db) VectorMap<T>(db + p * s.k, s.k).noalias() = dY.colwise().sum().transpose();
        if (dw) {
            for (index_t n = 0; n < s.n; ++n) im2col_row(s, x, n * positions + p, workspace + n * L);
            MatrixMap<T>(dw + p * L * s.k, L, s.k).noalias() = block.transpose() * dY;
        }
        if (dx) {
            block.noalias() = dY * ConstMatrixMap<T>(w + p * L * s.k, L, s.k).transpose();
            for (index_t n = 0; n < s.n; ++n) col2im_add_row(s, workspace + n * L, n * positions + p, dx);
        }
    }
}

}  // namespace convlayer::kernels
