#include <convlayer/convlayer.hpp>
#include <cmath>
#include <iostream>

int main() {
    using namespace convlayer;
    ConvLayer<float> layer(512, 512, 3, 1, 1);            // VGG conv5_2: 9 MiB of weights
    layer.weights().setRandom();
    layer.set_cache_packed_weights(true);                 // pack once, reuse in every call
    Volume<float> x(1, 14, 14, 512), y, y_half;
    x.fill_random(1);
    for (int i = 0; i < 3; ++i) layer.forward(x, y);      // packs on the first call only
    layer.weights() *= 0.5f;                              // non-const access: repacked next call
    layer.forward(x, y_half);
    std::cout << "packed weights: " << layer.packed_weight_bytes() << " bytes; y(0,0,0,0) = " << y(0, 0, 0, 0)
              << ", with the weights halved: " << y_half(0, 0, 0, 0) << "\n";
    return std::abs(y_half(0, 0, 0, 0) - 0.5f * y(0, 0, 0, 0)) <= 1e-4f * std::abs(y(0, 0, 0, 0)) ? 0 : 1;
}
