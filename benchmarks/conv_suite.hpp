// The named layer configurations the benchmarks run (H = W, D1, K, F, S, P).
#pragma once

#include <array>

#include "convlayer/core/conv_shape.hpp"

namespace convlayer::bench {

struct NamedConv {
    const char* name;
    index_t hw, d1, k, f, s, p;

    ConvParams params() const { return ConvParams(d1, k, f, s, p); }
    Shape input(index_t n) const { return {n, hw, hw, d1}; }
};

inline constexpr std::array<NamedConv, 4> kSuite{{
    {"alexnet_conv1", 227, 3, 96, 11, 4, 0},
    {"vgg_conv3_2", 56, 256, 256, 3, 1, 1},
    {"resnet_1x1", 56, 64, 256, 1, 1, 0},
    {"mnist_conv2", 14, 32, 64, 5, 1, 2},
}};

}  // namespace convlayer::bench
