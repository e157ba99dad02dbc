// Implicit-GEMM backward-data (a forward conv over dY per stride phase, the phase's taps turned 180
// degrees) against the nested-loop reference on randomly drawn stride-1 and strided problems,
// float and double, 1 and 2 threads; implicit-GEMM backward-weights against the reference with
// dW holding garbage before the call.
#include "convlayer/kernels/implicit_gemm_backward_data.hpp"
#include "convlayer/kernels/implicit_gemm_conv.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "convlayer/kernels/direct_conv.hpp"
#include "tests/support/compare.hpp"
#include "tests/support/conv_problems.hpp"

using namespace convlayer;
using namespace convlayer::kernels;
using convlayer::support::all_near;

template <typename T>
class ImplicitGemmBackwardDataKernel : public ::testing::Test {};
using Scalars = ::testing::Types<float, double>;
TYPED_TEST_SUITE(ImplicitGemmBackwardDataKernel, Scalars);

// Runs the backward-data plan of `s` (weights packed, dX holding garbage before) and checks dX
// against the nested-loop reference, exactly: the inputs are small integers.
template <typename T>
void expect_backward_data_matches_reference(const ConvShape& s, std::uint64_t seed, int threads, index_t budget,
                                            const std::string& what) {
    Volume<T> dy(s.output()), dx(s.input()), dx_ref(s.input());
    std::vector<T> w(static_cast<std::size_t>(s.k * s.patch_length()));
    support::fill_small_integers(dy, seed);
    support::fill_small_integers(w.data(), static_cast<index_t>(w.size()), seed + 1);
    direct_conv_backward_data(s, dy.data(), w.data(), dx_ref.data());
    const ImplicitGemmBackwardData<T> plan(ConvPlanContext{s, threads, budget});
    std::vector<T> workspace(static_cast<std::size_t>(plan.workspace_elements()));
    std::vector<T> packed(static_cast<std::size_t>(plan.packed_weight_elements()));
    plan.pack_weights(w.data(), packed.data(), workspace.data());
    dx.fill(T(99));  // overwritten
    ConvOperands<T> io;
    io.dy = dy.data();
    io.weights = w.data();
    io.packed = packed.data();
    io.dx = dx.data();
    plan.run(io, workspace.data());
    ASSERT_TRUE(all_near(dx.data(), dx_ref.data(), s.input(), 0.0)) << what << ": " << s.to_string();
}

TYPED_TEST(ImplicitGemmBackwardDataKernel, MatchesTheReferenceOnEveryStrideOneGeometry) {
    int ran = 0;
    for (std::uint64_t seed = 1; seed <= 200; ++seed) {
        // Stride and dilation 1; padding up to 3 (only P <= F - 1 applies); depths around NR.
        const auto p = support::draw_problem(seed * 31 + 7, {3, 20, 40, 20, 5, 1, 3, 1});
        if (!implicit_gemm_backward_data_applies(p.shape)) continue;
        const auto budget = static_cast<index_t>(sizeof(TypeParam)) * (1 + static_cast<index_t>(seed * 1009 % 20000));
        expect_backward_data_matches_reference<TypeParam>(p.shape, seed, 1 + static_cast<int>(seed % 2), budget,
                                                          p.to_string());
        ++ran;
    }
    EXPECT_GT(ran, 40);
}

// Strides 2 to 4, with and without the fit policies' cropped or added rows: every stride phase,
// including those no tap reaches (F < S), whose inputs must come out zero.
TYPED_TEST(ImplicitGemmBackwardDataKernel, MatchesTheReferenceOnStridedGeometries) {
    int ran = 0, tapless = 0;
    for (std::uint64_t seed = 1; seed <= 600; ++seed) {
        const auto p = support::draw_problem(seed * 37 + 11, {3, 24, 40, 20, 6, 4, 3, 1});
        const ConvShape& s = p.shape;
        if (s.y.stride == 1 && s.x.stride == 1) continue;
        if (!implicit_gemm_backward_data_applies(s)) continue;
        const auto budget = static_cast<index_t>(sizeof(TypeParam)) * (1 + static_cast<index_t>(seed * 1009 % 20000));
        expect_backward_data_matches_reference<TypeParam>(s, seed, 1 + static_cast<int>(seed % 2), budget,
                                                          p.to_string());
        for (const BackwardDataPhase& g : backward_data_phases(s)) tapless += !g.has_taps();
        ++ran;
    }
    EXPECT_GT(ran, 80);
    EXPECT_GT(tapless, 5);
}

// ResNet's 3x3 stride-2 conv over 56x56 (cropped to 28x28): four phases of 1, 2, 2 and 4 taps.
TEST(ImplicitGemmBackwardDataPhases, SplitTheTapsOfAStrideTwoConv) {
    const ConvShape s = resolve(ConvParams(16, 8, 3, 2, 1).with_fit(FitPolicy::crop), Shape{1, 56, 56, 16});
    const auto phases = backward_data_phases(s);
    ASSERT_EQ(phases.size(), 4u);
    const index_t taps[] = {1, 2, 2, 4};
    for (std::size_t i = 0; i < 4; ++i) {
        EXPECT_EQ(phases[i].sub.y.kernel * phases[i].sub.x.kernel, taps[i]);
        EXPECT_EQ(phases[i].sub.output(), (Shape{1, 28, 28, 16}));
    }
    // Odd inputs take taps 2 and 0 (in that order) from outputs u and u + 1.
    const AxisPhase odd = phases[3].y;
    EXPECT_EQ(odd.tap(0), 2);
    EXPECT_EQ(odd.tap(1), 0);
    EXPECT_EQ(odd.sub.pad_begin, 0);
    EXPECT_EQ(odd.sub.pad_end, 1);
    EXPECT_TRUE(implicit_gemm_backward_data_applies(s));
    auto resnet = [](index_t f, index_t extent) {
        return resolve(ConvParams(128, 128, f, 2, f / 2).with_fit(FitPolicy::crop), Shape{1, extent, extent, 128});
    };
    EXPECT_TRUE(implicit_gemm_backward_data_pays_off<float>(resnet(3, 56)));
    EXPECT_EQ(implicit_gemm_backward_data_pays_off<float>(resnet(3, 14)), GemmTile<float>::kMaxMR <= 7)
        << "7-column phases";
    EXPECT_TRUE(implicit_gemm_backward_data_applies(resnet(1, 56)));
    EXPECT_FALSE(implicit_gemm_backward_data_pays_off<float>(resnet(1, 56))) << "3 of 4 phases without taps";
}

template <typename T>
class ImplicitGemmForwardKernel : public ::testing::Test {};
TYPED_TEST_SUITE(ImplicitGemmForwardKernel, Scalars);

// Inputs wide and deep enough that a block's padded rows exceed Tuning::forward_sweep_bytes, so
// the forward runs each block in several sweeps of rows (every panel of filters over each): the
// output matches the reference exactly, with and without rows whose kernel rows read only
// padding (vertical padding 4 > F - 1), on 1 and 2 threads.
TYPED_TEST(ImplicitGemmForwardKernel, MatchesTheReferenceInSeveralSweepsPerBlock) {
    using T = TypeParam;
    const index_t row_values = tuning<T>().forward_sweep_bytes / static_cast<index_t>(sizeof(T)) / 2;
    const index_t d1 = 64, width = row_values / d1 + 1;  // a sweep holds at most 2 padded rows
    for (const HW pad : {HW{1, 1}, HW{4, 1}})
        for (int threads : {1, 2}) {
            const ConvShape s = resolve(ConvParams(d1, 40, 3, 1, pad), Shape{1, 5, width, d1});
            const auto plan = ImplicitGemmPlan::make(s, index_t{1} << 40, threads, 1);
            ASSERT_LT(kernels::detail::forward_rows_per_sweep<T>(s, plan), plan.rows_per_block) << s.to_string();
            Volume<T> x(s.input()), y(s.output()), y_ref(s.output());
            std::vector<T> w(static_cast<std::size_t>(s.k * s.patch_length())), b(static_cast<std::size_t>(s.k));
            support::fill_small_integers(x, 3);
            support::fill_small_integers(w.data(), static_cast<index_t>(w.size()), 4);
            support::fill_small_integers(b.data(), s.k, 5);
            direct_conv_forward(s, x.data(), w.data(), b.data(), y_ref.data());
            std::vector<T> workspace(
                static_cast<std::size_t>(implicit_gemm_workspace_elements<T>(s, plan, threads, ConvPass::forward)));
            y.fill(T(99));  // overwritten
            implicit_gemm_conv_forward(s, x.data(), w.data(), b.data(), y.data(), workspace.data(), plan, threads);
            ASSERT_TRUE(all_near(y.data(), y_ref.data(), s.output(), 0.0)) << s.to_string() << ", " << threads;
        }
}

template <typename T>
class ImplicitGemmBackwardWeightsKernel : public ::testing::Test {};
TYPED_TEST_SUITE(ImplicitGemmBackwardWeightsKernel, Scalars);

// dW is overwritten, not accumulated: each thread's first block writes its columns, and columns
// whose taps read only padding in that block are written as zeros. Random geometries, plus two
// where whole panels are skipped in the first block: one input column (kernel columns 0 and 1
// read only padding) and rows wider than a chunk of positions (kernel rows 0 and 1 read only
// padding in the first chunk); four with D1 = NR, whose patch panels are read in place; and
// few-channel ones, run by taps.
TYPED_TEST(ImplicitGemmBackwardWeightsKernel, OverwritesGarbageAndMatchesTheReference) {
    using T = TypeParam;
    std::vector<ConvShape> shapes = {resolve(ConvParams(32, 9, 5, 1, 2), Shape{2, 6, 1, 32}),
                                     resolve(ConvParams(32, 10, 5, 1, 2), Shape{1, 5, 300, 32})};
    // D1 = NR at stride 1: panels read in place from the padded rows (chunks of whole rows, with
    // the live columns of each row or whole rows; rows too wide for whole-row chunks; one output
    // row per image, no padding), or packed where a chunk's positions wrap rows (no padding).
    constexpr index_t NR = GemmTile<T>::NR;
    for (const auto& [p, in] : {std::pair{ConvParams(NR, 9, 5, 1, 2), Shape{2, 14, 14, NR}},
                                {ConvParams(NR, 11, 3, 1, 1), Shape{1, 9, 40, NR}},
                                {ConvParams(NR, 8, 3, 1, 0), Shape{2, 3, 9, NR}},
                                {ConvParams(NR, 8, 3, 1, 0), Shape{3, 6, 7, NR}}})
        shapes.push_back(resolve(p, in));
    // Few channels (by taps, implicit_gemm_dw_by_taps()): a gray image with K = NR (dY's panel read
    // in place) and K = 40 (packed), output rows in several chunks of positions; an RGB image at
    // stride 4 as AlexNet's conv1; padding that pad_to_fit widens at the far edge.
    for (const auto& [p, in] : {std::pair{ConvParams(1, NR, 5, 1, 2), Shape{2, 28, 28, 1}},
                                {ConvParams(1, 40, 5, 1, 2), Shape{1, 30, 200, 1}},
                                {ConvParams(3, 24, 11, 4, 0), Shape{1, 39, 43, 3}},
                                {ConvParams(2, 9, 3, 2, 1).with_fit(FitPolicy::pad_to_fit), Shape{3, 10, 12, 2}}})
        shapes.push_back(resolve(p, in));
    for (std::uint64_t seed = 1; seed <= 60; ++seed) {
        const ConvShape s = support::draw_problem(seed * 17 + 3, {3, 30, 40, 20, 5, 2, 3, 1}).shape;
        if (implicit_gemm_applies(s)) shapes.push_back(s);
    }
    int ran = 0, by_taps = 0;
    for (const ConvShape& s : shapes)
        for (int threads : {1, 2}) {
            if (!implicit_gemm_dw_applies<T>(s, threads)) continue;
            Volume<T> x(s.input()), dy(s.output());
            support::fill_small_integers(x, 5);
            support::fill_small_integers(dy, 6);
            const index_t size = s.k * s.patch_length();
            std::vector<T> dw_ref(static_cast<std::size_t>(size)), db(static_cast<std::size_t>(s.k));
            direct_conv_backward_weights(s, x.data(), dy.data(), dw_ref.data(), db.data());
            const bool split = implicit_gemm_dw_splits_taps<T>(s, threads);
            const auto plan = ImplicitGemmPlan::make(s, 4096, split ? 1 : threads, 1);
            const index_t ws_elements =
                implicit_gemm_workspace_elements<T>(s, plan, threads, ConvPass::backward_weights, false);
            std::vector<T> workspace(static_cast<std::size_t>(ws_elements));
            std::vector<T> dw(static_cast<std::size_t>(size), T(99));  // overwritten
            implicit_gemm_conv_backward_weights(s, x.data(), dy.data(), dw.data(), workspace.data(), plan, threads);
            const Shape dw_shape{s.k, s.y.kernel, s.x.kernel, s.d1};
            ASSERT_TRUE(all_near(dw.data(), dw_ref.data(), dw_shape, 0.0, "k,ky,kx,d"))
                << s.to_string() << ", " << threads << " threads";
            // With db alongside, summed in the same parallel region.
            std::vector<T> db2(static_cast<std::size_t>(s.k), T(99)),
                scratch(static_cast<std::size_t>(conv_bias_gradient_scratch_elements(s.k, threads)), T(-5));
            std::fill(dw.begin(), dw.end(), T(99));
            implicit_gemm_conv_backward_weights(s, x.data(), dy.data(), dw.data(), workspace.data(), plan, threads,
                                                db2.data(), scratch.data());
            ASSERT_TRUE(all_near(dw.data(), dw_ref.data(), dw_shape, 0.0, "k,ky,kx,d")) << "with db " << s.to_string();
            ASSERT_EQ(db2, db) << s.to_string() << ", " << threads << " threads";
            ++ran;
            by_taps += implicit_gemm_dw_by_taps<T>(s);
        }
    EXPECT_GT(ran, 60);
    EXPECT_GE(by_taps, 10);
}

TEST(ImplicitGemmBackwardDataChoice, WhereItAppliesAndPaysOff) {
    auto shape = [](const ConvParams& p, const Shape& in) { return resolve(p, in); };
    const ConvShape mnist2 = shape(ConvParams(32, 64, 5, 1, 2), {1, 14, 14, 32});
    EXPECT_TRUE(implicit_gemm_backward_data_applies(mnist2));
    EXPECT_TRUE(implicit_gemm_backward_data_pays_off<float>(mnist2)) << "32 channels: one whole panel";
    const ConvShape mnist1 = shape(ConvParams(1, 32, 5, 1, 2), {1, 28, 28, 1});
    EXPECT_TRUE(implicit_gemm_backward_data_applies(mnist1));
    EXPECT_FALSE(implicit_gemm_backward_data_pays_off<float>(mnist1)) << "1 of 32 panel columns";
    EXPECT_TRUE(implicit_gemm_backward_data_applies(shape(ConvParams(32, 8, 3, 2, 1), {1, 9, 9, 32}))) << "stride 2";
    EXPECT_FALSE(implicit_gemm_backward_data_applies(shape(ConvParams(32, 8, 3, 2, 2), {1, 9, 9, 32})))
        << "stride 2, P = 2: the odd inputs' one tap would need padding -1";
    EXPECT_FALSE(implicit_gemm_backward_data_applies(shape(ConvParams(32, 8, 3, 1, 3), {1, 9, 9, 32}))) << "P > F - 1";
    EXPECT_FALSE(implicit_gemm_backward_data_applies(shape(ConvParams(32, 8, 3, 1, 1).with_dilation(2), {1, 9, 9, 32})))
        << "dilated";
}

// Threads take contiguous runs of blocks: the plan's blocks leave the busiest thread no more
// output rows than an even split would (28 rows on 2 threads: not 7 blocks of 4, 16 against 12).
TEST(ImplicitGemmPlan, BlocksSplitEvenlyOverThreads) {
    for (index_t h : {7, 14, 28, 55})
        for (index_t n : {1, 3})
            for (int threads : {2, 3}) {
                const ConvShape s = resolve(ConvParams(8, 8, 3, 1, 1), Shape{n, h, h, 8});
                const auto plan = ImplicitGemmPlan::make(s, index_t{1} << 30, threads);
                const index_t blocks = s.n * plan.blocks_per_image(s);
                const index_t busiest = (blocks + threads - 1) / threads * plan.rows_per_block;
                EXPECT_EQ(busiest, (n * h + threads - 1) / threads) << h << " rows, N = " << n << ", " << threads;
            }
    const ConvShape resnet = resolve(ConvParams(128, 128, 3, 2, 1).with_fit(FitPolicy::crop), Shape{1, 56, 56, 128});
    EXPECT_EQ(ImplicitGemmPlan::make(resnet, index_t{1} << 30, 2).rows_per_block, 2);
}
