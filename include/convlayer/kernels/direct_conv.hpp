// The plain nested-loop convolution: the readable definition every fast kernel is tested against.
//
//   y[n, oy, ox, k] = b[k] + sum_{ky, kx, d} x[n, iy, ix, d] * w[k, ky, kx, d]
//   with iy = oy*Sh - Ph + ky*dil_h, ix = ox*Sw - Pw + kx*dil_w, and x = 0 outside the input.
//
// Sums accumulate in double. Pointers are NHWC activations and OHWI weights of the sizes
// s.input(), s.output() and s.k * s.patch_length(); nothing is allocated.
#pragma once

#include <vector>

#include "convlayer/core/conv_shape.hpp"

namespace convlayer::kernels {

/// y = conv(x, w) + b. `b` may be null (no bias).
template <typename T>
void direct_conv_forward(const ConvShape& s, const T* x, const T* w, const T* b, T* y) {
    const index_t out_size = s.output().size();
    const index_t L = s.patch_length();
    for (index_t i = 0; i < out_size; ++i) y[i] = T(0);
    for (index_t n = 0; n < s.n; ++n)
        for (index_t oy = 0; oy < s.y.out; ++oy)
            for (index_t ox = 0; ox < s.x.out; ++ox)
                for (index_t k = 0; k < s.k; ++k) {
                    double acc = b ? static_cast<double>(b[k]) : 0.0;
                    for (index_t ky = 0; ky < s.y.kernel; ++ky) {
                        const index_t iy = s.y.input_coord(oy, ky);
                        if (iy < 0 || iy >= s.y.in) continue;
                        for (index_t kx = 0; kx < s.x.kernel; ++kx) {
                            const index_t ix = s.x.input_coord(ox, kx);
                            if (ix < 0 || ix >= s.x.in) continue;
                            const T* xp = x + ((n * s.y.in + iy) * s.x.in + ix) * s.d1;
                            const T* wp = w + k * L + (ky * s.x.kernel + kx) * s.d1;
                            for (index_t d = 0; d < s.d1; ++d)
                                acc += static_cast<double>(xp[d]) * static_cast<double>(wp[d]);
                        }
                    }
                    y[((n * s.y.out + oy) * s.x.out + ox) * s.k + k] = static_cast<T>(acc);
                }
}

/// dx = d(loss)/dx given dy = d(loss)/dy: every tap scatters dy[.., k] * w[k, ..] back.
template <typename T>
void direct_conv_backward_data(const ConvShape& s, const T* dy, const T* w, T* dx) {
    const index_t in_size = s.input().size();
    const index_t L = s.patch_length();
    // Accumulate in double, then round once, so the reference is as exact as the forward one.
    std::vector<double> acc(static_cast<std::size_t>(in_size), 0.0);
    for (index_t n = 0; n < s.n; ++n)
        for (index_t oy = 0; oy < s.y.out; ++oy)
            for (index_t ox = 0; ox < s.x.out; ++ox)
                for (index_t k = 0; k < s.k; ++k) {
                    const double g = dy[((n * s.y.out + oy) * s.x.out + ox) * s.k + k];
                    for (index_t ky = 0; ky < s.y.kernel; ++ky) {
                        const index_t iy = s.y.input_coord(oy, ky);
                        if (iy < 0 || iy >= s.y.in) continue;
                        for (index_t kx = 0; kx < s.x.kernel; ++kx) {
                            const index_t ix = s.x.input_coord(ox, kx);
                            if (ix < 0 || ix >= s.x.in) continue;
                            const index_t xo = ((n * s.y.in + iy) * s.x.in + ix) * s.d1;
                            const T* wp = w + k * L + (ky * s.x.kernel + kx) * s.d1;
                            for (index_t d = 0; d < s.d1; ++d)
                                acc[static_cast<std::size_t>(xo + d)] += g * static_cast<double>(wp[d]);
                        }
                    }
                }
    for (index_t i = 0; i < in_size; ++i) dx[i] = static_cast<T>(acc[static_cast<std::size_t>(i)]);
}

/// dw = d(loss)/dw and db = d(loss)/db (db may be null): sums over every output position.
template <typename T>
void direct_conv_backward_weights(const ConvShape& s, const T* x, const T* dy, T* dw, T* db) {
    const index_t L = s.patch_length();
    std::vector<double> acc_w(static_cast<std::size_t>(s.k * L), 0.0);
    std::vector<double> acc_b(static_cast<std::size_t>(s.k), 0.0);
    for (index_t n = 0; n < s.n; ++n)
        for (index_t oy = 0; oy < s.y.out; ++oy)
            for (index_t ox = 0; ox < s.x.out; ++ox)
                for (index_t k = 0; k < s.k; ++k) {
                    const double g = dy[((n * s.y.out + oy) * s.x.out + ox) * s.k + k];
                    acc_b[static_cast<std::size_t>(k)] += g;
                    for (index_t ky = 0; ky < s.y.kernel; ++ky) {
                        const index_t iy = s.y.input_coord(oy, ky);
                        if (iy < 0 || iy >= s.y.in) continue;
                        for (index_t kx = 0; kx < s.x.kernel; ++kx) {
                            const index_t ix = s.x.input_coord(ox, kx);
                            if (ix < 0 || ix >= s.x.in) continue;
                            const T* xp = x + ((n * s.y.in + iy) * s.x.in + ix) * s.d1;
                            const index_t wo = k * L + (ky * s.x.kernel + kx) * s.d1;
                            for (index_t d = 0; d < s.d1; ++d)
                                acc_w[static_cast<std::size_t>(wo + d)] += g * static_cast<double>(xp[d]);
                        }
                    }
                }
    for (index_t i = 0; i < s.k * L; ++i) dw[i] = static_cast<T>(acc_w[static_cast<std::size_t>(i)]);
    if (db)
        for (index_t k = 0; k < s.k; ++k) db[k] = static_cast<T>(acc_b[static_cast<std::size_t>(k)]);
}

}  // namespace convlayer::kernels
