// db = column sums of dY, float and double, on one and several threads, against a plain loop.
#include "convlayer/kernels/bias_gradient.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "tests/support/conv_problems.hpp"

using namespace convlayer;

template <typename T>
class ConvBiasGradient : public ::testing::Test {};
using Scalars = ::testing::Types<float, double>;
TYPED_TEST_SUITE(ConvBiasGradient, Scalars);

// K from 1 to past four packets (8 or 16 lanes): the scalar loop, whole packets with a scalar
// tail summed four rows at a time, and whole rows added at once; position counts that leave
// 0 to 3 rows after the groups of four. Small integers: every order sums exactly.
TYPED_TEST(ConvBiasGradient, MatchesAPlainSumOnAnyThreadCount) {
    using T = TypeParam;
    for (index_t positions : {1, 3, 1000, 5001})
        for (index_t k : {1, 7, 8, 20, 33, 64, 70})
            for (int threads : {1, 2, 3}) {
                std::vector<T> dy(static_cast<std::size_t>(positions * k));
                support::fill_small_integers(dy.data(), positions * k, static_cast<std::uint64_t>(positions + k));
                std::vector<T> expected(static_cast<std::size_t>(k), T(0)), db(static_cast<std::size_t>(k), T(99));
                for (index_t m = 0; m < positions; ++m)
                    for (index_t j = 0; j < k; ++j) expected[j] += dy[m * k + j];
                std::vector<T> scratch(static_cast<std::size_t>(kernels::conv_bias_gradient_scratch_elements(k, threads)),
                                       T(-7));
                kernels::conv_bias_gradient(dy.data(), positions, k, db.data(), scratch.data(), threads);
                EXPECT_EQ(db, expected) << positions << " positions, K = " << k << ", " << threads << " threads";
            }
    // 5001 x 64 values are past the threshold: the threads' partial sums were used.
    EXPECT_GE(5001 * 64, kernels::tuning<T>().parallel_sum_min_values);
}

// add_rows() adds to what out holds (the fused backward-weights sums db a block at a time), on
// every path: scalar, packets of four rows, whole rows.
TYPED_TEST(ConvBiasGradient, AddRowsAddsToWhatIsThere) {
    using T = TypeParam;
    for (index_t k : {1, 7, 8, 20, 64, 70}) {
        const index_t positions = 23, ld = k + 3;  // rows further apart than K
        std::vector<T> dy(static_cast<std::size_t>(positions * ld));
        support::fill_small_integers(dy.data(), positions * ld, static_cast<std::uint64_t>(k));
        std::vector<T> out(static_cast<std::size_t>(k)), expected(static_cast<std::size_t>(k));
        for (index_t j = 0; j < k; ++j) out[j] = expected[j] = T(j % 5) - T(2);
        for (index_t m = 2; m < 19; ++m)
            for (index_t j = 0; j < k; ++j) expected[j] += dy[m * ld + j];
        kernels::detail::add_rows(dy.data(), ld, 2, 19, k, out.data());
        EXPECT_EQ(out, expected) << "K = " << k;
    }
}
