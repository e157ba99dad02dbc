// Winograd F(4x4, 3x3) convolution for 3x3 kernels, stride 1, dilation 1 (Lavin & Gray 2016).
//
// Each 4x4 output tile of channel k is  Y = A^T [ sum_c (G g_kc G^T) .* (B^T d_c B) ] A,  where
// d_c is the 6x6 input tile of channel c (zero outside the input) and g_kc the 3x3 filter. With
// U_xi = (G g G^T)_xi as a C x K matrix and V_xi = (B^T d B)_xi as a tiles x C matrix for each of
// the 36 positions xi of the 6x6 transform domain, the sum is 36 GEMMs  M_xi = V_xi U_xi,  run
// by the packed GEMM micro-kernel. That is 36 multiplies per 16 outputs instead of 144.
//
// Backward-data of a stride-1 conv is the same operation: dx = conv(dy, W'), W'[c][i][j][k] =
// W[k][2-i][2-j][c], padding 2 - P. Rounding: the transforms' constants (1/4, 1/6, 1/24, up to
// 8 and 5) amplify float rounding; the error bound tested is 16x the
// plain-sum tolerance (4 eps x reduction length; measured worst 2x in float, 6x in double).
#pragma once

#include <algorithm>
#include <cstring>
#include <string>

#include "convlayer/core/conv_shape.hpp"
#include "convlayer/core/threading.hpp"
#include "convlayer/kernels/conv_plan.hpp"
#include "convlayer/kernels/direct_conv.hpp"
#include "convlayer/kernels/nonfinite.hpp"
#include "convlayer/kernels/packed_gemm.hpp"
#include "convlayer/kernels/tuning.hpp"

namespace convlayer::kernels {

/// Outputs per side of a Winograd tile (m = 4 in F(4x4, 3x3)).
inline constexpr index_t kWinogradTile = 4;    // m: outputs per tile side
/// Side of a transform-domain tile: m + 3 - 1 = 6 inputs.
inline constexpr index_t kWinogradAlpha = 6;   // m + 3 - 1: transform-domain tile side
/// Points of a transformed tile, alpha^2 = 36: one GEMM per point.
inline constexpr index_t kWinogradPoints = 36; // alpha^2 GEMMs

/// Whether Winograd F(4x4, 3x3) runs problem `s` forward and backward-data: 3x3 kernel, stride 1,
/// dilation 1, and padding at most 2 on each side (backward-data pads by 2 - P).
inline bool winograd_applies(const ConvShape& s) {
    for (const AxisGeometry* g : {&s.y, &s.x})
        if (g->kernel != 3 || g->stride != 1 || g->dilation != 1 || g->pad_begin > 2 || g->pad_end > 2 ||
            g->pad_begin != g->pad_end)
            return false;
    return true;
}

namespace detail {

// B^T (6x6) applied to six vectors of length n: out[i] = sum_j BT[i][j] in[j].
template <typename T>
inline void winograd_bt(const T* const in[6], T* const out[6], index_t n) {
    for (index_t c = 0; c < n; ++c) {
        const T d0 = in[0][c], d1 = in[1][c], d2 = in[2][c], d3 = in[3][c], d4 = in[4][c], d5 = in[5][c];
        out[0][c] = T(4) * d0 - T(5) * d2 + d4;
        out[1][c] = -T(4) * (d1 + d2) + d3 + d4;
        out[2][c] = T(4) * (d1 - d2) - d3 + d4;
        out[3][c] = T(2) * (d3 - d1) - d2 + d4;
        out[4][c] = T(2) * (d1 - d3) - d2 + d4;
        out[5][c] = T(4) * d1 - T(5) * d3 + d5;
    }
}

// A^T (4x6) applied to six vectors of length n.
template <typename T>
inline void winograd_at(const T* const in[6], T* const out[4], index_t n) {
    for (index_t c = 0; c < n; ++c) {
        const T m0 = in[0][c], m1 = in[1][c], m2 = in[2][c], m3 = in[3][c], m4 = in[4][c], m5 = in[5][c];
        const T s12 = m1 + m2, d12 = m1 - m2, s34 = m3 + m4, d34 = m3 - m4;
        out[0][c] = m0 + s12 + s34;
        out[1][c] = d12 + T(2) * d34;
        out[2][c] = s12 + T(4) * s34;
        out[3][c] = d12 + T(8) * d34 + m5;
    }
}

// G (6x3) applied to three vectors of length n: out[i] = sum_j G[i][j] in[j].
template <typename T>
inline void winograd_g(const T* const in[3], T* const out[6], index_t n) {
    const T quarter = T(1) / T(4), sixth = T(1) / T(6), twelfth = T(1) / T(12), twentyfourth = T(1) / T(24);
    for (index_t c = 0; c < n; ++c) {
        const T g0 = in[0][c], g1 = in[1][c], g2 = in[2][c];
        out[0][c] = quarter * g0;
        out[1][c] = -sixth * (g0 + g1 + g2);
        out[2][c] = -sixth * (g0 - g1 + g2);
        out[3][c] = twentyfourth * g0 + twelfth * g1 + sixth * g2;
        out[4][c] = twentyfourth * g0 - twelfth * g1 + sixth * g2;
        out[5][c] = g2;
    }
}

}  // namespace detail

/// Values of the 36 transformed, packed filter matrices (each c_in x c_out in NR panels).
template <typename T>
index_t winograd_filter_elements(index_t c_in, index_t c_out) {
    constexpr int NR = GemmTile<T>::NR;
    return kWinogradPoints * c_in * detail::round_up(c_out, NR);
}

/// Per-thread scratch of winograd_transform_filters(): 6 x 3 + 6 vectors of C values.
inline index_t winograd_filter_scratch_elements(index_t C) { return 24 * C; }

/// Transforms OHWI 3x3 weights w (K x 3 x 3 x C) into the 36 matrices U_xi = (G g G^T)_xi,
/// written straight into packed NR panels. Forward: c_in = C, c_out = K. For backward-data
/// (`for_backward_data`): c_in = K, c_out = C, with the filters flipped. Filter k's taps are
/// vectors over c (OHWI), so the transform runs vectorised over C; `scratch` holds
/// threads * winograd_filter_scratch_elements(C) values.
template <typename T>
void winograd_transform_filters(const T* w, index_t K, index_t C, bool for_backward_data, T* scratch, T* u_packed,
                                int threads) {
    constexpr int NR = GemmTile<T>::NR;
    const index_t c_in = for_backward_data ? K : C, c_out = for_backward_data ? C : K;
    const index_t per = winograd_filter_elements<T>(c_in, c_out) / kWinogradPoints;
    if (c_out % NR != 0)  // zero the padding columns of the last panel
        for (index_t xi = 0; xi < kWinogradPoints; ++xi) std::fill_n(u_packed + xi * per, per, T(0));
    parallel_for(K, threads, [&](index_t k, int t) {
        T* gg = scratch + t * winograd_filter_scratch_elements(C);  // G g: 6 x 3 vectors, then G g G^T row by row: 6 vectors
        T* row = gg + 18 * C;
        for (index_t j = 0; j < 3; ++j) {  // columns of g: gg[i][j] = sum_r G[i][r] g[r][j]
            const T* in[3];
            T* out[6];
            for (index_t r = 0; r < 3; ++r) {
                const index_t tap = for_backward_data ? (2 - r) * 3 + (2 - j) : r * 3 + j;
                in[r] = w + (k * 9 + tap) * C;
            }
            for (index_t i = 0; i < 6; ++i) out[i] = gg + (i * 3 + j) * C;
            detail::winograd_g(in, out, C);
        }
        for (index_t i = 0; i < 6; ++i) {  // rows: u[i][q] = sum_r gg[i][r] G[q][r]
            const T* in[3] = {gg + (i * 3) * C, gg + (i * 3 + 1) * C, gg + (i * 3 + 2) * C};
            T* out[6];
            for (index_t q = 0; q < 6; ++q) out[q] = row + q * C;
            detail::winograd_g(in, out, C);
            // Scatter u[i][q][c] to element (in, out) of packed U_{6i+q}: (in, out) lives at
            // ((out / NR) * c_in + in) * NR + out % NR.
            for (index_t q = 0; q < 6; ++q) {
                T* dst = u_packed + (6 * i + q) * per;
                const T* src = row + q * C;
                if (for_backward_data) {  // in = k, out = c
                    for (index_t c = 0; c < C; ++c) dst[((c / NR) * c_in + k) * NR + c % NR] = src[c];
                } else {  // in = c, out = k
                    T* panel = dst + (k / NR) * c_in * NR + k % NR;
                    for (index_t c = 0; c < C; ++c) panel[c * NR] = src[c];
                }
            }
        }
    });
}

/// Geometry of one Winograd convolution: input [n, h, w, c_in] -> output [n, out_h, out_w, c_out]
/// with a 3x3 kernel, stride 1 and zero padding pad_y, pad_x.
struct WinogradProblem {
    /// \var n
    /// Batch size.
    /// \var h
    /// Input height.
    /// \var w
    /// Input width.
    /// \var c_in
    /// Input channels.
    /// \var c_out
    /// Output channels.
    /// \var pad_y
    /// Zero rows above (and below) the input.
    /// \var pad_x
    /// Zero columns left (and right) of the input.
    /// \var out_h
    /// Output height.
    /// \var out_w
    /// Output width.
    index_t n, h, w, c_in, c_out, pad_y, pad_x, out_h, out_w;

    /// Tile rows per image: out_h / 4, rounded up.
    index_t tiles_y() const { return (out_h + kWinogradTile - 1) / kWinogradTile; }
    /// Tile columns per image: out_w / 4, rounded up.
    index_t tiles_x() const { return (out_w + kWinogradTile - 1) / kWinogradTile; }
    /// Tiles in the whole batch.
    index_t tiles() const { return n * tiles_y() * tiles_x(); }

    /// The forward pass of `s`: x -> y.
    static WinogradProblem forward(const ConvShape& s) {
        return {s.n, s.y.in, s.x.in, s.d1, s.k, s.y.pad_begin, s.x.pad_begin, s.y.out, s.x.out};
    }
    /// The backward-data pass of `s` as a forward conv: dY -> dX, padded by 2 - P.
    static WinogradProblem backward_data(const ConvShape& s) {
        return {s.n, s.y.out, s.x.out, s.k, s.d1, 2 - s.y.pad_begin, 2 - s.x.pad_begin, s.y.in, s.x.in};
    }
};

/// Per-thread workspace values for blocks of `block_tiles` tiles: V (36 x tiles x c_in),
/// M (36 x tiles x c_out), the two transform scratch tiles, a zero row and the GEMM edge panel.
template <typename T>
index_t winograd_thread_elements(const WinogradProblem& p, index_t block_tiles) {
    const index_t c = std::max(p.c_in, p.c_out);
    return kWinogradPoints * block_tiles * (p.c_in + p.c_out) + 2 * kWinogradPoints * c + p.c_in +
           GemmTile<T>::MR * p.c_in;
}

/// Tiles per block so that one thread's workspace stays within `budget_bytes` (at least one MR
/// panel of tiles).
template <typename T>
index_t winograd_block_tiles(const WinogradProblem& p, index_t budget_bytes) {
    constexpr index_t MR = GemmTile<T>::MR;
    const index_t per_tile = kWinogradPoints * (p.c_in + p.c_out) * static_cast<index_t>(sizeof(T));
    const index_t fit = budget_bytes / per_tile / MR * MR;
    return std::max(MR, std::min(fit, (p.tiles() + MR - 1) / MR * MR));
}

/// A repair that leaves Winograd's own pattern of NaN and Inf (see winograd_conv).
struct WinogradKeepsItsNonFinite {
    /// Does nothing: the tile keeps the outputs Winograd computed.
    void operator()(index_t, index_t, index_t, index_t, index_t) const {}
};

namespace detail {
// One thread's parts of winograd_conv()'s workspace (winograd_thread_elements() values).
template <typename T>
struct WinogradScratch {
    T* V;     // 36 x block_tiles x c_in: the transformed input tiles
    T* M;     // 36 x block_tiles x c_out: their products with U
    T* tmp;   // 2 x 36 x max(c_in, c_out): one tile's transform in progress
    T* zero;  // c_in zeros: the padding every out-of-image input reads
    T* edge;  // MR x c_in: the GEMM's edge panel
    WinogradScratch(const WinogradProblem& p, index_t block_tiles, T* ws)
        : V(ws),
          M(V + kWinogradPoints * block_tiles * p.c_in),
          tmp(M + kWinogradPoints * block_tiles * p.c_out),
          zero(tmp + 2 * kWinogradPoints * std::max(p.c_in, p.c_out)),
          edge(zero + p.c_in) {
        std::fill_n(zero, p.c_in, T(0));
    }
};

// Input transform of `tile` into row r of the block: V[xi][r][c] = (B^T d B)_xi, d its 6 x 6
// input values (zeros outside the image).
template <typename T>
void winograd_input_tile(const WinogradProblem& p, const T* x, index_t tile, index_t r, index_t block_tiles,
                         const WinogradScratch<T>& w) {
    const index_t A = kWinogradAlpha, m = kWinogradTile, tx_count = p.tiles_x(), per_image = p.tiles_y() * tx_count;
    const index_t n = tile / per_image;
    const index_t iy0 = (tile % per_image) / tx_count * m - p.pad_y, ix0 = tile % tx_count * m - p.pad_x;
    const T* d[6][6];
    for (index_t i = 0; i < A; ++i)
        for (index_t j = 0; j < A; ++j) {
            const index_t iy = iy0 + i, ix = ix0 + j;
            d[i][j] = iy >= 0 && iy < p.h && ix >= 0 && ix < p.w ? x + ((n * p.h + iy) * p.w + ix) * p.c_in : w.zero;
        }
    for (index_t j = 0; j < A; ++j) {  // columns: tmp[i][j] = sum_k BT[i][k] d[k][j]
        const T* in[6] = {d[0][j], d[1][j], d[2][j], d[3][j], d[4][j], d[5][j]};
        T* out[6];
        for (index_t i = 0; i < A; ++i) out[i] = w.tmp + (i * A + j) * p.c_in;
        winograd_bt(in, out, p.c_in);
    }
    for (index_t i = 0; i < A; ++i) {  // rows: V[i][q] = sum_k tmp[i][k] BT[q][k]
        const T* in[6];
        T* out[6];
        for (index_t j = 0; j < A; ++j) {
            in[j] = w.tmp + (i * A + j) * p.c_in;
            out[j] = w.V + ((i * A + j) * block_tiles + r) * p.c_in;
        }
        winograd_bt(in, out, p.c_in);
    }
}

// Output transform of row r of the block: A^T M_r A, 4 x 4 x c_out values, into `out`.
template <typename T>
void winograd_output_tile(const WinogradProblem& p, index_t r, index_t block_tiles, const WinogradScratch<T>& w,
                          T* out_tile) {
    const index_t A = kWinogradAlpha, m = kWinogradTile;
    for (index_t j = 0; j < A; ++j) {  // tmp[i][j] = sum_k AT[i][k] M[k][j], i < 4
        const T* in[6];
        T* out[4];
        for (index_t k = 0; k < A; ++k) in[k] = w.M + ((k * A + j) * block_tiles + r) * p.c_out;
        for (index_t i = 0; i < m; ++i) out[i] = w.tmp + (i * A + j) * p.c_out;
        winograd_at(in, out, p.c_out);
    }
    for (index_t i = 0; i < m; ++i) {
        const T* in[6];
        T* out[4];
        for (index_t k = 0; k < A; ++k) in[k] = w.tmp + (i * A + k) * p.c_out;
        for (index_t q = 0; q < m; ++q) out[q] = out_tile + (i * m + q) * p.c_out;
        winograd_at(in, out, p.c_out);
    }
}
}  // namespace detail

/// y = conv3x3(x, U) + bias (bias may be null) for the packed, transformed filters U of
/// winograd_transform_filters(). `workspace` holds threads * winograd_thread_elements() values.
/// A tile whose outputs hold a NaN or Inf (its transforms mix all of its inputs, so one Inf
/// input can make every output of the tile NaN) is then passed to repair(n, oy0, ox0, rows,
/// cols), on the thread that wrote it, to recompute those outputs another way (nonfinite.hpp).
template <typename T, typename Repair = WinogradKeepsItsNonFinite>
void winograd_conv(const WinogradProblem& p, const T* x, const T* u_packed, const T* bias, T* y, T* workspace,
                   index_t block_tiles, int threads, const Repair& repair = Repair{}) {
    const index_t m = kWinogradTile, tx_count = p.tiles_x(), per_image = p.tiles_y() * tx_count, total = p.tiles();
    const index_t blocks = (total + block_tiles - 1) / block_tiles;
    const index_t u_per = winograd_filter_elements<T>(p.c_in, p.c_out) / kWinogradPoints;
    const index_t thread_elements = winograd_thread_elements<T>(p, block_tiles);
    parallel_for(blocks, threads, [&](index_t b, int t) {
        const detail::WinogradScratch<T> w(p, block_tiles, workspace + t * thread_elements);
        const index_t first = b * block_tiles, count = std::min(block_tiles, total - first);
        for (index_t r = 0; r < count; ++r) detail::winograd_input_tile(p, x, first + r, r, block_tiles, w);
        // 36 GEMMs: M_xi (count x c_out) = V_xi (count x c_in) U_xi.
        for (index_t xi = 0; xi < kWinogradPoints; ++xi)
            gemm_block(w.V + xi * block_tiles * p.c_in, p.c_in, true, count, p.c_in, u_packed + xi * u_per, p.c_out,
                       w.M + xi * block_tiles * p.c_out, p.c_out, false, static_cast<const T*>(nullptr), w.edge);
        // Y = A^T M A, cropped at the output's edges, plus bias.
        T* out_tile = w.tmp + kWinogradPoints * p.c_out;  // 4 x 4 x c_out, after the transform's half
        for (index_t r = 0; r < count; ++r) {
            const index_t tile = first + r, n = tile / per_image;
            const index_t oy0 = (tile % per_image) / tx_count * m, ox0 = tile % tx_count * m;
            detail::winograd_output_tile(p, r, block_tiles, w, out_tile);
            const index_t rows = std::min(m, p.out_h - oy0), cols = std::min(m, p.out_w - ox0);
            for (index_t i = 0; i < rows; ++i)
                for (index_t q = 0; q < cols; ++q) {
                    T* dst = y + ((n * p.out_h + oy0 + i) * p.out_w + ox0 + q) * p.c_out;
                    const T* src = out_tile + (i * m + q) * p.c_out;
                    if (bias)
                        for (index_t k = 0; k < p.c_out; ++k) dst[k] = src[k] + bias[k];
                    else
                        std::copy_n(src, p.c_out, dst);
                }
            if (any_nonfinite(out_tile, m * m * p.c_out)) repair(n, oy0, ox0, rows, cols);
        }
    });
}

// Plans (see conv_plan.hpp): ConvAlgorithm::winograd, forward and backward-data.

/// The automatic choice of Winograd: it applies, with at least kWinogradMinChannels input and
/// output channels, kWinogradMinTiles output tiles and transformed filters of at most
/// kWinogradMaxFilterValues values (tuning.hpp; docs/performance.md has the measurements).
inline bool winograd_pays_off(const ConvShape& s) {
    if (!winograd_applies(s) || s.d1 < kWinogradMinChannels || s.k < kWinogradMinChannels) return false;
    const index_t tiles = s.n * ((s.y.out + 3) / 4) * ((s.x.out + 3) / 4);
    return tiles >= kWinogradMinTiles && kWinogradPoints * s.d1 * s.k <= kWinogradMaxFilterValues;
}

namespace detail {
// Forward (y = conv(x, W) + b) or backward-data (dx = conv(dy, flipped W)), with the filters
// transformed by pack_weights().
template <typename T, bool kBackwardData>
struct WinogradPass : ConvPlan<T> {
    using Scalar = T;
    ConvShape s;
    int threads;
    WinogradProblem p;
    index_t block_tiles;
    explicit WinogradPass(const ConvPlanContext& c)
        : s(c.shape),
          threads(c.threads),
          p(kBackwardData ? WinogradProblem::backward_data(s) : WinogradProblem::forward(s)),
          block_tiles(winograd_block_tiles<T>(p, c.budget_bytes)) {}
    static std::string refusal(const ConvShape& s) {
        return winograd_applies(s) ? std::string()
                                   : "it needs a 3x3 kernel, stride 1, dilation 1 and equal padding <= 2";
    }
    static bool pays_off(const ConvShape& s, int) { return winograd_pays_off(s); }
    // The filter transform's scratch, then (reusing it) the blocks of tiles.
    index_t workspace_elements() const override {
        return threads * std::max(winograd_filter_scratch_elements(s.d1), winograd_thread_elements<T>(p, block_tiles));
    }
    index_t packed_weight_elements() const override { return winograd_filter_elements<T>(p.c_in, p.c_out); }
    void pack_weights(const T* w, T* packed, T* workspace) const override {
        winograd_transform_filters(w, s.k, s.d1, kBackwardData, workspace, packed, threads);
    }
    void run(const ConvOperands<T>& io, T* workspace) const override {
        const T* in = kBackwardData ? io.dy : io.x;
        T* out = kBackwardData ? io.dx : io.y;
        const T* b = kBackwardData ? nullptr : io.bias;
        // A tile with a NaN or Inf is recomputed by the definition (see nonfinite.hpp).
        auto repair = [&](index_t n, index_t oy0, index_t ox0, index_t rows, index_t cols) {
            for (index_t i = 0; i < rows; ++i)
                for (index_t q = 0; q < cols; ++q) {
                    T* at = out + ((n * p.out_h + oy0 + i) * p.out_w + ox0 + q) * p.c_out;
                    if (kBackwardData) direct_conv_backward_data_at(s, in, io.weights, n, oy0 + i, ox0 + q, at);
                    else direct_conv_forward_at(s, in, io.weights, b, n, oy0 + i, ox0 + q, at);
                }
        };
        winograd_conv(p, in, io.packed, b, out, workspace, block_tiles, threads, repair);
    }
};
}  // namespace detail

/// ConvAlgorithm::winograd, forward.
template <typename T>
struct WinogradForward final : detail::WinogradPass<T, false> {
    using detail::WinogradPass<T, false>::WinogradPass;
};
/// ConvAlgorithm::winograd, backward-data.
template <typename T>
struct WinogradBackwardData final : detail::WinogradPass<T, true> {
    using detail::WinogradPass<T, true>::WinogradPass;
};

}  // namespace convlayer::kernels
