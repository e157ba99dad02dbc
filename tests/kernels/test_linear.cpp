// The linear products (kernels/linear.hpp) in both orientations against plain loops, exact on
// small integers, on 1 and 2 threads, and the orientation the cost model picks.
#include "convlayer/kernels/linear.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "tests/support/conv_problems.hpp"

using namespace convlayer;
using namespace convlayer::kernels;

namespace {

template <typename T>
class LinearKernels : public ::testing::Test {};
using Scalars = ::testing::Types<float, double>;
TYPED_TEST_SUITE(LinearKernels, Scalars);

TYPED_TEST(LinearKernels, EveryOrientationMatchesPlainLoopsExactly) {
    using T = TypeParam;
    const int saved = num_threads();
    std::uint64_t seed = 0;
    for (const LinearShape s : {LinearShape{1, 7, 3}, LinearShape{5, 40, 10}, LinearShape{32, 13, 70},
                                LinearShape{37, 65, 33}, LinearShape{3, 100, 1}, LinearShape{6, 300, 10}})
        for (int variant = 0; variant < 32; ++variant)
            for (int threads : {1, 2}) {
                set_num_threads(threads);
                LinearPlan<T> plan(s);
                plan.forward_transposed = variant & 1;
                plan.backward_data_transposed = variant & 2;
                plan.backward_weights_transposed = variant & 4;
                plan.forward_streamed = variant & 8;
                plan.backward_weights_streamed = variant & 16;
                const index_t ldx = s.in + 3, ldy = s.out + 2;  // leading dimensions past the rows
                std::vector<T> x(static_cast<std::size_t>(s.rows * ldx)), dy(static_cast<std::size_t>(s.rows * ldy));
                std::vector<T> w(static_cast<std::size_t>(s.out * s.in)), b(static_cast<std::size_t>(s.out));
                support::fill_small_integers(x.data(), static_cast<index_t>(x.size()), ++seed);
                support::fill_small_integers(dy.data(), static_cast<index_t>(dy.size()), ++seed);
                support::fill_small_integers(w.data(), static_cast<index_t>(w.size()), ++seed);
                support::fill_small_integers(b.data(), static_cast<index_t>(b.size()), ++seed);
                std::vector<T> ws(static_cast<std::size_t>(plan.workspace_elements(threads)));
                std::vector<T> y(dy.size(), T(-7)), dx(x.size(), T(-7)), dw(w.size(), T(-7)), db(b.size(), T(-7));
                plan.forward(x.data(), ldx, w.data(), b.data(), y.data(), ldy, ws.data(), threads);
                plan.backward_data(dy.data(), ldy, w.data(), dx.data(), ldx, ws.data(), threads);
                plan.backward_weights(x.data(), ldx, dy.data(), ldy, dw.data(), db.data(), ws.data(), threads);
                const std::string what = std::to_string(s.rows) + "x" + std::to_string(s.in) + "->" +
                                         std::to_string(s.out) + " variant " + std::to_string(variant) + ", " +
                                         std::to_string(threads) + " threads";
                for (index_t r = 0; r < s.rows; ++r)
                    for (index_t o = 0; o < s.out; ++o) {
                        T want = b[o];
                        for (index_t i = 0; i < s.in; ++i) want += x[r * ldx + i] * w[o * s.in + i];
                        ASSERT_EQ(y[r * ldy + o], want) << "y " << what;
                    }
                for (index_t r = 0; r < s.rows; ++r)
                    for (index_t i = 0; i < s.in; ++i) {
                        T want = 0;
                        for (index_t o = 0; o < s.out; ++o) want += dy[r * ldy + o] * w[o * s.in + i];
                        ASSERT_EQ(dx[r * ldx + i], want) << "dx " << what;
                    }
                for (index_t o = 0; o < s.out; ++o) {
                    T want_b = 0;
                    for (index_t r = 0; r < s.rows; ++r) want_b += dy[r * ldy + o];
                    ASSERT_EQ(db[o], want_b) << "db " << what;
                    for (index_t i = 0; i < s.in; ++i) {
                        T want = 0;
                        for (index_t r = 0; r < s.rows; ++r) want += dy[r * ldy + o] * x[r * ldx + i];
                        ASSERT_EQ(dw[o * s.in + i], want) << "dw " << what;
                    }
                }
                // The padding past each row is not written.
                for (index_t r = 0; r < s.rows; ++r) {
                    for (index_t i = s.in; i < ldx; ++i) ASSERT_EQ(dx[r * ldx + i], T(-7)) << what;
                    for (index_t o = s.out; o < ldy; ++o) ASSERT_EQ(y[r * ldy + o], T(-7)) << what;
                }
            }
    set_num_threads(saved);
}

// Few outputs and a batch that fills the column panels run forward transposed (the samples tile
// the columns); a square layer on a big batch multiplies as it stands; a transposed result that
// would be large to copy back is not taken.
TEST(LinearKernels, TheCostModelTransposesWhereTilesPadLess) {
    EXPECT_TRUE(LinearPlan<float>({32, 3136, 10}).forward_transposed) << "Fashion-MNIST's classifier";
    EXPECT_FALSE(LinearPlan<float>({256, 64, 256}).forward_transposed);
    EXPECT_TRUE(LinearPlan<float>({32, 1024, 1024}).backward_data_transposed) << "a small batch: W read in place";
    EXPECT_FALSE(LinearPlan<float>({256, 3136, 10}).backward_data_transposed) << "a large result to copy back";
}

// A forward of fewer outputs than a tile's rows streams the samples past W when W stays in L2.
TEST(LinearKernels, FewOutputsStreamTheSamplesPastW) {
    const index_t mr = GemmTile<float>::MR;
    EXPECT_TRUE(LinearPlan<float>({32, 3136, mr - 2}).forward_streamed) << "Fashion-MNIST's classifier on AVX-512";
    EXPECT_FALSE(LinearPlan<float>({32, 3136, mr}).forward_streamed);
    const index_t too_deep = tuning<float>().streamed_weights_bytes / static_cast<index_t>(sizeof(float)) + 1;
    EXPECT_FALSE(LinearPlan<float>({32, too_deep, 1}).forward_streamed) << "W larger than half of L2";
    EXPECT_TRUE(LinearPlan<float>({32, 3136, mr - 2}).backward_weights_streamed) << "dW the same size as W";
    EXPECT_FALSE(LinearPlan<float>({32, too_deep, 1}).backward_weights_streamed);
}

}  // namespace
