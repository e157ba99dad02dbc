// NaN and Inf in inputs and output gradients propagate as IEEE arithmetic says; never a crash.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "convlayer/convlayer.hpp"

using namespace convlayer;

namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

// Output positions (oy, ox) whose window contains input (iy, ix) for a 3x3, stride 1, pad 1 conv.
bool sees(index_t oy, index_t ox, index_t iy, index_t ix) { return std::abs(oy - iy) <= 1 && std::abs(ox - ix) <= 1; }

}  // namespace

TEST(NonFinite, NanInTheInputReachesExactlyTheOutputsThatSeeIt) {
    for (ConvAlgorithm a : {ConvAlgorithm::im2col, ConvAlgorithm::direct, ConvAlgorithm::winograd}) {
        ConvLayer<float> conv(4, 5, 3, 1, 1);
        conv.set_algorithm(a);
        conv.weights().setConstant(0.5f);
        Volume<float> x(2, 9, 9, 4);
        x.fill_random(1);
        x(1, 4, 6, 2) = kNaN;
        const Volume<float> y = conv.forward(x);
        for (index_t n = 0; n < 2; ++n)
            for (index_t oy = 0; oy < 9; ++oy)
                for (index_t ox = 0; ox < 9; ++ox)
                    for (index_t k = 0; k < 5; ++k) {
                        const bool hit = n == 1 && sees(oy, ox, 4, 6);
                        if (hit) {
                            EXPECT_TRUE(std::isnan(y(n, oy, ox, k))) << to_string(a);
                        } else if (a != ConvAlgorithm::winograd || n == 0) {
                            // Winograd mixes a whole 6x6 input tile into its 4x4 outputs, so a NaN
                            // also reaches the other outputs of its tiles (the same image).
                            EXPECT_TRUE(std::isfinite(y(n, oy, ox, k))) << to_string(a) << " " << oy << "," << ox;
                        }
                    }
        // Backward: the NaN input poisons dW; dX stays finite where dy is finite and W is.
        Volume<float> dy(y.shape()), dx;
        dy.fill(1.0f);
        conv.backward(x, dy, &dx);
        EXPECT_TRUE(conv.weight_gradient().array().isNaN().any()) << to_string(a);
        EXPECT_TRUE(dx.flat().allFinite()) << to_string(a);
    }
}

TEST(NonFinite, InfinityWithPositiveWeightsGivesInfinity) {
    ConvLayer<float> conv(1, 2, 3, 1, 1);
    conv.set_algorithm(ConvAlgorithm::im2col);
    conv.weights().setConstant(1.0f);
    Volume<float> x(1, 5, 5, 1);
    x(0, 2, 2, 0) = kInf;
    const Volume<float> y = conv.forward(x);
    EXPECT_EQ(y(0, 2, 2, 0), kInf);
    EXPECT_EQ(y(0, 1, 3, 1), kInf);
    EXPECT_EQ(y(0, 0, 0, 0), 0.0f);
    // +Inf with mixed-sign weights is Inf - Inf = NaN, as IEEE says.
    conv.weight(0, 0, 0, 0) = -1.0f;
    conv.weight(0, 2, 2, 0) = -1.0f;
    Volume<float> x2(1, 5, 5, 1);
    x2(0, 2, 2, 0) = kInf;
    x2(0, 3, 3, 0) = kInf;
    EXPECT_TRUE(std::isnan(conv.forward(x2)(0, 2, 2, 0)));
}

TEST(NonFinite, NanGradientsFlowBackThroughEveryLayerKind) {
    Sequential<float> net({2, 8, 8, 3});
    net.emplace<ConvLayer<float>>(3, 4, 3, 1, 1);
    net.emplace<ReluLayer<float>>();
    net.emplace<PoolLayer<float>>(PoolKind::average, 2, 2);
    net.emplace<Conv1x1Layer<float>>(4, 4);
    net.emplace<LocallyConnectedLayer<float>>(ConvParams(4, 2, 3), HW(4, 4));
    net.emplace<FlattenLayer<float>>();
    net.emplace<DenseLayer<float>>(2 * 2 * 2, 3);
    initialize(net, Init::xavier_uniform, 1);
    Volume<float> x(2, 8, 8, 3), y, dx;
    x.fill_random(2);
    net.forward(x, y);
    ASSERT_TRUE(y.flat().allFinite());
    Volume<float> dy(y.shape());
    dy.fill(1.0f);
    dy(0, 0, 0, 1) = kNaN;
    net.backward(x, dy, &dx);
    EXPECT_TRUE(dx.flat().head(8 * 8 * 3).array().isNaN().any()) << "sample 0's dx sees the NaN";
    EXPECT_TRUE(dx.flat().tail(8 * 8 * 3).allFinite()) << "sample 1's does not";
    for (const auto& p : net.parameters()) {
        if (p.name.find("DenseLayer.bias") != std::string::npos) {
            EXPECT_TRUE(std::isnan(p.gradient[1]));
        }
    }
    // A NaN loss input: the softmax cross-entropy returns NaN, no exception, no hang.
    SoftmaxCrossEntropy<float> loss;
    Volume<float> z(1, 1, 1, 3);
    z(0, 0, 0, 1) = kNaN;
    EXPECT_TRUE(std::isnan(loss.forward(z, {0})));
}
