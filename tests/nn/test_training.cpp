// Training end to end: a small CNN overfits a synthetic batch, and runs are bit-reproducible.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "convlayer/core/threading.hpp"
#include "convlayer/layers/conv_layer.hpp"
#include "convlayer/layers/dense_layer.hpp"
#include "convlayer/layers/pool_layer.hpp"
#include "convlayer/layers/relu_layer.hpp"
#include "convlayer/nn/initializers.hpp"
#include "convlayer/nn/sequential.hpp"
#include "convlayer/nn/trainer.hpp"
#include "convlayer/nn/weights_file.hpp"
#include "tests/support/temp_file.hpp"

using namespace convlayer;

namespace {

// n images h x h: class c in [0, 4) is a bright horizontal (0, 1) or vertical (2, 3) bar in the
// first or second half of the image, at a random offset, plus uniform noise.
void synthetic_bars(index_t n, index_t h, std::uint64_t seed, Volume<float>& x, std::vector<int>& labels) {
    std::mt19937_64 gen(seed);
    x.resize({n, h, h, 1});
    x.fill_random(seed + 1, -0.3f, 0.3f);
    labels.resize(static_cast<std::size_t>(n));
    for (index_t i = 0; i < n; ++i) {
        const int c = static_cast<int>(i % 4);
        labels[static_cast<std::size_t>(i)] = c;
        const index_t at = (c % 2) * (h / 2) + static_cast<index_t>(gen() % static_cast<std::uint64_t>(h / 2));
        for (index_t t = 0; t < h; ++t) (c < 2 ? x(i, at, t, 0) : x(i, t, at, 0)) += 1.0f;
    }
}

Sequential<float> bar_net(index_t n, index_t h) {
    Sequential<float> net({n, h, h, 1});
    net.emplace<ConvLayer<float>>(1, 8, 5, 1, 2);
    net.emplace<ReluLayer<float>>();
    net.emplace<PoolLayer<float>>(PoolKind::max, 2, 2);
    net.emplace<ConvLayer<float>>(8, 16, 3, 1, 1);
    net.emplace<ReluLayer<float>>();
    net.emplace<PoolLayer<float>>(PoolKind::average, 2, 2);
    net.emplace<DenseLayer<float>>(h / 4 * h / 4 * 16, 4);
    initialize(net, Init::he_uniform, 11);
    return net;
}

std::vector<float> train_losses(int threads, int steps) {
    const int saved = num_threads();
    set_num_threads(threads);
    Volume<float> x;
    std::vector<int> labels;
    synthetic_bars(32, 16, 3, x, labels);
    auto net = bar_net(32, 16);
    Sgd<float> sgd(0.05f, {0.9f, 1e-4f});
    ClassifierTrainer<float> trainer(net, sgd);
    std::vector<float> losses;
    for (int i = 0; i < steps; ++i) losses.push_back(trainer.train_batch(x, labels));
    set_num_threads(saved);
    return losses;
}

}  // namespace

TEST(Training, ASmallCnnOverfitsASyntheticBatch) {
    const std::vector<float> losses = train_losses(1, 60);
    EXPECT_NEAR(losses.front(), std::log(4.0f), 0.7f) << "an untrained net is close to chance";
    EXPECT_LT(losses.back(), 0.02f) << "60 steps on one batch of 32 must drive the loss near zero";
    Volume<float> x;
    std::vector<int> labels;
    synthetic_bars(32, 16, 3, x, labels);
    auto net = bar_net(32, 16);
    Adam<float> adam(0.01f);
    ClassifierTrainer<float> trainer(net, adam);
    float loss = 0;
    for (int i = 0; i < 60; ++i) loss = trainer.train_batch(x, labels);
    EXPECT_LT(loss, 0.02f) << "Adam";
    EXPECT_EQ(trainer.predict(x), labels);
}

TEST(Training, TheSameSeedAndThreadCountGiveBitIdenticalLosses) {
    for (int threads : {1, 2}) {
        const auto first = train_losses(threads, 8), second = train_losses(threads, 8);
        EXPECT_EQ(first, second) << threads << " threads";
    }
}

TEST(GatherBatch, CopiesTheChosenSamplesAndLabels) {
    Volume<float> all(5, 2, 2, 1), batch;
    for (index_t i = 0; i < all.size(); ++i) all.data()[i] = static_cast<float>(i);
    const std::vector<int> labels{0, 1, 2, 3, 4};
    std::vector<int> batch_labels;
    gather_batch(all, labels, {4, 0, 2, 1}, 1, 2, batch, batch_labels);
    EXPECT_EQ(batch.shape(), (Shape{2, 2, 2, 1}));
    EXPECT_EQ(batch_labels, (std::vector<int>{0, 2}));
    EXPECT_EQ(batch(1, 0, 0, 0), 8.0f);
    EXPECT_THROW(gather_batch(all, labels, {4, 0}, 1, 2, batch, batch_labels), std::out_of_range);
    EXPECT_THROW(gather_batch(all, labels, {7}, 0, 1, batch, batch_labels), std::out_of_range);
}

// With cached packed weights the layer kept packing the weights of the first step: after 10 SGD
// steps its forward differed from a fresh one by 0.12. Every optimiser step now marks the
// parameters changed, so the cache is rebuilt.
TEST(Training, CachedPackedWeightsFollowEveryOptimiserStep) {
    Volume<float> x;
    std::vector<int> labels;
    synthetic_bars(8, 16, 5, x, labels);
    for (ConvAlgorithm a : {ConvAlgorithm::im2col, ConvAlgorithm::implicit_gemm, ConvAlgorithm::winograd}) {
        auto net = bar_net(8, 16);
        auto& conv = dynamic_cast<ConvLayer<float>&>(net.layer(3));
        conv.set_algorithm(a);
        conv.set_algorithm(ConvPass::backward_weights, ConvAlgorithm::automatic);  // Winograd has no dW
        conv.set_cache_packed_weights(true);
        Sgd<float> sgd(0.05f, {0.9f});
        ClassifierTrainer<float> trainer(net, sgd);
        for (int i = 0; i < 10; ++i) trainer.train_batch(x, labels);
        const Volume<float> cached = net.forward(x);
        conv.discard_packed_weights();
        const Volume<float> fresh = net.forward(x);
        EXPECT_EQ(cached.flat(), fresh.flat()) << to_string(a);
        // load_weights, initialize and a write through a kept Parameter + mark_changed() count too.
        initialize(net, Init::he_uniform, 99);
        const Volume<float> after_init = net.forward(x);
        conv.discard_packed_weights();
        EXPECT_EQ(after_init.flat(), net.forward(x).flat()) << to_string(a);
        auto params = net.parameters();
        (void)net.forward(x);
        params[2].values().array() *= 0.5f;  // layer 3's weights
        params[2].mark_changed();
        const Volume<float> after_write = net.forward(x);
        conv.discard_packed_weights();
        EXPECT_EQ(after_write.flat(), net.forward(x).flat()) << to_string(a);
        const std::string path = support::temp_path("training", "cached.weights");
        auto other = bar_net(8, 16);
        initialize(other, Init::he_uniform, 7);
        save_weights(other, path);
        (void)net.forward(x);
        load_weights(net, path);
        const Volume<float> after_load = net.forward(x);
        conv.discard_packed_weights();
        EXPECT_EQ(after_load.flat(), net.forward(x).flat()) << to_string(a);
        std::remove(path.c_str());
    }
}

// A layer added after the trainer was built was never updated (its weights stayed the same over
// 5 steps). The trainer now takes the network's new parameter list: an optimiser that has not
// stepped follows it, one that has refuses it.
TEST(Training, TheTrainerFollowsOrRefusesANetworkThatGrew) {
    Volume<float> x(4, 1, 1, 3);
    x.fill_random(1);
    const std::vector<int> labels{0, 1, 0, 1};
    Sequential<float> net({4, 1, 1, 3});
    net.emplace<DenseLayer<float>>(3, 4);
    initialize(net, Init::he_uniform, 2);
    Sgd<float> sgd(0.1f);
    ClassifierTrainer<float> trainer(net, sgd);
    auto& head = net.emplace<DenseLayer<float>>(4, 2);  // before the first step: followed
    initialize(head.parameters(), Init::he_uniform, 3);
    const Matrix<float> before = head.weights();
    for (int i = 0; i < 5; ++i) trainer.train_batch(x, labels);
    EXPECT_GT((head.weights() - before).norm(), 0.0f) << "the added layer trains";
    net.emplace<ReluLayer<float>>();
    net.emplace<DenseLayer<float>>(2, 2);  // after steps: refused, not ignored
    EXPECT_THROW(trainer.train_batch(x, labels), std::invalid_argument);
}
