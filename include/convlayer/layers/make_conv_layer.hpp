// make_conv_layer: one way to build the conv-like layer that fits a configuration.
#pragma once

#include <memory>
#include <stdexcept>

#include "convlayer/layers/conv1x1_layer.hpp"
#include "convlayer/layers/conv_layer.hpp"
#include "convlayer/layers/locally_connected_layer.hpp"

namespace convlayer {

/// Builds the shared-weights conv layer for hyperparameters `p`: a Conv1x1Layer for a 1x1
/// kernel with stride 1 and no padding, a ConvLayer otherwise. Returned as a ConvLayer (which
/// Conv1x1Layer is), so its weights(), set_algorithm() and the rest need no cast.
/// Throws std::invalid_argument for an invalid configuration.
template <typename T>
std::unique_ptr<ConvLayer<T>> make_conv_layer(const ConvParams& p) {
    if (p.kernel == HW(1) && p.stride == HW(1) && p.pad == HW(0)) return std::make_unique<Conv1x1Layer<T>>(p);
    return std::make_unique<ConvLayer<T>>(p);
}

/// Builds, for a sharing chosen at run time: make_conv_layer(p) for Sharing::shared, or a
/// LocallyConnectedLayer for Sharing::per_position (needs `input`, the input height and width
/// the per-position weights are laid out for). The two share the Layer interface only; their
/// weights are parameters()[0], dims {K, Fh, Fw, D1} (per position: {H2, W2, K, Fh, Fw, D1}).
/// Throws std::invalid_argument for an invalid configuration.
template <typename T>
std::unique_ptr<Layer<T>> make_conv_layer(const ConvParams& p, Sharing sharing, HW input = {}) {
    if (sharing == Sharing::shared) return make_conv_layer<T>(p);
    if (input.h < 1 || input.w < 1)
        throw std::invalid_argument("make_conv_layer: a locally connected layer needs the input height and width");
    return std::make_unique<LocallyConnectedLayer<T>>(p, input);
}

}  // namespace convlayer
