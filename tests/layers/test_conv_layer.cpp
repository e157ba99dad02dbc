// ConvLayer<T> through the Layer<T> interface: reference agreement, finite differences,
// parameters, errors, and workspace reuse without allocation.
#include "convlayer/layers/conv_layer.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "convlayer/kernels/direct_conv.hpp"
#include "tests/support/allocation_counter.hpp"
#include "tests/support/compare.hpp"
#include "tests/support/conv_problems.hpp"
#include "tests/support/expect_error.hpp"
#include "tests/support/force_algorithm.hpp"
#include "tests/support/gradient_check.hpp"
#include "tests/support/layer_reference.hpp"

using namespace convlayer;
using convlayer::support::all_near;

namespace {
template <typename T>
void randomize(ConvLayer<T>& layer, std::uint64_t seed) {
    support::fill_uniform(layer.weights().data(), layer.weights().size(), seed);
    support::fill_uniform(layer.bias().data(), layer.bias().size(), seed + 1);
}
}  // namespace

template <typename T>
class ConvLayerTest : public ::testing::Test {};
using Scalars = ::testing::Types<float, double>;
TYPED_TEST_SUITE(ConvLayerTest, Scalars);

TYPED_TEST(ConvLayerTest, ForwardAndBackwardMatchTheReference) {
    using T = TypeParam;
    for (std::uint64_t seed = 1; seed <= 40; ++seed) {
        const auto p = support::draw_problem(seed, {3, 20, 8, 8, 5, 3, 2, 2});
        ConvLayer<T> layer(p.params);
        layer.set_workspace_budget_bytes(1 + static_cast<index_t>(seed * 97 % 4000));  // tiny blocks too
        support::fill_small_integers(layer.weights().data(), layer.weights().size(), seed);
        support::fill_small_integers(layer.bias().data(), layer.bias().size(), seed + 1);
        Volume<T> x(p.input), dy(p.shape.output());
        support::fill_small_integers(x, seed + 2);
        support::fill_small_integers(dy, seed + 3);

        Volume<T> y = layer.forward(x);
        Volume<T> y_ref(p.shape.output());
        kernels::direct_conv_forward(p.shape, x.data(), layer.weights().data(), layer.bias().data(), y_ref.data());
        ASSERT_TRUE(all_near(y.data(), y_ref.data(), y.shape(), 0.0)) << p.to_string();

        Volume<T> dx;
        layer.backward(x, dy, &dx);
        Volume<T> dx_ref(p.input);
        std::vector<T> dw_ref(static_cast<std::size_t>(layer.weights().size())), db_ref(static_cast<std::size_t>(p.params.filters));
        kernels::direct_conv_backward_data(p.shape, dy.data(), layer.weights().data(), dx_ref.data());
        kernels::direct_conv_backward_weights(p.shape, x.data(), dy.data(), dw_ref.data(), db_ref.data());
        ASSERT_TRUE(all_near(dx.data(), dx_ref.data(), p.input, 0.0)) << p.to_string();
        const Shape wdims{p.params.filters, p.params.kernel.h, p.params.kernel.w, p.params.in_depth};
        ASSERT_TRUE(all_near(layer.weight_gradient().data(), dw_ref.data(), wdims, 0.0, "k,ky,kx,d")) << p.to_string();
        ASSERT_TRUE(all_near(layer.bias_gradient().data(), db_ref.data(), Shape{1, 1, 1, p.params.filters}, 0.0)) << p.to_string();
    }
}

TEST(ConvLayerGradients, FiniteDifferencesInDouble) {
    const ConvParams cases[] = {
        ConvParams(3, 4, 3, 1, 1),
        ConvParams(2, 3, HW(3, 2), HW(2, 1), HW(0, 1)),
        ConvParams(3, 2, 3, 2, 1).with_dilation(2),
        ConvParams(4, 5, 1, 1, 0),
        ConvParams(2, 3, 2, 2, 0).with_fit(FitPolicy::crop),        // 9x7 input: 3.5 x 2.5
        ConvParams(2, 3, 2, 2, 0).with_fit(FitPolicy::pad_to_fit),
    };
    std::uint64_t seed = 1;
    for (const auto& params : cases) {
        ConvLayer<double> layer(params);
        randomize(layer, seed);
        Volume<double> x(2, 9, 7, params.in_depth);
        x.fill_random(seed++);
        support::GradientCheckResult r;
        EXPECT_TRUE(support::check_gradients(layer, x, {}, &r)) << layer.describe();
        EXPECT_EQ(r.skipped_kinks, 0) << "a conv layer is linear: no kinks";
    }
}

TEST(ConvLayer, ParametersAreWeightsThenBiasWithOhwiDims) {
    ConvLayer<float> layer(3, 96, 11, 4, 0);
    EXPECT_EQ(layer.parameter_count(), 34944);
    auto params = layer.parameters();
    ASSERT_EQ(params.size(), 2u);
    EXPECT_EQ(params[0].name, "weights");
    EXPECT_EQ(params[0].dims, (std::vector<index_t>{96, 11, 11, 3}));
    EXPECT_EQ(params[1].name, "bias");
    EXPECT_EQ(params[0].size + params[1].size, layer.parameter_count());
    EXPECT_EQ(params[0].value, layer.weights().data());
    EXPECT_EQ(layer.weights().rows(), 96);
    EXPECT_EQ(layer.weights().cols(), 363);
    // OHWI: weight(k, ky, kx, d) is row k, column (ky*Fw + kx)*D1 + d, at the offset the
    // parameter's dims {K, Fh, Fw, D1} give.
    layer.weight(5, 2, 7, 1) = 3.0f;
    EXPECT_EQ(layer.weights()(5, ((2 * 11) + 7) * 3 + 1), 3.0f);
    EXPECT_EQ(params[0].value[((5 * 11 + 2) * 11 + 7) * 3 + 1], 3.0f);
    EXPECT_EQ(layer.output_shape(Shape{1, 227, 227, 3}), (Shape{1, 55, 55, 96}));
    EXPECT_EQ(layer.describe(), "ConvLayer 96 filters 11x11x3, stride 4x4, pad 0x0");
}

TEST(ConvLayer, AveragingKernelGivesTheLocalMean) {
    ConvLayer<double> layer(1, 1, 3);
    layer.weights().setConstant(1.0 / 9.0);
    Volume<double> x(1, 5, 5, 1);
    x.fill_random(4);
    const Volume<double> y = layer.forward(x);
    ASSERT_EQ(y.shape(), (Shape{1, 3, 3, 1}));
    for (index_t oy = 0; oy < 3; ++oy)
        for (index_t ox = 0; ox < 3; ++ox)
            EXPECT_NEAR(y(0, oy, ox, 0), x.depth_slice(0, 0).block(oy, ox, 3, 3).mean(), 1e-15);
}

TEST(ConvLayerErrors, BadHyperparametersAtConstruction) {
    EXPECT_THROW(ConvLayer<float>(0, 4, 3), std::invalid_argument);
    EXPECT_THROW(ConvLayer<float>(3, 0, 3), std::invalid_argument);
    EXPECT_THROW(ConvLayer<float>(3, 4, 0), std::invalid_argument);
    EXPECT_THROW(ConvLayer<float>(3, 4, 3, 0), std::invalid_argument);
    EXPECT_THROW(ConvLayer<float>(3, 4, 3, 1, -1), std::invalid_argument);
    EXPECT_THROW(ConvLayer<float>(ConvParams(3, 4, 3).with_dilation(0)), std::invalid_argument);
    EXPECT_THROW(ConvLayer<float>(index_t{1} << 40, index_t{1} << 30, 3), std::length_error);
}

TEST(ConvLayerErrors, BadInputsAtForwardAndBackward) {
    ConvLayer<float> layer(3, 4, 3, 2, 0);
    Volume<float> x(1, 10, 9, 3);  // height 10: (10 - 3)/2 + 1 = 4.5
    try {
        (void)layer.forward(x);
        FAIL();
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("4.5"), std::string::npos) << e.what();
    }
    Volume<float> wrong_depth(1, 9, 9, 4), y;
    EXPECT_THROW(layer.forward(wrong_depth, y), std::invalid_argument);
    Volume<float> small(1, 2, 2, 3);
    EXPECT_THROW(layer.forward(small, y), std::invalid_argument);

    Volume<float> ok(1, 9, 9, 3), dx;
    Volume<float> bad_dy(1, 4, 4, 5);  // output is 4x4x4
    try {
        layer.backward(ok, bad_dy, &dx);
        FAIL();
    } catch (const std::invalid_argument& e) {
        const std::string m = e.what();
        EXPECT_NE(m.find("D=5"), std::string::npos) << m;
        EXPECT_NE(m.find("D=4"), std::string::npos) << m;
    }
    EXPECT_THROW(layer.forward(ok, ok), std::invalid_argument);  // aliasing
}

TEST(ConvLayer, CropAndPadToFitPolicies) {
    Volume<double> x(1, 10, 10, 2);
    x.fill_random(1);
    ConvLayer<double> crop(ConvParams(2, 3, 3, 2, 0).with_fit(FitPolicy::crop));
    ConvLayer<double> pad(ConvParams(2, 3, 3, 2, 0).with_fit(FitPolicy::pad_to_fit));
    randomize(crop, 3);
    randomize(pad, 3);
    const Volume<double> yc = crop.forward(x), yp = pad.forward(x);
    EXPECT_EQ(yc.shape(), (Shape{1, 4, 4, 3}));
    EXPECT_EQ(yp.shape(), (Shape{1, 5, 5, 3}));
    // Both agree on the windows they share.
    for (index_t oy = 0; oy < 4; ++oy)
        for (index_t ox = 0; ox < 4; ++ox)
            for (index_t k = 0; k < 3; ++k) EXPECT_NEAR(yc(0, oy, ox, k), yp(0, oy, ox, k), 1e-12);
}

TEST(ConvLayer, WorkspaceIsBoundedAndReusedWithoutAllocation) {
    ConvLayer<float> layer(64, 64, 3, 1, 1);
    layer.set_algorithm(ConvAlgorithm::im2col);  // Winograd's bound is in test_winograd
    randomize(layer, 1);
    Volume<float> x(2, 32, 32, 64), y, dx, dy(2, 32, 32, 64);
    x.fill_random(2);
    dy.fill_random(3);
    layer.forward(x, y);
    layer.backward(x, dy, &dx);
    EXPECT_GT(layer.workspace_bytes(), 0);
    // Packed weights + per thread the patch budget and GEMM packing space (at most 1 MiB or L2).
    const index_t weight_bytes = layer.weights().size() * index_t{sizeof(float)};
    const index_t packing_bytes = std::max(index_t{1} << 20, kernels::this_cpu().l2_bytes);
    EXPECT_LE(layer.workspace_bytes(), weight_bytes + (layer.workspace_budget_bytes() + packing_bytes) * num_threads());
    support::AllocationCounter counter;
    for (int i = 0; i < 3; ++i) {
        layer.forward(x, y);
        layer.backward(x, dy, &dx);
    }
    EXPECT_EQ(counter.count(), 0) << "forward/backward allocated after warm-up";
    // The identity (1x1) case needs no patch buffer.
    ConvLayer<float> pointwise(64, 16, 1);
    (void)pointwise.forward(x);
    EXPECT_EQ(pointwise.algorithm(ConvPass::forward), ConvAlgorithm::gemm1x1);
    EXPECT_LT(pointwise.workspace_bytes(), layer.workspace_bytes());
}

TEST(ConvLayerAlgorithms, AutomaticPicksGemm1x1OnlyForF1S1P0) {
    Volume<float> x(1, 9, 9, 8);
    auto algorithm_for = [&](const ConvParams& p) {
        ConvLayer<float> layer(p);
        (void)layer.forward(x);
        return layer.algorithm(ConvPass::forward);
    };
    EXPECT_EQ(algorithm_for(ConvParams(8, 2, 1, 1, 0)), ConvAlgorithm::gemm1x1);
    EXPECT_NE(algorithm_for(ConvParams(8, 2, 1, 2, 0)), ConvAlgorithm::gemm1x1);
    EXPECT_NE(algorithm_for(ConvParams(8, 2, 1, 1, 1)), ConvAlgorithm::gemm1x1);
    EXPECT_NE(algorithm_for(ConvParams(8, 2, 3, 1, 1)), ConvAlgorithm::gemm1x1);
    EXPECT_NE(algorithm_for(ConvParams(8, 2, HW(1, 3), 1, HW(0, 1))), ConvAlgorithm::gemm1x1);
}

TEST(ConvLayerAlgorithms, AutomaticPicksImplicitGemmForFewChannelsOrWholeTiles) {
    auto algorithm_for = [](const ConvParams& p, const Shape& in) {
        ConvLayer<float> layer(p);
        (void)layer.forward(Volume<float>(in));
        return layer.algorithm(ConvPass::forward);
    };
    EXPECT_EQ(algorithm_for(ConvParams(1, 32, 5, 1, 2), {2, 28, 28, 1}), ConvAlgorithm::implicit_gemm);
    EXPECT_EQ(algorithm_for(ConvParams(3, 96, 11, 4, 0), {1, 227, 227, 3}), ConvAlgorithm::implicit_gemm);
    const bool whole_tiles = 14 % kernels::best_tile_rows<float>(14) == 0;  // 14-row tiles (AVX-512)
    EXPECT_EQ(algorithm_for(ConvParams(32, 64, 5, 1, 2), {2, 14, 14, 32}),
              whole_tiles ? ConvAlgorithm::implicit_gemm : ConvAlgorithm::im2col)
        << "14 output columns";
    EXPECT_EQ(algorithm_for(ConvParams(32, 64, 5, 1, 2), {2, 9, 9, 32}), ConvAlgorithm::im2col)
        << "9 output columns: a third of a 12-row tile idle per row";
    EXPECT_EQ(algorithm_for(ConvParams(3, 8, 3, 1, 2).with_dilation(2), {1, 12, 12, 3}), ConvAlgorithm::im2col)
        << "dilated along the width";
}

TEST(ConvLayerAlgorithms, ForcingGemm1x1OnAnotherShapeThrows) {
    ConvLayer<float> layer(4, 2, 3, 1, 1);
    layer.set_algorithm(ConvAlgorithm::gemm1x1);
    Volume<float> x(1, 5, 5, 4), y;
    try {
        layer.forward(x, y);
        FAIL();
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("n1_h5w5d4_k2_f3x3"), std::string::npos) << e.what();
    }
}

template <typename T>
class ConvLayerEveryAlgorithm : public ::testing::Test {};
TYPED_TEST_SUITE(ConvLayerEveryAlgorithm, Scalars);
TYPED_TEST(ConvLayerEveryAlgorithm, MatchesTheReference) {
    using T = TypeParam;
    for (ConvAlgorithm a : {ConvAlgorithm::automatic, ConvAlgorithm::im2col, ConvAlgorithm::direct}) {
        for (std::uint64_t seed = 1; seed <= 30; ++seed) {
            const auto p = support::draw_problem(seed * 31, {3, 16, 6, 6, 5, 3, 2, 2});
            ConvLayer<T> layer(p.params);
            layer.set_algorithm(a);
            ASSERT_TRUE(support::matches_reference(layer, p.shape, Sharing::shared, support::Data::small_integers, seed))
                << to_string(a);
            EXPECT_EQ(layer.requested_algorithm(ConvPass::forward), a);
        }
    }
}

// The same layer gives identical results on 1 and 2 threads (exact with small integers).
TEST(ConvLayerThreads, OneAndTwoThreadsAgree) {
    const int saved = num_threads();
    for (const ConvParams& p : {ConvParams(16, 24, 3, 1, 1), ConvParams(8, 16, 5, 2, 2), ConvParams(32, 16, 1),
                                ConvParams(8, 8, 3, 1, 1).with_dilation(2)}) {
        Volume<float> x(3, 23, 19, p.in_depth), y1, y2, dx1, dx2;
        support::fill_small_integers(x, 1);
        ConvLayer<float> layer(p);
        support::fill_small_integers(layer.weights().data(), layer.weights().size(), 2);
        Volume<float> dy(layer.output_shape(x.shape()));
        support::fill_small_integers(dy, 3);
        set_num_threads(1);
        layer.forward(x, y1);
        layer.backward(x, dy, &dx1);
        const Matrix<float> dw1 = layer.weight_gradient();
        set_num_threads(2);
        layer.forward(x, y2);
        layer.backward(x, dy, &dx2);
        EXPECT_EQ(y1.flat(), y2.flat()) << layer.describe();
        EXPECT_EQ(dx1.flat(), dx2.flat()) << layer.describe();
        EXPECT_EQ(dw1, Matrix<float>(layer.weight_gradient())) << layer.describe();
    }
    set_num_threads(saved);
    EXPECT_THROW(set_num_threads(0), std::invalid_argument);
}

TEST(ConvLayer, BackwardDataAndWeightsSeparately) {
    for (ConvAlgorithm a : {ConvAlgorithm::automatic, ConvAlgorithm::direct}) {
        for (const ConvParams& p : {ConvParams(3, 4, 3, 2, 1), ConvParams(3, 4, 1)}) {
            ConvLayer<double> layer(p);
            layer.set_algorithm(a);
            randomize(layer, 5);
            Volume<double> x(2, 9, 7, 3), dx_both, dx_only;
            x.fill_random(6);
            Volume<double> dy(layer.output_shape(x.shape()));
            dy.fill_random(7);
            layer.backward(x, dy, &dx_both);
            const Matrix<double> dw_both = layer.weight_gradient();
            const Vector<double> db_both = layer.bias_gradient();
            layer.weight_gradient().setZero();
            layer.backward_data(x.shape(), dy, dx_only);
            EXPECT_EQ(dx_only.flat(), dx_both.flat());
            EXPECT_TRUE(layer.weight_gradient().isZero()) << "backward_data must not touch dW";
            layer.backward_weights(x, dy);
            EXPECT_EQ(Matrix<double>(layer.weight_gradient()), dw_both);
            EXPECT_EQ(Vector<double>(layer.bias_gradient()), db_both);
            Volume<double> wrong(1, 1, 1, 4);
            EXPECT_THROW(layer.backward_data(x.shape(), wrong, dx_only), std::invalid_argument);
            EXPECT_THROW(layer.backward_weights(x, wrong), std::invalid_argument);
        }
    }
}

// The implicit GEMM reads patches from padded input rows: every geometry with dilation 1 and
// padding <= F along the width (any stride, fit, height dilation), tiny and large row blocks,
// 1-2 threads.
TYPED_TEST(ConvLayerEveryAlgorithm, ImplicitGemmMatchesTheReference) {
    using T = TypeParam;
    const int saved = num_threads();
    int ran = 0;
    for (std::uint64_t seed = 1; seed <= 150; ++seed) {
        auto p = support::draw_problem(seed * 17 + 3, {3, 24, 8, 20, 7, 4, 3, 3});
        if (!kernels::implicit_gemm_applies(p.shape)) continue;  // dilated along x, or padding wider than F
        set_num_threads(1 + static_cast<int>(seed % 2));
        ConvLayer<T> layer(p.params);
        support::force_where_it_applies(layer, ConvAlgorithm::implicit_gemm, p.shape.input());
        layer.set_workspace_budget_bytes(1 + static_cast<index_t>(seed * 1009 % 20000));
        ASSERT_TRUE(support::matches_reference(layer, p.shape, Sharing::shared, support::Data::small_integers, seed))
            << p.to_string();
        EXPECT_EQ(layer.algorithm(ConvPass::forward), ConvAlgorithm::implicit_gemm);
        ++ran;
    }
    set_num_threads(saved);
    EXPECT_GT(ran, 30);
    ConvLayer<T> dilated(ConvParams(2, 2, 3, 1, 2).with_dilation(HW(1, 2)));
    dilated.set_algorithm(ConvAlgorithm::implicit_gemm);
    EXPECT_THROW(dilated.forward(Volume<T>(1, 8, 8, 2)), std::invalid_argument);
    ConvLayer<T> wide_pad(ConvParams(2, 2, 1, 1, 2));
    wide_pad.set_algorithm(ConvAlgorithm::implicit_gemm);
    EXPECT_THROW(wide_pad.forward(Volume<T>(1, 8, 8, 2)), std::invalid_argument);
}

// The implicit forward tiles each output row with best_tile_rows() columns (8, 12 or 14 on
// AVX-512): widths that fill whole tiles of each height or end in a partial tile, and, with more
// than one panel of filters and few positions, the threads splitting the filters.
TYPED_TEST(ConvLayerEveryAlgorithm, ImplicitGemmEveryTileHeight) {
    using T = TypeParam;
    const int saved = num_threads();
    std::uint64_t seed = 0;
    for (index_t width : {1, 5, 8, 12, 13, 14, 16, 24, 28, 30})
        for (index_t filters : {7, 70})
            for (int threads : {1, 2}) {
                set_num_threads(threads);
                const ConvParams params = ConvParams(3, filters, 3, 1, 1);
                const ConvShape shape = resolve(params, Shape{1, 4, width, 3});
                ConvLayer<T> layer(params);
                layer.set_algorithm(ConvAlgorithm::implicit_gemm);
                ASSERT_TRUE(support::matches_reference(layer, shape, Sharing::shared, support::Data::small_integers,
                                                       ++seed))
                    << shape.to_string() << " on " << threads << " threads, tiles of "
                    << kernels::best_tile_rows<T>(width);
            }
    set_num_threads(saved);
    const ConvShape few = resolve(ConvParams(3, 70, 3, 1, 1), Shape{1, 4, 14, 3});
    EXPECT_TRUE(kernels::forward_splits_filters<T>(few, 2)) << "the split is exercised";
}

// Under implicit_gemm, backward-data runs as forward convs over dY, one per stride phase
// (kernels/test_implicit_gemm_conv.cpp checks the kernel on every geometry); here through the
// layer, with its packed-weight buffers, at stride 1 (every padding up to F - 1) and 2.
TYPED_TEST(ConvLayerEveryAlgorithm, ImplicitGemmBackwardDataThroughTheLayer) {
    using T = TypeParam;
    const int saved = num_threads();
    std::uint64_t seed = 100;
    int strided = 0;
    for (index_t stride : {1, 2})
        for (index_t f : {3, 5})
            for (index_t pad = 0; pad < f; ++pad)
                for (int threads : {1, 2}) {
                    set_num_threads(threads);
                    const ConvParams params = ConvParams(32, 40, f, stride, pad).with_fit(FitPolicy::crop);
                    const ConvShape shape = resolve(params, Shape{2, 9, 14, 32});
                    const bool applies = kernels::implicit_gemm_backward_data_applies(shape);
                    ASSERT_TRUE(applies || stride > 1) << shape.to_string();
                    if (!applies) continue;
                    strided += stride > 1;
                    for (bool cached : {false, true}) {
                        ConvLayer<T> layer(params);
                        layer.set_algorithm(ConvAlgorithm::implicit_gemm);
                        layer.set_cache_packed_weights(cached);
                        ASSERT_TRUE(support::matches_reference(layer, shape, Sharing::shared,
                                                               support::Data::small_integers, ++seed))
                            << shape.to_string() << " on " << threads << " threads" << (cached ? ", cached" : "");
                        // Warmed up: neither pass allocates (the packed copies of both passes reuse
                        // their buffers, though their sizes differ).
                        Volume<T> x(shape.input()), y, dy(shape.output()), dx;
                        layer.forward(x, y);
                        layer.backward(x, dy, &dx);
                        support::AllocationCounter counter;
                        layer.forward(x, y);
                        layer.backward(x, dy, &dx);
                        EXPECT_EQ(counter.count(), 0) << shape.to_string() << (cached ? ", cached" : "");
                    }
                }
    set_num_threads(saved);
    EXPECT_GE(strided, 8);
}

// set_autotune: the fastest of the algorithms that can run the shape, timed once per shape (and
// thread count), remembered; results as correct as any algorithm's; gradients untouched by the
// timing; no allocation once warmed up; off by default and when an algorithm is forced. A 5x5
// kernel: every candidate (im2col, implicit GEMM) is exact on small integers, so the check against
// the reference holds whichever wins the timing (a 3x3 one let Winograd win on a busy machine, and
// its results differ in the last bits).
TEST(ConvLayerAutotune, TimesOncePerShapeAndPicksARunnableAlgorithm) {
    const ConvParams params(16, 24, 5, 1, 2);
    ConvLayer<float> layer(params);
    EXPECT_FALSE(layer.autotune());
    (void)layer.forward(Volume<float>(1, 9, 9, 16));
    EXPECT_EQ(layer.autotuned_shapes(), 0) << "off by default";
    layer.set_autotune(true);
    EXPECT_TRUE(layer.autotune());
    std::uint64_t seed = 500;
    for (const Shape& in : {Shape{2, 12, 10, 16}, Shape{1, 7, 7, 16}, Shape{2, 12, 10, 16}}) {
        const ConvShape shape = layer.conv_shape(in);
        ASSERT_TRUE(support::matches_reference(layer, shape, Sharing::shared, support::Data::small_integers, ++seed))
            << shape.to_string();
        for (ConvPass pass : kAllConvPasses) {
            EXPECT_NE(layer.algorithm(pass), ConvAlgorithm::direct) << to_string(pass);
            EXPECT_NE(layer.algorithm(pass), ConvAlgorithm::automatic) << to_string(pass);
            EXPECT_TRUE(algorithm_applies(layer.algorithm(pass), pass, shape)) << to_string(pass);
        }
    }
    EXPECT_EQ(layer.autotuned_shapes(), 2) << "the first shape's choice was remembered";

    // The timing runs on scratch data: the layer's gradients are those of the caller's pass.
    Volume<float> x(2, 12, 10, 16), dy(layer.output_shape(x.shape())), dx;
    x.fill_random(3);
    dy.fill_random(4);
    ConvLayer<float> tuned(params), plain(params);
    support::fill_uniform(tuned.weights().data(), tuned.weights().size(), 5);
    plain.weights() = tuned.weights();
    tuned.set_autotune(true);
    (void)tuned.forward(x);
    (void)plain.forward(x);
    tuned.backward(x, dy, &dx);
    plain.backward(x, dy, &dx);
    EXPECT_TRUE(tuned.weight_gradient().isApprox(plain.weight_gradient(), 1e-5f));
    EXPECT_TRUE(tuned.bias_gradient().isApprox(plain.bias_gradient(), 1e-5f));

    // Warmed up, no allocation; a 1x1 identity shape can pick gemm1x1.
    ConvLayer<float> pointwise(16, 8, 1);
    pointwise.set_autotune(true);
    Volume<float> px(2, 6, 6, 16), py, pdy(2, 6, 6, 8), pdx;
    pointwise.forward(px, py);
    pointwise.backward(px, pdy, &pdx);
    support::AllocationCounter counter;
    pointwise.forward(px, py);
    pointwise.backward(px, pdy, &pdx);
    EXPECT_EQ(counter.count(), 0);

    // A forced algorithm is not second-guessed.
    ConvLayer<float> forced(params);
    forced.set_autotune(true);
    forced.set_algorithm(ConvAlgorithm::im2col);
    (void)forced.forward(x);
    EXPECT_EQ(forced.algorithm(ConvPass::forward), ConvAlgorithm::im2col);
    EXPECT_EQ(forced.autotuned_shapes(), 0);
}

// set_cache_packed_weights: every algorithm gives the same numbers as packing per call, reuses
// the packed copy without allocating, and repacks after non-const access to the weights (or
// discard_packed_weights() after a write through an earlier pointer).
TEST(ConvLayerPackedWeightCache, SameResultsAndRepackedAfterWeightChanges) {
    struct Case {
        ConvParams params;
        Shape input;
        ConvAlgorithm algorithm;
    };
    const Case cases[] = {{ConvParams(6, 10, 3, 2, 1), {2, 11, 9, 6}, ConvAlgorithm::im2col},
                          {ConvParams(8, 12, 1), {2, 7, 5, 8}, ConvAlgorithm::gemm1x1},
                          {ConvParams(5, 7, 3, 1, 1), {2, 10, 9, 5}, ConvAlgorithm::winograd},
                          {ConvParams(2, 9, 5, 1, 2), {2, 12, 11, 2}, ConvAlgorithm::implicit_gemm},
                          {ConvParams(3, 4, 3, 1, 1), {1, 6, 6, 3}, ConvAlgorithm::direct}};
    for (const Case& c : cases) {
        ConvLayer<double> cached(c.params), fresh(c.params);
        ASSERT_GT(support::force_where_it_applies(cached, c.algorithm, c.input), 0);
        support::force_where_it_applies(fresh, c.algorithm, c.input);
        cached.set_cache_packed_weights(true);
        EXPECT_TRUE(cached.cache_packed_weights());
        EXPECT_FALSE(fresh.cache_packed_weights());
        randomize(cached, 1);
        randomize(fresh, 1);
        Volume<double> x(c.input), y1, y2, dx1, dx2;
        x.fill_random(2);
        Volume<double> dy(cached.output_shape(c.input));
        dy.fill_random(3);
        auto expect_same = [&](const char* when) {
            cached.forward(x, y1);
            fresh.forward(x, y2);
            EXPECT_EQ(y1.flat(), y2.flat()) << to_string(c.algorithm) << " " << when;
            cached.backward(x, dy, &dx1);
            fresh.backward(x, dy, &dx2);
            EXPECT_EQ(dx1.flat(), dx2.flat()) << to_string(c.algorithm) << " " << when;
            EXPECT_EQ(Matrix<double>(cached.weight_gradient()), Matrix<double>(fresh.weight_gradient()));
        };
        expect_same("first call");
        // Packing per call keeps one copy for both passes; the cache one per pass (Winograd's
        // forward and backward copies differ in size, im2col's do not).
        EXPECT_EQ(fresh.packed_weight_bytes() > 0, c.algorithm != ConvAlgorithm::direct);
        EXPECT_GE(cached.packed_weight_bytes(), fresh.packed_weight_bytes());
        if (c.algorithm == ConvAlgorithm::im2col) {
            EXPECT_EQ(cached.packed_weight_bytes(), 2 * fresh.packed_weight_bytes());
        }
        {
            support::AllocationCounter counter;
            cached.forward(x, y1);
            cached.backward(x, dy, &dx1);
            const bool allocates = c.algorithm == ConvAlgorithm::direct;  // the reference loops do
            EXPECT_EQ(counter.count() > 0, allocates) << to_string(c.algorithm);
        }
        // Through the accessors: seen at once.
        cached.weights()(0, 0) += 1;
        fresh.weights()(0, 0) += 1;
        expect_same("after weights()");
        cached.weight(c.params.filters - 1, 0, 0, 0) -= 2;
        fresh.weight(c.params.filters - 1, 0, 0, 0) -= 2;
        expect_same("after weight()");
        // Through a Parameter obtained earlier (as an optimiser holds it): seen after discarding.
        const auto held = cached.parameters();
        cached.forward(x, y1);  // packs again
        held[0].value[1] += 3;
        fresh.weights().data()[1] += 3;
        cached.discard_packed_weights();
        expect_same("after a write through a held Parameter");
        cached.set_cache_packed_weights(false);
        EXPECT_LE(cached.packed_weight_bytes(), fresh.packed_weight_bytes());
        expect_same("cache off");
    }
}

// A dW too large for private accumulators is split over the threads by patch columns, under
// implicit_gemm and im2col.
TYPED_TEST(ConvLayerEveryAlgorithm, BackwardWeightsSplitByPatchColumnsOnTwoThreads) {
    using T = TypeParam;
    const int saved = num_threads();
    set_num_threads(2);
    const ConvParams params(256, 256, 3, 1, 1);  // dW: 2304 x 256 values, more than kPrivateDwBytes
    const Shape input{2, 5, 4, 256};
    ConvLayer<T> probe(params);
    const ConvShape s = probe.conv_shape(input);
    EXPECT_TRUE(kernels::implicit_gemm_dw_splits_taps<T>(s, 2));
    EXPECT_FALSE(kernels::implicit_gemm_dw_splits_taps<T>(s, 1));
    EXPECT_FALSE(kernels::private_dw<T>(s, 2));
    for (ConvAlgorithm a : {ConvAlgorithm::im2col, ConvAlgorithm::implicit_gemm}) {
        ConvLayer<T> layer(params);
        layer.set_algorithm(a);
        EXPECT_TRUE(support::matches_reference(layer, s, Sharing::shared, support::Data::small_integers, 7))
            << to_string(a);
        EXPECT_EQ(layer.algorithm(ConvPass::backward_weights), a);
    }
    set_num_threads(saved);
}

// A forced algorithm runs every pass it is forced on, and says so; a pass it cannot run throws
// when called, naming the algorithm, the pass and the reason; each pass can be forced alone.
TEST(ConvLayerAlgorithms, ForcedAlgorithmRunsEveryPassOrNamesThePassItCannot) {
    Volume<float> x(1, 12, 12, 8), y, dx;
    x.fill_random(1);
    ConvLayer<float> im2col(8, 8, 3, 1, 1);
    im2col.set_algorithm(ConvAlgorithm::im2col);
    im2col.forward(x, y);
    Volume<float> dy(y.shape());
    dy.fill_random(2);
    im2col.backward(x, dy, &dx);
    for (ConvPass pass : kAllConvPasses) {
        EXPECT_EQ(im2col.algorithm(pass), ConvAlgorithm::im2col) << to_string(pass);
        EXPECT_EQ(im2col.requested_algorithm(pass), ConvAlgorithm::im2col) << to_string(pass);
    }

    ConvLayer<float> winograd(8, 8, 3, 1, 1);
    winograd.set_algorithm(ConvAlgorithm::winograd);
    winograd.forward(x, y);
    winograd.backward_data(x.shape(), dy, dx);
    EXPECT_EQ(winograd.algorithm(ConvPass::forward), ConvAlgorithm::winograd);
    EXPECT_EQ(winograd.algorithm(ConvPass::backward_data), ConvAlgorithm::winograd);
    EXPECT_EQ(winograd.algorithm(ConvPass::backward_weights), ConvAlgorithm::automatic) << "not run yet";
    support::expect_error_mentioning<std::invalid_argument>([&] { winograd.backward_weights(x, dy); },
                                     "ConvAlgorithm::winograd cannot run backward-weights of n1_h12w12d8_k8_f3x3_s1x1_p1x1: "
                                     "winograd has no backward-weights kernel");
    EXPECT_THROW(winograd.backward(x, dy, &dx), std::invalid_argument);
    winograd.set_algorithm(ConvPass::backward_weights, ConvAlgorithm::automatic);
    winograd.backward(x, dy, &dx);
    EXPECT_EQ(winograd.algorithm(ConvPass::forward), ConvAlgorithm::winograd) << "not re-chosen";
    EXPECT_NE(winograd.algorithm(ConvPass::backward_weights), ConvAlgorithm::automatic);

    // Padding 2 at stride 2: the odd inputs take only tap 1, from dY's padding -1 before.
    ConvLayer<float> strided(8, 8, 3, 2, 2);
    strided.set_algorithm(ConvAlgorithm::implicit_gemm);
    const Volume<float> xs(1, 13, 13, 8);
    const Volume<float> ys = strided.forward(xs);
    Volume<float> dys(ys.shape());
    strided.backward_weights(xs, dys);
    support::expect_error_mentioning<std::invalid_argument>(
        [&] { strided.backward_data(xs.shape(), dys, dx); },
        "implicit_gemm cannot run backward-data of n1_h13w13d8_k8_f3x3_s2x2_p2x2: it needs each stride phase's "
        "padding of dY within [0, taps - 1]; along the height, inputs 1 + 2i take 1 of the taps, with padding -1 "
        "before and -1 after");
    strided.set_algorithm(ConvPass::backward_data, ConvAlgorithm::im2col);
    strided.backward_data(xs.shape(), dys, dx);
    EXPECT_EQ(strided.algorithm(ConvPass::backward_data), ConvAlgorithm::im2col);
    EXPECT_EQ(strided.requested_algorithm(ConvPass::forward), ConvAlgorithm::implicit_gemm);
}

// A copied layer has its own weights, workspace and plans: both run, and writing one leaves
// the other as it was.
TEST(ConvLayer, CopiesRunIndependently) {
    ConvLayer<float> original(4, 6, 3, 1, 1);
    randomize(original, 1);
    Volume<float> x(2, 9, 9, 4), y1, y2, dx1, dx2;
    x.fill_random(2);
    original.forward(x, y1);
    ConvLayer<float> copy = original;
    copy.forward(x, y2);
    EXPECT_EQ(y1.flat(), y2.flat());
    EXPECT_EQ(copy.algorithm(ConvPass::forward), original.algorithm(ConvPass::forward));
    Volume<float> dy(y1.shape());
    dy.fill_random(3);
    original.backward(x, dy, &dx1);
    copy.backward(x, dy, &dx2);
    EXPECT_EQ(dx1.flat(), dx2.flat());
    copy.weights().setZero();
    original.forward(x, y2);
    EXPECT_EQ(y1.flat(), y2.flat()) << "the original kept its weights";
    EXPECT_FALSE(copy.forward(x).flat().isApprox(y1.flat()));
}

// Refusing implicit_gemm under pad_to_fit names the far-edge zeros the policy adds, which are
// the padding the user did not ask for.
TEST(ConvLayerAlgorithms, ImplicitGemmRefusalNamesTheFitPolicysZeros) {
    ConvLayer<float> layer(ConvParams(2, 2, 1, 9, 0).with_fit(FitPolicy::pad_to_fit));
    layer.set_algorithm(ConvAlgorithm::implicit_gemm);
    support::expect_error_mentioning<std::invalid_argument>([&] { (void)layer.forward(Volume<float>(1, 11, 11, 2)); },
                                     "which has 0 before and 8 after (8 of them the zeros pad_to_fit adds at the far "
                                     "edge to complete the last window)");
}
