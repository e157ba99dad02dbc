// The network weights_fuzz loads into, and whose files write_reader_seeds writes as its seeds.
#pragma once

#include <convlayer/convlayer.hpp>

#include <cstdint>

namespace convlayer::fuzz {

/// conv 2 -> 3 (3x3, pad 1), ReLU, flatten, dense 108 -> 4, for 6 x 6 x 2 inputs, He-initialised.
inline Sequential<float> weights_network(std::uint64_t seed) {
    Sequential<float> n({1, 6, 6, 2});
    n.emplace<ConvLayer<float>>(2, 3, 3, 1, 1);
    n.emplace<ReluLayer<float>>();
    n.emplace<FlattenLayer<float>>();
    n.emplace<DenseLayer<float>>(6 * 6 * 3, 4);
    initialize(n, Init::he_uniform, seed);
    return n;
}

}  // namespace convlayer::fuzz
