// Conv1x1Layer<T>: the textbook's depth reduction, equality with ConvLayer F=1, its conditions.
#include "convlayer/layers/conv1x1_layer.hpp"

#include <gtest/gtest.h>

#include "tests/support/compare.hpp"
#include "tests/support/conv_problems.hpp"

using namespace convlayer;
using Scalars = ::testing::Types<float, double>;
using support::all_near;

TEST(TextbookDepthReduction, From56x56x256To56x56x64With16448Parameters) {
    Conv1x1Layer<float> reduce(256, 64);
    EXPECT_EQ(reduce.output_shape(Shape{1, 56, 56, 256}), (Shape{1, 56, 56, 64}));
    EXPECT_EQ(reduce.parameter_count(), 16448);  // 256*64 weights + 64 biases
    Volume<float> x(1, 56, 56, 256);
    x.fill_random(1);
    (void)reduce.forward(x);
    EXPECT_EQ(reduce.algorithm(ConvPass::forward), ConvAlgorithm::gemm1x1);
    // No patch buffer: less workspace than the same layer through im2col.
    ConvLayer<float> general(256, 64, 1);
    general.set_algorithm(ConvAlgorithm::im2col);
    (void)general.forward(x);
    EXPECT_LT(reduce.workspace_bytes(), general.workspace_bytes());
}

// Each output depth column is W^T times the input depth column plus the bias.
TEST(Conv1x1Layer, EachOutputColumnIsAMatrixTimesTheInputColumn) {
    Conv1x1Layer<double> layer(5, 3);
    layer.weights().setRandom();
    layer.bias().setRandom();
    Volume<double> x(2, 3, 4, 5);
    x.fill_random(2);
    const Volume<double> y = layer.forward(x);
    for (index_t n = 0; n < 2; ++n)
        for (index_t yy = 0; yy < 3; ++yy)
            for (index_t xx = 0; xx < 4; ++xx) {
                const Vector<double> expected = layer.weights() * x.depth_column(n, yy, xx) + layer.bias();
                EXPECT_LT((y.depth_column(n, yy, xx) - expected).cwiseAbs().maxCoeff(), 1e-14);
            }
}

template <typename T>
class Conv1x1VsConv : public ::testing::Test {};
TYPED_TEST_SUITE(Conv1x1VsConv, Scalars);
TYPED_TEST(Conv1x1VsConv, EqualsConvLayerWithF1OnRandomProblems) {
    using T = TypeParam;
    support::ProblemRanges ranges;
    ranges.one_by_one = true;
    for (std::uint64_t seed = 1; seed <= 100; ++seed) {
        const auto p = support::draw_problem(seed, ranges);
        Conv1x1Layer<T> fast(p.params);
        ConvLayer<T> general(p.params);
        general.set_algorithm(ConvAlgorithm::im2col);
        support::fill_small_integers(fast.weights().data(), fast.weights().size(), seed);
        support::fill_small_integers(fast.bias().data(), fast.bias().size(), seed + 1);
        general.weights() = fast.weights();
        general.bias() = fast.bias();
        Volume<T> x(p.input), dy(p.shape.output());
        support::fill_small_integers(x, seed + 2);
        support::fill_small_integers(dy, seed + 3);
        ASSERT_TRUE(all_near(fast.forward(x).data(), general.forward(x).data(), p.shape.output(), 0.0)) << p.to_string();
        Volume<T> dx_fast, dx_general;
        fast.backward(x, dy, &dx_fast);
        general.backward(x, dy, &dx_general);
        ASSERT_TRUE(all_near(dx_fast.data(), dx_general.data(), p.input, 0.0)) << p.to_string();
        ASSERT_EQ(Matrix<T>(fast.weight_gradient()), Matrix<T>(general.weight_gradient())) << p.to_string();
        ASSERT_EQ(Vector<T>(fast.bias_gradient()), Vector<T>(general.bias_gradient())) << p.to_string();
        // The GEMM path runs exactly when stride is 1 on both axes.
        const bool identity = p.params.stride == HW(1);
        EXPECT_EQ(fast.algorithm(ConvPass::forward) == ConvAlgorithm::gemm1x1, identity) << p.to_string();
    }
}

TEST(Conv1x1Layer, RejectsLargerKernelsAndPadding) {
    EXPECT_THROW(Conv1x1Layer<float>(ConvParams(4, 4, 3)), std::invalid_argument);
    EXPECT_THROW(Conv1x1Layer<float>(ConvParams(4, 4, HW(1, 2))), std::invalid_argument);
    try {
        Conv1x1Layer<float> bad(ConvParams(4, 4, 1, 1, 1));
        FAIL();
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("pad 1x1"), std::string::npos) << e.what();
    }
    EXPECT_THROW(Conv1x1Layer<float>(0, 4), std::invalid_argument);
    Conv1x1Layer<float> strided(4, 4, 2);
    EXPECT_EQ(strided.output_shape(Shape{1, 7, 9, 4}), (Shape{1, 4, 5, 4}));
    EXPECT_THROW((void)strided.output_shape(Shape{1, 8, 9, 4}), std::invalid_argument);  // (8-1)/2 + 1 = 4.5
    EXPECT_EQ(Conv1x1Layer<float>(ConvParams(4, 4, 1, 2).with_fit(FitPolicy::crop)).output_shape(Shape{1, 8, 9, 4}), (Shape{1, 4, 5, 4}));
    EXPECT_EQ(strided.describe(), "Conv1x1Layer 4 filters 1x1x4, stride 2x2, pad 0x0");
}
