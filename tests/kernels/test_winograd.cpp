// Winograd F(4x4, 3x3): forward and backward-data against the nested-loop reference on random
// problems, through ConvLayer (finite differences, threads, blocks, algorithm choice), and the
// error bound README states.
#include "convlayer/kernels/winograd.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "convlayer/kernels/direct_conv.hpp"
#include "convlayer/layers/conv_layer.hpp"
#include "tests/support/allocation_counter.hpp"
#include "tests/support/compare.hpp"
#include "tests/support/conv_problems.hpp"
#include "tests/support/gradient_check.hpp"

using namespace convlayer;

namespace {

// Winograd's error bound relative to a plain sum: the transforms' constants (up to 8 in A^T, 5 in
// B^T, 1/24 in G) amplify rounding. Measured worst case over the random problems below: 2x
// (float) and 6x (double) the plain-sum tolerance; the bound tested (and stated in README) is 16x.
template <typename T>
double winograd_tolerance(index_t length) {
    return 16 * support::reduction_tolerance<T>(length);
}

struct WinoCase {
    index_t n, h, w, c, k, pad;
};

WinoCase draw(std::uint64_t seed) {
    std::mt19937_64 gen(seed);
    auto pick = [&](index_t lo, index_t hi) { return lo + static_cast<index_t>(gen() % static_cast<std::uint64_t>(hi - lo + 1)); };
    WinoCase c{pick(1, 3), pick(1, 19), pick(1, 19), pick(1, 20), pick(1, 20), pick(0, 2)};
    // The padded input must hold a 3x3 window.
    c.h = std::max<index_t>(c.h, 3 - 2 * c.pad);
    c.w = std::max<index_t>(c.w, 3 - 2 * c.pad);
    return c;
}

// Max |a - b| over the volume divided by the tolerance (<= 1 passes).
template <typename T>
double error_ratio(const Volume<T>& a, const Volume<T>& b, double tol) {
    return (a.flat().template cast<double>() - b.flat().template cast<double>()).cwiseAbs().maxCoeff() / tol;
}

}  // namespace

template <typename T>
class WinogradTest : public ::testing::Test {};
using Scalars = ::testing::Types<float, double>;
TYPED_TEST_SUITE(WinogradTest, Scalars);

TYPED_TEST(WinogradTest, ForwardAndBackwardDataMatchTheReference) {
    using T = TypeParam;
    double worst = 0;
    for (std::uint64_t seed = 1; seed <= 120; ++seed) {
        const WinoCase c = draw(seed);
        ConvLayer<T> layer(c.c, c.k, 3, 1, c.pad);
        layer.set_algorithm(ConvAlgorithm::winograd);
        layer.set_algorithm(ConvPass::backward_weights, ConvAlgorithm::automatic);  // Winograd has no dW
        layer.set_workspace_budget_bytes(1 + static_cast<index_t>(seed * 7919 % 200000));  // many blocks too
        support::fill_uniform(layer.weights().data(), layer.weights().size(), seed);
        support::fill_uniform(layer.bias().data(), layer.bias().size(), seed + 1);
        Volume<T> x(c.n, c.h, c.w, c.c);
        support::fill_uniform(x.data(), x.size(), seed + 2);
        const ConvShape s = layer.conv_shape(x.shape());
        ASSERT_TRUE(kernels::winograd_applies(s)) << s.to_string();

        const Volume<T> y = layer.forward(x);
        ASSERT_EQ(layer.algorithm(ConvPass::forward), ConvAlgorithm::winograd);
        Volume<T> y_ref(s.output());
        kernels::direct_conv_forward(s, x.data(), layer.weights().data(), layer.bias().data(), y_ref.data());
        const double fwd = error_ratio(y, y_ref, winograd_tolerance<T>(9 * c.c + 1));
        EXPECT_LE(fwd, 1.0) << "forward " << s.to_string() << " seed " << seed;

        Volume<T> dy(s.output()), dx, dx_ref(s.input());
        support::fill_uniform(dy.data(), dy.size(), seed + 3);
        layer.backward(x, dy, &dx);
        kernels::direct_conv_backward_data(s, dy.data(), layer.weights().data(), dx_ref.data());
        const double bwd = error_ratio(dx, dx_ref, winograd_tolerance<T>(9 * c.k));
        EXPECT_LE(bwd, 1.0) << "backward-data " << s.to_string() << " seed " << seed;
        worst = std::max({worst, fwd, bwd});

        // dW goes through im2col: exact agreement with that path is not expected, the reference is.
        std::vector<T> dw_ref(static_cast<std::size_t>(layer.weights().size())), db_ref(static_cast<std::size_t>(c.k));
        kernels::direct_conv_backward_weights(s, x.data(), dy.data(), dw_ref.data(), db_ref.data());
        ASSERT_TRUE(support::all_near(layer.weight_gradient().data(), dw_ref.data(), Shape{c.k, 3, 3, c.c},
                                      support::reduction_tolerance<T>(s.output_positions())))
            << s.to_string();
    }
    std::printf("worst error / (16 x plain-sum tolerance): %.3f\n", worst);
}

TEST(Winograd, GradientsByFiniteDifferences) {
    ConvLayer<double> layer(3, 4, 3, 1, 1);
    layer.set_algorithm(ConvAlgorithm::winograd);
    layer.set_algorithm(ConvPass::backward_weights, ConvAlgorithm::automatic);  // Winograd has no dW
    support::fill_uniform(layer.weights().data(), layer.weights().size(), 1);
    Volume<double> x(2, 7, 6, 3);
    x.fill_random(2);
    support::GradientCheckResult r;
    EXPECT_TRUE(support::check_gradients(layer, x, {}, &r));
    EXPECT_EQ(layer.algorithm(ConvPass::forward), ConvAlgorithm::winograd);
}

TEST(Winograd, OneAndTwoThreadsAgreeExactly) {
    const int saved = num_threads();
    ConvLayer<float> layer(16, 24, 3, 1, 1);
    layer.set_algorithm(ConvAlgorithm::winograd);
    layer.set_algorithm(ConvPass::backward_weights, ConvAlgorithm::automatic);  // Winograd has no dW
    layer.set_workspace_budget_bytes(64 << 10);
    support::fill_uniform(layer.weights().data(), layer.weights().size(), 3);
    Volume<float> x(4, 30, 26, 16), y1, y2, dx1, dx2;
    x.fill_random(4);
    Volume<float> dy(layer.output_shape(x.shape()));
    dy.fill_random(5);
    set_num_threads(1);
    layer.forward(x, y1);
    layer.backward(x, dy, &dx1);
    set_num_threads(2);
    layer.forward(x, y2);
    layer.backward(x, dy, &dx2);
    set_num_threads(saved);
    EXPECT_EQ(y1.flat(), y2.flat());
    EXPECT_EQ(dx1.flat(), dx2.flat());
}

TEST(Winograd, WorkspaceIsBoundedAndReusedWithoutAllocation) {
    ConvLayer<float> layer(64, 64, 3, 1, 1);
    support::fill_uniform(layer.weights().data(), layer.weights().size(), 1);
    Volume<float> x(2, 32, 32, 64), y, dx, dy(2, 32, 32, 64);
    x.fill_random(2);
    dy.fill_random(3);
    layer.forward(x, y);
    layer.backward(x, dy, &dx);
    ASSERT_EQ(layer.algorithm(ConvPass::forward), ConvAlgorithm::winograd);
    // im2col's part for dW (packed weights + per thread the budget and 1 MiB of packing), the
    // transformed filters (36/9 of the weights, panels padded), and per thread one tile block.
    const index_t weight_bytes = layer.weights().size() * index_t{sizeof(float)};
    const index_t per_thread = 2 * layer.workspace_budget_bytes() + (index_t{1} << 20);
    EXPECT_LE(layer.workspace_bytes(), 5 * weight_bytes + per_thread * num_threads());
    support::AllocationCounter counter;
    for (int i = 0; i < 3; ++i) {
        layer.forward(x, y);
        layer.backward(x, dy, &dx);
    }
    EXPECT_EQ(counter.count(), 0) << "forward/backward allocated after warm-up";
}

TEST(Winograd, WhereItAppliesAndWhatAutomaticPicks) {
    auto algorithm_for = [](const ConvParams& p, const Shape& in) {
        ConvLayer<float> layer(p);
        (void)layer.forward(Volume<float>(in));
        return layer.algorithm(ConvPass::forward);
    };
    EXPECT_EQ(algorithm_for(ConvParams(64, 64, 3, 1, 1), {1, 56, 56, 64}), ConvAlgorithm::winograd);
    EXPECT_EQ(algorithm_for(ConvParams(3, 64, 3, 1, 1), {1, 56, 56, 3}), ConvAlgorithm::implicit_gemm) << "few channels";
    EXPECT_NE(algorithm_for(ConvParams(32, 64, 3, 1, 1), {8, 14, 14, 32}), ConvAlgorithm::winograd) << "few channels";
    EXPECT_NE(algorithm_for(ConvParams(64, 64, 3, 1, 1), {1, 40, 40, 64}), ConvAlgorithm::winograd) << "100 tiles";
    EXPECT_EQ(algorithm_for(ConvParams(64, 64, 3, 1, 1), {2, 40, 40, 64}), ConvAlgorithm::winograd) << "200 tiles";
    EXPECT_NE(algorithm_for(ConvParams(512, 512, 3, 1, 1), {8, 14, 14, 512}), ConvAlgorithm::winograd)
        << "transformed filters too large";
    EXPECT_NE(algorithm_for(ConvParams(64, 64, 3, 2, 1).with_fit(FitPolicy::crop), {1, 56, 56, 64}),
              ConvAlgorithm::winograd);
    EXPECT_NE(algorithm_for(ConvParams(64, 64, 5, 1, 2), {1, 56, 56, 64}), ConvAlgorithm::winograd);

    ConvLayer<float> five(4, 4, 5, 1, 2);
    five.set_algorithm(ConvAlgorithm::winograd);
    EXPECT_THROW(five.forward(Volume<float>(1, 9, 9, 4)), std::invalid_argument);
    ConvLayer<float> dilated(ConvParams(4, 4, 3, 1, 2).with_dilation(2));
    dilated.set_algorithm(ConvAlgorithm::winograd);
    EXPECT_THROW(dilated.forward(Volume<float>(1, 9, 9, 4)), std::invalid_argument);
    ConvLayer<float> wide_pad(4, 4, 3, 1, 3);
    wide_pad.set_algorithm(ConvAlgorithm::winograd);
    EXPECT_THROW(wide_pad.forward(Volume<float>(1, 9, 9, 4)), std::invalid_argument);
}
