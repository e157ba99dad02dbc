// DenseLayer: against plain loops, by finite differences, the PyTorch layout, and bad input.
#include "convlayer/layers/dense_layer.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/compare.hpp"
#include "tests/support/conv_problems.hpp"
#include "tests/support/gradient_check.hpp"

using namespace convlayer;
using ::testing::HasSubstr;

namespace {

template <typename T>
void fill_parameters(DenseLayer<T>& dense, std::uint64_t seed) {
    for (auto& p : dense.parameters()) support::fill_uniform(p.value, p.size, seed++);
}

}  // namespace

TEST(DenseLayer, MatchesPlainLoopsForwardAndBackward) {
    for (std::uint64_t seed = 1; seed <= 20; ++seed) {
        std::mt19937_64 gen(seed);
        const index_t n = 1 + gen() % 5, h = 1 + gen() % 4, w = 1 + gen() % 4, d = 1 + gen() % 6, out = 1 + gen() % 9;
        const index_t in = h * w * d;
        DenseLayer<double> dense(in, out);
        fill_parameters(dense, seed * 10);
        Volume<double> x(n, h, w, d), dy(n, 1, 1, out), dx;
        support::fill_small_integers(x.data(), x.size(), seed);
        support::fill_small_integers(dy.data(), dy.size(), seed + 100);
        const Volume<double> y = dense.forward(x);
        ASSERT_EQ(y.shape(), (Shape{n, 1, 1, out}));
        dense.backward(x, dy, &dx);
        const auto p = dense.parameters();
        const double* wt = p[0].value;  // row-major out x in
        for (index_t s = 0; s < n; ++s)
            for (index_t j = 0; j < out; ++j) {
                double acc = p[1].value[j];
                for (index_t i = 0; i < in; ++i) acc += wt[j * in + i] * x.data()[s * in + i];
                EXPECT_NEAR(y(s, 0, 0, j), acc, 1e-9) << "seed " << seed;
            }
        for (index_t s = 0; s < n; ++s)
            for (index_t i = 0; i < in; ++i) {
                double acc = 0;
                for (index_t j = 0; j < out; ++j) acc += wt[j * in + i] * dy(s, 0, 0, j);
                EXPECT_NEAR(dx.data()[s * in + i], acc, 1e-9);
            }
        for (index_t j = 0; j < out; ++j) {
            double db = 0;
            for (index_t s = 0; s < n; ++s) db += dy(s, 0, 0, j);
            EXPECT_NEAR(p[1].gradient[j], db, 1e-9);
            for (index_t i = 0; i < in; ++i) {
                double dw = 0;
                for (index_t s = 0; s < n; ++s) dw += dy(s, 0, 0, j) * x.data()[s * in + i];
                EXPECT_NEAR(p[0].gradient[j * in + i], dw, 1e-9);
            }
        }
    }
}

TEST(DenseLayer, GradientsByFiniteDifferences) {
    DenseLayer<double> dense(2 * 3 * 4, 5);
    fill_parameters(dense, 7);
    Volume<double> x(3, 2, 3, 4);
    x.fill_random(8);
    support::GradientCheckResult r;
    EXPECT_TRUE(support::check_gradients(dense, x, {}, &r));
    EXPECT_EQ(r.checked, x.size() + dense.parameter_count());
}

TEST(DenseLayer, ParametersInPyTorchLinearLayout) {
    DenseLayer<float> dense(3, 2);
    const auto p = dense.parameters();
    ASSERT_EQ(p.size(), 2u);
    EXPECT_EQ(p[0].dims, (std::vector<index_t>{2, 3}));  // nn.Linear(3, 2).weight is 2 x 3
    EXPECT_EQ(p[1].dims, (std::vector<index_t>{2}));
    EXPECT_EQ(p[0].fan_in, 3);
    EXPECT_EQ(p[0].fan_out, 2);
    EXPECT_EQ(p[1].fan_in, 0);
    EXPECT_EQ(dense.parameter_count(), 8);
    // weights() row j is output j's row of the stored matrix: the dims parameters() reports.
    for (int i = 0; i < 6; ++i) p[0].value[i] = static_cast<float>(i);
    EXPECT_EQ(dense.weights().rows(), p[0].dims[0]);
    EXPECT_EQ(dense.weights().cols(), p[0].dims[1]);
    EXPECT_EQ(dense.weights()(0, 2), 2.0f);
    EXPECT_EQ(dense.weights()(1, 0), 3.0f);
}

TEST(DenseLayer, RejectsBadSizesAndInputs) {
    EXPECT_THROW(DenseLayer<float>(0, 3), std::invalid_argument);
    EXPECT_THROW(DenseLayer<float>(3, -1), std::invalid_argument);
    DenseLayer<float> dense(3136, 10);
    EXPECT_EQ(dense.output_shape({64, 7, 7, 64}), (Shape{64, 1, 1, 10}));
    try {
        dense.output_shape({64, 7, 7, 32});
        FAIL() << "expected std::invalid_argument";
    } catch (const std::invalid_argument& e) {
        EXPECT_THAT(e.what(), HasSubstr("expects 3136 input features"));
        EXPECT_THAT(e.what(), HasSubstr("1568"));
    }
    EXPECT_EQ(dense.describe(), "DenseLayer 3136 -> 10");
}
