// Training end to end: a small CNN overfits a synthetic batch, and runs are bit-reproducible.
#include <gtest/gtest.h>

#include <cmath>

#include "convlayer/core/threading.hpp"
#include "convlayer/layers/conv_layer.hpp"
#include "convlayer/layers/dense_layer.hpp"
#include "convlayer/layers/pool_layer.hpp"
#include "convlayer/layers/relu_layer.hpp"
#include "convlayer/nn/initializers.hpp"
#include "convlayer/nn/sequential.hpp"
#include "convlayer/nn/trainer.hpp"

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
