// db = column sums of dY, on one and several threads, against a plain loop.
#include "convlayer/kernels/bias_gradient.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "tests/support/conv_problems.hpp"

using namespace convlayer;

TEST(ConvBiasGradient, MatchesAPlainSumOnAnyThreadCount) {
    for (index_t positions : {1, 3, 1000, 5000})
        for (index_t k : {1, 7, 64})
            for (int threads : {1, 2, 3}) {
                std::vector<double> dy(static_cast<std::size_t>(positions * k));
                support::fill_small_integers(dy.data(), positions * k, static_cast<std::uint64_t>(positions + k));
                std::vector<double> expected(static_cast<std::size_t>(k), 0.0), db(static_cast<std::size_t>(k), 99.0);
                for (index_t m = 0; m < positions; ++m)
                    for (index_t j = 0; j < k; ++j) expected[j] += dy[m * k + j];
                std::vector<double> scratch(static_cast<std::size_t>(kernels::conv_bias_gradient_scratch_elements(k, threads)),
                                            -7.0);
                kernels::conv_bias_gradient(dy.data(), positions, k, db.data(), scratch.data(), threads);
                EXPECT_EQ(db, expected) << positions << " positions, K = " << k << ", " << threads << " threads";
            }
    // 5000 x 64 values are past the threshold: the threads' partial sums were used.
    EXPECT_GE(5000 * 64, kernels::kParallelBiasGradientValues);
}
