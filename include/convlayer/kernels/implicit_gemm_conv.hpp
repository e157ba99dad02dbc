// Implicit-GEMM convolution, forward: the GEMM micro-kernel reads the patches straight from a
// zero-padded copy of the input rows, so no im2col matrix is built.
//
// In NHWC, output (oy, ox)'s taps for one kernel row ky are F_w * D1 contiguous values of the
// padded input row oy*S_y + ky*dil_y, starting at column ox*S_x (dilation 1 along x). So the
// patch matrix of one output row is a row-major matrix with leading dimension S_x * D1 whose
// depth runs in F_h segments of F_w * D1 values, segment ky starting dil_y padded rows later.
// That pays off when patches are short and im2col's copy costs as much as the arithmetic (small
// D1, e.g. a first layer on a gray or RGB image).
#pragma once

#include <algorithm>

#include "convlayer/core/conv_shape.hpp"
#include "convlayer/core/threading.hpp"
#include "convlayer/kernels/packed_gemm.hpp"

namespace convlayer::kernels {

/// Whether the implicit GEMM runs problem `s`: dilation 1 along the width, and padding no wider
/// than the kernel along it (the padded rows are materialised; a huge pad-to-fit padding, as a
/// huge stride brings, would make them huge).
inline bool implicit_gemm_applies(const ConvShape& s) {
    return s.x.dilation == 1 && s.x.pad_begin <= s.x.kernel && s.x.pad_end <= s.x.kernel;
}

/// How the output is split: blocks of output rows of one image, each with its padded input rows
/// within `budget_elements`, and enough blocks (about 4 per thread) to keep the threads busy.
struct ImplicitGemmPlan {
    index_t rows_per_block;  // output rows per block
    index_t padded_width;    // columns of a padded input row
    index_t block_input_rows;

    static ImplicitGemmPlan make(const ConvShape& s, index_t budget_elements, int threads) {
        ImplicitGemmPlan p{};
        p.padded_width = checked_add(checked_mul(s.x.out - 1, s.x.stride), s.x.kernel, "implicit GEMM row");
        const index_t row = checked_mul(p.padded_width, s.d1, "implicit GEMM row");
        // r output rows need (r - 1)*S_y + (F_h - 1)*dil_y + 1 padded input rows.
        const index_t fixed = (s.y.kernel - 1) * s.y.dilation + 1;
        const index_t by_budget = (budget_elements / std::max<index_t>(row, 1) - fixed) / s.y.stride + 1;
        const index_t by_threads = s.n * s.y.out / (4 * static_cast<index_t>(threads));
        p.rows_per_block = std::clamp<index_t>(std::min(by_budget, by_threads), 1, s.y.out);
        p.block_input_rows = (p.rows_per_block - 1) * s.y.stride + fixed;
        return p;
    }
    index_t blocks_per_image(const ConvShape& s) const { return (s.y.out + rows_per_block - 1) / rows_per_block; }
};

/// Workspace values: the packed weights, then per thread a block of padded rows and an edge panel.
template <typename T>
index_t implicit_gemm_workspace_elements(const ConvShape& s, const ImplicitGemmPlan& p, int threads) {
    constexpr int MR = GemmTile<T>::MR, NR = GemmTile<T>::NR;
    const index_t packed = s.patch_length() * ((s.k + NR - 1) / NR * NR);
    const index_t per_thread = checked_add(checked_product("implicit GEMM workspace", p.block_input_rows,
                                                           p.padded_width, s.d1),
                                           checked_mul(MR, s.patch_length()), "implicit GEMM workspace");
    return checked_add(packed, checked_mul(per_thread, threads, "implicit GEMM workspace"), "implicit GEMM workspace");
}

/// y = conv(x, w) + bias for OHWI weights w ((F_h F_w D1) x K column-major), through the
/// segmented micro-kernel; `workspace` holds implicit_gemm_workspace_elements() values.
template <typename T>
void implicit_gemm_conv_forward(const ConvShape& s, const T* x, const T* w, const T* bias, T* y, T* workspace,
                                const ImplicitGemmPlan& plan, int threads) {
    constexpr int MR = GemmTile<T>::MR, NR = GemmTile<T>::NR;
    const index_t L = s.patch_length(), D = s.d1, Wp = plan.padded_width;
    T* packed = workspace;
    const index_t packed_elements = L * ((s.k + NR - 1) / NR * NR);
    pack_b_panels_colmajor(w, L, L, s.k, packed);
    const index_t per_thread = plan.block_input_rows * Wp * D + MR * L;
    const index_t per_image = plan.blocks_per_image(s);
    parallel_for(s.n * per_image, threads, [&](index_t b, int t) {
        const index_t n = b / per_image, oy0 = b % per_image * plan.rows_per_block;
        const index_t oy1 = std::min(s.y.out, oy0 + plan.rows_per_block);
        T* pad = workspace + packed_elements + t * per_thread;
        T* edge = pad + plan.block_input_rows * Wp * D;
        // Padded input rows oy0*S_y - P_y ...: zeros outside the input (and past its right edge).
        const index_t rows_needed = (oy1 - oy0 - 1) * s.y.stride + (s.y.kernel - 1) * s.y.dilation + 1;
        const index_t left = s.x.pad_begin, copy = std::clamp<index_t>(s.x.in, 0, Wp - left);
        for (index_t r = 0; r < rows_needed; ++r) {
            T* dst = pad + r * Wp * D;
            const index_t iy = oy0 * s.y.stride - s.y.pad_begin + r;
            if (iy < 0 || iy >= s.y.in) {
                std::fill_n(dst, Wp * D, T(0));
                continue;
            }
            std::fill_n(dst, left * D, T(0));
            std::copy_n(x + ((n * s.y.in + iy) * s.x.in) * D, copy * D, dst + left * D);
            std::fill_n(dst + (left + copy) * D, (Wp - left - copy) * D, T(0));
        }
        // With one output column the stride is never applied (and may be huge: don't multiply it).
        const index_t lda = s.x.out > 1 ? s.x.stride * D : D, segment = s.x.kernel * D, segment_stride = s.y.dilation * Wp * D;
        const index_t full = s.x.out / MR * MR;
        for (index_t oy = oy0; oy < oy1; ++oy) {
            const T* a = pad + (oy - oy0) * s.y.stride * Wp * D;
            T* c = y + (n * s.y.out + oy) * s.x.out * s.k;
            if (full < s.x.out)  // the last, partial panel of output columns, packed column-major
                for (index_t k = 0; k < L; ++k)
                    for (index_t i = 0; i < MR; ++i)
                        edge[k * MR + i] = full + i < s.x.out
                                               ? a[(full + i) * lda + (k / segment) * segment_stride + k % segment]
                                               : T(0);
            for (index_t j0 = 0; j0 < s.k; j0 += NR) {
                const T* bp = packed + (j0 / NR) * NR * L;
                const index_t nc = std::min<index_t>(NR, s.k - j0);
                const T* bias_j = bias ? bias + j0 : nullptr;
                for (index_t i0 = 0; i0 < full; i0 += MR)
                    gemm_micro_kernel<T, true>(L, a + i0 * lda, lda, bp, c + i0 * s.k + j0, s.k, MR, nc, false, bias_j,
                                               segment, segment_stride);
                if (full < s.x.out)
                    gemm_micro_kernel<T, false>(L, edge, MR, bp, c + full * s.k + j0, s.k, s.x.out - full, nc, false,
                                                bias_j);
            }
        }
    });
}

}  // namespace convlayer::kernels
