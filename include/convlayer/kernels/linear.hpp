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
#include "convlayer/kernels/packed_gemm.hpp"

namespace convlayer::kernels {

/// A linear map applied to `rows` samples: in -> out features.
struct LinearShape {
    index_t rows = 0, in = 0, out = 0;
};

namespace detail {
// Costs, in micro-kernel steps (one broadcast and two FMAs), of preparing one value: packed by
// the transposing fast path (whole NR panels of a column-major B), packed otherwise, packed from
// a row-major B, and copied out of scratch into a transposed result (strided reads). Measured on
// the products of docs/performance.md's dense layers, AVX2 and AVX-512.
inline constexpr double kFastPackCost = 0.5, kPanelPackCost = 2, kRowPackCost = 1, kTransposeCopyCost = 8;

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

// C (m x n, row-major, ldc) = A B (+ bias), A read in place (row- or column-major, lda), B packed
// in NR panels; the threads split C's rows in whole MR panels, each packing its own edge panel
// into edges + t * MR * depth.
template <typename T>
void gemm_rows(const T* a, index_t lda, bool a_row_major, index_t m, index_t depth, const T* b_packed, index_t n, T* c,
               index_t ldc, const T* bias, T* edges, int threads) {
    constexpr index_t MR = GemmTile<T>::MR;
    const index_t panels = (m + MR - 1) / MR;
    const int parts = static_cast<int>(std::min<index_t>(threads, panels));
    parallel_for(parts, parts, [&](index_t part, int t) {
        const index_t r0 = panels * part / parts * MR, r1 = std::min(m, panels * (part + 1) / parts * MR);
        const T* a0 = a_row_major ? a + r0 * lda : a + r0;
        gemm_block(a0, lda, a_row_major, r1 - r0, depth, b_packed, n, c + r0 * ldc, ldc, false, bias,
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
    LinearShape s;
    bool forward_transposed, backward_data_transposed, backward_weights_transposed;

    explicit LinearPlan(const LinearShape& shape)
        : s(shape),
          forward_transposed(cost(s.out, s.rows, s.in, s.in * s.rows, detail::column_pack_cost<T>(s.rows), s.out * s.rows) <
                             cost(s.rows, s.out, s.in, s.in * s.out, detail::column_pack_cost<T>(s.out), 0)),
          backward_data_transposed(
              cost(s.in, s.rows, s.out, s.out * s.rows, detail::column_pack_cost<T>(s.rows), s.in * s.rows) <
              cost(s.rows, s.in, s.out, s.in * s.out, detail::kRowPackCost, 0)),
          backward_weights_transposed(
              cost(s.in, s.out, s.rows, s.rows * s.out, detail::kRowPackCost, s.in * s.out) <
              cost(s.out, s.in, s.rows, s.rows * s.in, detail::kRowPackCost, 0)) {}

    /// Values of packed operand, transposed result and edge panels the products need.
    index_t workspace_elements(int threads) const {
        const Sizes z = sizes();
        const index_t edges = checked_product("linear workspace", threads, GemmTile<T>::MR, std::max({s.in, s.out, s.rows}));
        return checked_add(checked_add(z.packed, z.scratch, "linear workspace"), edges, "linear workspace");
    }

    /// y (ldy) = x (ldx) W^T + b (b may be null).
    void forward(const T* x, index_t ldx, const T* w, const T* b, T* y, index_t ldy, T* workspace, int threads) const {
        Parts p = parts(workspace);
        if (!forward_transposed) {
            pack_b_panels_colmajor(w, s.in, s.in, s.out, p.packed);
            detail::gemm_rows(x, ldx, true, s.rows, s.in, p.packed, s.out, y, ldy, b, p.edges, threads);
            return;
        }
        pack_b_panels_colmajor(x, ldx, s.in, s.rows, p.packed);  // X^T: in x rows
        detail::gemm_rows(w, s.in, true, s.out, s.in, p.packed, s.rows, p.scratch, s.rows,
                          static_cast<const T*>(nullptr), p.edges, threads);
        detail::transpose_into(p.scratch, s.rows, s.rows, s.out, y, ldy, b);
    }

    /// dx (ldx) = dy (ldy) W.
    void backward_data(const T* dy, index_t ldy, const T* w, T* dx, index_t ldx, T* workspace, int threads) const {
        Parts p = parts(workspace);
        if (!backward_data_transposed) {
            pack_b_panels_rowmajor(w, s.in, s.out, s.in, p.packed);
            detail::gemm_rows(dy, ldy, true, s.rows, s.out, p.packed, s.in, dx, ldx, static_cast<const T*>(nullptr),
                              p.edges, threads);
            return;
        }
        pack_b_panels_colmajor(dy, ldy, s.out, s.rows, p.packed);  // dY^T: out x rows
        detail::gemm_rows(w, s.in, false, s.in, s.out, p.packed, s.rows, p.scratch, s.rows,
                          static_cast<const T*>(nullptr), p.edges, threads);  // W^T read column-major
        detail::transpose_into(p.scratch, s.rows, s.rows, s.in, dx, ldx, static_cast<const T*>(nullptr));
    }

    /// dw (out x in, row-major) = dy^T x; db (may be null) = column sums of dy.
    void backward_weights(const T* x, index_t ldx, const T* dy, index_t ldy, T* dw, T* db, T* workspace,
                          int threads) const {
        Parts p = parts(workspace);
        if (db) {
            std::fill(db, db + s.out, T(0));
            for (index_t r = 0; r < s.rows; ++r)
                for (index_t o = 0; o < s.out; ++o) db[o] += dy[r * ldy + o];
        }
        if (!backward_weights_transposed) {
            pack_b_panels_rowmajor(x, ldx, s.rows, s.in, p.packed);
            detail::gemm_rows(dy, ldy, false, s.out, s.rows, p.packed, s.in, dw, s.in, static_cast<const T*>(nullptr),
                              p.edges, threads);  // dY^T read column-major
            return;
        }
        pack_b_panels_rowmajor(dy, ldy, s.rows, s.out, p.packed);
        detail::gemm_rows(x, ldx, false, s.in, s.rows, p.packed, s.out, p.scratch, s.out,
                          static_cast<const T*>(nullptr), p.edges, threads);  // X^T read column-major
        detail::transpose_into(p.scratch, s.out, s.out, s.in, dw, s.in, static_cast<const T*>(nullptr));
    }

private:
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
