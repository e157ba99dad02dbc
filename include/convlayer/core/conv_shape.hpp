// ConvParams (a layer's hyperparameters) and ConvShape (those hyperparameters resolved against
// one input shape): the single problem descriptor used by kernels, layers, tests, benchmarks
// and error messages.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

#include "convlayer/core/conv_geometry.hpp"
#include "convlayer/core/shape.hpp"

namespace convlayer {

/// Parameter sharing: one filter per output depth slice (ConvLayer), or a separate filter at
/// every output position (LocallyConnectedLayer).
enum class Sharing { shared, per_position };

/// Hyperparameters of a conv layer: K filters of Fh x Fw x D1 with stride, zero-padding and
/// dilation (1 = none), and the policy for a non-integer output extent.
struct ConvParams {
    index_t in_depth = 1;  ///< D1: depth of the input volume (and of each filter)
    index_t filters = 1;   ///< K: number of filters = output depth D2
    HW kernel{1, 1};       ///< F (receptive field)
    HW stride{1, 1};       ///< S
    HW pad{0, 0};          ///< P: zeros added on each side
    HW dilation{1, 1};     ///< 1 = none (PyTorch's convention)
    FitPolicy fit = FitPolicy::exact;  ///< what a non-integer output extent does

    ConvParams() = default;
    /// D1 input channels, K filters of F (height x width), stride S and padding P on each side.
    ConvParams(index_t d1, index_t k, HW f, HW s = 1, HW p = 0)
        : in_depth(d1), filters(k), kernel(f), stride(s), pad(p) {}

    /// Sets the dilation; returns *this, for chaining.
    ConvParams& with_dilation(HW d) { dilation = d; return *this; }
    /// Sets the fit policy; returns *this, for chaining.
    ConvParams& with_fit(FitPolicy f) { fit = f; return *this; }

    /// Throws std::invalid_argument naming the first bad hyperparameter; std::length_error when
    /// the number of weights overflows.
    void validate(const char* who = "ConvParams") const {
        if (in_depth < 1 || filters < 1) {
            std::ostringstream os;
            os << who << ": input depth D1=" << in_depth << " and filter count K=" << filters
               << " must both be at least 1";
            throw std::invalid_argument(os.str());
        }
        validate_axis_parameters("height", kernel.h, pad.h, stride.h, dilation.h);
        validate_axis_parameters("width", kernel.w, pad.w, stride.w, dilation.w);
        (void)weight_count();
    }

    /// Weights of one filter: Fh*Fw*D1.
    index_t filter_size() const { return checked_product("filter size", kernel.h, kernel.w, in_depth); }
    /// Shared weights: Fh*Fw*D1*K.
    index_t weight_count() const { return checked_mul(filter_size(), filters, "weight count"); }
};

/// A conv problem: ConvParams resolved against an input batch shape. Every kernel takes one.
struct ConvShape {
    index_t n = 0;   ///< batch
    index_t d1 = 0;  ///< input depth
    index_t k = 0;   ///< filters = output depth
    AxisGeometry y;  ///< height axis
    AxisGeometry x;  ///< width axis
    FitPolicy fit = FitPolicy::exact;  ///< the policy the axes were resolved under

    /// The input batch shape N x H x W x D1.
    Shape input() const { return {n, y.in, x.in, d1}; }
    /// The output batch shape N x H2 x W2 x K.
    Shape output() const { return {n, y.out, x.out, k}; }
    /// Length of one im2col row / one filter: Fh*Fw*D1.
    index_t patch_length() const { return y.kernel * x.kernel * d1; }
    /// Number of output positions n*H2*W2: rows of the im2col matrix.
    index_t output_positions() const { return n * y.out * x.out; }
    /// Multiply-adds counted as 2 FLOPs: 2*N*H2*W2*K*Fh*Fw*D1 (same for every algorithm).
    double flops() const {
        return 2.0 * static_cast<double>(output_positions()) * static_cast<double>(k) *
               static_cast<double>(patch_length());
    }
    /// True when the im2col matrix is the NHWC input itself: 1x1 kernel, stride 1, no padding.
    bool im2col_is_identity() const {
        return y.kernel == 1 && x.kernel == 1 && y.stride == 1 && x.stride == 1 &&
               y.pad_begin == 0 && x.pad_begin == 0 && y.out == y.in && x.out == x.in;
    }

    /// Weight tensors: 1 when shared, H2*W2 when per position.
    index_t weight_sets(Sharing sharing) const { return sharing == Sharing::shared ? 1 : y.out * x.out; }

    /// Canonical benchdnn-style name, e.g. "n8_h56w56d64_k64_f3x3_s1x1_p1x1".
    std::string to_string() const {
        std::ostringstream os;
        os << "n" << n << "_h" << y.in << "w" << x.in << "d" << d1 << "_k" << k << "_f" << y.kernel
           << "x" << x.kernel << "_s" << y.stride << "x" << x.stride << "_p" << y.pad_begin << "x"
           << x.pad_begin;
        if (y.dilation != 1 || x.dilation != 1) os << "_dl" << y.dilation << "x" << x.dilation;
        if (fit != FitPolicy::exact) os << "_" << convlayer::to_string(fit);
        return os.str();
    }
};

/// Resolves `p` against `input`: checks the input shape and depth, the geometry of both axes
/// under p.fit, and that every derived size fits an index. `who` prefixes depth errors.
inline ConvShape resolve(const ConvParams& p, const Shape& input, const char* who = "conv") {
    p.validate(who);
    validate_shape(input, who);
    if (input.d != p.in_depth) {
        std::ostringstream os;
        os << who << ": input depth D=" << input.d << " of input " << input.to_string()
           << " does not match the layer's input depth D1=" << p.in_depth;
        throw std::invalid_argument(os.str());
    }
    ConvShape s;
    s.n = input.n;
    s.d1 = input.d;
    s.k = p.filters;
    s.fit = p.fit;
    s.y = resolve_axis("height", input.h, p.kernel.h, p.pad.h, p.stride.h, p.dilation.h, p.fit);
    s.x = resolve_axis("width", input.w, p.kernel.w, p.pad.w, p.stride.w, p.dilation.w, p.fit);
    (void)s.output().size();
    (void)checked_mul(s.output_positions(), s.patch_length(), "im2col matrix size");
    return s;
}

}  // namespace convlayer
