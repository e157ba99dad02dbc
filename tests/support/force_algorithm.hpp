// Forcing an algorithm on the passes it can run, for tests that sweep every algorithm.
#pragma once

#include "convlayer/layers/conv_layer.hpp"

namespace convlayer::support {

/// Forces `a` on every pass of `layer` it can run for `input`, leaves the others automatic, and
/// returns how many passes took it.
template <typename T>
int force_where_it_applies(ConvLayer<T>& layer, ConvAlgorithm a, const Shape& input) {
    const ConvShape s = layer.conv_shape(input);
    int forced = 0;
    for (ConvPass pass : kAllConvPasses) {
        const bool applies = algorithm_applies<T>(a, pass, s);
        layer.set_algorithm(pass, applies ? a : ConvAlgorithm::automatic);
        forced += applies;
    }
    return forced;
}

}  // namespace convlayer::support
