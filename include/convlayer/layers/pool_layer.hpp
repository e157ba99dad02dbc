// PoolLayer<T>: max or average pooling over F x F windows of each depth slice.
#pragma once

#include <algorithm>
#include <sstream>
#include <string>

#include "convlayer/core/aligned_buffer.hpp"
#include "convlayer/core/conv_shape.hpp"
#include "convlayer/core/threading.hpp"
#include "convlayer/kernels/pool.hpp"
#include "convlayer/layers/layer.hpp"

namespace convlayer {

/// The window of a pooling layer: F (height x width), stride S, zero padding P on each side, and
/// the policy for a non-integer output extent, set as on ConvParams with with_fit(). (Pooling
/// has no dilation.)
struct PoolParams {
    HW window{1, 1};                   ///< F
    HW stride{1, 1};                   ///< S
    HW pad{0, 0};                      ///< P: zeros added on each side
    FitPolicy fit = FitPolicy::exact;  ///< what a non-integer output extent does

    /// An F window moved by S over the input padded by P.
    PoolParams(HW f, HW s, HW p = 0) : window(f), stride(s), pad(p) {}
    /// Sets the fit policy; returns *this, for chaining.
    PoolParams& with_fit(FitPolicy f) { fit = f; return *this; }
};

/// Pools each depth slice independently: output extent (W - F + 2P)/S + 1 per axis with the same
/// fit policies and checks as a conv layer; depth is unchanged. Padding never wins a max and is
/// not counted in an average (the average is over the window's in-bounds inputs).
/// Backward: max sends dy to the window's first maximal input in (y, x) order (a NaN wins the max
/// and counts as maximal); average spreads dy evenly over the window's in-bounds inputs.
template <typename T>
class PoolLayer : public Layer<T> {
public:
    /// Throws std::invalid_argument for a non-positive window or stride or a negative padding.
    PoolLayer(PoolKind kind, const PoolParams& p) : kind_(kind), params_(1, 1, p.window, p.stride, p.pad) {
        params_.with_fit(p.fit);
        params_.validate(kind == PoolKind::max ? "MaxPool" : "AvgPool");
    }
    /// PoolLayer(kind, PoolParams(window, stride, pad)): exact fit.
    PoolLayer(PoolKind kind, HW window, HW stride, HW pad = 0) : PoolLayer(kind, PoolParams(window, stride, pad)) {}

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
        kernels::pool_forward(kind_, s, x.data(), y.data(), threads_for(s));
    }
    void do_backward(const Volume<T>& x, const Volume<T>& dy, Volume<T>* dx) override {
        if (!dx) return;
        const ConvShape s = pool_shape(x.shape());
        const int threads = threads_for(s);
        if (kind_ == PoolKind::max) scratch_.resize(kernels::pool_backward_scratch_elements(s, threads));
        kernels::pool_backward(kind_, s, x.data(), dy.data(), dx->data(), scratch_.data(), threads);
    }

private:
    // Windows are cheap: use several threads only when the batch has real work.
    int threads_for(const ConvShape& s) const {
        const double work = static_cast<double>(s.output().size()) * static_cast<double>(s.y.kernel * s.x.kernel);
        return work < 2e5 ? 1 : num_threads();
    }

    PoolKind kind_;
    ConvParams params_;
    AlignedBuffer<T> scratch_;  // max pooling backward's (kernels::pool_backward_scratch_elements())
};

}  // namespace convlayer
