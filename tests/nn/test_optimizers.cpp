// Optimisers: each update rule step by step against hand-computed values (PyTorch's rules),
// and misuse.
#include "convlayer/nn/optimizers.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

using namespace convlayer;

namespace {

// One parameter tensor of two values with a settable gradient.
struct Toy {
    std::vector<double> w{1.0, -2.0}, g{0.5, 0.25};
    std::vector<Parameter<double>> params() { return {{"w", {2}, w.data(), g.data(), 2, 2, 1}}; }
};

}  // namespace

TEST(Sgd, PlainMomentumWeightDecayAndNesterov) {
    Toy plain;
    Sgd<double> sgd(0.1);
    sgd.step(plain.params());
    EXPECT_DOUBLE_EQ(plain.w[0], 1.0 - 0.1 * 0.5);
    EXPECT_DOUBLE_EQ(plain.w[1], -2.0 - 0.1 * 0.25);

    Toy m;
    Sgd<double> momentum(0.1, {0.9, 0.01, false});
    momentum.step(m.params());  // g' = 0.5 + 0.01*1 = 0.51; v = 0.51; w = 1 - 0.051
    EXPECT_DOUBLE_EQ(m.w[0], 1.0 - 0.1 * 0.51);
    const double w1 = m.w[0];
    momentum.step(m.params());  // g' = 0.5 + 0.01*w1; v = 0.9*0.51 + g'
    const double v2 = 0.9 * 0.51 + (0.5 + 0.01 * w1);
    EXPECT_DOUBLE_EQ(m.w[0], w1 - 0.1 * v2);
    EXPECT_EQ(momentum.steps(), 2);

    Toy n;
    Sgd<double> nesterov(0.1, {0.9, 0.0, true});
    nesterov.step(n.params());  // v = 0.5; w -= 0.1*(0.5 + 0.9*0.5)
    EXPECT_DOUBLE_EQ(n.w[0], 1.0 - 0.1 * (0.5 + 0.45));
}

TEST(Adam, FirstTwoStepsByHand) {
    Toy t;
    Adam<double> adam(0.01);
    adam.step(t.params());
    // Step 1: m = 0.1 g, v = 0.001 g^2; bias-corrected m/c1 = g, v/c2 = g^2, so w -= lr * g/(|g|+eps).
    EXPECT_NEAR(t.w[0], 1.0 - 0.01 * 0.5 / (0.5 + 1e-8), 1e-15);
    EXPECT_NEAR(t.w[1], -2.0 - 0.01 * 0.25 / (0.25 + 1e-8), 1e-15);
    t.g = {-1.0, 0.25};
    const double w0 = t.w[0];
    adam.step(t.params());
    const double m = 0.9 * 0.05 + 0.1 * -1.0, v = 0.999 * 0.00025 + 0.001 * 1.0;
    const double mh = m / (1 - 0.81), vh = v / (1 - 0.999 * 0.999);
    EXPECT_NEAR(t.w[0], w0 - 0.01 * mh / (std::sqrt(vh) + 1e-8), 1e-15);
}

TEST(Optimizer, RejectsBadSettingsAndAChangedParameterList) {
    EXPECT_THROW(Sgd<float>(0.0f), std::invalid_argument);
    EXPECT_THROW(Sgd<float>(0.1f, {1.0f}), std::invalid_argument);
    EXPECT_THROW(Sgd<float>(0.1f, {0.9f, -1.0f}), std::invalid_argument);
    EXPECT_THROW(Adam<float>(0.1f, {1.0f}), std::invalid_argument);
    Toy a;
    Sgd<double> sgd(0.1, {0.9});
    sgd.step(a.params());
    std::vector<double> w(3), g(3);
    try {
        sgd.step({{"other", {3}, w.data(), g.data(), 3}});
        FAIL();
    } catch (const std::invalid_argument& e) {
        EXPECT_THAT(e.what(), ::testing::HasSubstr("use a new optimiser"));
    }
    // The same count and sizes, but other tensors (another network of the same architecture):
    // refused too, where it silently applied a's momentum to b before.
    Toy b;
    EXPECT_THAT([&] { sgd.step(b.params()); },
                ::testing::ThrowsMessage<std::invalid_argument>(::testing::HasSubstr("use a new optimiser")));
    EXPECT_NO_THROW(sgd.step(a.params()));
    sgd.set_learning_rate(0.05);
    EXPECT_DOUBLE_EQ(sgd.learning_rate(), 0.05);
    EXPECT_THROW(sgd.set_learning_rate(-1), std::invalid_argument);
}
