// Distinct layer objects used from several std::threads at once give the results of sequential
// calls (each object owns its workspace; the shared Eigen thread setting is guarded).
#include <gtest/gtest.h>

#include <memory>
#include <thread>
#include <vector>

#include "convlayer/convlayer.hpp"
#include "tests/support/conv_problems.hpp"

using namespace convlayer;

namespace {

// A small network mixing every kind of layer and algorithm.
std::unique_ptr<Sequential<float>> make_net(std::uint64_t seed) {
    auto net = std::make_unique<Sequential<float>>(Shape{4, 20, 20, 3});
    net->emplace<ConvLayer<float>>(3, 64, 3, 1, 1);  // im2col
    net->emplace<ReluLayer<float>>();
    auto& wino = net->emplace<ConvLayer<float>>(64, 64, 3, 1, 1);
    wino.set_algorithm(ConvAlgorithm::winograd);
    wino.set_algorithm(ConvPass::backward_weights, ConvAlgorithm::automatic);  // Winograd has no dW
    net->emplace<PoolLayer<float>>(PoolKind::max, 2, 2);
    net->emplace<Conv1x1Layer<float>>(64, 16);
    net->emplace<LocallyConnectedLayer<float>>(ConvParams(16, 4, 3), HW(10, 10));
    net->emplace<FlattenLayer<float>>();
    net->emplace<DenseLayer<float>>(8 * 8 * 4, 5);
    initialize(*net, Init::he_normal, seed);
    return net;
}

struct Result {
    std::vector<float> y, dx, grads;
};

Result run(Sequential<float>& net, const Volume<float>& x) {
    Volume<float> y, dx;
    net.forward(x, y);
    Volume<float> dy(y.shape());
    dy.fill(1.0f);
    net.backward(x, dy, &dx);
    Result r{{y.data(), y.data() + y.size()}, {dx.data(), dx.data() + dx.size()}, {}};
    for (const auto& p : net.parameters()) r.grads.insert(r.grads.end(), p.gradient, p.gradient + p.size);
    return r;
}

}  // namespace

TEST(Concurrency, DistinctLayersOnSeveralThreadsMatchSequentialCalls) {
    constexpr int kThreads = 4;
    std::vector<std::unique_ptr<Sequential<float>>> nets;
    std::vector<Volume<float>> inputs;
    std::vector<Result> sequential;
    for (int i = 0; i < kThreads; ++i) {
        nets.push_back(make_net(static_cast<std::uint64_t>(i + 1)));
        inputs.emplace_back(4, 20, 20, 3);
        inputs.back().fill_random(static_cast<std::uint64_t>(100 + i));
        sequential.push_back(run(*nets.back(), inputs.back()));
    }
    for (int round = 0; round < 3; ++round) {
        std::vector<Result> concurrent(kThreads);
        std::vector<std::thread> threads;
        for (int i = 0; i < kThreads; ++i)
            threads.emplace_back([&, i] {
                for (int repeat = 0; repeat < 3; ++repeat) concurrent[i] = run(*nets[i], inputs[i]);
            });
        for (auto& t : threads) t.join();
        for (int i = 0; i < kThreads; ++i) {
            EXPECT_EQ(concurrent[i].y, sequential[i].y) << "network " << i;
            EXPECT_EQ(concurrent[i].dx, sequential[i].dx) << "network " << i;
            EXPECT_EQ(concurrent[i].grads, sequential[i].grads) << "network " << i;
        }
    }
}
