// Max and average pooling over the windows of each depth slice (NHWC), forward and backward.
//
// A window's inputs are depth columns of D contiguous values, so each loop runs over d innermost
// (vectorised: max pooling keeps whole packets of channels in registers) and the work is spread
// over the samples of the batch. Padding never wins a max and is not counted in an average.
#pragma once

#include <algorithm>
#include <limits>

#include "convlayer/core/conv_shape.hpp"
#include "convlayer/core/threading.hpp"
#include "convlayer/kernels/simd.hpp"

namespace convlayer {

/// How PoolLayer and the pool kernels reduce a window: `max` (padding never wins) or `average`
/// (over the window's inputs only: padding is not counted).
enum class PoolKind { max, average };

namespace kernels {

namespace detail {
// Calls f(oy, ox, y0, y1, x0, x1) with the in-bounds input rows [y0, y1) and columns
// [x0, x1) of every window of one sample (never empty: a window always overlaps the input).
template <typename F>
void for_each_pool_window(const ConvShape& s, F&& f) {
    for (index_t oy = 0; oy < s.y.out; ++oy) {
        const index_t y0 = std::max<index_t>(0, s.y.input_coord(oy, 0));
        const index_t y1 = std::min(s.y.in, s.y.input_coord(oy, s.y.kernel - 1) + 1);
        for (index_t ox = 0; ox < s.x.out; ++ox) {
            const index_t x0 = std::max<index_t>(0, s.x.input_coord(ox, 0));
            const index_t x1 = std::min(s.x.in, s.x.input_coord(ox, s.x.kernel - 1) + 1);
            f(oy, ox, y0, y1, x0, x1);
        }
    }
}

// One window of one sample: x and dx of the sample (rows `row` values apart, D channels per
// input), the window's dy, and its in-bounds input rows [y0, y1) and columns [x0, x1).
template <typename T>
struct PoolWindow {
    const T* x;
    T* dx;
    const T* g;
    index_t row, D, y0, y1, x0, x1;
    index_t at(index_t iy, index_t ix) const { return iy * row + ix * D; }
};

template <typename T>
using PoolPacket = typename Simd<T>::Packet;
// All ones in the lanes of v that are NaN.
template <typename Packet>
Packet nan_lanes(const Packet& v) {
    using namespace Eigen::internal;
    return pandnot(ptrue(v), pcmp_eq(v, v));
}

// out = the window's maximum per channel; a NaN wins, so it propagates. Whole packets of
// channels in registers, then the rest.
template <typename T>
void window_max(const PoolWindow<T>& w, T* out) {
    using namespace Eigen::internal;
    using Packet = PoolPacket<T>;
    constexpr index_t P = Simd<T>::kLanes;
    index_t c = 0;
    for (; c + P <= w.D; c += P) {
        Packet max = pset1<Packet>(-std::numeric_limits<T>::infinity());
        for (index_t iy = w.y0; iy < w.y1; ++iy)
            for (index_t ix = w.x0; ix < w.x1; ++ix) {
                const Packet in = ploadu<Packet>(w.x + w.at(iy, ix) + c);
                max = pselect(por(pcmp_lt(max, in), nan_lanes(in)), in, max);
            }
        pstoreu(out + c, max);
    }
    std::fill(out + c, out + w.D, -std::numeric_limits<T>::infinity());
    for (index_t iy = w.y0; iy < w.y1; ++iy)
        for (index_t ix = w.x0; ix < w.x1; ++ix) {
            const T* in = w.x + w.at(iy, ix);
            for (index_t d = c; d < w.D; ++d) out[d] = in[d] > out[d] || in[d] != in[d] ? in[d] : out[d];
        }
}

// dx += (kAdd) or = dy / (window size) over the window.
template <bool kAdd, typename T>
void window_average_backward(const PoolWindow<T>& w) {
    const T scale = T(1) / static_cast<T>((w.y1 - w.y0) * (w.x1 - w.x0));
    for (index_t iy = w.y0; iy < w.y1; ++iy)
        for (index_t ix = w.x0; ix < w.x1; ++ix) {
            T* out = w.dx + w.at(iy, ix);
            for (index_t d = 0; d < w.D; ++d) out[d] = (kAdd ? out[d] : T(0)) + w.g[d] * scale;
        }
}

// dy to the window's first maximal input per channel, in (y, x) order, added (kAdd) or
// written (with zeros to the others). The maxima are the forward's (window_max(), into
// `scratch`: a NaN wins and is then the maximal input). Whole packets of channels keep a mask
// of the channels still waiting for their input in a register; the rest keep it in `scratch`
// too (2*D values).
template <bool kAdd, typename T>
void window_max_backward(const PoolWindow<T>& w, T* scratch) {
    using namespace Eigen::internal;
    using Packet = PoolPacket<T>;
    constexpr index_t P = Simd<T>::kLanes;
    T* max = scratch;
    window_max(w, max);
    index_t c = 0;
    for (; c + P <= w.D; c += P) {
        const Packet m = ploadu<Packet>(max + c), m_nan = nan_lanes(m), g = ploadu<Packet>(w.g + c);
        Packet pending = ptrue(m);
        for (index_t iy = w.y0; iy < w.y1; ++iy)
            for (index_t ix = w.x0; ix < w.x1; ++ix) {
                const Packet in = ploadu<Packet>(w.x + w.at(iy, ix) + c);
                const Packet hit = pand(pending, por(pcmp_eq(in, m), pand(m_nan, nan_lanes(in))));
                T* out = w.dx + w.at(iy, ix) + c;
                const Packet put = pand(hit, g);  // g where hit, +0 elsewhere
                pstoreu(out, kAdd ? padd(ploadu<Packet>(out), put) : put);
                pending = pandnot(pending, hit);
            }
    }
    if (c == w.D) return;
    T* pending = scratch + w.D;  // 1 until the channel's gradient has been placed
    std::fill(pending + c, pending + w.D, T(1));
    for (index_t iy = w.y0; iy < w.y1; ++iy)
        for (index_t ix = w.x0; ix < w.x1; ++ix) {
            const T* in = w.x + w.at(iy, ix);
            T* out = w.dx + w.at(iy, ix);
            for (index_t d = c; d < w.D; ++d) {
                const bool hit = pending[d] != T(0) && (in[d] == max[d] || (in[d] != in[d] && max[d] != max[d]));
                out[d] = (kAdd ? out[d] : T(0)) + (hit ? w.g[d] : T(0));
                pending[d] = hit ? T(0) : pending[d];
            }
        }
}
}  // namespace detail

/// y = max (a NaN wins) or average of every window of x (in-bounds inputs only), for the geometry
/// s (D1 = K = the depth).
template <typename T>
void pool_forward(PoolKind kind, const ConvShape& s, const T* x, T* y, int threads) {
    const index_t D = s.d1, sample = s.input().size() / s.n;
    parallel_for(s.n, threads, [&](index_t n, int) {
        detail::for_each_pool_window(s, [&](index_t oy, index_t ox, index_t y0, index_t y1, index_t x0, index_t x1) {
            T* out = y + ((n * s.y.out + oy) * s.x.out + ox) * D;
            const detail::PoolWindow<T> w{x + n * sample, nullptr, nullptr, s.x.in * D, D, y0, y1, x0, x1};
            if (kind == PoolKind::max) return detail::window_max(w, out);
            std::fill_n(out, D, T(0));
            for (index_t iy = y0; iy < y1; ++iy)
                for (index_t ix = x0; ix < x1; ++ix) {
                    const T* in = w.x + w.at(iy, ix);
                    for (index_t d = 0; d < D; ++d) out[d] += in[d];
                }
            const T scale = T(1) / static_cast<T>((y1 - y0) * (x1 - x0));
            for (index_t d = 0; d < D; ++d) out[d] *= scale;
        });
    });
}

/// Values of scratch pool_backward() needs for max pooling: one window's maxima and pending flags
/// per thread.
inline index_t pool_backward_scratch_elements(const ConvShape& s, int threads) { return 2 * threads * s.d1; }

/// dx from dy (overwritten): max sends dy to the window's first maximal input in (y, x) order (a
/// NaN counts as maximal); average spreads it evenly over the window's in-bounds inputs.
template <typename T>
void pool_backward(PoolKind kind, const ConvShape& s, const T* x, const T* dy, T* dx, T* scratch, int threads) {
    const index_t D = s.d1, sample = s.input().size() / s.n;
    // Windows that never overlap (stride >= window) each own their inputs, whose gradients are
    // then written rather than added. Each sample's dx is cleared first (for the inputs no
    // window covers) unless the windows tile the input exactly (MNIST's 2x2 / 2): then every
    // input is written.
    const bool disjoint = s.y.stride >= s.y.kernel && s.x.stride >= s.x.kernel;
    const bool tiled = s.y.stride == s.y.kernel && s.x.stride == s.x.kernel && s.y.pad_begin == 0 &&
                       s.x.pad_begin == 0 && s.y.out * s.y.stride == s.y.in && s.x.out * s.x.stride == s.x.in;
    parallel_for(s.n, threads, [&](index_t n, int t) {
        if (!tiled) std::fill_n(dx + n * sample, sample, T(0));
        T* thread_scratch = kind == PoolKind::max ? scratch + 2 * t * D : nullptr;
        detail::for_each_pool_window(s, [&](index_t oy, index_t ox, index_t y0, index_t y1, index_t x0, index_t x1) {
            const detail::PoolWindow<T> w{x + n * sample, dx + n * sample, dy + ((n * s.y.out + oy) * s.x.out + ox) * D,
                                          s.x.in * D, D, y0, y1, x0, x1};
            if (kind == PoolKind::average)
                disjoint ? detail::window_average_backward<false>(w) : detail::window_average_backward<true>(w);
            else
                disjoint ? detail::window_max_backward<false>(w, thread_scratch) : detail::window_max_backward<true>(w, thread_scratch);
        });
    });
}

}  // namespace kernels
}  // namespace convlayer
