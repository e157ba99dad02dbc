// The products of a linear (fully connected) map, on the packed micro-kernel (packed_gemm.hpp):
//   forward:          Y  = X W^T + 1 b^T
//   backward-data:    dX = dY W
//   backward-weights: dW = dY^T X,  db = column sums of dY
// with X (rows x in) and Y (rows x out) row-major with leading dimensions, and W (out x in)
// row-major: nn.Linear's layout, which is also OHWI for a filter over the whole input. DenseLayer
// runs them over the batch; LocallyConnectedLayer per output position, over the batch.
//
// Each product is computed as it stands or transposed (Y^T = W X^T, dX^T = W^T dY^T,
// dW^T = X^T dY), whichever costs less by a model of the micro-kernel: its MR x NR tiles padded
// around the result, plus the operand it must pack (the other is read in place) and, when
// transposed, the copy of the result out of scratch. A layer with few outputs (Fashion-MNIST's 10 classes) then
// tiles the samples by 32 columns rather than the 10 outputs, and a small batch multiplies the
// weights in place instead of packing them.
#pragma once

#include <algorithm>

#include "convlayer/core/checked_math.hpp"
#include "convlayer/core/threading.hpp"
#include "convlayer/kernels/bias_gradient.hpp"
#include "convlayer/kernels/linear_streamed.hpp"
#include "convlayer/kernels/packed_gemm.hpp"
#include "convlayer/kernels/tuning.hpp"

namespace convlayer::kernels {

/// A linear map applied to `rows` samples: in -> out features.
struct LinearShape {
    index_t rows = 0;  ///< samples (rows of X and Y)
    index_t in = 0;    ///< input features (columns of X and W)
    index_t out = 0;   ///< output features (columns of Y, rows of W)
};

namespace detail {

// Cost of C (m x n) = A (m x depth) B (depth x n) through MR x NR tiles, preparing `prepared`
// values at `cost_each` and copying `copied` out of scratch.
template <typename T>
double gemm_cost(index_t m, index_t n, index_t depth, index_t prepared, double cost_each, index_t copied) {
    constexpr index_t MR = GemmTile<T>::MR, NR = GemmTile<T>::NR, lanes = GemmTile<T>::kLanes;
    const double tiles = static_cast<double>(round_up(m, MR)) * static_cast<double>(round_up(n, NR));
    return tiles * static_cast<double>(depth) / lanes + cost_each * static_cast<double>(prepared) +
           kTransposeCopyCost * static_cast<double>(copied);
}

// The cost of packing a column-major B of `cols` columns: the fast path takes whole panels.
template <typename T>
double column_pack_cost(index_t cols) {
    return cols >= GemmTile<T>::NR ? kFastPackCost : kPanelPackCost;
}

// An operand B (depth x cols) as it lies in memory: element (k, j) at b[k*ld + j] (row-major)
// or b[j*ld + k].
template <typename T>
struct Operand {
    const T* b;
    index_t ld;
    bool row_major;
    // Columns [j0, j0 + cols) into NR panels at dst.
    void pack(index_t depth, index_t j0, index_t cols, T* dst) const {
        if (row_major) pack_b_panels_rowmajor(b + j0, ld, depth, cols, dst);
        else pack_b_panels_colmajor(b + j0 * ld, ld, depth, cols, dst);
    }
};

// gemm_block() for A read in place when row-major or when B is a single panel. A column-major A
// multiplied by several panels of B is copied an MR-row panel at a time into `panel` (MR * depth
// values) first: read in place, each step of its depth loads a line lda values on, and an lda of
// a multiple of 4 KiB (a 1024-wide layer) maps every one of them to the same L1 set, so each
// panel of B would load them again. (Against one panel of B the copy only doubles the reads:
// 0.78x on the 3136 -> 10 backward at N = 256.)
template <typename T>
void gemm_block_own_a(const T* a, index_t lda, bool a_row_major, index_t m, index_t depth, const T* b_packed,
                      index_t n, T* c, index_t ldc, const T* bias, T* panel) {
    constexpr index_t MR = GemmTile<T>::MR, NR = GemmTile<T>::NR;
    if (a_row_major || n <= NR) return gemm_block(a, lda, a_row_major, m, depth, b_packed, n, c, ldc, false, bias, panel);
    for (index_t i0 = 0; i0 < m; i0 += MR) {
        const index_t rows = std::min(MR, m - i0);
        pack_a_panels_colmajor(a + i0, lda, rows, depth, panel);  // zero rows past `rows`
        for (index_t j0 = 0; j0 < n; j0 += NR)
            gemm_micro_kernel<T, false>(depth, panel, MR, b_packed + j0 * depth, c + i0 * ldc + j0, ldc, rows,
                                        std::min(NR, n - j0), false, bias ? bias + j0 : nullptr);
    }
}

// C (m x n, row-major, ldc) = A B (+ bias), A read in place (row- or column-major, lda), B packed
// into `packed` in NR panels. With a panel of B's columns for every thread, the threads split
// the panels and each packs its own, so packed values stay in the cache of the core that uses
// them (packed on one core and read on another, the lines cross between the cores every call:
// 2.5x slower on two threads than on one, for a 3136 -> 10 layer's backward). Otherwise B is
// packed first and the threads split C's rows in whole MR panels, each copying its own rows of a
// column-major A (gemm_block_own_a()). Thread t packs A's panels into edges + t * MR * depth.
template <typename T>
void gemm(const T* a, index_t lda, bool a_row_major, index_t m, index_t depth, const Operand<T>& b, index_t n,
          T* packed, T* c, index_t ldc, const T* bias, T* edges, int threads) {
    constexpr index_t MR = GemmTile<T>::MR, NR = GemmTile<T>::NR;
    const index_t col_panels = (n + NR - 1) / NR, row_panels = (m + MR - 1) / MR;
    if (threads > 1 && col_panels >= threads) {
        parallel_for(threads, threads, [&](index_t part, int t) {
            const index_t j0 = col_panels * part / threads * NR, j1 = std::min(n, col_panels * (part + 1) / threads * NR);
            b.pack(depth, j0, j1 - j0, packed + j0 * depth);
            gemm_block(a, lda, a_row_major, m, depth, packed + j0 * depth, j1 - j0, c + j0, ldc, false,
                       bias ? bias + j0 : nullptr, edges + t * MR * depth);  // every thread reads all of A
        });
        return;
    }
    b.pack(depth, 0, n, packed);
    const int parts = static_cast<int>(std::min<index_t>(threads, row_panels));
    parallel_for(parts, parts, [&](index_t part, int t) {
        const index_t r0 = row_panels * part / parts * MR, r1 = std::min(m, row_panels * (part + 1) / parts * MR);
        const T* a0 = a_row_major ? a + r0 * lda : a + r0;
        gemm_block_own_a(a0, lda, a_row_major, r1 - r0, depth, packed, n, c + r0 * ldc, ldc, bias,
                         edges + t * MR * depth);
    });
}

// dst (rows x cols, row-major, ldd) = src^T (src: cols x rows, row-major, lds) + bias per column.
template <typename T>
void transpose_into(const T* src, index_t lds, index_t rows, index_t cols, T* dst, index_t ldd, const T* bias) {
    for (index_t r = 0; r < rows; ++r)
        for (index_t c = 0; c < cols; ++c) dst[r * ldd + c] = src[c * lds + r] + (bias ? bias[c] : T(0));
}
}  // namespace detail

/// Which of the three products run transposed (see above), decided once per shape.
template <typename T>
struct LinearPlan {
    LinearShape s;                     ///< the map planned for
    bool forward_transposed;           ///< Y^T = W X^T rather than Y = X W^T
    bool backward_data_transposed;     ///< dX^T = W^T dY^T rather than dX = dY W
    bool backward_weights_transposed;  ///< dW^T = X^T dY rather than dW = dY^T X
    /// Y by linear_streamed_forward_by_samples(), no GEMM: for fewer outputs than a tile's rows and
    /// a W that stays in L2, where packing X (or W's rows into a part-empty tile) costs more than
    /// the products (Fashion-MNIST's 3136 -> 10 classifier).
    bool forward_streamed;
    /// dW by linear_streamed_backward_weights_by_columns(), X read in place, no packing: where the
    /// forward streams (few outputs; packing all of X as B cost 28% of Fashion-MNIST's backward).
    bool backward_weights_streamed;

    /// Chooses each product's orientation for `shape` by the cost model above.
    explicit LinearPlan(const LinearShape& shape)
        : s(shape),
          forward_transposed(cost(s.out, s.rows, s.in, s.in * s.rows, detail::column_pack_cost<T>(s.rows), s.out * s.rows) <
                             cost(s.rows, s.out, s.in, s.in * s.out, detail::column_pack_cost<T>(s.out), 0)),
          backward_data_transposed(
              cost(s.in, s.rows, s.out, s.out * s.rows, detail::column_pack_cost<T>(s.rows), s.in * s.rows) <
              cost(s.rows, s.in, s.out, s.in * s.out, detail::kRowPackCost, 0)),
          backward_weights_transposed(
              cost(s.in, s.out, s.rows, s.rows * s.out, detail::kRowPackCost, s.in * s.out) <
              cost(s.out, s.in, s.rows, s.rows * s.in, detail::kRowPackCost, 0)),
          forward_streamed(s.out < GemmTile<T>::MR &&
                           s.out * s.in * static_cast<index_t>(sizeof(T)) <= tuning<T>().streamed_weights_bytes),
          backward_weights_streamed(forward_streamed) {}

    /// Values of packed operand, transposed result and edge panels the products need.
    index_t workspace_elements(int threads) const {
        const Sizes z = sizes();
        const index_t edges = checked_product("linear workspace", threads, GemmTile<T>::MR, std::max({s.in, s.out, s.rows}));
        return checked_add(checked_add(z.packed, z.scratch, "linear workspace"), edges, "linear workspace");
    }

    /// y (ldy) = x (ldx) W^T + b (b may be null).
    void forward(const T* x, index_t ldx, const T* w, const T* b, T* y, index_t ldy, T* workspace, int threads) const {
        if (forward_streamed)
            return linear_streamed_forward_by_samples(x, ldx, w, b, y, ldy, s.rows, s.in, s.out, streamed_threads(threads));
        Parts p = parts(workspace);
        if (!forward_transposed) {
            detail::gemm(x, ldx, true, s.rows, s.in, detail::Operand<T>{w, s.in, false}, s.out, p.packed, y, ldy, b, p.edges,
                         threads);  // W^T: in x out
            return;
        }
        detail::gemm(w, s.in, true, s.out, s.in, detail::Operand<T>{x, ldx, false}, s.rows, p.packed, p.scratch, s.rows,
                     static_cast<const T*>(nullptr), p.edges, threads);  // X^T: in x rows
        detail::transpose_into(p.scratch, s.rows, s.rows, s.out, y, ldy, b);
    }

    /// dx (ldx) = dy (ldy) W.
    void backward_data(const T* dy, index_t ldy, const T* w, T* dx, index_t ldx, T* workspace, int threads) const {
        Parts p = parts(workspace);
        if (!backward_data_transposed) {
            detail::gemm(dy, ldy, true, s.rows, s.out, detail::Operand<T>{w, s.in, true}, s.in, p.packed, dx, ldx,
                         static_cast<const T*>(nullptr), p.edges, threads);
            return;
        }
        detail::gemm(w, s.in, false, s.in, s.out, detail::Operand<T>{dy, ldy, false}, s.rows, p.packed, p.scratch, s.rows,
                     static_cast<const T*>(nullptr), p.edges, threads);  // W^T read column-major, dY^T: out x rows
        detail::transpose_into(p.scratch, s.rows, s.rows, s.in, dx, ldx, static_cast<const T*>(nullptr));
    }

    /// dw (out x in, row-major) = dy^T x; db (may be null) = column sums of dy.
    void backward_weights(const T* x, index_t ldx, const T* dy, index_t ldy, T* dw, T* db, T* workspace,
                          int threads) const {
        Parts p = parts(workspace);
        if (db) detail::sum_rows(dy, ldy, 0, s.rows, s.out, db);
        if (backward_weights_streamed)
            return linear_streamed_backward_weights_by_columns(x, ldx, dy, ldy, dw, s.rows, s.in, s.out,
                                                               streamed_threads(threads));
        if (!backward_weights_transposed) {
            detail::gemm(dy, ldy, false, s.out, s.rows, detail::Operand<T>{x, ldx, true}, s.in, p.packed, dw, s.in,
                         static_cast<const T*>(nullptr), p.edges, threads);  // dY^T read column-major
            return;
        }
        detail::gemm(x, ldx, false, s.in, s.rows, detail::Operand<T>{dy, ldy, true}, s.out, p.packed, p.scratch, s.out,
                     static_cast<const T*>(nullptr), p.edges, threads);  // X^T read column-major
        detail::transpose_into(p.scratch, s.out, s.out, s.in, dw, s.in, static_cast<const T*>(nullptr));
    }

private:
    // Threads a streamed product runs on: as many as its FLOPs keep busy (threads_for_flops()).
    int streamed_threads(int threads) const {
        return threads_for_flops<T>(2.0 * static_cast<double>(s.rows * s.in * s.out), threads);
    }
    static double cost(index_t m, index_t n, index_t depth, index_t prepared, double cost_each, index_t copied) {
        return detail::gemm_cost<T>(m, n, depth, prepared, cost_each, copied);
    }
    struct Sizes {
        index_t packed = 0, scratch = 0;
    };
    // The largest packed operand and transposed result of the three products.
    Sizes sizes() const {
        Sizes z;
        auto need = [&](bool transposed, index_t depth, index_t cols_t, index_t cols, index_t result_cols) {
            const index_t cols_packed = detail::round_up(transposed ? cols_t : cols, GemmTile<T>::NR);
            z.packed = std::max(z.packed, checked_mul(depth, cols_packed, "linear workspace"));
            if (transposed) z.scratch = std::max(z.scratch, checked_mul(cols_t, result_cols, "linear workspace"));
        };
        need(forward_transposed, s.in, s.rows, s.out, s.out);
        need(backward_data_transposed, s.out, s.rows, s.in, s.in);
        need(backward_weights_transposed, s.rows, s.out, s.in, s.in);
        return z;
    }
    struct Parts {
        T *packed, *scratch, *edges;
    };
    // [packed operand][transposed result][edge panels], as workspace_elements() sizes them.
    Parts parts(T* workspace) const {
        const Sizes z = sizes();
        return {workspace, workspace + z.packed, workspace + z.packed + z.scratch};
    }
};

}  // namespace convlayer::kernels
