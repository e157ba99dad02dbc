// im2col and col2im over NHWC activations.
//
// The im2col ("patch") matrix has one row per output position m = (n*H2 + oy)*W2 + ox and
// Fh*Fw*D1 columns in (ky, kx, d) order: the same order as one OHWI filter, so
//   Y (positions x K, row-major, i.e. NHWC) = patches * W ((Fh*Fw*D1) x K, column-major).
// They work row by row or on a block of rows [m_begin, m_end), so callers can bound the buffer.
#pragma once

#include <algorithm>
#include <cstring>

#include "convlayer/core/conv_shape.hpp"

namespace convlayer::kernels {

namespace detail {
// Output position m = (n*H2 + oy)*W2 + ox, stepped along a block of patch rows (one division
// per block, not three per row).
struct Position {
    index_t m, n, oy, ox;
    Position(const ConvShape& s, index_t m0)
        : m(m0), n(m0 / (s.x.out * s.y.out)), oy((m0 / s.x.out) % s.y.out), ox(m0 % s.x.out) {}
    void next(const ConvShape& s) {
        ++m;
        if (++ox < s.x.out) return;
        ox = 0;
        if (++oy < s.y.out) return;
        oy = 0;
        ++n;
    }
};
}  // namespace detail

/// im2col_row() for output position (n, oy, ox).
template <typename T>
void im2col_row_at(const ConvShape& s, const T* x, index_t n, index_t oy, index_t ox, T* row) {
    const index_t D = s.d1, Fw = s.x.kernel;
    const index_t row_span = Fw * D;  // one kernel row of a patch
    const index_t ix0 = s.x.input_coord(ox, 0);
    const bool row_inside = s.x.dilation == 1 && ix0 >= 0 && ix0 + Fw <= s.x.in;
    for (index_t ky = 0; ky < s.y.kernel; ++ky) {
        T* dst = row + ky * row_span;
        const index_t iy = s.y.input_coord(oy, ky);
        if (iy < 0 || iy >= s.y.in) {
            std::fill(dst, dst + row_span, T(0));
            continue;
        }
        const T* src_row = x + (n * s.y.in + iy) * s.x.in * D;
        if (row_inside) {
            // The whole kernel row is inside the input: one contiguous copy of Fw*D values.
            std::memcpy(dst, src_row + ix0 * D, static_cast<std::size_t>(row_span) * sizeof(T));
            continue;
        }
        for (index_t kx = 0; kx < Fw; ++kx) {
            const index_t ix = s.x.input_coord(ox, kx);
            if (ix < 0 || ix >= s.x.in)
                std::fill(dst + kx * D, dst + (kx + 1) * D, T(0));
            else
                std::memcpy(dst + kx * D, src_row + ix * D, static_cast<std::size_t>(D) * sizeof(T));
        }
    }
}

/// Writes row m of the patch matrix (output position m = (n*H2 + oy)*W2 + ox) to `row`
/// (s.patch_length() values). Taps in the zero-padding are written as 0.
template <typename T>
void im2col_row(const ConvShape& s, const T* x, index_t m, T* row) {
    im2col_row_at(s, x, m / (s.x.out * s.y.out), (m / s.x.out) % s.y.out, m % s.x.out, row);
}

/// col2im_add_row() for output position (n, oy, ox).
template <typename T>
void col2im_add_row_at(const ConvShape& s, const T* row, index_t n, index_t oy, index_t ox, T* dx) {
    const index_t D = s.d1, Fw = s.x.kernel;
    const index_t ix0 = s.x.input_coord(ox, 0);
    const bool row_inside = s.x.dilation == 1 && ix0 >= 0 && ix0 + Fw <= s.x.in;
    for (index_t ky = 0; ky < s.y.kernel; ++ky) {
        const index_t iy = s.y.input_coord(oy, ky);
        if (iy < 0 || iy >= s.y.in) continue;
        T* dst_row = dx + (n * s.y.in + iy) * s.x.in * D;
        const T* src = row + ky * Fw * D;
        if (row_inside) {  // the kernel row's Fw*D values are contiguous in dx too
            T* dst = dst_row + ix0 * D;
            for (index_t i = 0; i < Fw * D; ++i) dst[i] += src[i];
            continue;
        }
        for (index_t kx = 0; kx < Fw; ++kx) {
            const index_t ix = s.x.input_coord(ox, kx);
            if (ix < 0 || ix >= s.x.in) continue;
            T* dst = dst_row + ix * D;
            const T* sp = src + kx * D;
            for (index_t d = 0; d < D; ++d) dst[d] += sp[d];
        }
    }
}

/// Adds `row`, a patch-matrix row for output position m, back onto the NHWC volume `dx`: the
/// adjoint of im2col_row. Taps that fall in the padding are dropped.
template <typename T>
void col2im_add_row(const ConvShape& s, const T* row, index_t m, T* dx) {
    col2im_add_row_at(s, row, m / (s.x.out * s.y.out), (m / s.x.out) % s.y.out, m % s.x.out, dx);
}

/// Writes rows [m_begin, m_end) of the patch matrix of `x` to `patches` (row-major,
/// (m_end - m_begin) x s.patch_length()).
template <typename T>
void im2col(const ConvShape& s, const T* x, index_t m_begin, index_t m_end, T* patches) {
    const index_t L = s.patch_length();
    for (detail::Position p(s, m_begin); p.m < m_end; p.next(s))
        im2col_row_at(s, x, p.n, p.oy, p.ox, patches + (p.m - m_begin) * L);
}

/// Adds rows [m_begin, m_end) of a patch-shaped matrix back onto `dx` (not cleared first).
template <typename T>
void col2im_add(const ConvShape& s, const T* patches, index_t m_begin, index_t m_end, T* dx) {
    const index_t L = s.patch_length();
    for (detail::Position p(s, m_begin); p.m < m_end; p.next(s))
        col2im_add_row_at(s, patches + (p.m - m_begin) * L, p.n, p.oy, p.ox, dx);
}

}  // namespace convlayer::kernels
