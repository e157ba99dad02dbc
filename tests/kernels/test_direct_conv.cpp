// The nested-loop reference: the textbook's worked example, the averaging kernel, and its
// backward passes checked as the adjoints of its forward pass.
#include "convlayer/kernels/direct_conv.hpp"

#include <gtest/gtest.h>

#include <array>
#include <random>
#include <vector>

#include "tests/support/compare.hpp"
#include "tests/support/conv_problems.hpp"

using namespace convlayer;
using namespace convlayer::kernels;

namespace {

// The worked example: X.shape = (11, 11, 4) indexed X[x, y, d] as in NumPy, F=5, S=2, P=0,
// two filters W0, W1 of shape (5, 5, 4) indexed [x, y, d], biases b0, b1.
struct WorkedExample {
    std::array<std::array<std::array<double, 4>, 11>, 11> X{};  // X[x][y][d]
    std::array<std::array<std::array<std::array<double, 4>, 5>, 5>, 2> Wt{};  // Wt[k][x][y][d]
    std::array<double, 2> b{};
    Volume<double> x{1, 11, 11, 4};
    std::vector<double> w = std::vector<double>(2 * 5 * 5 * 4);  // OHWI: [k][ky][kx][d]
    Volume<double> v{1, 4, 4, 2};

    WorkedExample() {
        std::mt19937_64 gen(2024);
        std::uniform_int_distribution<int> dist(-9, 9);
        for (int i = 0; i < 11; ++i)
            for (int j = 0; j < 11; ++j)
                for (int d = 0; d < 4; ++d) {
                    X[i][j][d] = dist(gen);
                    x(0, j, i, d) = X[i][j][d];  // NumPy X[x, y, d] is our (n=0, y, x, d)
                }
        for (int k = 0; k < 2; ++k) {
            b[k] = dist(gen);
            for (int i = 0; i < 5; ++i)
                for (int j = 0; j < 5; ++j)
                    for (int d = 0; d < 4; ++d) {
                        Wt[k][i][j][d] = dist(gen);
                        w[static_cast<std::size_t>(((k * 5 + j) * 5 + i) * 4 + d)] = Wt[k][i][j][d];
                    }
        }
        const ConvShape s = resolve(ConvParams(4, 2, 5, 2, 0), x.shape());
        direct_conv_forward(s, x.data(), w.data(), b.data(), v.data());
    }
    // np.sum(X[x0:x0+5, y0:y0+5, :] * Wk) + bk, written out.
    double numpy_sum(int x0, int y0, int k) const {
        double acc = 0;
        for (int i = 0; i < 5; ++i)
            for (int j = 0; j < 5; ++j)
                for (int d = 0; d < 4; ++d) acc += X[x0 + i][y0 + j][d] * Wt[k][i][j][d];
        return acc + b[k];
    }
    // V[x, y, d] in the textbook's indexing.
    double V(int xo, int yo, int d) const { return v(0, yo, xo, d); }
};

}  // namespace

TEST(TextbookWorkedExample, OutputIs4x4) {
    EXPECT_EQ(resolve(ConvParams(4, 2, 5, 2, 0), Shape{1, 11, 11, 4}).output(), (Shape{1, 4, 4, 2}));
}
TEST(TextbookWorkedExample, FirstActivationMapAlongX) {
    const WorkedExample e;
    EXPECT_EQ(e.V(0, 0, 0), e.numpy_sum(0, 0, 0));  // V[0,0,0] = np.sum(X[:5,:5,:] * W0) + b0
    EXPECT_EQ(e.V(1, 0, 0), e.numpy_sum(2, 0, 0));  // V[1,0,0] = np.sum(X[2:7,:5,:] * W0) + b0
    EXPECT_EQ(e.V(2, 0, 0), e.numpy_sum(4, 0, 0));  // V[2,0,0] = np.sum(X[4:9,:5,:] * W0) + b0
    EXPECT_EQ(e.V(3, 0, 0), e.numpy_sum(6, 0, 0));  // V[3,0,0] = np.sum(X[6:11,:5,:] * W0) + b0
}
TEST(TextbookWorkedExample, SecondActivationMap) {
    const WorkedExample e;
    EXPECT_EQ(e.V(0, 0, 1), e.numpy_sum(0, 0, 1));  // V[0,0,1] = np.sum(X[:5,:5,:] * W1) + b1
    EXPECT_EQ(e.V(3, 0, 1), e.numpy_sum(6, 0, 1));  // V[3,0,1] = np.sum(X[6:11,:5,:] * W1) + b1
    EXPECT_EQ(e.V(0, 1, 1), e.numpy_sum(0, 2, 1));  // V[0,1,1] = np.sum(X[:5,2:7,:] * W1) + b1
    EXPECT_EQ(e.V(2, 3, 1), e.numpy_sum(4, 6, 1));  // V[2,3,1] = np.sum(X[4:9,6:11,:] * W1) + b1
}

// A 3x3 kernel of all 1/9 computes the local mean of each 3x3 neighbourhood.
TEST(TextbookAveragingKernel, ProducesTheLocalMean) {
    Volume<double> x(1, 6, 7, 1);
    x.fill_random(9);
    const ConvShape s = resolve(ConvParams(1, 1, 3, 1, 0), x.shape());
    const std::vector<double> w(9, 1.0 / 9.0);
    Volume<double> y(s.output());
    direct_conv_forward(s, x.data(), w.data(), static_cast<const double*>(nullptr), y.data());
    ASSERT_EQ(y.shape(), (Shape{1, 4, 5, 1}));
    for (index_t oy = 0; oy < 4; ++oy)
        for (index_t ox = 0; ox < 5; ++ox)
            EXPECT_NEAR(y(0, oy, ox, 0), x.depth_slice(0, 0).block(oy, ox, 3, 3).mean(), 1e-15);
}

// Padding taps read zeros: a 3x3 all-ones kernel with P=1 on an all-ones image counts the
// in-bounds taps (4 at corners, 6 on edges, 9 inside).
TEST(DirectConv, PaddingContributesZeros) {
    Volume<float> x(1, 4, 5, 1);
    x.fill(1.0f);
    const ConvShape s = resolve(ConvParams(1, 1, 3, 1, 1), x.shape());
    const std::vector<float> w(9, 1.0f);
    Volume<float> y(s.output());
    direct_conv_forward(s, x.data(), w.data(), static_cast<const float*>(nullptr), y.data());
    EXPECT_EQ(y(0, 0, 0, 0), 4.0f);
    EXPECT_EQ(y(0, 0, 2, 0), 6.0f);
    EXPECT_EQ(y(0, 2, 2, 0), 9.0f);
    EXPECT_EQ(y(0, 3, 4, 0), 4.0f);
}

// Backward data and weights are the adjoints of forward: <conv(x; w), dy> = <x, dX(dy; w)> =
// <w, dW(x, dy)>, and db sums dy. Small integers make every sum exact.
TEST(DirectConv, BackwardPassesAreAdjointsOfForward) {
    for (std::uint64_t seed = 1; seed <= 60; ++seed) {
        const auto p = support::draw_problem(seed, {3, 12, 6, 6, 5, 3, 2, 2});
        const ConvShape& s = p.shape;
        Volume<double> x(s.input()), y(s.output()), dy(s.output()), dx(s.input());
        std::vector<double> w(static_cast<std::size_t>(s.k * s.patch_length())), dw(w.size()), db(static_cast<std::size_t>(s.k));
        support::fill_small_integers(x, seed);
        support::fill_small_integers(dy, seed + 1000);
        support::fill_small_integers(w.data(), static_cast<index_t>(w.size()), seed + 2000);
        direct_conv_forward(s, x.data(), w.data(), static_cast<const double*>(nullptr), y.data());
        direct_conv_backward_data(s, dy.data(), w.data(), dx.data());
        direct_conv_backward_weights(s, x.data(), dy.data(), dw.data(), db.data());
        const double lhs = y.flat().dot(dy.flat());
        EXPECT_EQ(lhs, x.flat().dot(dx.flat())) << p.to_string();
        EXPECT_EQ(lhs, Eigen::Map<Eigen::VectorXd>(w.data(), static_cast<index_t>(w.size()))
                           .dot(Eigen::Map<Eigen::VectorXd>(dw.data(), static_cast<index_t>(dw.size()))))
            << p.to_string();
        for (index_t k = 0; k < s.k; ++k) {
            double sum = 0;
            for (index_t m = 0; m < s.output_positions(); ++m) sum += dy.data()[m * s.k + k];
            EXPECT_EQ(db[static_cast<std::size_t>(k)], sum) << p.to_string();
        }
    }
}
