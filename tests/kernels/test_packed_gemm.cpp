// The micro-kernel GEMM against Eigen's product: A read in place row-major and column-major,
// every tile shape (full and partial rows and columns), first and accumulating depth blocks,
// with and without bias.
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
    for (int trial = 0; trial < 300; ++trial) {
        const index_t rows = uni(1, 3 * MR + 1), cols = uni(1, 3 * NR + 1), depth = uni(1, 70);
        const bool row_major = trial % 2 == 0, with_bias = trial % 3 == 0;
        // A inside a larger buffer (leading dimension > extent), so reads past A would show.
        const index_t lda = (row_major ? depth : rows) + uni(0, 5);
        std::vector<T> a_buf(static_cast<std::size_t>(lda * (row_major ? rows : depth)));
        support::fill_small_integers(a_buf.data(), static_cast<index_t>(a_buf.size()), static_cast<std::uint64_t>(trial));
        RowMatrix<T> A(rows, depth), C(rows, cols);
        for (index_t i = 0; i < rows; ++i)
            for (index_t k = 0; k < depth; ++k)
                A(i, k) = a_buf[static_cast<std::size_t>(row_major ? i * lda + k : k * lda + i)];
        Matrix<T> B(depth, cols);
        Vector<T> bias(cols);
        support::fill_small_integers(B.data(), B.size(), static_cast<std::uint64_t>(trial) + 1000);
        support::fill_small_integers(bias.data(), bias.size(), static_cast<std::uint64_t>(trial) + 2000);
        // Two depth blocks: the first writes bias + A1*B1, the second accumulates A2*B2.
        const index_t split = uni(0, depth);
        std::vector<T> pb(static_cast<std::size_t>((cols + NR - 1) / NR * NR * depth)), edge(static_cast<std::size_t>(MR * depth));
        index_t k0 = 0;
        for (index_t kc : {split, depth - split}) {
            if (kc == 0) continue;
            pack_b_panels_colmajor(B.data() + k0, depth, kc, cols, pb.data());
            const T* a = row_major ? a_buf.data() + k0 : a_buf.data() + k0 * lda;
            gemm_block(a, lda, row_major, rows, kc, pb.data(), cols, C.data(), cols, k0 > 0,
                       with_bias ? bias.data() : nullptr, edge.data());
            k0 += kc;
        }
        RowMatrix<T> expected = A * B;
        if (with_bias) expected.rowwise() += bias.transpose();
        ASSERT_EQ(C, expected) << "rows " << rows << " cols " << cols << " depth " << depth << " split " << split
                               << (row_major ? " row-major" : " column-major");
    }
}

TYPED_TEST(PackedGemm, PackersLayOutPanels) {
    using T = TypeParam;
    constexpr index_t MR = GemmTile<T>::MR, NR = GemmTile<T>::NR;
    const index_t rows = MR + 3, depth = 5, cols = NR + 2;
    std::vector<T> a(static_cast<std::size_t>(rows * depth)), b(static_cast<std::size_t>(depth * cols));
    for (std::size_t i = 0; i < a.size(); ++i) a[i] = static_cast<T>(i + 1);
    for (std::size_t i = 0; i < b.size(); ++i) b[i] = static_cast<T>(i + 1);
    std::vector<T> pa(static_cast<std::size_t>(2 * MR * depth)), pb(static_cast<std::size_t>(2 * NR * depth));
    pack_a_panels(a.data(), depth, rows, depth, pa.data());  // row-major A
    EXPECT_EQ(pa[static_cast<std::size_t>(2 * MR + 1)], a[static_cast<std::size_t>(1 * depth + 2)]);  // (1, 2)
    EXPECT_EQ(pa[static_cast<std::size_t>(MR * depth + 4 * MR + 2)], a[static_cast<std::size_t>((MR + 2) * depth + 4)]);
    EXPECT_EQ(pa[static_cast<std::size_t>(MR * depth + 4 * MR + 3)], T(0));  // padding row
    pack_b_panels_rowmajor(b.data(), cols, depth, cols, pb.data());
    EXPECT_EQ(pb[static_cast<std::size_t>(3 * NR + 5)], b[static_cast<std::size_t>(3 * cols + 5)]);        // (3, 5)
    EXPECT_EQ(pb[static_cast<std::size_t>(NR * depth + 2 * NR + 1)], b[static_cast<std::size_t>(2 * cols + NR + 1)]);
    EXPECT_EQ(pb[static_cast<std::size_t>(NR * depth + 2 * NR + 2)], T(0));  // padding column
}

// The transposing case (each of `count` rows contiguous along the depth, as OHWI weights are):
// whole panels go through packet transposes, with a scalar tail for the depth past a multiple of
// the packet; the last, partial panel element by element. Every element is checked.
TYPED_TEST(PackedGemm, TransposingPackerLaysOutEveryElement) {
    using T = TypeParam;
    constexpr index_t NR = GemmTile<T>::NR, P = GemmTile<T>::kLanes;
    for (index_t count : {NR, 2 * NR + 3, NR - 1})
        for (index_t depth : {P, 3 * P + 5, index_t{7}}) {
            const index_t stride = depth + 2;  // rows further apart than their length
            std::vector<T> src(static_cast<std::size_t>(count * stride));
            for (std::size_t i = 0; i < src.size(); ++i) src[i] = static_cast<T>(i + 1);
            const index_t panels = (count + NR - 1) / NR;
            std::vector<T> packed(static_cast<std::size_t>(panels * NR * depth), T(-1));
            pack_panels<NR>(src.data(), stride, 1, count, depth, packed.data());
            for (index_t i = 0; i < panels * NR; ++i)
                for (index_t k = 0; k < depth; ++k) {
                    const T expected = i < count ? src[static_cast<std::size_t>(i * stride + k)] : T(0);
                    ASSERT_EQ(packed[static_cast<std::size_t>((i / NR) * NR * depth + k * NR + i % NR)], expected)
                        << "row " << i << " depth " << k << " of " << count << " x " << depth;
                }
        }
}

// The tile heights the kernels are instantiated for: tallest first, kMaxMR and kMinMR the ends,
// the default MR among them, and best_tile_rows() the one that pads least.
TEST(GemmTileRows, TallestFirstAndTheLeastPadding) {
    using Tile = kernels::GemmTile<float>;
    const int count = static_cast<int>(sizeof(Tile::kTileRows) / sizeof(Tile::kTileRows[0]));
    EXPECT_EQ(Tile::kTileRows[0], Tile::kMaxMR);
    EXPECT_EQ(Tile::kTileRows[count - 1], Tile::kMinMR);
    bool has_default = false;
    for (int i = 0; i < count; ++i) {
        if (i > 0) {
            EXPECT_LT(Tile::kTileRows[i], Tile::kTileRows[i - 1]);
        }
        has_default = has_default || Tile::kTileRows[i] == Tile::MR;
    }
    EXPECT_TRUE(has_default);
    for (index_t rows = 1; rows <= 64; ++rows) {
        const index_t mr = kernels::best_tile_rows<float>(rows);
        for (int i = 0; i < count; ++i) {
            const index_t other = Tile::kTileRows[i];
            EXPECT_LE((rows + mr - 1) / mr * mr, (rows + other - 1) / other * other) << rows << " rows";
        }
    }
}
