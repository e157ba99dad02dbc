#include <convlayer/convlayer.hpp>
#include <iostream>

using namespace convlayer;

int main() {
    // 64 random 8x8 images, labelled 0 when the left half is brighter, 1 otherwise.
    Volume<float> x(64, 8, 8, 1);
    x.fill_random(/*seed=*/1, 0.0f, 1.0f);
    std::vector<int> labels(64);
    for (index_t n = 0; n < 64; ++n) {
        float left = 0, right = 0;
        for (index_t row = 0; row < 8; ++row)
            for (index_t col = 0; col < 8; ++col) (col < 4 ? left : right) += x(n, row, col, 0);
        labels[static_cast<std::size_t>(n)] = left > right ? 0 : 1;
    }

    Sequential<float> net({64, 8, 8, 1});             // input shape, given once
    net.emplace<ConvLayer<float>>(1, 8, 3, 1, 1);     // 8 filters 3x3x1, stride 1, pad 1
    net.emplace<ReluLayer<float>>();
    net.emplace<PoolLayer<float>>(PoolKind::max, 2, 2);
    net.emplace<DenseLayer<float>>(4 * 4 * 8, 2);     // a wrong size throws, naming both layers
    std::cout << net.summary();

    initialize(net, Init::he_uniform, /*seed=*/1);
    Adam<float> adam(0.01f);
    ClassifierTrainer<float> trainer(net, adam);      // softmax cross-entropy + optimiser steps
    float loss = 0;
    for (int step = 1; step <= 100; ++step) {
        loss = trainer.train_batch(x, labels);
        if (step % 25 == 0) std::cout << "step " << step << ": loss " << loss << "\n";
    }
    save_weights(net, "tiny.weights");                // load_weights(net, "tiny.weights") reads it back
    return loss < 0.1f ? 0 : 1;
}
