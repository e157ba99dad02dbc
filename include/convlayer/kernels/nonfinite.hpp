// NaN and Inf: every algorithm gives the definition's pattern of them.
//
// The definition (direct_conv.hpp) skips padded taps: a product is formed only with input (or dY)
// elements that exist, so a NaN weight reaches only the outputs whose window puts its tap on the
// input, and an Inf input only the outputs whose window holds it. The fast algorithms form more
// products (the padding's zeros times the weights, whose 0 * Inf is NaN; Winograd's transforms mix
// a whole tile). A non-finite value stays non-finite under +, - and *, so their results are
// non-finite wherever the definition's are, and perhaps elsewhere: checking the few results where
// they can differ and recomputing the non-finite ones by the definition gives exactly its pattern.
// Where they can differ:
//   - forward (im2col, implicit GEMM): outputs whose window meets the padding;
//   - backward-data as a conv over padded dY (implicit GEMM): inputs that window reaches from
//     outside dY;
//   - backward-weights: taps that meet the padding, and only when dY is not finite (db shows it);
//   - Winograd, both of its passes: any tile (checked in the kernel, see winograd_conv).
// Everywhere else they form exactly the definition's products.
#pragma once

#include <algorithm>

#include "convlayer/core/conv_shape.hpp"
#include "convlayer/kernels/direct_conv.hpp"
#include "convlayer/kernels/simd.hpp"

namespace convlayer::kernels {

/// True when one of the n values at p is NaN or infinite (v - v is 0 exactly when v is finite).
/// Four accumulators, so the adds do not wait on each other.
template <typename T>
bool any_nonfinite(const T* p, index_t n) {
    using Packet = typename Simd<T>::Packet;
    constexpr index_t P = Simd<T>::kLanes;
    using namespace Eigen::internal;
    Packet acc[4] = {pset1<Packet>(T(0)), pset1<Packet>(T(0)), pset1<Packet>(T(0)), pset1<Packet>(T(0))};
    index_t i = 0;
    for (; i + 4 * P <= n; i += 4 * P)
        for (int j = 0; j < 4; ++j) {
            const Packet v = ploadu<Packet>(p + i + j * P);
            acc[j] = padd(acc[j], psub(v, v));
        }
    for (; i + P <= n; i += P) {
        const Packet v = ploadu<Packet>(p + i);
        acc[0] = padd(acc[0], psub(v, v));
    }
    T tail = T(0);
    for (; i < n; ++i) tail += p[i] - p[i];
    return !(predux(padd(padd(acc[0], acc[1]), padd(acc[2], acc[3]))) == T(0) && tail == T(0));
}

/// Whether output o along `a` has a tap in the padding (before or after the input).
inline bool touches_padding(const AxisGeometry& a, index_t o) {
    return a.input_coord(o, 0) < 0 || a.input_coord(o, a.kernel - 1) >= a.in;
}

/// Whether input i along `a`, computed as a stride-1 conv over padded dY (one per stride phase),
/// may have a tap outside dY: at stride 1 exactly when o = i + P - k*dilation falls outside
/// [0, out); at stride S a superset, as tap k reads o = (i + P - k) / S.
inline bool reached_from_padding(const AxisGeometry& a, index_t i) {
    return i + a.pad_begin - (a.kernel - 1) * a.dilation < 0 || i + a.pad_begin >= a.stride * a.out;
}

namespace detail {
// [lo, hi): the coordinates along an axis for which `touches` is false (they form one range).
template <typename F>
void untouched_range(index_t extent, F&& touches, index_t& lo, index_t& hi) {
    lo = 0;
    while (lo < extent && touches(lo)) ++lo;
    hi = extent;
    while (hi > lo && touches(hi - 1)) --hi;
}

// Calls f(y, x) for the positions in rows [y0, y1) of w positions each (row y's from row(y) on,
// `pixel` values apart, `depth` values each) where touch_y(y) or touch_x(x) and the position holds
// a NaN or Inf. Where the positions are contiguous (pixel == depth), a run along a row is checked
// at once first: most are finite.
template <typename T, typename Row, typename Fy, typename Fx, typename F>
void for_each_nonfinite_border_position(Row&& row, index_t depth, index_t pixel, index_t y0, index_t y1, index_t w,
                                        Fy&& touch_y, Fx&& touch_x, F&& f) {
    index_t x_lo = 0, x_hi = 0;
    untouched_range(w, touch_x, x_lo, x_hi);
    auto run = [&](index_t y, index_t x0, index_t x1) {
        const T* r = row(y);
        if (x0 >= x1 || (pixel == depth && !any_nonfinite(r + x0 * depth, (x1 - x0) * depth))) return;
        for (index_t x = x0; x < x1; ++x)
            if (any_nonfinite(r + x * pixel, depth)) f(y, x);
    };
    for (index_t y = y0; y < y1; ++y) {
        if (touch_y(y)) {
            run(y, 0, w);
            continue;
        }
        run(y, 0, x_lo);
        run(y, x_hi, w);
    }
}
}  // namespace detail

/// Recomputes by the definition the output depth columns of y in output rows [oy0, oy1) of image
/// n, among those whose window meets the padding, that hold a NaN or Inf.
template <typename T>
void repair_forward_border(const ConvShape& s, const T* x, const T* w, const T* b, T* y, index_t n, index_t oy0,
                           index_t oy1) {
    T* image = y + n * s.y.out * s.x.out * s.k;
    detail::for_each_nonfinite_border_position<T>(
        [&](index_t oy) { return image + oy * s.x.out * s.k; }, s.k, s.k, oy0, oy1, s.x.out,
        [&](index_t o) { return touches_padding(s.y, o); }, [&](index_t o) { return touches_padding(s.x, o); },
        [&](index_t oy, index_t ox) { direct_conv_forward_at(s, x, w, b, n, oy, ox, image + (oy * s.x.out + ox) * s.k); });
}

/// repair_forward_border() over every output row of every image.
template <typename T>
void repair_forward_border(const ConvShape& s, const T* x, const T* w, const T* b, T* y) {
    for (index_t n = 0; n < s.n; ++n) repair_forward_border(s, x, w, b, y, n, 0, s.y.out);
}

/// Recomputes by the definition the depth columns of dx that a stride-1 conv over padded dY may
/// reach from outside dY, where they hold a NaN or Inf, among the inputs of image n of one stride
/// phase: rows qy + S_h*u for u in [u0, u1), columns qx + S_w*v (at stride 1: rows [u0, u1)).
template <typename T>
void repair_backward_data_border(const ConvShape& s, const T* dy, const T* w, T* dx, index_t n, index_t u0,
                                 index_t u1, index_t qy = 0, index_t qx = 0) {
    const index_t Sy = s.y.stride, Sx = s.x.stride, D = s.d1, W = s.x.in;
    T* image = dx + n * s.y.in * W * D;
    auto at = [&](index_t u, index_t v) { return image + ((qy + Sy * u) * W + qx + Sx * v) * D; };
    detail::for_each_nonfinite_border_position<T>(
        [&](index_t u) { return at(u, 0); }, D, Sx * D, u0, u1, (W - qx + Sx - 1) / Sx,
        [&](index_t u) { return reached_from_padding(s.y, qy + Sy * u); },
        [&](index_t v) { return reached_from_padding(s.x, qx + Sx * v); },
        [&](index_t u, index_t v) { direct_conv_backward_data_at(s, dy, w, n, qy + Sy * u, qx + Sx * v, at(u, v)); });
}

/// Recomputes by the definition the taps of dw that meet the padding and hold a NaN or Inf.
/// Call it when dY is not finite (any_nonfinite(db)): otherwise the padding's products are zeros.
template <typename T>
void repair_weight_gradient(const ConvShape& s, const T* x, const T* dy, T* dw) {
    auto tap_meets_padding = [](const AxisGeometry& a, index_t k) {
        return a.input_coord(0, k) < 0 || a.input_coord(a.out - 1, k) >= a.in;
    };
    const index_t L = s.patch_length();
    for (index_t ky = 0; ky < s.y.kernel; ++ky)
        for (index_t kx = 0; kx < s.x.kernel; ++kx) {
            if (!tap_meets_padding(s.y, ky) && !tap_meets_padding(s.x, kx)) continue;
            for (index_t k = 0; k < s.k; ++k) {
                T* out = dw + k * L + (ky * s.x.kernel + kx) * s.d1;
                if (any_nonfinite(out, s.d1)) direct_conv_backward_weights_at(s, x, dy, k, ky, kx, out);
            }
        }
}

/// After a fast backward-weights (dw, and db when not null): when dY is not finite (db shows it),
/// repair_weight_gradient().
template <typename T>
void repair_weight_gradient_if_nonfinite(const ConvShape& s, const T* x, const T* dy, T* dw, const T* db) {
    if (db ? any_nonfinite(db, s.k) : any_nonfinite(dy, s.output().size())) repair_weight_gradient(s, x, dy, dw);
}

}  // namespace convlayer::kernels
