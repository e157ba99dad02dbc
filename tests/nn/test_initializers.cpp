// Initialisers: the variance each scheme promises, zero biases, determinism by seed.
#include "convlayer/nn/initializers.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "convlayer/layers/conv_layer.hpp"
#include "convlayer/layers/dense_layer.hpp"

using namespace convlayer;

namespace {

struct Moments {
    double mean = 0, variance = 0, max_abs = 0;
};
Moments moments(const Parameter<double>& p) {
    Moments m;
    for (index_t i = 0; i < p.size; ++i) m.mean += p.value[i];
    m.mean /= static_cast<double>(p.size);
    for (index_t i = 0; i < p.size; ++i) {
        m.variance += (p.value[i] - m.mean) * (p.value[i] - m.mean);
        m.max_abs = std::max(m.max_abs, std::fabs(p.value[i]));
    }
    m.variance /= static_cast<double>(p.size - 1);
    return m;
}

}  // namespace

TEST(Initializers, EachSchemeHasItsVarianceAndBiasesAreZero) {
    // fan_in = 3*3*64 = 576, fan_out = 128*3*3 = 1152; 73,728 weights.
    for (Init init : {Init::he_uniform, Init::he_normal, Init::xavier_uniform, Init::xavier_normal}) {
        ConvLayer<double> conv(64, 128, 3);
        conv.bias().setOnes();
        initialize(conv, init, 42);
        const auto params = conv.parameters();
        ASSERT_EQ(params[0].fan_in, 576);
        ASSERT_EQ(params[0].fan_out, 1152);
        const bool he = init == Init::he_uniform || init == Init::he_normal;
        const double expected = he ? 2.0 / 576 : 2.0 / (576 + 1152);
        const Moments m = moments(params[0]);
        EXPECT_NEAR(m.variance / expected, 1.0, 0.02) << to_string(init);
        EXPECT_NEAR(m.mean, 0.0, 4 * std::sqrt(expected / 73728.0)) << to_string(init);
        if (init == Init::he_uniform || init == Init::xavier_uniform)
            EXPECT_LE(m.max_abs, std::sqrt(3 * expected)) << to_string(init);
        else
            EXPECT_GT(m.max_abs, std::sqrt(3 * expected)) << to_string(init) << ": a normal has tails";
        EXPECT_TRUE(conv.bias().isZero()) << to_string(init);
    }
}

TEST(Initializers, TheSameSeedGivesTheSameValues) {
    DenseLayer<float> a(100, 10), b(100, 10), c(100, 10);
    initialize(a, Init::he_normal, 7);
    initialize(b, Init::he_normal, 7);
    initialize(c, Init::he_normal, 8);
    EXPECT_EQ(a.weights(), b.weights());
    EXPECT_NE(a.weights(), c.weights());
    // The stream does not depend on the standard library: a fixed value from seed 7.
    DenseLayer<double> d(1, 1);
    initialize(d, Init::he_uniform, 7);
    const double first = d.weights()(0, 0);
    EXPECT_GT(std::fabs(first), 0.0);
    EXPECT_LE(std::fabs(first), std::sqrt(6.0));
}
