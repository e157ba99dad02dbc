// The named layer configurations the benchmarks run (H = W, D1, K, F, S, P).
#pragma once

#include <array>

#include "convlayer/core/conv_shape.hpp"

namespace convlayer::bench {

struct NamedConv {
    const char* name;
    index_t hw, d1, k, f, s, p;
    FitPolicy fit = FitPolicy::exact;

    ConvParams params() const { return ConvParams(d1, k, f, s, p).with_fit(fit); }
    Shape input(index_t n) const { return {n, hw, hw, d1}; }
};

inline constexpr std::array<NamedConv, 9> kSuite{{
    {"alexnet_conv1", 227, 3, 96, 11, 4, 0},
    {"vgg_conv1_2", 224, 64, 64, 3, 1, 1},
    {"vgg_conv3_2", 56, 256, 256, 3, 1, 1},
    {"vgg_conv5_2", 14, 512, 512, 3, 1, 1},
    {"resnet_1x1_a", 56, 64, 256, 1, 1, 0},
    {"resnet_1x1_b", 14, 1024, 256, 1, 1, 0},
    // (56 - 3 + 2)/2 + 1 = 28.5: ResNet floors it, as PyTorch does.
    {"resnet_3x3_s2", 56, 128, 128, 3, 2, 1, FitPolicy::crop},
    {"mnist_conv1", 28, 1, 32, 5, 1, 2},
    {"mnist_conv2", 14, 32, 64, 5, 1, 2},
}};

enum Pass { kForward = 0, kBackwardData = 1, kBackwardWeights = 2 };
inline const char* pass_name(int p) { return p == kForward ? "fwd" : p == kBackwardData ? "bwd_data" : "bwd_weights"; }

}  // namespace convlayer::bench
