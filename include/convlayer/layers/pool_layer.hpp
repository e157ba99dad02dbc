// PoolLayer<T>: max or average pooling over F x F windows of each depth slice.
#pragma once

#include <algorithm>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "convlayer/core/conv_shape.hpp"
#include "convlayer/core/threading.hpp"
#include "convlayer/kernels/packed_gemm.hpp"
#include "convlayer/layers/layer.hpp"

namespace convlayer {

enum class PoolKind { max, average };

/// Pools each depth slice independently: output extent (W - F + 2P)/S + 1 per axis with the same
/// fit policies and checks as a conv layer; depth is unchanged. Padding never wins a max and is
/// not counted in an average (the average is over the window's in-bounds inputs).
/// Backward: max sends dy to the window's first maximal input in (y, x) order (a NaN wins the max
/// and counts as maximal); average spreads dy evenly over the window's in-bounds inputs.
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
    // NHWC: a window's inputs are depth columns of D contiguous values, so each loop below runs
    // over d innermost (vectorised) and the work is spread over the samples of the batch.
    void do_forward(const Volume<T>& x, Volume<T>& y) override {
        const ConvShape s = pool_shape(x.shape());
        const index_t D = s.d1, sample = s.input().size() / s.n;
        parallel_for(s.n, threads_for(s), [&](index_t n, int) {
            for_each_window(s, [&](index_t oy, index_t ox, index_t y0, index_t y1, index_t x0, index_t x1) {
                T* out = y.data() + ((n * s.y.out + oy) * s.x.out + ox) * D;
                const Window w{x.data() + n * sample, nullptr, nullptr, s.x.in * D, D, y0, y1, x0, x1};
                if (kind_ == PoolKind::max) return max_forward(w, out);
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
    void do_backward(const Volume<T>& x, const Volume<T>& dy, Volume<T>* dx) override {
        if (!dx) return;
        const ConvShape s = pool_shape(x.shape());
        const index_t D = s.d1, sample = s.input().size() / s.n;
        const int threads = threads_for(s);
        // Windows that never overlap (stride >= window) each own their inputs, whose gradients
        // are then written rather than added. Each sample's dx is cleared first (for the inputs
        // no window covers) unless the windows tile the input exactly (MNIST's 2x2 / 2): then
        // every input is written.
        const bool disjoint = s.y.stride >= s.y.kernel && s.x.stride >= s.x.kernel;
        const bool tiled = s.y.stride == s.y.kernel && s.x.stride == s.x.kernel && s.y.pad_begin == 0 &&
                           s.x.pad_begin == 0 && s.y.out * s.y.stride == s.y.in && s.x.out * s.x.stride == s.x.in;
        if (kind_ == PoolKind::max) scratch_.resize(static_cast<std::size_t>(2 * threads * D));
        parallel_for(s.n, threads, [&](index_t n, int t) {
            if (!tiled) std::fill_n(dx->data() + n * sample, sample, T(0));
            T* scratch = kind_ == PoolKind::max ? scratch_.data() + 2 * t * D : nullptr;
            for_each_window(s, [&](index_t oy, index_t ox, index_t y0, index_t y1, index_t x0, index_t x1) {
                const Window w{x.data() + n * sample, dx->data() + n * sample,
                               dy.data() + ((n * s.y.out + oy) * s.x.out + ox) * D, s.x.in * D, D, y0, y1, x0, x1};
                if (kind_ == PoolKind::average)
                    disjoint ? average_backward<false>(w) : average_backward<true>(w);
                else
                    disjoint ? max_backward<false>(w, scratch) : max_backward<true>(w, scratch);
            });
        });
    }

private:
    // Windows are cheap: use several threads only when the batch has real work.
    int threads_for(const ConvShape& s) const {
        const double work = static_cast<double>(s.output().size()) * static_cast<double>(s.y.kernel * s.x.kernel);
        return work < 2e5 ? 1 : num_threads();
    }

    // Calls f(oy, ox, y0, y1, x0, x1) with the in-bounds input rows [y0, y1) and columns
    // [x0, x1) of every window of one sample (never empty: a window always overlaps the input).
    template <typename F>
    static void for_each_window(const ConvShape& s, F&& f) {
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
    struct Window {
        const T* x;
        T* dx;
        const T* g;
        index_t row, D, y0, y1, x0, x1;
        index_t at(index_t iy, index_t ix) const { return iy * row + ix * D; }
    };

    using Packet = typename kernels::GemmTile<T>::Packet;
    // All ones in the lanes of v that are NaN.
    static Packet nan_lanes(const Packet& v) {
        using namespace Eigen::internal;
        return pandnot(ptrue(v), pcmp_eq(v, v));
    }

    // out = the window's maximum per channel; a NaN wins, so it propagates. Whole packets of
    // channels in registers, then the rest.
    static void max_forward(const Window& w, T* out) {
        using namespace Eigen::internal;
        constexpr index_t P = kernels::GemmTile<T>::kLanes;
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
    template <bool kAdd>
    static void average_backward(const Window& w) {
        const T scale = T(1) / static_cast<T>((w.y1 - w.y0) * (w.x1 - w.x0));
        for (index_t iy = w.y0; iy < w.y1; ++iy)
            for (index_t ix = w.x0; ix < w.x1; ++ix) {
                T* out = w.dx + w.at(iy, ix);
                for (index_t d = 0; d < w.D; ++d) out[d] = (kAdd ? out[d] : T(0)) + w.g[d] * scale;
            }
    }

    // dy to the window's first maximal input per channel, in (y, x) order, added (kAdd) or
    // written (with zeros to the others). The maxima are the forward's (max_forward(), into
    // `scratch`: a NaN wins and is then the maximal input). Whole packets of channels keep a mask
    // of the channels still waiting for their input in a register; the rest keep it in `scratch`
    // too (2*D values).
    template <bool kAdd>
    static void max_backward(const Window& w, T* scratch) {
        using namespace Eigen::internal;
        constexpr index_t P = kernels::GemmTile<T>::kLanes;
        T* max = scratch;
        max_forward(w, max);
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

    PoolKind kind_;
    ConvParams params_;
    std::vector<T> scratch_;  // per thread: one window's maxima and pending flags (max backward)
};

}  // namespace convlayer
