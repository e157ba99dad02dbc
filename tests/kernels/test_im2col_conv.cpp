// im2col + GEMM convolution against the nested-loop reference on randomly drawn problems:
// forward, dX, dW and db, float and double, with random block sizes.
#include "convlayer/kernels/im2col_conv.hpp"

#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "convlayer/kernels/direct_conv.hpp"
#include "tests/support/compare.hpp"
#include "tests/support/conv_problems.hpp"

using namespace convlayer;
using namespace convlayer::kernels;
using convlayer::support::all_near;

namespace {

enum class Data { small_integers, uniform_reals };

// dW and db from im2col_conv_backward_weights() with db summed alongside, as the plans run it; db
// and its scratch start as garbage, which must be overwritten.
template <typename T>
std::pair<std::vector<T>, std::vector<T>> weight_and_bias_gradients(const ConvShape& s, const T* x, const T* dy, T* ws,
                                                                    index_t block_rows, int threads, bool skip_im2col) {
    std::vector<T> dw(static_cast<std::size_t>(s.k * s.patch_length()), T(55)), db(static_cast<std::size_t>(s.k), T(55)),
        scratch(static_cast<std::size_t>(conv_bias_gradient_scratch_elements(s.k, threads)), T(-5));
    im2col_conv_backward_weights(s, x, dy, dw.data(), ws, block_rows, threads, skip_im2col, db.data(), scratch.data());
    return {dw, db};
}

// Runs one problem through both kernels and compares every output. With small integers every
// sum is exact in float, so the tolerance is 0; with reals it scales with the reduction length.
template <typename T>
void compare_with_reference(const support::ConvProblem& p, Data data, index_t block_rows, int threads = 1,
                            index_t free_block_rows = 0) {
    const ConvShape& s = p.shape;
    const index_t L = s.patch_length(), M = s.output_positions();
    Volume<T> x(s.input()), dy(s.output());
    std::vector<T> w(static_cast<std::size_t>(s.k * L)), b(static_cast<std::size_t>(s.k));
    if (data == Data::small_integers) {
        support::fill_small_integers(x, p.seed);
        support::fill_small_integers(dy, p.seed + 1);
        support::fill_small_integers(w.data(), s.k * L, p.seed + 2);
        support::fill_small_integers(b.data(), s.k, p.seed + 3);
    } else {
        support::fill_uniform(x.data(), x.size(), p.seed);
        support::fill_uniform(dy.data(), dy.size(), p.seed + 1);
        support::fill_uniform(w.data(), s.k * L, p.seed + 2);
        support::fill_uniform(b.data(), s.k, p.seed + 3);
    }
    const bool exact = data == Data::small_integers;
    const double tol_fwd = exact ? 0.0 : support::reduction_tolerance<T>(L + 1);
    const double tol_dx = exact ? 0.0 : support::reduction_tolerance<T>(s.k * s.y.kernel * s.x.kernel);
    const double tol_dw = exact ? 0.0 : support::reduction_tolerance<T>(M);

    std::vector<T> ws(
        static_cast<std::size_t>(im2col_workspace_elements<T>(s, std::max(block_rows, free_block_rows), threads)));
    const std::string where = p.to_string() + " block_rows=" + std::to_string(block_rows) +
                              " free_block_rows=" + std::to_string(free_block_rows) + " threads=" + std::to_string(threads);

    Volume<T> y(s.output()), y_ref(s.output());
    im2col_conv_forward(s, x.data(), w.data(), b.data(), y.data(), ws.data(), block_rows, threads);
    direct_conv_forward(s, x.data(), w.data(), b.data(), y_ref.data());
    EXPECT_TRUE(all_near(y.data(), y_ref.data(), s.output(), tol_fwd)) << "forward " << where;

    Volume<T> dx(s.input()), dx_ref(s.input());
    dx.fill(T(123));  // must be overwritten
    std::vector<T> dw(w.size(), T(77)), db(b.size(), T(77)), dw_ref(w.size()), db_ref(b.size());
    im2col_conv_backward(s, x.data(), dy.data(), w.data(), dx.data(), dw.data(), db.data(), ws.data(), block_rows,
                         threads, false, static_cast<const T*>(nullptr), free_block_rows);
    direct_conv_backward_data(s, dy.data(), w.data(), dx_ref.data());
    direct_conv_backward_weights(s, x.data(), dy.data(), dw_ref.data(), db_ref.data());
    EXPECT_TRUE(all_near(dx.data(), dx_ref.data(), s.input(), tol_dx)) << "dX " << where;
    const Shape wdims{s.k, s.y.kernel, s.x.kernel, s.d1};
    EXPECT_TRUE(all_near(dw.data(), dw_ref.data(), wdims, tol_dw, "k,ky,kx,d")) << "dW " << where;
    EXPECT_TRUE(all_near(db.data(), db_ref.data(), Shape{1, 1, 1, s.k}, tol_dw, "-,-,-,k")) << "db " << where;

    // Each output can be skipped: dx only, weights only.
    std::vector<T> dw_only(w.size());
    im2col_conv_backward(s, x.data(), dy.data(), w.data(), static_cast<T*>(nullptr), dw_only.data(),
                         static_cast<T*>(nullptr), ws.data(), block_rows, threads);
    EXPECT_TRUE(all_near(dw_only.data(), dw_ref.data(), wdims, tol_dw, "k,ky,kx,d")) << "dW only " << where;
    Volume<T> dx_only(s.input());
    im2col_conv_backward(s, x.data(), dy.data(), w.data(), dx_only.data(), static_cast<T*>(nullptr),
                         static_cast<T*>(nullptr), ws.data(), block_rows, threads);
    EXPECT_TRUE(all_near(dx_only.data(), dx_ref.data(), s.input(), tol_dx)) << "dX only " << where;
    const auto [dw_fused, db_fused] = weight_and_bias_gradients(s, x.data(), dy.data(), ws.data(), block_rows, threads, false);
    EXPECT_TRUE(all_near(dw_fused.data(), dw_ref.data(), wdims, tol_dw, "k,ky,kx,d")) << "dW with db " << where;
    EXPECT_TRUE(all_near(db_fused.data(), db_ref.data(), Shape{1, 1, 1, s.k}, tol_dw, "-,-,-,k")) << "db with dW " << where;
}

template <typename T>
void sweep(Data data, int problems, std::uint64_t first_seed) {
    for (int i = 0; i < problems; ++i) {
        const std::uint64_t seed = first_seed + static_cast<std::uint64_t>(i);
        const auto p = support::draw_problem(seed);
        // Block sizes from a single row to the whole batch, on 1 to 3 threads; with threads,
        // blocks below the two-colour minimum must fall back to a serial dX.
        std::mt19937_64 gen(seed);
        const index_t M = p.shape.output_positions();
        const int threads = static_cast<int>(seed % 3) + 1;
        const index_t block = seed % 2 == 0 ? im2col_block_rows(p.shape, 1, sizeof(T), threads)  // the minimum
                                            : std::uniform_int_distribution<index_t>(1, M)(gen);
        compare_with_reference<T>(p, data, block, threads);
        if (::testing::Test::HasFailure()) return;  // report the first failing problem only
    }
}

}  // namespace

TEST(Im2colConvSweep, FloatSmallIntegersExact) { sweep<float>(Data::small_integers, support::sweep_size(300), 1); }
TEST(Im2colConvSweep, DoubleSmallIntegersExact) { sweep<double>(Data::small_integers, support::sweep_size(300), 1); }
TEST(Im2colConvSweep, FloatUniformReals) { sweep<float>(Data::uniform_reals, support::sweep_size(100), 5000); }
TEST(Im2colConvSweep, DoubleUniformReals) { sweep<double>(Data::uniform_reals, support::sweep_size(100), 5000); }

// 1x1 kernels with stride or padding go through im2col too (gathering or padding rows).
TEST(Im2colConv, OneByOneKernelsWithStrideOrPadding) {
    const Shape in{2, 7, 5, 5};
    const ConvParams cases[] = {
        ConvParams(5, 4, 1, 1, 0),  // im2col is the identity here, and still correct
        ConvParams(5, 4, 1, 2, 0),
        ConvParams(5, 4, 1, HW(1, 2), 0),
        ConvParams(5, 4, 1, 1, 1),
        ConvParams(5, 4, 1, 1, HW(1, 0)),
        ConvParams(5, 4, HW(1, 3), 1, HW(0, 1)),
        ConvParams(5, 4, 1, 3, 0).with_fit(FitPolicy::crop),
        ConvParams(5, 4, 1, 3, 0).with_fit(FitPolicy::pad_to_fit),
    };
    std::uint64_t seed = 1;
    for (const auto& params : cases) {
        support::ConvProblem p{params, in, resolve(params, in), seed++};
        compare_with_reference<float>(p, Data::small_integers, 5);
        compare_with_reference<double>(p, Data::uniform_reals, 1000);
    }
}

// Many filters (several depth blocks in backward-data, several NR panels) and long patches
// (several depth blocks forward, several column chunks in dW), on 1 and 2 threads.
TEST(Im2colConv, LargeFilterCountsAndPatchLengths) {
    const Shape in{2, 9, 7, 70};
    const ConvParams cases[] = {ConvParams(70, 300, 3, 1, 1), ConvParams(70, 40, 3, 2, 1), ConvParams(70, 600, 1, 1, 0)};
    std::uint64_t seed = 1;
    // Few positions and many filters: two threads split the filters forward.
    EXPECT_TRUE(forward_splits_filters<float>(resolve(cases[0], in), 2));
    EXPECT_FALSE(forward_splits_filters<float>(resolve(cases[0], in), 1));
    EXPECT_FALSE(forward_splits_filters<float>(resolve(ConvParams(70, 40, 3, 1, 1), Shape{8, 30, 30, 70}), 2));
    for (const auto& params : cases)
        for (int threads : {1, 2}) {
            const ConvShape s = resolve(params, in);
            support::ConvProblem p{params, in, s, seed++};
            compare_with_reference<float>(p, Data::small_integers, im2col_block_rows(s, 4096, sizeof(float), threads), threads);
            compare_with_reference<double>(p, Data::uniform_reals, im2col_block_rows(s, 1 << 20, sizeof(double), threads),
                                           threads);
        }
}

// Patch rows a multiple of 2 KiB apart (512 channels in float) share L1d sets: the forward
// copies them at a padded stride before multiplying. Several depth blocks, 1 and 2 threads.
TEST(Im2colConv, PatchRowsThatShareL1SetsAreRestrided) {
    const Shape in{2, 5, 6, 512};
    const ConvParams cases[] = {ConvParams(512, 40, 1), ConvParams(512, 24, 3, 1, 1)};
    std::uint64_t seed = 11;
    for (const auto& params : cases)
        for (int threads : {1, 2}) {
            const ConvShape s = resolve(params, in);
            EXPECT_TRUE(rows_share_l1_sets(s.patch_length() * static_cast<index_t>(sizeof(float))));
            support::ConvProblem p{params, in, s, seed++};
            compare_with_reference<float>(p, Data::small_integers, im2col_block_rows(s, 1 << 16, sizeof(float), threads),
                                          threads);
            compare_with_reference<double>(p, Data::uniform_reals, im2col_block_rows(s, 1 << 17, sizeof(double), threads),
                                           threads);
        }
    EXPECT_FALSE(rows_share_l1_sets(576 * 4));  // VGG's 3x3 over 64 channels
    EXPECT_TRUE(rows_share_l1_sets(1024 * 4));
}

// A GEMM's rows are cut into blocks of whole tiles of the least-padding height, at most
// kGemmRowBlock rows (or one tile), the tiles split evenly: blocks differ by at most one tile.
TEST(Im2colConv, RowBlocksAreEvenWholeTiles) {
    for (index_t rows = 1; rows <= 2000; ++rows) {
        const auto b = kernels::detail::row_blocking<float>(rows);
        EXPECT_EQ(b.mr, best_tile_rows<float>(rows)) << rows;
        EXPECT_EQ(b.block % b.mr, 0) << rows;
        EXPECT_LE(b.block, std::max<index_t>(kGemmRowBlock, b.mr)) << rows;
        const index_t tiles = (rows + b.mr - 1) / b.mr, per_block = b.block / b.mr;
        const index_t blocks = (tiles + per_block - 1) / per_block;
        EXPECT_LT(blocks * per_block - tiles, blocks) << rows;  // the last block at most one tile short
        EXPECT_EQ(blocks, (tiles + std::max<index_t>(1, kGemmRowBlock / b.mr) - 1) / std::max<index_t>(1, kGemmRowBlock / b.mr))
            << rows;  // no more blocks than the row limit needs
    }
#if defined(__AVX512F__)
    const auto resnet = kernels::detail::row_blocking<float>(196);  // ResNet's 1x1 over 14 x 14
    EXPECT_EQ(resnet.mr, 14);
    EXPECT_EQ(resnet.block, 70);  // 14 tiles, at most 6 (84 rows) a block: 5 + 5 + 4
#endif
}

// For 1x1, stride 1, no padding the kernels can read x as the patch matrix and write dx as dP.
TEST(Im2colConv, SkippingIm2colOnTheIdentity) {
    std::mt19937_64 gen(5);
    auto uni = [&](index_t hi) { return std::uniform_int_distribution<index_t>(1, hi)(gen); };
    for (int trial = 0; trial < 60; ++trial) {
        const Shape in{uni(4), uni(20), uni(20), uni(40)};
        const ConvShape s = resolve(ConvParams(in.d, uni(70), 1), in);
        const int threads = trial % 3 + 1;
        const index_t block = uni(s.output_positions());
        const index_t L = s.patch_length();
        Volume<float> x(in), y(s.output()), y_ref(s.output()), dy(s.output()), dx(in), dx_ref(in);
        std::vector<float> w(static_cast<std::size_t>(L * s.k)), b(static_cast<std::size_t>(s.k)), dw(w.size()),
            db(b.size()), dw_ref(w.size()), db_ref(b.size());
        support::fill_small_integers(x, static_cast<std::uint64_t>(trial));
        support::fill_small_integers(dy, static_cast<std::uint64_t>(trial) + 1);
        support::fill_small_integers(w.data(), L * s.k, static_cast<std::uint64_t>(trial) + 2);
        support::fill_small_integers(b.data(), s.k, static_cast<std::uint64_t>(trial) + 3);
        std::vector<float> ws(static_cast<std::size_t>(im2col_workspace_elements<float>(s, block, threads, true)));
        im2col_conv_forward(s, x.data(), w.data(), b.data(), y.data(), ws.data(), block, threads, true);
        im2col_conv_backward(s, x.data(), dy.data(), w.data(), dx.data(), dw.data(), db.data(), ws.data(), block, threads, true);
        direct_conv_forward(s, x.data(), w.data(), b.data(), y_ref.data());
        direct_conv_backward_data(s, dy.data(), w.data(), dx_ref.data());
        direct_conv_backward_weights(s, x.data(), dy.data(), dw_ref.data(), db_ref.data());
        const std::string where = s.to_string() + " block " + std::to_string(block) + " threads " + std::to_string(threads);
        ASSERT_TRUE(all_near(y.data(), y_ref.data(), s.output(), 0.0)) << where;
        ASSERT_TRUE(all_near(dx.data(), dx_ref.data(), in, 0.0)) << where;
        ASSERT_EQ(dw, dw_ref) << where;
        ASSERT_EQ(db, db_ref) << where;
        const auto [dw_fused, db_fused] = weight_and_bias_gradients(s, x.data(), dy.data(), ws.data(), block, threads, true);
        ASSERT_EQ(dw_fused, dw_ref) << where;
        ASSERT_EQ(db_fused, db_ref) << where;
    }
    // Skipping im2col anywhere else is refused.
    const ConvShape strided = resolve(ConvParams(4, 4, 1, 2, 0), Shape{1, 5, 5, 4});
    std::vector<float> x(100), w(16), y(36), ws(static_cast<std::size_t>(im2col_workspace_elements<float>(strided, 9, 1, true)));
    EXPECT_THROW(im2col_conv_forward(strided, x.data(), w.data(), static_cast<const float*>(nullptr), y.data(), ws.data(), 9, 1, true),
                 std::invalid_argument);
}

// dW larger than kPrivateDwBytes is shared between the threads (split by patch columns); smaller
// ones are accumulated per thread. Both on 2 and 3 threads.
TEST(Im2colConv, SharedAndPrivateWeightGradients) {
    // Split by columns: a large dW, and a small one with many patch columns; private: a small dW
    // with few (8 x 9 = 72 columns: 3 panels).
    for (const ConvParams& params : {ConvParams(128, 512, 3, 1, 1), ConvParams(128, 16, 3, 1, 1), ConvParams(8, 16, 3, 1, 1)}) {
        const Shape in{2, 5, 4, params.in_depth};
        const ConvShape s = resolve(params, in);
        EXPECT_EQ(private_dw<float>(s, 2), params.in_depth == 8) << s.to_string();
        EXPECT_FALSE(private_dw<float>(s, 1));
        for (int threads : {2, 3}) {
            support::ConvProblem p{params, in, s, static_cast<std::uint64_t>(threads)};
            compare_with_reference<float>(p, Data::small_integers, im2col_block_rows(s, 4096, sizeof(float), threads), threads);
        }
    }
}

// A dW that fits L2 goes private on many positions even with many columns; on few positions, or
// when larger, the threads split its columns.
TEST(Im2colConv, PrivateWeightGradientsForManyPositions) {
    const ConvShape many = resolve(ConvParams(32, 8, 5, 1, 2), Shape{4, 16, 16, 32});  // 25 panels, 1024 positions
    const ConvShape few = resolve(ConvParams(32, 8, 5, 1, 2), Shape{1, 16, 16, 32});
    // 2 MiB (kPrivateDwBytes): more than an L2 of up to 8 MiB holds as private_dw_cached_bytes.
    const ConvShape large = resolve(ConvParams(1024, 512, 1), Shape{8, 14, 14, 1024});
    EXPECT_TRUE(private_dw<float>(many, 2));
    EXPECT_FALSE(private_dw<float>(few, 2));
    EXPECT_FALSE(private_dw<float>(large, 2));
    EXPECT_FALSE(private_dw<float>(many, 1));
    support::ConvProblem p{ConvParams(32, 8, 5, 1, 2), Shape{4, 16, 16, 32}, many, 7};
    compare_with_reference<float>(p, Data::small_integers, im2col_block_rows(many, 65536, sizeof(float), 2), 2);
}

TEST(Im2colConv, BlockRowsRespectTheBudget) {
    const ConvShape s = resolve(ConvParams(512, 512, 3, 1, 1), Shape{8, 14, 14, 512});
    const index_t rows = im2col_block_rows(s, index_t{2} << 20, sizeof(float));
    EXPECT_EQ(rows, (index_t{2} << 20) / (4608 * 4));
    EXPECT_LE(rows * s.patch_length() * 4, index_t{2} << 20);
    // Workspace: the packed weights + per thread one block of patch rows and GEMM packing space
    // (A's edge panel and a B block of half of L2: at most 1 MiB or L2), so the per-thread part
    // stays near the budget.
    const index_t ws = im2col_workspace_elements<float>(s, rows, 2), packed = packed_weight_elements<float>(s);
    EXPECT_EQ(packed, 4608 * 512);
    EXPECT_GE(ws, packed + 2 * rows * 4608);
    EXPECT_LE((ws - packed) * 4, 2 * ((index_t{2} << 20) + std::max(index_t{1} << 20, this_cpu().l2_bytes)));
    // Always at least one row, at most all of them.
    EXPECT_EQ(im2col_block_rows(s, 1, sizeof(float)), 1);
    EXPECT_EQ(im2col_block_rows(s, index_t{1} << 40, sizeof(float)), s.output_positions());
}

// Forward blocks: whole MR panels within the budget, spread evenly over the threads.
TEST(Im2colConv, ForwardBlockRowsAreWholePanelsWithinTheBudget) {
    constexpr index_t MR = GemmTile<float>::MR;
    const ConvShape small = resolve(ConvParams(512, 512, 3, 1, 1), Shape{1, 14, 14, 512});  // 196 positions
    const index_t budget = index_t{2} << 20, budget_rows = budget / (4608 * 4);              // 113
    const index_t one = im2col_forward_block_rows<float>(small, budget, 1);
    EXPECT_EQ(one, budget_rows / MR * MR);
    // Two threads: two blocks of whole panels (with MR = 12, 17 panels: 9 + 8), not four blocks of 49.
    const index_t two = im2col_forward_block_rows<float>(small, budget, 2);
    EXPECT_EQ(two % MR, 0);
    EXPECT_LE(two, budget_rows);
    EXPECT_EQ((small.output_positions() + two - 1) / two, 2);
    const index_t panels = (small.output_positions() + MR - 1) / MR;
    EXPECT_EQ(two, (panels + 1) / 2 * MR);
    // A budget below one panel still gives at least one row; a huge one at most all of them.
    EXPECT_EQ(im2col_forward_block_rows<float>(small, 1, 2), 1);
    EXPECT_EQ(im2col_forward_block_rows<float>(small, 5 * 4608 * 4, 1), 5);
    EXPECT_EQ(im2col_forward_block_rows<float>(small, index_t{1} << 40, 1), small.output_positions());
}

// dX accumulated per thread (small inputs, blocks of any size) and in two colours (inputs above
// Tuning::private_dx_bytes, this CPU's L2), each against the reference on 2 threads.
TEST(Im2colConv, PrivateAndTwoColourBackwardData) {
    const ConvParams params(40, 8, 3, 1, 1);
    const index_t large_n = tuning<float>().private_dx_bytes / (64 * 60 * 40 * 4) + 1;
    const Shape small_in{1, 12, 10, 40}, large_in{large_n, 64, 60, 40};
    const ConvShape small = resolve(params, small_in), large = resolve(params, large_in);
    EXPECT_TRUE(private_dx<float>(small, 2, false));
    EXPECT_FALSE(private_dx<float>(small, 1, false));
    EXPECT_FALSE(private_dx<float>(small, 2, true));
    EXPECT_FALSE(private_dx<float>(large, 2, false)) << "input of " << large.input().size() * 4 << " bytes";
    std::uint64_t seed = 11;
    for (const ConvShape& s : {small, large}) {
        const support::ConvProblem p{params, s.input(), s, seed++};
        const index_t colour_rows = im2col_block_rows(s, 40000, sizeof(float), 2);
        compare_with_reference<float>(p, Data::small_integers, colour_rows, 2);
        // Free blocks of one panel, smaller than the colouring minimum (3 output rows).
        compare_with_reference<float>(p, Data::small_integers, colour_rows, 2, GemmTile<float>::MR);
    }
}

// The forward GEMM skips kernel rows that fall in the top or bottom padding for a whole panel.
TEST(Im2colConv, LivePatchColumnsSkipTopAndBottomPadding) {
    const ConvShape s = resolve(ConvParams(32, 64, 5, 1, 2), Shape{2, 14, 14, 32});  // MNIST conv2
    const index_t seg = 5 * 32, L = 25 * 32;
    using Range = std::pair<index_t, index_t>;
    EXPECT_EQ(live_patch_columns(s, 0, 12), (Range{2 * seg, L}));        // output row 0: ky 2..4
    EXPECT_EQ(live_patch_columns(s, 12, 12), (Range{1 * seg, L}));       // rows 0 and 1
    EXPECT_EQ(live_patch_columns(s, 14 * 5, 12), (Range{0, L}));         // the middle
    EXPECT_EQ(live_patch_columns(s, 14 * 13, 14), (Range{0, 3 * seg}));  // row 13: ky 0..2
    EXPECT_EQ(live_patch_columns(s, 14 * 13, 20), (Range{0, L}));        // into the next image's row 0
    EXPECT_EQ(live_patch_columns(s, 0, s.output_positions()), (Range{0, L}));
    // A padding wider than the kernel leaves border outputs with nothing but padding.
    const ConvShape wide = resolve(ConvParams(3, 2, 1, 1, 2), Shape{1, 4, 4, 3});
    EXPECT_EQ(live_patch_columns(wide, 0, 8), (Range{0, 0}));
    EXPECT_EQ(live_patch_columns(wide, 8 * 2, 8), (Range{0, 3}));
}
