// Conv1x1Layer<T>: 1x1 convolution, the depth reduction (bottleneck) of the textbook.
#pragma once

#include <string>

#include "convlayer/layers/conv_layer.hpp"

namespace convlayer {

/// A 1x1 convolution: each output depth column is W^T times the input depth column (+ bias), so
/// it changes depth D1 -> K without looking at neighbours. Parameters: D1*K + K.
///
/// With stride 1 the NHWC input of a batch is the (N*H*W) x D1 matrix and the forward pass is
/// one GEMM with the D1 x K weight matrix written straight into the output (no im2col, no patch
/// buffer). Stride S > 1 subsamples positions: rows are gathered into a bounded block before the
/// GEMM and scattered back in the backward pass. There is no padding: a padded 1x1 conv only
/// adds outputs that see zeros.
template <typename T>
class Conv1x1Layer : public ConvLayer<T> {
public:
    /// D1 -> K, stride S (the extent (W - 1)/S + 1 must be exact; for a fit policy pass
    /// ConvParams(D1, K, 1, S).with_fit(...)).
    Conv1x1Layer(index_t in_depth, index_t filters, HW stride = 1)
        : ConvLayer<T>(checked(ConvParams(in_depth, filters, 1, stride, 0))) {}
    /// From full conv hyperparameters (fit policy and dilation included), which must have a 1x1
    /// kernel and no padding.
    explicit Conv1x1Layer(const ConvParams& params) : ConvLayer<T>(checked(params)) {}

    std::string name() const override { return "Conv1x1Layer"; }

private:
    static ConvParams checked(const ConvParams& p) {
        p.validate("Conv1x1Layer");
        if (p.kernel != HW(1) || p.pad != HW(0))
            throw std::invalid_argument("Conv1x1Layer: needs a 1x1 kernel and no padding, got kernel " +
                                        std::to_string(p.kernel.h) + "x" + std::to_string(p.kernel.w) + ", pad " +
                                        std::to_string(p.pad.h) + "x" + std::to_string(p.pad.w) +
                                        " (use ConvLayer)");
        return p;
    }
};

}  // namespace convlayer
