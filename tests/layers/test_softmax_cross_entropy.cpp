// SoftmaxCrossEntropy: against the definition, stability for huge logits, finite differences.
#include "convlayer/layers/softmax_cross_entropy.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

using namespace convlayer;
using ::testing::HasSubstr;

TEST(SoftmaxCrossEntropy, MatchesTheDefinition) {
    SoftmaxCrossEntropy<double> loss;
    Volume<double> z(3, 1, 1, 4);
    z.fill_random(1, -3, 3);
    const std::vector<int> labels{2, 0, 3};
    const double l = loss.forward(z, labels);
    double expected = 0;
    for (index_t n = 0; n < 3; ++n) {
        double sum = 0;
        for (index_t c = 0; c < 4; ++c) sum += std::exp(z(n, 0, 0, c));
        for (index_t c = 0; c < 4; ++c) EXPECT_NEAR(loss.probabilities()(n, 0, 0, c), std::exp(z(n, 0, 0, c)) / sum, 1e-15);
        expected -= std::log(std::exp(z(n, 0, 0, labels[static_cast<std::size_t>(n)])) / sum);
    }
    EXPECT_NEAR(l, expected / 3, 1e-14);
    EXPECT_EQ(predicted_classes(loss.probabilities()), predicted_classes(z));
}

TEST(SoftmaxCrossEntropy, StableForHugeLogits) {
    SoftmaxCrossEntropy<float> loss;
    Volume<float> z(2, 1, 1, 3);
    const float v[] = {1000.0f, 0.0f, -1000.0f, 89.0f, 90.0f, 88.0f};  // exp(90) overflows float
    z.copy_from(v, 6);
    const float l = loss.forward(z, {0, 1});
    ASSERT_TRUE(std::isfinite(l));
    const double second = -(90.0 - (90.0 + std::log(std::exp(-1.0) + 1.0 + std::exp(-2.0))));
    EXPECT_NEAR(l, (0.0 + second) / 2, 1e-5);
    Volume<float> g;
    loss.backward(g);
    for (index_t i = 0; i < g.size(); ++i) EXPECT_TRUE(std::isfinite(g.data()[i]));
}

TEST(SoftmaxCrossEntropy, GradientByFiniteDifferences) {
    SoftmaxCrossEntropy<double> loss;
    Volume<double> z(4, 1, 1, 5), g;
    z.fill_random(2, -2, 2);
    const std::vector<int> labels{4, 1, 1, 0};
    loss.forward(z, labels);
    loss.backward(g);
    ASSERT_EQ(g.shape(), z.shape());
    const double h = 1e-6;
    for (index_t i = 0; i < z.size(); ++i) {
        const double saved = z.data()[i];
        z.data()[i] = saved + h;
        const double up = loss.forward(z, labels);
        z.data()[i] = saved - h;
        const double down = loss.forward(z, labels);
        z.data()[i] = saved;
        EXPECT_NEAR(g.data()[i], (up - down) / (2 * h), 1e-8) << "logit " << i;
    }
}

TEST(SoftmaxCrossEntropy, RejectsBadLabels) {
    SoftmaxCrossEntropy<float> loss;
    Volume<float> z(2, 1, 1, 10), g;
    EXPECT_THROW(loss.backward(g), std::logic_error);
    try {
        loss.forward(z, {1});
        FAIL();
    } catch (const std::invalid_argument& e) {
        EXPECT_THAT(e.what(), HasSubstr("1 labels for a batch of 2"));
    }
    try {
        loss.forward(z, {1, 10});
        FAIL();
    } catch (const std::invalid_argument& e) {
        EXPECT_THAT(e.what(), HasSubstr("label 10 of sample 1 is outside [0, 10)"));
    }
    EXPECT_THROW(loss.forward(z, {-1, 0}), std::invalid_argument);
}

TEST(PredictedClasses, TiesGoToTheLowestIndex) {
    Volume<float> z(2, 1, 1, 3);
    const float v[] = {1, 3, 3, -1, -2, -1};
    z.copy_from(v, 6);
    EXPECT_EQ(predicted_classes(z), (std::vector<int>{1, 0}));
}
