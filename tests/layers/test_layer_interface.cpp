// The same generic test for every conv-like layer kind through Layer<T>: output shape,
// forward/backward against the reference, parameter lists consistent with the parameter count,
// and finite differences.
#include "convlayer/layers/layer.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <type_traits>

#include "convlayer/layers/conv1x1_layer.hpp"
#include "convlayer/layers/conv_layer.hpp"
#include "convlayer/layers/locally_connected_layer.hpp"
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
