// NaN and Inf in inputs and output gradients propagate as IEEE arithmetic says; never a crash.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "convlayer/convlayer.hpp"
#include "tests/support/force_algorithm.hpp"

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
        Volume<float> x(2, 9, 9, 4);
        support::force_where_it_applies(conv, a, x.shape());
        conv.weights().setConstant(0.5f);
        x.fill_random(1);
        x(1, 4, 6, 2) = kNaN;
        const Volume<float> y = conv.forward(x);
        for (index_t n = 0; n < 2; ++n)
            for (index_t oy = 0; oy < 9; ++oy)
                for (index_t ox = 0; ox < 9; ++ox)
                    for (index_t k = 0; k < 5; ++k) {
                        // Winograd mixes a whole 6x6 input tile into its 4x4 outputs; the tile is
                        // then recomputed by the definition, so it too gives exactly this pattern.
                        const bool hit = n == 1 && sees(oy, ox, 4, 6);
                        if (hit)
                            EXPECT_TRUE(std::isnan(y(n, oy, ox, k))) << to_string(a);
                        else
                            EXPECT_TRUE(std::isfinite(y(n, oy, ox, k))) << to_string(a) << " " << oy << "," << ox;
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

// Every algorithm gives the definition's pattern (NaN, +Inf, -Inf or finite) in every output of
// all three passes, for a NaN or Inf placed in x, in a weight or in dy, on random geometries.
namespace {

enum class Where { x, weight, dy };

int category(float v) { return std::isnan(v) ? 0 : v == kInf ? 1 : v == -kInf ? 2 : 3; }

struct Passes {
    Volume<float> y, dx;
    std::vector<float> dw, db;
};

Passes run_all(ConvLayer<float>& conv, const Volume<float>& x, const Volume<float>& dy) {
    Passes r;
    conv.forward(x, r.y);
    conv.backward(x, dy, &r.dx);
    r.dw.assign(conv.weight_gradient().data(), conv.weight_gradient().data() + conv.weight_gradient().size());
    r.db.assign(conv.bias_gradient().data(), conv.bias_gradient().data() + conv.bias_gradient().size());
    return r;
}

template <typename V>
void expect_same_pattern(const V& got, const V& want, index_t size, const std::string& what) {
    index_t differ = 0;
    for (index_t i = 0; i < size; ++i) differ += category(got[i]) != category(want[i]);
    EXPECT_EQ(differ, 0) << what;
}

}  // namespace

TEST(NonFinite, EveryAlgorithmGivesTheDefinitionsPatternInEveryPass) {
    std::mt19937_64 gen(7);
    auto pick = [&](index_t lo, index_t hi) { return lo + static_cast<index_t>(gen() % static_cast<std::uint64_t>(hi - lo + 1)); };
    for (int problem = 0; problem < 40; ++problem) {
        const bool winograd_shape = problem % 2 == 0;
        const index_t f = winograd_shape ? 3 : pick(1, 5), s = winograd_shape ? 1 : pick(1, 2);
        const index_t pad = winograd_shape ? pick(0, 2) : pick(0, f - 1);
        // Every fifth has 2 to 3 panels of filters: the implicit forward then splits the filters
        // over 2 threads and checks the border after the parallel part.
        const index_t d1 = pick(1, 2) * 8 * (problem % 3 == 0 ? 4 : 1), k = pick(1, 3) * 8 * (problem % 5 == 0 ? 4 : 1);
        const index_t h = pick(f + 1, 13), w = pick(f + 1, 13), n = pick(1, 2);
        ConvParams params(d1, k, f, s, pad);
        params.with_fit(FitPolicy::crop);
        const Where where = static_cast<Where>(problem % 3);
        for (const float bad : {kNaN, kInf, -kInf}) {
            ConvLayer<float> reference(params);
            reference.set_algorithm(ConvAlgorithm::direct);
            reference.weights().setRandom();
            reference.bias().setRandom();
            Volume<float> x(n, h, w, d1);
            x.fill_random(static_cast<std::uint64_t>(problem) + 1);
            Volume<float> dy(reference.output_shape(x.shape()));
            dy.fill_random(static_cast<std::uint64_t>(problem) + 100);
            if (where == Where::x) x.data()[gen() % static_cast<std::uint64_t>(x.size())] = bad;
            if (where == Where::dy) dy.data()[gen() % static_cast<std::uint64_t>(dy.size())] = bad;
            if (where == Where::weight)
                reference.weights().data()[gen() % static_cast<std::uint64_t>(reference.weights().size())] = bad;
            const Passes want = run_all(reference, x, dy);
            for (ConvAlgorithm a : kAllConvAlgorithms) {
                if (a == ConvAlgorithm::direct) continue;  // the reference
                ConvLayer<float> conv(params);
                if (support::force_where_it_applies(conv, a, x.shape()) == 0) continue;
                conv.weights() = reference.weights();
                conv.bias() = reference.bias();
                for (int threads : {1, 2}) {
                    set_num_threads(threads);
                    const Passes got = run_all(conv, x, dy);
                    const std::string what = conv.conv_shape(x.shape()).to_string() + " " + to_string(a) + " (" +
                                             to_string(conv.algorithm(ConvPass::forward)) + ", " +
                                             to_string(conv.algorithm(ConvPass::backward_data)) + ", " +
                                             to_string(conv.algorithm(ConvPass::backward_weights)) + "), " + std::to_string(bad) + " in " +
                                             (where == Where::x ? "x" : where == Where::dy ? "dy" : "a weight") +
                                             ", " + std::to_string(threads) + " threads: ";
                    expect_same_pattern(got.y.data(), want.y.data(), want.y.size(), what + "y");
                    expect_same_pattern(got.dx.data(), want.dx.data(), want.dx.size(), what + "dx");
                    expect_same_pattern(got.dw, want.dw, static_cast<index_t>(want.dw.size()), what + "dw");
                    expect_same_pattern(got.db, want.db, static_cast<index_t>(want.db.size()), what + "db");
                }
                set_num_threads(2);
            }
        }
    }
}

// The issue's case: 64 -> 64, 3x3, P=1 over 8x8. An Inf input at a corner gives the 4 x 64 = 256
// Inf outputs that see it with every algorithm (Winograd gave 1,024 NaN: its whole tile); a NaN
// weight at one filter's corner tap gives the 7 x 7 = 49 outputs whose window puts that tap on
// the input (im2col gave 64: it multiplied the padding's zeros by it).
TEST(NonFinite, TheIssuesCountsAreTheDefinitions) {
    for (ConvAlgorithm a : {ConvAlgorithm::direct, ConvAlgorithm::im2col, ConvAlgorithm::implicit_gemm,
                            ConvAlgorithm::winograd, ConvAlgorithm::automatic}) {
        ConvLayer<float> conv(64, 64, 3, 1, 1);
        conv.set_algorithm(a);
        conv.weights().setConstant(0.01f);
        Volume<float> x(1, 8, 8, 64);
        x.fill(0.5f);
        x(0, 0, 0, 3) = kInf;
        const Volume<float> y = conv.forward(x);
        EXPECT_EQ(y.flat().array().isInf().count(), 4 * 64) << to_string(a);
        EXPECT_EQ(y.flat().array().isNaN().count(), 0) << to_string(a);
        x(0, 0, 0, 3) = 0.5f;
        conv.weight(5, 0, 0, 7) = kNaN;
        const Volume<float> z = conv.forward(x);
        EXPECT_EQ(z.flat().array().isNaN().count(), 49) << to_string(a);
    }
}
