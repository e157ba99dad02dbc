// Sequential: shape inference and its errors, forward/backward equal to calling the layers by
// hand, finite differences through a whole network, flatten as a view, summary, batch sizes.
#include "convlayer/nn/sequential.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "convlayer/convlayer.hpp"
#include "convlayer/layers/conv_layer.hpp"
#include "convlayer/layers/dense_layer.hpp"
#include "convlayer/layers/flatten_layer.hpp"
#include "convlayer/layers/pool_layer.hpp"
#include "convlayer/layers/relu_layer.hpp"
#include "convlayer/nn/initializers.hpp"
#include "tests/support/allocation_counter.hpp"
#include "tests/support/gradient_check.hpp"

using namespace convlayer;
using ::testing::HasSubstr;

namespace {

// The Fashion-MNIST net, scaled by `c` channels, for inputs h x h x 1.
template <typename T>
Sequential<T> small_cnn(index_t batch, index_t h, index_t c) {
    Sequential<T> net({batch, h, h, 1});
    net.template emplace<ConvLayer<T>>(1, c, 5, 1, 2);
    net.template emplace<ReluLayer<T>>();
    net.template emplace<PoolLayer<T>>(PoolKind::max, 2, 2);
    net.template emplace<ConvLayer<T>>(c, 2 * c, 3, 1, 1);
    net.template emplace<ReluLayer<T>>();
    net.template emplace<FlattenLayer<T>>();
    net.template emplace<DenseLayer<T>>(h / 2 * h / 2 * 2 * c, 3);
    return net;
}

}  // namespace

TEST(Sequential, InfersEveryShapeAndCountsParameters) {
    auto net = small_cnn<float>(64, 28, 32);
    EXPECT_EQ(net.size(), 7u);
    EXPECT_EQ(net.output_shape(), (Shape{64, 1, 1, 3}));
    EXPECT_EQ(net.output_shape({5, 28, 28, 1}), (Shape{5, 1, 1, 3}));
    // 5*5*1*32+32, 3*3*32*64+64, 14*14*64*3+3
    EXPECT_EQ(net.parameter_count(), 832 + 18496 + 37635);
    const auto params = net.parameters();
    ASSERT_EQ(params.size(), 6u);
    EXPECT_EQ(params[0].name, "0.ConvLayer.weights");
    EXPECT_EQ(params[5].name, "6.DenseLayer.bias");
}

TEST(Sequential, AMismatchNamesBothLayersAndTheShape) {
    Sequential<float> net({8, 28, 28, 1});
    net.emplace<ConvLayer<float>>(1, 32, 5, 1, 2);
    net.emplace<PoolLayer<float>>(PoolKind::max, 2, 2);
    try {
        net.emplace<DenseLayer<float>>(3136, 10);
        FAIL() << "expected std::invalid_argument";
    } catch (const std::invalid_argument& e) {
        EXPECT_THAT(e.what(), HasSubstr("layer 2 (DenseLayer 3136 -> 10)"));
        EXPECT_THAT(e.what(), HasSubstr("output of layer 1 (MaxPool 2x2"));
        EXPECT_THAT(e.what(), HasSubstr("[N=8, H=14, W=14, D=32]"));
        EXPECT_THAT(e.what(), HasSubstr("has H*W*D = 6272"));
    }
    EXPECT_EQ(net.size(), 2u) << "the rejected layer is not added";
    try {
        Sequential<float> wrong_depth({1, 28, 28, 3});
        wrong_depth.emplace<ConvLayer<float>>(1, 32, 5);
        FAIL();
    } catch (const std::invalid_argument& e) {
        EXPECT_THAT(e.what(), HasSubstr("layer 0 (ConvLayer 32 filters 5x5x1"));
        EXPECT_THAT(e.what(), HasSubstr("the network input of shape [N=1, H=28, W=28, D=3]"));
    }
    EXPECT_THROW(Sequential<float>({0, 28, 28, 1}), std::invalid_argument);
    EXPECT_THROW(net.add(nullptr), std::invalid_argument);
}

TEST(Sequential, EqualsTheLayersCalledByHand) {
    auto net = small_cnn<float>(3, 8, 4);
    initialize(net, Init::he_uniform, 1);
    Volume<float> x(3, 8, 8, 1), dy(3, 1, 1, 3), y, dx;
    x.fill_random(2);
    dy.fill_random(3);
    net.forward(x, y);
    net.backward(x, dy, &dx);
    std::vector<std::vector<float>> net_grads;
    for (const auto& p : net.parameters()) net_grads.emplace_back(p.gradient, p.gradient + p.size);

    std::vector<Volume<float>> acts{x};
    for (std::size_t i = 0; i < net.size(); ++i) acts.push_back(net.layer(i).forward(acts.back()));
    EXPECT_EQ(std::vector<float>(y.data(), y.data() + y.size()),
              std::vector<float>(acts.back().data(), acts.back().data() + acts.back().size()));
    Volume<float> g = dy;
    for (std::size_t i = net.size(); i-- > 0;) {
        Volume<float> gin;
        net.layer(i).backward(acts[i], g, &gin);
        g = gin;
    }
    EXPECT_EQ(std::vector<float>(dx.data(), dx.data() + dx.size()), std::vector<float>(g.data(), g.data() + g.size()));
    const auto params = net.parameters();
    for (std::size_t j = 0; j < params.size(); ++j)
        EXPECT_EQ(net_grads[j], std::vector<float>(params[j].gradient, params[j].gradient + params[j].size))
            << params[j].name;
}

TEST(Sequential, GradientsByFiniteDifferences) {
    auto net = small_cnn<double>(2, 6, 2);
    initialize(net, Init::he_normal, 4);
    Volume<double> x(2, 6, 6, 1);
    x.fill_random(5);
    support::GradientCheckResult r;
    EXPECT_TRUE(support::check_gradients(net, x, {}, &r));
    EXPECT_GT(r.checked, net.parameter_count());
}

TEST(Sequential, FlattenPassesAViewAndBatchSizesMayChange) {
    auto net = small_cnn<float>(4, 8, 2);
    initialize(net, Init::xavier_uniform, 6);
    for (index_t n : {4, 1, 7}) {
        Volume<float> x(n, 8, 8, 1), y, dy(n, 1, 1, 3), dx;
        x.fill_random(static_cast<std::uint64_t>(n));
        net.forward(x, y);
        EXPECT_EQ(y.shape(), (Shape{n, 1, 1, 3}));
        net.backward(x, dy, &dx);
        EXPECT_EQ(dx.shape(), x.shape());
    }
}

TEST(Sequential, NoAllocationAfterTheFirstBatch) {
    auto net = small_cnn<float>(8, 12, 4);
    initialize(net, Init::he_uniform, 7);
    Volume<float> x(8, 12, 12, 1), y, dy(8, 1, 1, 3), dx;
    x.fill_random(8);
    dy.fill_random(9);
    net.forward(x, y);
    net.backward(x, dy, &dx);
    const support::AllocationCounter allocations;
    for (int i = 0; i < 3; ++i) {
        net.forward(x, y);
        net.backward(x, dy, &dx);
    }
    EXPECT_EQ(allocations.count(), 0);
}

// Every kind of layer (and every conv algorithm's plans) sizes its buffers on the first batch:
// a training step (forward, loss, backward, optimiser) allocates nothing after it.
TEST(Sequential, NoLayerAllocatesAfterTheFirstTrainingStep) {
    Sequential<float> net(Shape{4, 20, 20, 3});
    net.emplace<ConvLayer<float>>(3, 64, 3, 1, 1);  // implicit GEMM
    net.emplace<ReluLayer<float>>();
    auto& winograd = net.emplace<ConvLayer<float>>(64, 64, 3, 1, 1);
    winograd.set_algorithm(ConvAlgorithm::winograd);
    winograd.set_algorithm(ConvPass::backward_weights, ConvAlgorithm::im2col);
    net.emplace<PoolLayer<float>>(PoolKind::max, 2, 2);
    net.emplace<Conv1x1Layer<float>>(64, 16);  // gemm1x1
    auto& strided = net.emplace<ConvLayer<float>>(16, 16, 4, 2, 1);
    strided.set_algorithm(ConvAlgorithm::im2col);
    net.emplace<PoolLayer<float>>(PoolKind::average, 3, 1, 1);
    net.emplace<LocallyConnectedLayer<float>>(ConvParams(16, 4, 3), HW(5, 5));
    net.emplace<FlattenLayer<float>>();
    net.emplace<DenseLayer<float>>(3 * 3 * 4, 5);
    initialize(net, Init::he_normal, 3);
    Adam<float> adam(0.001f);
    ClassifierTrainer<float> trainer(net, adam);
    Volume<float> x(4, 20, 20, 3);
    x.fill_random(4);
    const std::vector<int> labels{0, 1, 2, 3};
    trainer.train_batch(x, labels);
    const support::AllocationCounter allocations;
    for (int i = 0; i < 3; ++i) trainer.train_batch(x, labels);
    EXPECT_EQ(allocations.count(), 0) << allocations.largest_bytes() << " bytes the largest";
}

TEST(Sequential, SummaryListsLayersShapesAndTotals) {
    const auto net = small_cnn<float>(64, 28, 32);
    const std::string s = net.summary();
    EXPECT_THAT(s, HasSubstr("ConvLayer 32 filters 5x5x1, stride 1x1, pad 2x2"));
    EXPECT_THAT(s, HasSubstr("28x28x32"));
    EXPECT_THAT(s, HasSubstr("14x14x64"));
    EXPECT_THAT(s, HasSubstr("1x1x12544"));
    EXPECT_THAT(s, HasSubstr("18,496"));
    EXPECT_THAT(s, HasSubstr("Total parameters: 56,963"));
}

TEST(Sequential, AnEmptyNetworkIsTheIdentity) {
    Sequential<float> net({2, 3, 3, 1});
    Volume<float> x(2, 3, 3, 1), y, dx;
    x.fill_random(1);
    net.forward(x, y);
    net.backward(x, x, &dx);
    for (index_t i = 0; i < x.size(); ++i) EXPECT_EQ(y.data()[i], x.data()[i]);
}

TEST(Sequential, BackwardWithoutAMatchingForwardIsALogicError) {
    auto net = small_cnn<double>(2, 8, 2);
    Volume<double> x(2, 8, 8, 1), y, dx;
    x.fill_random(3);
    const Volume<double> dy(2, 1, 1, 3);
    // Before, the Dense layer complained about an empty activation.
    EXPECT_THAT([&] { net.backward(x, dy, &dx); },
                ::testing::ThrowsMessage<std::logic_error>(HasSubstr("Sequential::backward: call forward() first")));
    net.forward(x, y);
    EXPECT_NO_THROW(net.backward(x, dy, &dx));
    Volume<double> x3(3, 8, 8, 1);
    const Volume<double> dy3(3, 1, 1, 3);
    EXPECT_THAT([&] { net.backward(x3, dy3, &dx); },
                ::testing::ThrowsMessage<std::logic_error>(HasSubstr("the last forward() took [N=2, H=8, W=8, D=1]")));
    net.emplace<ReluLayer<double>>();  // the kept activations no longer match
    EXPECT_THAT([&] { net.backward(x, dy, &dx); },
                ::testing::ThrowsMessage<std::logic_error>(HasSubstr("no forward() has completed")));
}
