// gemm1x1: the 1x1, stride 1, no-padding conv as one GEMM, against the reference.
#include "convlayer/kernels/gemm1x1.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "convlayer/kernels/direct_conv.hpp"
#include "tests/support/compare.hpp"
#include "tests/support/conv_problems.hpp"

using namespace convlayer;
using namespace convlayer::kernels;
using support::all_near;

TEST(Gemm1x1, MatchesTheReferenceExactly) {
    for (std::uint64_t seed = 1; seed <= 100; ++seed) {
        std::mt19937_64 gen(seed);
        auto uni = [&](index_t hi) { return std::uniform_int_distribution<index_t>(1, hi)(gen); };
        const Shape in{uni(4), uni(20), uni(20), uni(40)};
        const ConvShape s = resolve(ConvParams(in.d, uni(40), 1), in);
        ASSERT_TRUE(s.im2col_is_identity());
        Volume<float> x(in), y(s.output()), y_ref(s.output()), dy(s.output()), dx(in), dx_ref(in);
        std::vector<float> w(static_cast<std::size_t>(s.d1 * s.k)), b(static_cast<std::size_t>(s.k));
        std::vector<float> dw(w.size()), db(b.size()), dw_ref(w.size()), db_ref(b.size());
        support::fill_small_integers(x, seed);
        support::fill_small_integers(dy, seed + 1);
        support::fill_small_integers(w.data(), s.d1 * s.k, seed + 2);
        support::fill_small_integers(b.data(), s.k, seed + 3);
        const index_t block = uni(s.output_positions());
        const int threads = static_cast<int>(seed % 3) + 1;
        gemm1x1_forward(s, x.data(), w.data(), b.data(), y.data(), block, threads);
        direct_conv_forward(s, x.data(), w.data(), b.data(), y_ref.data());
        ASSERT_TRUE(all_near(y.data(), y_ref.data(), s.output(), 0.0)) << s.to_string() << " block " << block << " threads " << threads;
        gemm1x1_backward(s, x.data(), dy.data(), w.data(), dx.data(), dw.data(), db.data(), block, threads);
        direct_conv_backward_data(s, dy.data(), w.data(), dx_ref.data());
        direct_conv_backward_weights(s, x.data(), dy.data(), dw_ref.data(), db_ref.data());
        ASSERT_TRUE(all_near(dx.data(), dx_ref.data(), in, 0.0)) << s.to_string();
        ASSERT_EQ(dw, dw_ref) << s.to_string();
        ASSERT_EQ(db, db_ref) << s.to_string();
    }
}
