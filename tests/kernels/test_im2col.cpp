// im2col / col2im: entries match the definition, blocks match the whole, col2im is the adjoint.
#include "convlayer/kernels/im2col.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "tests/support/conv_problems.hpp"

using namespace convlayer;
using namespace convlayer::kernels;

TEST(Im2col, EntriesAreInputTapsOrZero) {
    for (std::uint64_t seed = 1; seed <= 80; ++seed) {
        const auto p = support::draw_problem(seed, {3, 14, 5, 4, 5, 3, 3, 3});
        const ConvShape& s = p.shape;
        Volume<float> x(s.input());
        support::fill_small_integers(x, seed);
        const index_t M = s.output_positions(), L = s.patch_length();
        std::vector<float> P(static_cast<std::size_t>(M * L), -99.0f);
        im2col(s, x.data(), 0, M, P.data());
        for (index_t n = 0; n < s.n; ++n)
            for (index_t oy = 0; oy < s.y.out; ++oy)
                for (index_t ox = 0; ox < s.x.out; ++ox)
                    for (index_t ky = 0; ky < s.y.kernel; ++ky)
                        for (index_t kx = 0; kx < s.x.kernel; ++kx)
                            for (index_t d = 0; d < s.d1; ++d) {
                                const index_t iy = oy * s.y.stride - s.y.pad_begin + ky * s.y.dilation;
                                const index_t ix = ox * s.x.stride - s.x.pad_begin + kx * s.x.dilation;
                                const bool inside = iy >= 0 && iy < s.y.in && ix >= 0 && ix < s.x.in;
                                const float expected = inside ? x(n, iy, ix, d) : 0.0f;
                                const index_t m = (n * s.y.out + oy) * s.x.out + ox;
                                const index_t c = (ky * s.x.kernel + kx) * s.d1 + d;
                                ASSERT_EQ(P[static_cast<std::size_t>(m * L + c)], expected)
                                    << p.to_string() << " at m=" << m << " (ky,kx,d)=(" << ky << "," << kx << "," << d << ")";
                            }
    }
}

TEST(Im2col, BlocksEqualTheWholeMatrix) {
    for (std::uint64_t seed = 100; seed < 130; ++seed) {
        const auto p = support::draw_problem(seed, {3, 12, 4, 4, 4, 3, 2, 2});
        const ConvShape& s = p.shape;
        Volume<double> x(s.input());
        x.fill_random(seed);
        const index_t M = s.output_positions(), L = s.patch_length();
        std::vector<double> whole(static_cast<std::size_t>(M * L)), blocked(whole.size());
        im2col(s, x.data(), 0, M, whole.data());
        const index_t block = 1 + static_cast<index_t>(seed % 7);
        for (index_t m0 = 0; m0 < M; m0 += block)
            im2col(s, x.data(), m0, std::min(M, m0 + block), blocked.data() + m0 * L);
        EXPECT_EQ(whole, blocked) << p.to_string();
    }
}

// <im2col(x), Q> == <x, col2im(Q)>, exactly with small integers.
TEST(Col2im, IsTheAdjointOfIm2col) {
    for (std::uint64_t seed = 200; seed < 280; ++seed) {
        const auto p = support::draw_problem(seed, {3, 14, 5, 4, 5, 3, 3, 3});
        const ConvShape& s = p.shape;
        Volume<double> x(s.input()), back(s.input());
        support::fill_small_integers(x, seed);
        const index_t M = s.output_positions(), L = s.patch_length();
        std::vector<double> P(static_cast<std::size_t>(M * L)), Q(P.size());
        support::fill_small_integers(Q.data(), M * L, seed + 1);
        im2col(s, x.data(), 0, M, P.data());
        // Scatter in two blocks to exercise the m_begin offset.
        const index_t half = M / 2;
        col2im_add(s, Q.data(), 0, half, back.data());
        col2im_add(s, Q.data() + half * L, half, M, back.data());
        double lhs = 0;
        for (std::size_t i = 0; i < P.size(); ++i) lhs += P[i] * Q[i];
        EXPECT_EQ(lhs, x.flat().dot(back.flat())) << p.to_string();
    }
}
