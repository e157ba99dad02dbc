// The same generic test for every conv-like layer kind through Layer<T>: output shape,
// forward/backward against the reference, parameter lists consistent with the parameter count,
// and finite differences.
#include "convlayer/layers/layer.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "convlayer/layers/conv1x1_layer.hpp"
#include "convlayer/layers/conv_layer.hpp"
#include "convlayer/layers/dense_layer.hpp"
#include "convlayer/layers/locally_connected_layer.hpp"
#include "convlayer/layers/relu_layer.hpp"
#include "convlayer/layers/softmax_cross_entropy.hpp"
#include "convlayer/nn/sequential.hpp"
#include "tests/support/expect_error.hpp"
#include "tests/support/gradient_check.hpp"
#include "tests/support/layer_reference.hpp"

using namespace convlayer;

namespace {

struct ConvKind {
    static constexpr Sharing sharing = Sharing::shared;
    static support::ProblemRanges ranges() { return {}; }
    template <typename T>
    static std::unique_ptr<Layer<T>> make(const ConvParams& p, const Shape&) { return std::make_unique<ConvLayer<T>>(p); }
};
struct Conv1x1Kind {
    static constexpr Sharing sharing = Sharing::shared;
    static support::ProblemRanges ranges() {
        support::ProblemRanges r;
        r.one_by_one = true;
        return r;
    }
    template <typename T>
    static std::unique_ptr<Layer<T>> make(const ConvParams& p, const Shape&) { return std::make_unique<Conv1x1Layer<T>>(p); }
};
struct LocallyConnectedKind {
    static constexpr Sharing sharing = Sharing::per_position;
    static support::ProblemRanges ranges() { return {3, 16, 6, 6, 5, 3, 2, 2}; }
    template <typename T>
    static std::unique_ptr<Layer<T>> make(const ConvParams& p, const Shape& in) {
        return std::make_unique<LocallyConnectedLayer<T>>(p, HW(in.h, in.w));
    }
};

template <typename Kind_, typename T_>
struct Case {
    using Kind = Kind_;
    using T = T_;
};

struct CaseNames {
    template <typename C>
    static std::string GetName(int) {
        const char* kind = std::is_same<typename C::Kind, ConvKind>::value       ? "ConvLayer"
                           : std::is_same<typename C::Kind, Conv1x1Kind>::value ? "Conv1x1Layer"
                                                                                 : "LocallyConnectedLayer";
        return std::string(kind) + (std::is_same<typename C::T, float>::value ? "_float" : "_double");
    }
};

}  // namespace

template <typename C>
class LayerInterfaceTest : public ::testing::Test {};
using Cases = ::testing::Types<Case<ConvKind, float>, Case<ConvKind, double>, Case<Conv1x1Kind, float>,
                               Case<Conv1x1Kind, double>, Case<LocallyConnectedKind, float>,
                               Case<LocallyConnectedKind, double>>;
TYPED_TEST_SUITE(LayerInterfaceTest, Cases, CaseNames);

TYPED_TEST(LayerInterfaceTest, MatchesTheReferenceOnRandomProblems) {
    using Kind = typename TypeParam::Kind;
    using T = typename TypeParam::T;
    for (int i = 0; i < support::sweep_size(60); ++i) {
        const auto p = support::draw_problem(static_cast<std::uint64_t>(9000 + i), Kind::ranges());
        auto layer = Kind::template make<T>(p.params, p.input);
        ASSERT_EQ(layer->output_shape(p.input), p.shape.output()) << p.to_string();
        ASSERT_EQ(layer->describe().rfind(layer->name(), 0), 0u) << layer->describe();
        ASSERT_TRUE(support::matches_reference(*layer, p.shape, Kind::sharing, support::Data::small_integers, p.seed));
        if (i % 4 == 0) {
            ASSERT_TRUE(support::matches_reference(*layer, p.shape, Kind::sharing, support::Data::uniform_reals, p.seed));
        }
    }
}

TYPED_TEST(LayerInterfaceTest, GradientsMatchFiniteDifferences) {
    using Kind = typename TypeParam::Kind;
    for (std::uint64_t seed = 1; seed <= 4; ++seed) {
        const auto p = support::draw_problem(seed, {2, 8, 3, 3, 3, 2, 1, 2, 2e4, Kind::ranges().one_by_one});
        auto layer = Kind::template make<double>(p.params, p.input);
        for (auto& param : layer->parameters()) support::fill_uniform(param.value, param.size, seed);
        Volume<double> x(p.input);
        x.fill_random(seed);
        EXPECT_TRUE(support::check_gradients(*layer, x)) << p.to_string();
    }
}

TYPED_TEST(LayerInterfaceTest, RejectsAnInputOfTheWrongDepth) {
    using Kind = typename TypeParam::Kind;
    using T = typename TypeParam::T;
    const auto p = support::draw_problem(3, Kind::ranges());
    auto layer = Kind::template make<T>(p.params, p.input);
    Volume<T> x(p.input.n, p.input.h, p.input.w, p.input.d + 1), y;
    EXPECT_THROW(layer->forward(x, y), std::invalid_argument);
}

// Outputs whose memory overlaps an input, through views as well as the same object: every
// algorithm computed garbage before (ConvLayer 32 -> 32 3x3 P=1 off by about 3), now they throw.
namespace {

// x and a second volume carved out of one buffer, `offset` elements apart (0: the same memory).
struct SharedBuffer {
    std::vector<float> storage;
    Volume<float> x, other;
    SharedBuffer(const Shape& xs, const Shape& os, index_t offset)
        : storage(static_cast<std::size_t>(std::max(xs.size(), offset + os.size()))) {
        for (std::size_t i = 0; i < storage.size(); ++i) storage[i] = static_cast<float>(i % 7) - 3;
        x = Volume<float>::view(storage.data(), xs);
        other = Volume<float>::view(storage.data() + offset, os);
    }
};

template <typename F>
void expect_overlap_error(F&& f, const std::string& part) {
    support::expect_error_mentioning<std::invalid_argument>(std::forward<F>(f), part);
}

}  // namespace

TEST(LayerAliasing, ConvOutputOverlappingTheInputThrowsForEveryAlgorithm) {
    const Shape xs{2, 16, 16, 32};
    for (ConvAlgorithm a : {ConvAlgorithm::im2col, ConvAlgorithm::implicit_gemm, ConvAlgorithm::winograd}) {
        ConvLayer<float> conv(32, 32, 3, 1, 1);
        conv.set_algorithm(a);
        for (index_t offset : {index_t{0}, index_t{5}, xs.size() - 1}) {
            SharedBuffer b(xs, xs, offset);
            expect_overlap_error([&] { conv.forward(b.x, b.other); }, "ConvLayer::forward: the output y overlaps the input x");
        }
        Volume<float> x(xs), y;
        x.fill_random(1);
        conv.forward(x, y);  // distinct buffers still run
        // dx over dy or over x, in backward and in backward_data.
        SharedBuffer b(xs, xs, 3);
        Volume<float> dy_view = Volume<float>::view(b.storage.data(), y.shape());
        Volume<float> dx_over_dy = Volume<float>::view(b.storage.data() + 1, xs);
        expect_overlap_error([&] { conv.backward(x, dy_view, &dx_over_dy); }, "ConvLayer::backward: dx overlaps dy");
        expect_overlap_error([&] { conv.backward(b.x, y, &b.other); }, "ConvLayer::backward: dx overlaps the input x");
        expect_overlap_error([&] { conv.backward_data(xs, dy_view, dx_over_dy); }, "ConvLayer::backward_data: dx overlaps dy");
        Volume<float> dy = y;
        expect_overlap_error([&] { conv.backward_data(xs, dy, dy); }, "dx overlaps dy");
    }
}

TEST(LayerAliasing, ConvInputsOverTheParameterGradientsThrow) {
    ConvLayer<float> conv(2, 3, 3, 1, 1);
    const Shape xs{1, 3, 3, 2};  // 18 values: dW holds 3 x 18 = 54
    Volume<float> x_over_dw = Volume<float>::view(conv.weight_gradient().data() + 4, xs);
    Volume<float> x(xs), dy(conv.output_shape(xs)), dx;
    expect_overlap_error([&] { conv.backward_weights(x_over_dw, dy); },
                         "ConvLayer::backward_weights: the input x overlaps the layer's parameter gradients");
    expect_overlap_error([&] { conv.backward(x_over_dw, dy, &dx); }, "ConvLayer::backward: the input x overlaps");
    ConvLayer<float> pointwise(3, 3, 1);
    Volume<float> dy_db = Volume<float>::view(pointwise.bias_gradient().data(), {1, 1, 1, 3});
    Volume<float> x1(1, 1, 1, 3);
    expect_overlap_error([&] { pointwise.backward_weights(x1, dy_db); }, "ConvLayer::backward_weights: dy overlaps");
    EXPECT_NO_THROW(conv.backward_weights(x, dy));
}

TEST(LayerAliasing, AnOwningOutputWhoseStorageTheInputViewsThrows) {
    // Resizing y could free the memory x views: refused even though y's values would not be read.
    DenseLayer<float> dense(4, 4);
    Volume<float> y(1, 1, 1, 64);
    Volume<float> x = Volume<float>::view(y.data() + 32, {2, 1, 1, 4});
    expect_overlap_error([&] { dense.forward(x, y); }, "DenseLayer::forward: the output y overlaps the input x");
}

TEST(LayerAliasing, DenseAndSequentialRefuseAnOutputOverTheirInput) {
    DenseLayer<float> dense(4, 4);
    SharedBuffer b({2, 1, 1, 4}, {2, 1, 1, 4}, 0);
    expect_overlap_error([&] { dense.forward(b.x, b.other); }, "(this layer does not run in place)");
    Sequential<float> net({2, 1, 1, 4});
    net.emplace<DenseLayer<float>>(4, 4);
    expect_overlap_error([&] { net.forward(b.x, b.other); }, "Sequential::forward: the output y overlaps");
}

TEST(LayerAliasing, AdjacentBuffersAreNotAnOverlap) {
    DenseLayer<float> dense(4, 4);
    dense.weights().setIdentity();
    SharedBuffer b({2, 1, 1, 4}, {2, 1, 1, 4}, 8);
    dense.forward(b.x, b.other);
    for (index_t i = 0; i < 8; ++i) EXPECT_EQ(b.other.data()[i], static_cast<float>(i % 7) - 3);
}

TEST(LayerAliasing, ReluRunsExactlyInPlaceButRefusesOtherOverlaps) {
    ReluLayer<float> relu;
    EXPECT_TRUE(relu.runs_in_place());
    EXPECT_FALSE(DenseLayer<float>(2, 2).runs_in_place());
    Volume<float> x(1, 2, 2, 3);
    x.fill_random(4);
    const Volume<float> expected = relu.forward(x);
    Volume<float> same = x;
    relu.forward(same, same);  // the same object
    EXPECT_EQ(same.flat(), expected.flat());
    Volume<float> again = x;
    Volume<float> view = Volume<float>::view(again.data(), again.shape());
    relu.forward(again, view);  // a view of exactly the same elements
    EXPECT_EQ(again.flat(), expected.flat());
    Volume<float> shifted = Volume<float>::view(again.data() + 1, {1, 1, 1, 3});
    Volume<float> part = Volume<float>::view(again.data(), {1, 1, 1, 3});
    expect_overlap_error([&] { relu.forward(part, shifted); }, "ReluLayer::forward: the output y overlaps the input x");
    // dx over dy, in place: dy where x > 0.
    Volume<float> dy(x.shape());
    dy.fill(2.0f);
    relu.backward(x, dy, &dy);
    for (index_t i = 0; i < x.size(); ++i) EXPECT_EQ(dy.data()[i], x.data()[i] > 0 ? 2.0f : 0.0f);
}

TEST(LayerAliasing, TheLossRefusesBuffersOverItsProbabilities) {
    SoftmaxCrossEntropy<float> loss;
    Volume<float> logits(2, 1, 1, 3);
    logits.fill_random(2);
    loss.forward(logits, {0, 2});
    Volume<float> over = Volume<float>::view(const_cast<float*>(loss.probabilities().data()), logits.shape());
    expect_overlap_error([&] { loss.forward(over, {0, 2}); }, "the logits overlap probabilities()");
    expect_overlap_error([&] { loss.backward(over); }, "dlogits overlaps probabilities()");
}
