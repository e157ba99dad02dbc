#include "convlayer/layers/relu_layer.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "tests/support/gradient_check.hpp"

using namespace convlayer;

TEST(ReluLayer, ForwardAndBackwardAgainstTheDefinition) {
    ReluLayer<float> relu;
    Volume<float> x(2, 3, 4, 5);
    x.fill_random(1, -2.0f, 2.0f);
    const Volume<float> y = relu.forward(x);
    ASSERT_EQ(y.shape(), x.shape());
    Volume<float> dy(x.shape()), dx;
    dy.fill_random(2);
    relu.backward(x, dy, &dx);
    for (index_t i = 0; i < x.size(); ++i) {
        EXPECT_EQ(y.data()[i], x.data()[i] > 0 ? x.data()[i] : 0.0f);
        EXPECT_EQ(dx.data()[i], x.data()[i] > 0 ? dy.data()[i] : 0.0f);
    }
    EXPECT_EQ(relu.parameter_count(), 0);
    EXPECT_TRUE(relu.parameters().empty());
}

TEST(ReluLayer, FiniteDifferencesSkipTheKink) {
    ReluLayer<double> relu;
    Volume<double> x(1, 4, 4, 3);
    x.fill_random(3);
    x(0, 1, 1, 1) = 0.0;  // exactly on the kink: the checker must skip it, not fail
    support::GradientCheckResult r;
    EXPECT_TRUE(support::check_gradients(relu, x, {}, &r));
    EXPECT_GE(r.skipped_kinks, 1);
    EXPECT_GT(r.checked, 40);
}

TEST(ReluLayer, NanAndInfPropagate) {
    ReluLayer<float> relu;
    Volume<float> x(1, 1, 1, 3);
    x(0, 0, 0, 0) = std::numeric_limits<float>::quiet_NaN();
    x(0, 0, 0, 1) = std::numeric_limits<float>::infinity();
    x(0, 0, 0, 2) = -std::numeric_limits<float>::infinity();
    const Volume<float> y = relu.forward(x);
    EXPECT_TRUE(std::isnan(y(0, 0, 0, 0)));
    EXPECT_EQ(y(0, 0, 0, 1), std::numeric_limits<float>::infinity());
    EXPECT_EQ(y(0, 0, 0, 2), 0.0f);
}
