// make_conv_layer: one way to build the conv-like layer that fits a configuration.
#pragma once

#include <memory>
#include <stdexcept>

#include "convlayer/layers/conv1x1_layer.hpp"
#include "convlayer/layers/conv_layer.hpp"
#include "convlayer/layers/locally_connected_layer.hpp"

namespace convlayer {

/// Builds, from hyperparameters:
///  - LocallyConnectedLayer when `sharing` is Sharing::per_position (needs `input`, the input
///    height and width the per-position weights are laid out for);
///  - Conv1x1Layer for a shared 1x1 kernel with stride 1 and no padding;
///  - ConvLayer otherwise.
/// Throws std::invalid_argument for an invalid configuration.
template <typename T>
std::unique_ptr<Layer<T>> make_conv_layer(const ConvParams& p, Sharing sharing = Sharing::shared, HW input = {}) {
    if (sharing == Sharing::per_position) {
        if (input.h < 1 || input.w < 1)
            throw std::invalid_argument("make_conv_layer: a locally connected layer needs the input height and width");
        return std::make_unique<LocallyConnectedLayer<T>>(p, input);
    }
    if (p.kernel == HW(1) && p.stride == HW(1) && p.pad == HW(0)) return std::make_unique<Conv1x1Layer<T>>(p);
    return std::make_unique<ConvLayer<T>>(p);
}

}  // namespace convlayer
