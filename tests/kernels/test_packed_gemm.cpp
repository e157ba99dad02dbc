// The packed micro-kernel GEMM against Eigen's product: every tile shape (full and partial rows
// and columns), first and accumulating depth blocks, with and without bias.
#include "convlayer/kernels/packed_gemm.hpp"

#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "convlayer/core/eigen_types.hpp"
#include "tests/support/conv_problems.hpp"

using namespace convlayer;
using namespace convlayer::kernels;

template <typename T>
class PackedGemm : public ::testing::Test {};
using Scalars = ::testing::Types<float, double>;
TYPED_TEST_SUITE(PackedGemm, Scalars);

TYPED_TEST(PackedGemm, MatchesEigenExactlyOnSmallIntegers) {
    using T = TypeParam;
    constexpr index_t MR = GemmTile<T>::MR, NR = GemmTile<T>::NR;
    std::mt19937_64 gen(17);
    auto uni = [&](index_t lo, index_t hi) { return std::uniform_int_distribution<index_t>(lo, hi)(gen); };
    for (int trial = 0; trial < 200; ++trial) {
        const index_t rows = uni(1, 3 * MR + 1), cols = uni(1, 3 * NR + 1), depth = uni(1, 70);
        RowMatrix<T> A(rows, depth), C(rows, cols);
        Matrix<T> B(depth, cols);
        Vector<T> bias(cols);
        support::fill_small_integers(A.data(), A.size(), static_cast<std::uint64_t>(trial));
        support::fill_small_integers(B.data(), B.size(), static_cast<std::uint64_t>(trial) + 1000);
        support::fill_small_integers(bias.data(), bias.size(), static_cast<std::uint64_t>(trial) + 2000);
        // Two depth blocks: the first writes bias + A1*B1, the second accumulates A2*B2.
        const index_t split = uni(0, depth);
        std::vector<T> pa(static_cast<std::size_t>((rows + MR - 1) / MR * MR * depth));
        std::vector<T> pb(static_cast<std::size_t>((cols + NR - 1) / NR * NR * depth));
        const bool with_bias = trial % 2 == 0;
        index_t k0 = 0;
        for (index_t kc : {split, depth - split}) {
            if (kc == 0) continue;
            pack_a_panels(A.data() + k0, depth, rows, kc, pa.data());
            pack_b_panels_colmajor(B.data() + k0, depth, kc, cols, pb.data());
            gemm_packed(pa.data(), pb.data(), rows, cols, kc, C.data(), cols, k0 > 0, with_bias ? bias.data() : nullptr);
            k0 += kc;
        }
        RowMatrix<T> expected = A * B;
        if (with_bias) expected.rowwise() += bias.transpose();
        ASSERT_EQ(C, expected) << "rows " << rows << " cols " << cols << " depth " << depth << " split " << split;
    }
}
