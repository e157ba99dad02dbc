// The plain nested-loop convolution: the readable definition every fast kernel is tested against.
//
//   y[n, oy, ox, k] = b[k] + sum_{ky, kx, d} x[n, iy, ix, d] * w[k, ky, kx, d]
//   with iy = oy*Sh - Ph + ky*dil_h, ix = ox*Sw - Pw + kx*dil_w, and x = 0 outside the input.
//
// With Sharing::per_position (a locally connected layer) w and b also depend on the output
// position p = oy*W2 + ox: filter k at p is w[p][k][ky][kx][d], its bias b[p][k].
//
// Sums accumulate in double. Pointers are NHWC activations and OHWI weights of the sizes
// s.input(), s.output(), s.weight_sets(sharing) * s.k * s.patch_length() and
// s.weight_sets(sharing) * s.k.
#pragma once

#include <vector>

#include "convlayer/core/conv_shape.hpp"
#include "convlayer/kernels/conv_plan.hpp"

namespace convlayer::kernels {

namespace detail {
// Calls f(ky, kx, iy, ix) for the taps of output (oy, ox) that fall on the input.
template <typename F>
void for_each_input_tap(const ConvShape& s, index_t oy, index_t ox, F&& f) {
    for (index_t ky = 0; ky < s.y.kernel; ++ky) {
        const index_t iy = s.y.input_coord(oy, ky);
        if (iy < 0 || iy >= s.y.in) continue;
        for (index_t kx = 0; kx < s.x.kernel; ++kx) {
            const index_t ix = s.x.input_coord(ox, kx);
            if (ix >= 0 && ix < s.x.in) f(ky, kx, iy, ix);
        }
    }
}

// Calls f(x_offset, w_offset, y_offset, b_offset) for every in-bounds (output, filter, tap):
// the offsets of x[n, iy, ix, 0], w[(p,) k, ky, kx, 0], y[n, oy, ox, k] and b[(p,) k].
template <typename F>
void for_each_conv_tap(const ConvShape& s, Sharing sharing, F&& f) {
    const index_t L = s.patch_length();
    for (index_t n = 0; n < s.n; ++n)
        for (index_t oy = 0; oy < s.y.out; ++oy)
            for (index_t ox = 0; ox < s.x.out; ++ox) {
                const index_t set = sharing == Sharing::shared ? 0 : oy * s.x.out + ox;
                for (index_t k = 0; k < s.k; ++k) {
                    const index_t y_off = ((n * s.y.out + oy) * s.x.out + ox) * s.k + k;
                    const index_t b_off = set * s.k + k;
                    f(index_t{-1}, index_t{-1}, y_off, b_off);  // once per output: the bias term
                    for_each_input_tap(s, oy, ox, [&](index_t ky, index_t kx, index_t iy, index_t ix) {
                        f(((n * s.y.in + iy) * s.x.in + ix) * s.d1, b_off * L + (ky * s.x.kernel + kx) * s.d1, y_off,
                          b_off);
                    });
                }
            }
}
}  // namespace detail

/// y = conv(x, w) + b. `b` may be null (no bias).
template <typename T>
void direct_conv_forward(const ConvShape& s, const T* x, const T* w, const T* b, T* y,
                         Sharing sharing = Sharing::shared) {
    std::vector<double> acc(static_cast<std::size_t>(s.output().size()), 0.0);
    detail::for_each_conv_tap(s, sharing, [&](index_t xo, index_t wo, index_t yo, index_t bo) {
        double& a = acc[static_cast<std::size_t>(yo)];
        if (xo < 0) {
            if (b) a += static_cast<double>(b[bo]);
            return;
        }
        for (index_t d = 0; d < s.d1; ++d) a += static_cast<double>(x[xo + d]) * static_cast<double>(w[wo + d]);
    });
    for (std::size_t i = 0; i < acc.size(); ++i) y[i] = static_cast<T>(acc[i]);
}

/// dx = d(loss)/dx given dy = d(loss)/dy: every tap scatters dy[.., k] * w[k, ..] back.
template <typename T>
void direct_conv_backward_data(const ConvShape& s, const T* dy, const T* w, T* dx,
                               Sharing sharing = Sharing::shared) {
    std::vector<double> acc(static_cast<std::size_t>(s.input().size()), 0.0);
    detail::for_each_conv_tap(s, sharing, [&](index_t xo, index_t wo, index_t yo, index_t) {
        if (xo < 0) return;
        const double g = dy[yo];
        for (index_t d = 0; d < s.d1; ++d) acc[static_cast<std::size_t>(xo + d)] += g * static_cast<double>(w[wo + d]);
    });
    for (std::size_t i = 0; i < acc.size(); ++i) dx[i] = static_cast<T>(acc[i]);
}

/// dw = d(loss)/dw and db = d(loss)/db (db may be null): shared weights sum over every output
/// position, per-position weights over the batch only.
template <typename T>
void direct_conv_backward_weights(const ConvShape& s, const T* x, const T* dy, T* dw, T* db,
                                  Sharing sharing = Sharing::shared) {
    const index_t sets = s.weight_sets(sharing);
    std::vector<double> acc_w(static_cast<std::size_t>(sets * s.k * s.patch_length()), 0.0);
    std::vector<double> acc_b(static_cast<std::size_t>(sets * s.k), 0.0);
    detail::for_each_conv_tap(s, sharing, [&](index_t xo, index_t wo, index_t yo, index_t bo) {
        const double g = dy[yo];
        if (xo < 0) {
            acc_b[static_cast<std::size_t>(bo)] += g;
            return;
        }
        for (index_t d = 0; d < s.d1; ++d) acc_w[static_cast<std::size_t>(wo + d)] += g * static_cast<double>(x[xo + d]);
    });
    for (std::size_t i = 0; i < acc_w.size(); ++i) dw[i] = static_cast<T>(acc_w[i]);
    if (db)
        for (std::size_t i = 0; i < acc_b.size(); ++i) db[i] = static_cast<T>(acc_b[i]);
}

// The same definitions one output at a time (shared weights), for the kernels that recompute the
// few values where their own arithmetic would give another pattern of NaN and Inf.

/// out[k] = y[n, oy, ox, k] for every k.
template <typename T>
void direct_conv_forward_at(const ConvShape& s, const T* x, const T* w, const T* b, index_t n, index_t oy, index_t ox,
                            T* out) {
    const index_t L = s.patch_length();
    for (index_t k = 0; k < s.k; ++k) {
        double a = b ? static_cast<double>(b[k]) : 0.0;
        detail::for_each_input_tap(s, oy, ox, [&](index_t ky, index_t kx, index_t iy, index_t ix) {
            const T* xp = x + ((n * s.y.in + iy) * s.x.in + ix) * s.d1;
            const T* wp = w + k * L + (ky * s.x.kernel + kx) * s.d1;
            for (index_t d = 0; d < s.d1; ++d) a += static_cast<double>(xp[d]) * static_cast<double>(wp[d]);
        });
        out[k] = static_cast<T>(a);
    }
}

/// out[d] = dx[n, iy, ix, d] for every d: the taps whose output position lands on (iy, ix).
template <typename T>
void direct_conv_backward_data_at(const ConvShape& s, const T* dy, const T* w, index_t n, index_t iy, index_t ix,
                                  T* out) {
    // Output coordinate of tap k onto input coordinate i along one axis, or -1 when there is none.
    auto output_of = [](const AxisGeometry& a, index_t i, index_t k) {
        const index_t num = i + a.pad_begin - k * a.dilation;
        return num >= 0 && num % a.stride == 0 && num / a.stride < a.out ? num / a.stride : index_t{-1};
    };
    std::vector<double> acc(static_cast<std::size_t>(s.d1), 0.0);
    const index_t L = s.patch_length();
    for (index_t ky = 0; ky < s.y.kernel; ++ky) {
        const index_t oy = output_of(s.y, iy, ky);
        if (oy < 0) continue;
        for (index_t kx = 0; kx < s.x.kernel; ++kx) {
            const index_t ox = output_of(s.x, ix, kx);
            if (ox < 0) continue;
            const T* g = dy + ((n * s.y.out + oy) * s.x.out + ox) * s.k;
            for (index_t k = 0; k < s.k; ++k) {
                const T* wp = w + k * L + (ky * s.x.kernel + kx) * s.d1;
                for (index_t d = 0; d < s.d1; ++d)
                    acc[static_cast<std::size_t>(d)] += static_cast<double>(g[k]) * static_cast<double>(wp[d]);
            }
        }
    }
    for (index_t d = 0; d < s.d1; ++d) out[d] = static_cast<T>(acc[static_cast<std::size_t>(d)]);
}

/// out[d] = dw[k, ky, kx, d] for every d.
template <typename T>
void direct_conv_backward_weights_at(const ConvShape& s, const T* x, const T* dy, index_t k, index_t ky, index_t kx,
                                     T* out) {
    std::vector<double> acc(static_cast<std::size_t>(s.d1), 0.0);
    for (index_t n = 0; n < s.n; ++n)
        for (index_t oy = 0; oy < s.y.out; ++oy) {
            const index_t iy = s.y.input_coord(oy, ky);
            if (iy < 0 || iy >= s.y.in) continue;
            for (index_t ox = 0; ox < s.x.out; ++ox) {
                const index_t ix = s.x.input_coord(ox, kx);
                if (ix < 0 || ix >= s.x.in) continue;
                const double g = dy[((n * s.y.out + oy) * s.x.out + ox) * s.k + k];
                const T* xp = x + ((n * s.y.in + iy) * s.x.in + ix) * s.d1;
                for (index_t d = 0; d < s.d1; ++d) acc[static_cast<std::size_t>(d)] += g * static_cast<double>(xp[d]);
            }
        }
    for (index_t d = 0; d < s.d1; ++d) out[d] = static_cast<T>(acc[static_cast<std::size_t>(d)]);
}

// Plans (see conv_plan.hpp): the definition runs every problem, allocating its double sums.

/// ConvAlgorithm::direct, forward.
template <typename T>
struct DirectForward final : ConvPlan<T> {
    /// The element type (make_plan() reads it).
    using Scalar = T;
    /// The problem the plan was made for.
    ConvShape s;
    /// The plan for `c`'s shape; the reference ignores the threads and the budget.
    explicit DirectForward(const ConvPlanContext& c) : s(c.shape) {}
    /// Always empty: the definition runs every problem.
    static std::string refusal(const ConvShape&) { return {}; }
    /// Always false: the automatic choice never takes the reference.
    static bool pays_off(const ConvShape&, int) { return false; }
    index_t workspace_elements() const override { return 0; }
    void run(const ConvOperands<T>& io, T*) const override { direct_conv_forward(s, io.x, io.weights, io.bias, io.y); }
};

/// ConvAlgorithm::direct, backward-data.
template <typename T>
struct DirectBackwardData final : ConvPlan<T> {
    /// The element type (make_plan() reads it).
    using Scalar = T;
    /// The problem the plan was made for.
    ConvShape s;
    /// The plan for `c`'s shape; the reference ignores the threads and the budget.
    explicit DirectBackwardData(const ConvPlanContext& c) : s(c.shape) {}
    /// Always empty: the definition runs every problem.
    static std::string refusal(const ConvShape&) { return {}; }
    /// Always false: the automatic choice never takes the reference.
    static bool pays_off(const ConvShape&, int) { return false; }
    index_t workspace_elements() const override { return 0; }
    void run(const ConvOperands<T>& io, T*) const override { direct_conv_backward_data(s, io.dy, io.weights, io.dx); }
};

/// ConvAlgorithm::direct, backward-weights.
template <typename T>
struct DirectBackwardWeights final : ConvPlan<T> {
    /// The element type (make_plan() reads it).
    using Scalar = T;
    /// The problem the plan was made for.
    ConvShape s;
    /// The plan for `c`'s shape; the reference ignores the threads and the budget.
    explicit DirectBackwardWeights(const ConvPlanContext& c) : s(c.shape) {}
    /// Always empty: the definition runs every problem.
    static std::string refusal(const ConvShape&) { return {}; }
    /// Always false: the automatic choice never takes the reference.
    static bool pays_off(const ConvShape&, int) { return false; }
    index_t workspace_elements() const override { return 0; }
    void run(const ConvOperands<T>& io, T*) const override {
        direct_conv_backward_weights(s, io.x, io.dy, io.dw, io.db);
    }
};

}  // namespace convlayer::kernels
