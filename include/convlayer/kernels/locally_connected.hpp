// Locally connected layer kernels: a conv whose filters differ at every output position.
//
// For output position p = oy*W2 + ox, with P_p the N x (Fh*Fw*D1) patches of p across the batch
// (im2col rows n*H2*W2 + p), W_p its K x (Fh*Fw*D1) weights (OHWI) and b_p its K biases:
//   forward:   Y_p  = P_p W_p^T + 1 b_p^T       (rows n*H2*W2 + p of the NHWC output)
//   backward:  dW_p = dY_p^T P_p,  db_p = column sums of dY_p,  dX += col2im(dY_p W_p)
// each a linear map over the batch. A batch that fills the micro-kernel's NR columns runs
// linear.hpp's plan; a smaller one linear_streamed.hpp's loops, which read each W_p in place, in
// memory order (every W_p is read once a call, and the tile would idle).
//
// Threads take whole output rows. Backward adds each position's patch gradient onto dX, and
// nearby rows' receptive fields overlap; so output rows go in bands tall enough that bands two
// apart touch disjoint input rows, and the even bands run in parallel, then the odd ones. The
// bands do not depend on the thread count, so every sum runs in the same order on any.
#pragma once

#include <algorithm>

#include "convlayer/core/checked_math.hpp"
#include "convlayer/core/conv_shape.hpp"
#include "convlayer/core/threading.hpp"
#include "convlayer/kernels/im2col.hpp"
#include "convlayer/kernels/linear.hpp"
#include "convlayer/kernels/linear_streamed.hpp"

namespace convlayer::kernels {

/// The locally connected passes of one problem on `threads` threads. W holds H2*W2 blocks of
/// K*Fh*Fw*D1 (OHWI per position), b holds H2*W2*K biases.
template <typename T>
class LocallyConnectedPlan {
public:
    /// Plans problem `s` on `threads` threads (at least 1).
    LocallyConnectedPlan(const ConvShape& s, int threads)
        : s_(s),
          threads_(std::max(1, threads)),
          streamed_(s.n < GemmTile<T>::NR),
          linear_({s.n, s.patch_length(), s.k}),
          band_rows_(band_rows(s)) {}

    /// Elements of workspace forward() and backward() need: per thread, one position's patches
    /// and rows over the batch, and the linear map's packed operands.
    index_t workspace_elements() const { return checked_mul(per_thread(), threads_, "locally connected workspace"); }

    /// y = locally connected conv of x; b may be null.
    void forward(const T* x, const T* w, const T* b, T* y, T* workspace) const {
        const index_t rows = s_.y.out;
        const int parts = static_cast<int>(std::min<index_t>(threads_, rows));
        parallel_for(parts, parts, [&](index_t part, int t) {
            const Scratch sc = scratch(workspace, t);
            for (index_t oy = rows * part / parts; oy < rows * (part + 1) / parts; ++oy)
                for (index_t ox = 0; ox < s_.x.out; ++ox) forward_at(oy * s_.x.out + ox, x, w, b, y, sc);
        });
    }

    /// Gradients: dx (may be null), dw, db (may be null) overwritten.
    void backward(const T* x, const T* dy, const T* w, T* dx, T* dw, T* db, T* workspace) const {
        if (dx) std::fill(dx, dx + s_.input().size(), T(0));
        const index_t bands = (s_.y.out + band_rows_ - 1) / band_rows_;
        for (index_t parity = 0; parity < 2; ++parity) {
            const index_t count = (bands - parity + 1) / 2;
            parallel_for(count, threads_, [&](index_t i, int t) {
                const Scratch sc = scratch(workspace, t);
                const index_t oy0 = (2 * i + parity) * band_rows_, oy1 = std::min(s_.y.out, oy0 + band_rows_);
                for (index_t p = oy0 * s_.x.out; p < oy1 * s_.x.out; ++p) backward_at(p, x, dy, w, dx, dw, db, sc);
            });
        }
    }

private:
    // Output rows per band: bands two apart start 2h rows apart, and a band's receptive field
    // spans (h - 1) S + F_eff input rows, so h S >= F_eff - S, h = floor((F_eff - 1) / S), keeps
    // them disjoint.
    static index_t band_rows(const ConvShape& s) {
        const index_t f_eff = (s.y.kernel - 1) * s.y.dilation + 1;
        return std::max<index_t>(1, (f_eff - 1) / s.y.stride);
    }
    // Per thread: the patches (N x L) and output rows (N x K) of one position, gathered
    // contiguous (a position's rows lie H2*W2*K values apart, a page or more); for the plan, one
    // position's weights (K x L), copied in and out in memory order, and the plan's own.
    index_t per_thread() const {
        const index_t blocks = checked_mul(s_.n, s_.patch_length() + s_.k, "locally connected workspace");
        if (streamed_) return blocks;
        const index_t staged = checked_mul(s_.k, s_.patch_length(), "locally connected workspace");
        return checked_add(checked_add(blocks, staged, "locally connected workspace"), linear_.workspace_elements(1),
                           "locally connected workspace");
    }
    struct Scratch {
        T *patches, *rows, *weights, *linear;
    };
    Scratch scratch(T* workspace, int thread) const {
        T* patches = workspace + thread * per_thread();
        T* rows = patches + s_.n * s_.patch_length();
        T* weights = rows + s_.n * s_.k;
        return {patches, rows, weights, weights + s_.k * s_.patch_length()};
    }
    index_t positions() const { return s_.y.out * s_.x.out; }
    index_t row_of(index_t n, index_t p) const { return n * positions() + p; }

    void forward_at(index_t p, const T* x, const T* w, const T* b, T* y, const Scratch& sc) const {
        const index_t L = s_.patch_length(), K = s_.k;
        const T *wp = w + p * K * L, *bp = b ? b + p * K : nullptr;
        for (index_t n = 0; n < s_.n; ++n) im2col_row(s_, x, row_of(n, p), sc.patches + n * L);
        if (streamed_) {
            linear_streamed_forward(sc.patches, L, wp, bp, sc.rows, K, s_.n, L, K);
        } else {
            std::copy_n(wp, K * L, sc.weights);
            linear_.forward(sc.patches, L, sc.weights, bp, sc.rows, K, sc.linear, 1);
        }
        for (index_t n = 0; n < s_.n; ++n) std::copy_n(sc.rows + n * K, K, y + row_of(n, p) * K);
    }
    void backward_at(index_t p, const T* x, const T* dy, const T* w, T* dx, T* dw, T* db, const Scratch& sc) const {
        const index_t L = s_.patch_length(), K = s_.k;
        T *dwp = dw + p * K * L, *dbp = db ? db + p * K : nullptr;
        for (index_t n = 0; n < s_.n; ++n) {
            im2col_row(s_, x, row_of(n, p), sc.patches + n * L);
            std::copy_n(dy + row_of(n, p) * K, K, sc.rows + n * K);
        }
        if (streamed_) {
            if (dbp) detail::sum_rows(sc.rows, K, 0, s_.n, K, dbp);
            linear_streamed_backward_weights(sc.patches, L, sc.rows, K, dwp, s_.n, L, K);
        } else {
            linear_.backward_weights(sc.patches, L, sc.rows, K, sc.weights, dbp, sc.linear, 1);
            std::copy_n(sc.weights, K * L, dwp);
        }
        if (!dx) return;
        if (streamed_) {
            linear_streamed_backward_data(sc.rows, K, w + p * K * L, sc.patches, L, s_.n, L, K);
        } else {
            std::copy_n(w + p * K * L, K * L, sc.weights);
            linear_.backward_data(sc.rows, K, sc.weights, sc.patches, L, sc.linear, 1);
        }
        for (index_t n = 0; n < s_.n; ++n) col2im_add_row(s_, sc.patches + n * L, row_of(n, p), dx);
    }

    ConvShape s_;
    int threads_;
    bool streamed_;  // a batch smaller than a tile's NR columns
    LinearPlan<T> linear_;
    index_t band_rows_;
};

}  // namespace convlayer::kernels
