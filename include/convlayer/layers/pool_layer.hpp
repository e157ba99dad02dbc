// PoolLayer<T>: max or average pooling over F x F windows of each depth slice.
#pragma once

#include <algorithm>
#include <limits>
#include <sstream>
#include <string>

#include "convlayer/core/conv_shape.hpp"
#include "convlayer/layers/layer.hpp"

namespace convlayer {

enum class PoolKind { max, average };

/// Pools each depth slice independently: output extent (W - F + 2P)/S + 1 per axis with the same
/// fit policies and checks as a conv layer; depth is unchanged. Padding never wins a max and is
/// not counted in an average (the average is over the window's in-bounds inputs).
/// Backward: max sends dy to the window's first maximal input (in y, then x order); average
/// spreads dy evenly over the window's in-bounds inputs.
template <typename T>
class PoolLayer : public Layer<T> {
public:
    /// Throws std::invalid_argument for a non-positive window or stride or a negative padding.
    PoolLayer(PoolKind kind, HW window, HW stride, HW pad = 0, FitPolicy fit = FitPolicy::exact)
        : kind_(kind), params_(1, 1, window, stride, pad) {
        params_.with_fit(fit);
        params_.validate(kind == PoolKind::max ? "MaxPool" : "AvgPool");
    }

    /// The pooling geometry for an input (channels map one to one: D1 = K = input depth). Also
    /// throws std::invalid_argument when a window would lie entirely in the padding.
    ConvShape pool_shape(const Shape& input) const {
        ConvParams p = params_;
        p.in_depth = p.filters = std::max<index_t>(input.d, 1);
        const ConvShape s = resolve(p, input, name().c_str());
        for (const AxisGeometry* g : {&s.y, &s.x}) {
            if (g->input_coord(0, g->kernel - 1) < 0 || g->input_coord(g->out - 1, 0) >= g->in) {
                std::ostringstream os;
                os << name() << ": with window " << g->kernel << ", stride " << g->stride << " and padding "
                   << g->pad_begin << " some windows of the " << (g == &s.y ? "height" : "width") << " (extent "
                   << g->in << ") see only padding; use a padding smaller than the window";
                throw std::invalid_argument(os.str());
            }
        }
        return s;
    }
    Shape output_shape(const Shape& input) const override { return pool_shape(input).output(); }
    std::string name() const override { return kind_ == PoolKind::max ? "MaxPool" : "AvgPool"; }
    std::string describe() const override {
        std::ostringstream os;
        os << name() << " " << params_.kernel.h << "x" << params_.kernel.w << ", stride " << params_.stride.h << "x"
           << params_.stride.w << ", pad " << params_.pad.h << "x" << params_.pad.w;
        if (params_.fit != FitPolicy::exact) os << ", fit " << to_string(params_.fit);
        return os.str();
    }

protected:
    void do_forward(const Volume<T>& x, Volume<T>& y) override {
        const ConvShape s = pool_shape(x.shape());
        for_each_window(s, [&](index_t n, index_t oy, index_t ox, index_t y0, index_t y1, index_t x0, index_t x1) {
            for (index_t d = 0; d < s.d1; ++d) {
                T acc = kind_ == PoolKind::max ? -std::numeric_limits<T>::infinity() : T(0);
                for (index_t iy = y0; iy < y1; ++iy)
                    for (index_t ix = x0; ix < x1; ++ix) {
                        const T v = x(n, iy, ix, d);
                        if (kind_ == PoolKind::average) acc += v;
                        else if (v > acc || v != v) acc = v;  // NaN wins, so it propagates
                    }
                y(n, oy, ox, d) = kind_ == PoolKind::max ? acc : acc / static_cast<T>((y1 - y0) * (x1 - x0));
            }
        });
    }
    void do_backward(const Volume<T>& x, const Volume<T>& dy, Volume<T>* dx) override {
        if (!dx) return;
        const ConvShape s = pool_shape(x.shape());
        dx->zero();
        for_each_window(s, [&](index_t n, index_t oy, index_t ox, index_t y0, index_t y1, index_t x0, index_t x1) {
            for (index_t d = 0; d < s.d1; ++d) {
                const T g = dy(n, oy, ox, d);
                if (kind_ == PoolKind::average) {
                    const T share = g / static_cast<T>((y1 - y0) * (x1 - x0));
                    for (index_t iy = y0; iy < y1; ++iy)
                        for (index_t ix = x0; ix < x1; ++ix) (*dx)(n, iy, ix, d) += share;
                    continue;
                }
                index_t by = y0, bx = x0;
                for (index_t iy = y0; iy < y1; ++iy)
                    for (index_t ix = x0; ix < x1; ++ix)
                        if (x(n, iy, ix, d) > x(n, by, bx, d)) by = iy, bx = ix;
                (*dx)(n, by, bx, d) += g;
            }
        });
    }

private:
    // Calls f(n, oy, ox, y0, y1, x0, x1) with the in-bounds input rows [y0, y1) and columns
    // [x0, x1) of every window (never empty: a window always overlaps the input).
    template <typename F>
    static void for_each_window(const ConvShape& s, F&& f) {
        for (index_t n = 0; n < s.n; ++n)
            for (index_t oy = 0; oy < s.y.out; ++oy) {
                const index_t y0 = std::max<index_t>(0, s.y.input_coord(oy, 0));
                const index_t y1 = std::min(s.y.in, s.y.input_coord(oy, s.y.kernel - 1) + 1);
                for (index_t ox = 0; ox < s.x.out; ++ox) {
                    const index_t x0 = std::max<index_t>(0, s.x.input_coord(ox, 0));
                    const index_t x1 = std::min(s.x.in, s.x.input_coord(ox, s.x.kernel - 1) + 1);
                    f(n, oy, ox, y0, y1, x0, x1);
                }
            }
    }

    PoolKind kind_;
    ConvParams params_;
};

}  // namespace convlayer
