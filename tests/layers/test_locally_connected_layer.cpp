// LocallyConnectedLayer<T>: the textbook's unshared count, the tie to ConvLayer (parameter
// sharing as a test), a 150-problem reference sweep, and the memory limit.
#include "convlayer/layers/locally_connected_layer.hpp"

#include <gtest/gtest.h>

#include "convlayer/layers/conv_layer.hpp"
#include "tests/support/compare.hpp"
#include "tests/support/layer_reference.hpp"

using namespace convlayer;
using Scalars = ::testing::Types<float, double>;
using support::all_near;

TEST(TextbookParameters, AlexNetConv1Unshared105705600) {
    // 55*55*96 = 290,400 neurons, each with 11*11*3 = 363 weights and 1 bias.
    EXPECT_EQ(LocallyConnectedLayer<float>::parameter_count(ConvParams(3, 96, 11, 4, 0), HW(227, 227)), 105705600);
    EXPECT_EQ(290400 * 364, 105705600);
}

TEST(LocallyConnectedLayer, RefusesConfigurationsOverTheMemoryLimitBeforeAllocating) {
    try {
        LocallyConnectedLayer<float> lc(ConvParams(3, 96, 11, 4, 0), HW(227, 227), index_t{100} << 20);
        FAIL();
    } catch (const std::length_error& e) {
        const std::string m = e.what();
        EXPECT_NE(m.find("105705600 parameters"), std::string::npos) << m;
        EXPECT_NE(m.find("845644800 bytes"), std::string::npos) << m;  // values + gradients, float
        EXPECT_NE(m.find("memory_limit_bytes"), std::string::npos) << m;
    }
    // A VGG-size unshared layer is over the default 2 GiB limit.
    EXPECT_THROW(LocallyConnectedLayer<float>(ConvParams(64, 64, 3, 1, 1), HW(224, 224)), std::length_error);
    // Overflowing counts are a length_error too, never an allocation attempt.
    const index_t big = index_t{1} << 20;
    EXPECT_THROW(LocallyConnectedLayer<double>(ConvParams(big, big, 1), HW(big, big)), std::length_error);
}

TEST(LocallyConnectedLayer, InputMustHaveTheExtentItWasBuiltFor) {
    LocallyConnectedLayer<float> lc(ConvParams(2, 3, 3, 1, 1), HW(8, 6));
    EXPECT_EQ(lc.positions(), 48);
    EXPECT_EQ(lc.parameter_count(), 48 * 3 * (18 + 1));
    Volume<float> x(1, 6, 8, 2), y;  // transposed extents
    try {
        lc.forward(x, y);
        FAIL();
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("H=8, W=6"), std::string::npos) << e.what();
    }
    EXPECT_THROW((void)lc.weights(48), std::out_of_range);
    auto params = lc.parameters();
    EXPECT_EQ(params[0].dims, (std::vector<index_t>{8, 6, 3, 3, 3, 2}));
    EXPECT_EQ(params[1].dims, (std::vector<index_t>{8, 6, 3}));
    EXPECT_EQ(lc.describe(), "LocallyConnectedLayer 3 filters 3x3x2, stride 1x1, pad 1x1, unshared over 8x6 positions");
}

// Parameter sharing as a test: a locally connected layer whose every position holds one conv
// layer's filters computes that conv layer, and its per-position weight gradients sum to the
// conv layer's.
template <typename T>
class TieTest : public ::testing::Test {};
TYPED_TEST_SUITE(TieTest, Scalars);
TYPED_TEST(TieTest, TiedWeightsEqualTheConvLayer) {
    using T = TypeParam;
    for (std::uint64_t seed = 1; seed <= 30; ++seed) {
        const auto p = support::draw_problem(seed, {3, 14, 5, 5, 5, 3, 2, 2});
        ConvLayer<T> conv(p.params);
        LocallyConnectedLayer<T> lc(p.params, HW(p.input.h, p.input.w));
        support::fill_small_integers(conv.weights().data(), conv.weights().size(), seed);
        support::fill_small_integers(conv.bias().data(), conv.bias().size(), seed + 1);
        for (index_t pos = 0; pos < lc.positions(); ++pos) {
            lc.weights(pos) = conv.weights();
            lc.bias(pos) = conv.bias();
        }
        Volume<T> x(p.input), dy(p.shape.output());
        support::fill_small_integers(x, seed + 2);
        support::fill_small_integers(dy, seed + 3);
        const Volume<T> y_conv = conv.forward(x), y_lc = lc.forward(x);
        ASSERT_TRUE(all_near(y_lc.data(), y_conv.data(), y_conv.shape(), 0.0)) << p.to_string();
        Volume<T> dx_conv, dx_lc;
        conv.backward(x, dy, &dx_conv);
        lc.backward(x, dy, &dx_lc);
        ASSERT_TRUE(all_near(dx_lc.data(), dx_conv.data(), p.input, 0.0)) << p.to_string();
        Matrix<T> dw_sum = Matrix<T>::Zero(conv.weights().rows(), conv.weights().cols());
        Vector<T> db_sum = Vector<T>::Zero(conv.bias().size());
        for (index_t pos = 0; pos < lc.positions(); ++pos) {
            dw_sum += lc.weight_gradient(pos);
            db_sum += lc.bias_gradient(pos);
        }
        ASSERT_EQ(dw_sum, Matrix<T>(conv.weight_gradient())) << p.to_string();
        ASSERT_EQ(db_sum, Vector<T>(conv.bias_gradient())) << p.to_string();
    }
}

template <typename T>
class LocallyConnectedSweep : public ::testing::Test {};
TYPED_TEST_SUITE(LocallyConnectedSweep, Scalars);
TYPED_TEST(LocallyConnectedSweep, MatchesTheReferenceOn150Problems) {
    using T = TypeParam;
    for (int i = 0; i < support::sweep_size(150); ++i) {
        const auto p = support::draw_problem(static_cast<std::uint64_t>(300 + i), {4, 16, 8, 8, 5, 3, 2, 2});
        LocallyConnectedLayer<T> lc(p.params, HW(p.input.h, p.input.w));
        const auto data = i % 3 == 0 ? support::Data::uniform_reals : support::Data::small_integers;
        ASSERT_TRUE(support::matches_reference(lc, p.shape, Sharing::per_position, data, p.seed));
    }
}
