// Max and average pooling against a plain reference, finite differences, geometry and errors.
#include "convlayer/layers/pool_layer.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "tests/support/conv_problems.hpp"
#include "tests/support/gradient_check.hpp"

using namespace convlayer;

namespace {
// The definition, written independently: windows over in-bounds inputs only.
template <typename T>
Volume<T> reference_pool(PoolKind kind, const Volume<T>& x, index_t f, index_t s, index_t p, const Shape& out) {
    Volume<T> y(out);
    for (index_t n = 0; n < out.n; ++n)
        for (index_t oy = 0; oy < out.h; ++oy)
            for (index_t ox = 0; ox < out.w; ++ox)
                for (index_t d = 0; d < out.d; ++d) {
                    double acc = kind == PoolKind::max ? -INFINITY : 0.0;
                    int count = 0;
                    for (index_t ky = 0; ky < f; ++ky)
                        for (index_t kx = 0; kx < f; ++kx) {
                            const index_t iy = oy * s - p + ky, ix = ox * s - p + kx;
                            if (iy < 0 || iy >= x.height() || ix < 0 || ix >= x.width()) continue;
                            const double v = x(n, iy, ix, d);
                            acc = kind == PoolKind::max ? std::max(acc, v) : acc + v;
                            ++count;
                        }
                    y(n, oy, ox, d) = static_cast<T>(kind == PoolKind::max ? acc : acc / count);
                }
    return y;
}

// The gradient by definition: max sends dy to the window's first maximal input in (y, x) order
// (the first NaN when there is one), average spreads it over the in-bounds inputs.
template <typename T>
Volume<T> reference_pool_backward(PoolKind kind, const Volume<T>& x, const Volume<T>& dy, index_t f, index_t s,
                                  index_t p) {
    Volume<T> dx(x.shape());
    dx.zero();
    const Shape out = dy.shape();
    for (index_t n = 0; n < out.n; ++n)
        for (index_t oy = 0; oy < out.h; ++oy)
            for (index_t ox = 0; ox < out.w; ++ox)
                for (index_t d = 0; d < out.d; ++d) {
                    index_t best_y = -1, best_x = -1, count = 0;
                    for (index_t ky = 0; ky < f; ++ky)
                        for (index_t kx = 0; kx < f; ++kx) {
                            const index_t iy = oy * s - p + ky, ix = ox * s - p + kx;
                            if (iy < 0 || iy >= x.height() || ix < 0 || ix >= x.width()) continue;
                            ++count;
                            const T v = x(n, iy, ix, d);
                            const bool better = best_y < 0 ? true
                                                           : !std::isnan(x(n, best_y, best_x, d)) &&
                                                                 (std::isnan(v) || v > x(n, best_y, best_x, d));
                            if (better) best_y = iy, best_x = ix;
                        }
                    for (index_t ky = 0; ky < f; ++ky)
                        for (index_t kx = 0; kx < f; ++kx) {
                            const index_t iy = oy * s - p + ky, ix = ox * s - p + kx;
                            if (iy < 0 || iy >= x.height() || ix < 0 || ix >= x.width()) continue;
                            if (kind == PoolKind::average)
                                dx(n, iy, ix, d) += dy(n, oy, ox, d) / static_cast<T>(count);
                            else if (iy == best_y && ix == best_x)
                                dx(n, iy, ix, d) += dy(n, oy, ox, d);
                        }
                }
    return dx;
}
}  // namespace

// Backward against the definition on depths that fill whole packets, leave a tail, or neither
// (float: 16 lanes; double: 8), with many ties and some NaNs, for windows that tile the input
// (dx written, never cleared), leave the last row and column uncovered (cropped), leave gaps or
// padding (disjoint), and overlap (added); dx holds garbage before each call.
template <typename T>
class PoolBackward : public ::testing::Test {};
using PoolScalars = ::testing::Types<float, double>;
TYPED_TEST_SUITE(PoolBackward, PoolScalars);

TYPED_TEST(PoolBackward, MatchesTheDefinitionOnEveryPath) {
    using T = TypeParam;
    struct Case { index_t f, s, p, h, w; };
    for (PoolKind kind : {PoolKind::max, PoolKind::average})
        for (const Case& c : {Case{2, 2, 0, 8, 6}, Case{2, 2, 0, 7, 9}, Case{2, 3, 0, 8, 11}, Case{2, 2, 1, 6, 6},
                              Case{3, 2, 1, 7, 9}})
            for (index_t depth : {1, 8, 16, 19, 37}) {
                PoolLayer<T> pool(kind, PoolParams(c.f, c.s, c.p).with_fit(FitPolicy::crop));
                Volume<T> x(2, c.h, c.w, depth);
                support::fill_small_integers(x, static_cast<std::uint64_t>(depth + c.s));  // ties
                for (index_t i = 5; i < x.size(); i += 97) x.data()[i] = std::numeric_limits<T>::quiet_NaN();
                Volume<T> dy(pool.output_shape(x.shape())), dx(x.shape());
                support::fill_small_integers(dy, 3);
                dx.fill(T(99));
                pool.backward(x, dy, &dx);
                const Volume<T> ref = reference_pool_backward(kind, x, dy, c.f, c.s, c.p);
                // Max moves dy exactly; average scales it (dy * (1/count) against dy / count).
                const double tol = kind == PoolKind::max ? 0.0 : 8 * std::numeric_limits<T>::epsilon() * 16;
                for (index_t i = 0; i < x.size(); ++i)
                    ASSERT_NEAR(dx.data()[i], ref.data()[i], tol)
                        << pool.describe() << ", depth " << depth << ", element " << i << ", x = " << x.data()[i];
            }
}

TEST(PoolLayer, MatchesTheReference) {
    struct Case { index_t f, s, p, h, w; };
    for (PoolKind kind : {PoolKind::max, PoolKind::average})
        for (const Case& c : {Case{2, 2, 0, 8, 6}, Case{3, 2, 1, 7, 9}, Case{3, 1, 1, 5, 4}, Case{5, 3, 2, 10, 13}}) {
            PoolLayer<double> pool(kind, c.f, c.s, c.p);
            Volume<double> x(2, c.h, c.w, 3);
            x.fill_random(static_cast<std::uint64_t>(c.f * 10 + c.s));
            const Volume<double> y = pool.forward(x);
            const Volume<double> ref = reference_pool(kind, x, c.f, c.s, c.p, y.shape());
            EXPECT_EQ(y.shape().h, (c.h - c.f + 2 * c.p) / c.s + 1);
            EXPECT_LT((y.flat() - ref.flat()).cwiseAbs().maxCoeff(), 1e-14) << pool.describe();
        }
}

TEST(PoolLayer, GradientsByFiniteDifferences) {
    for (PoolKind kind : {PoolKind::max, PoolKind::average}) {
        PoolLayer<double> pool(kind, 3, 2, 1);
        Volume<double> x(2, 7, 5, 2);
        x.fill_random(9);  // distinct values: no ties inside a window
        support::GradientCheckResult r;
        EXPECT_TRUE(support::check_gradients(pool, x, {}, &r)) << pool.describe();
        EXPECT_GT(r.checked, 100);
    }
}

TEST(PoolLayer, MaxSendsTheGradientToTheFirstMaximum) {
    PoolLayer<float> pool(PoolKind::max, 2, 2);
    Volume<float> x(1, 2, 2, 1), dy(1, 1, 1, 1), dx;
    x.fill(1.0f);  // a tie: the first in y, then x order wins
    dy.fill(5.0f);
    pool.backward(x, dy, &dx);
    EXPECT_EQ(dx(0, 0, 0, 0), 5.0f);
    EXPECT_EQ(dx.flat().sum(), 5.0f);
}

TEST(PoolLayer, GeometryAndErrors) {
    PoolLayer<float> pool(PoolKind::max, 2, 2);
    EXPECT_EQ(pool.output_shape(Shape{8, 28, 28, 32}), (Shape{8, 14, 14, 32}));
    EXPECT_EQ(pool.describe(), "MaxPool 2x2, stride 2x2, pad 0x0");
    EXPECT_EQ(pool.parameter_count(), 0);
    // (7 - 2)/2 + 1 = 3.5: rejected by default, floored or padded on request.
    try {
        (void)pool.output_shape(Shape{1, 7, 8, 1});
        FAIL();
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("3.5"), std::string::npos) << e.what();
    }
    EXPECT_EQ(PoolLayer<float>(PoolKind::max, PoolParams(2, 2).with_fit(FitPolicy::crop)).output_shape(Shape{1, 7, 8, 1}).h, 3);
    EXPECT_EQ(PoolLayer<float>(PoolKind::average, PoolParams(2, 2).with_fit(FitPolicy::pad_to_fit)).output_shape(Shape{1, 7, 8, 1}).h, 4);
    EXPECT_THROW(PoolLayer<float>(PoolKind::max, 0, 1), std::invalid_argument);
    EXPECT_THROW(PoolLayer<float>(PoolKind::max, 2, 0), std::invalid_argument);
    EXPECT_THROW((void)pool.output_shape(Shape{1, 1, 8, 1}), std::invalid_argument);  // window larger than input
    // A window entirely in the padding is refused.
    EXPECT_THROW((void)PoolLayer<float>(PoolKind::average, 2, 1, 2).output_shape(Shape{1, 4, 4, 1}), std::invalid_argument);
}

TEST(PoolLayer, NanPropagatesThroughMax) {
    PoolLayer<float> pool(PoolKind::max, 2, 2);
    Volume<float> x(1, 2, 2, 1);
    x(0, 1, 0, 0) = std::numeric_limits<float>::quiet_NaN();
    EXPECT_TRUE(std::isnan(pool.forward(x)(0, 0, 0, 0)));
}

TEST(PoolLayer, NanReceivesTheMaxGradient) {
    PoolLayer<float> pool(PoolKind::max, 2, 2);
    Volume<float> x(1, 2, 2, 1), dy(1, 1, 1, 1), dx;
    x(0, 0, 0, 0) = 5.0f;
    x(0, 1, 1, 0) = std::numeric_limits<float>::quiet_NaN();
    dy(0, 0, 0, 0) = 3.0f;
    pool.forward(x);
    pool.backward(x, dy, &dx);
    EXPECT_EQ(dx(0, 1, 1, 0), 3.0f);
    EXPECT_EQ(dx(0, 0, 0, 0), 0.0f);
}

// A batch large enough for several threads, on every backward path (overlapping windows, windows
// that tile the input, cropped and gapped ones), with a depth that leaves a tail of channels
// after the packets: one and two threads agree with each other and with the definition.
TEST(PoolLayer, ABatchOnSeveralThreadsMatchesOneThread) {
    const int saved = num_threads();
    struct Case { index_t f, s, p, h; };
    for (PoolKind kind : {PoolKind::max, PoolKind::average})
        for (const Case& c : {Case{3, 2, 1, 25}, Case{2, 2, 0, 24}, Case{2, 2, 0, 25}, Case{2, 3, 0, 31}}) {
            PoolLayer<float> pool(kind, PoolParams(c.f, c.s, c.p).with_fit(FitPolicy::crop));
            Volume<float> x(32, c.h, c.h, 19), dy(pool.output_shape(x.shape())), dx1, dx2;
            support::fill_small_integers(x, 1);  // many ties: the first maximum must win on every thread
            dy.fill_random(2);
            set_num_threads(1);
            const Volume<float> y1 = pool.forward(x);
            pool.backward(x, dy, &dx1);
            set_num_threads(2);
            const Volume<float> y2 = pool.forward(x);
            dx2.resize(x.shape());
            dx2.fill(99.0f);
            pool.backward(x, dy, &dx2);
            EXPECT_EQ(y1.flat(), y2.flat()) << pool.describe();
            EXPECT_EQ(dx1.flat(), dx2.flat()) << pool.describe();
            const Volume<float> ref = reference_pool(kind, x, c.f, c.s, c.p, y1.shape());
            EXPECT_LT((y1.flat() - ref.flat()).cwiseAbs().maxCoeff(), 1e-5f) << pool.describe();
            const Volume<float> dx_ref = reference_pool_backward(kind, x, dy, c.f, c.s, c.p);
            EXPECT_LT((dx2.flat() - dx_ref.flat()).cwiseAbs().maxCoeff(), 1e-5f) << pool.describe();
        }
    set_num_threads(saved);
}
