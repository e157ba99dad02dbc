// Which kernel a ConvLayer runs, and the automatic choice.
#pragma once

#include <stdexcept>
#include <string>

#include "convlayer/core/conv_shape.hpp"
#include "convlayer/kernels/implicit_gemm_conv.hpp"
#include "convlayer/kernels/winograd.hpp"

namespace convlayer {

enum class ConvAlgorithm {
    automatic,  ///< gemm1x1 where it applies, winograd or implicit_gemm where they pay off, else im2col
    im2col,     ///< im2col + packed GEMM over bounded blocks: any configuration (backward-weights
                ///< reads patches in place, as implicit_gemm, where that applies)
    gemm1x1,    ///< the packed GEMM on the NHWC input itself: 1x1 kernel, stride 1, no padding only
    winograd,   ///< Winograd F(4x4, 3x3) forward and backward-data (dW as for im2col): 3x3,
                ///< stride 1, dilation 1, padding <= 2
    implicit_gemm,  ///< forward and backward-weights read patches from padded input rows (no
                    ///< im2col matrix); backward-data as a forward conv over dY where
                    ///< implicit_gemm_backward_data_pays_off() (stride and dilation 1, P <= F - 1,
                    ///< D1 filling the GEMM's panels), else as im2col: dilation 1 along the width
    direct,     ///< the nested-loop reference: any configuration, slow, allocates
};

/// Every algorithm, for tools and tests that try them all.
inline constexpr ConvAlgorithm kAllConvAlgorithms[] = {ConvAlgorithm::automatic, ConvAlgorithm::im2col,
                                                       ConvAlgorithm::gemm1x1, ConvAlgorithm::winograd,
                                                       ConvAlgorithm::implicit_gemm, ConvAlgorithm::direct};

inline const char* to_string(ConvAlgorithm a) {
    switch (a) {
        case ConvAlgorithm::automatic: return "auto";
        case ConvAlgorithm::im2col: return "im2col";
        case ConvAlgorithm::gemm1x1: return "gemm1x1";
        case ConvAlgorithm::winograd: return "winograd";
        case ConvAlgorithm::implicit_gemm: return "implicit_gemm";
        case ConvAlgorithm::direct: return "direct";
    }
    return "?";
}

/// The automatic choice of Winograd, from measurements on this project's benchmark machine
/// (AVX-512, 1 thread): it applies; at least 64 input and output channels (below that the
/// transforms and the short GEMM depth cost more than the 4x fewer multiplies save: 14x14x32 -> 64
/// ran at 0.5-0.9x im2col's speed); at least 128 output tiles of 4x4 to amortise the per-call
/// filter transform (VGG conv5_2 at N=1, 16 tiles: 0.4x); and transformed filters (36 C K values)
/// of at most 3 Mi values, which bounds the workspace (VGG conv5_2 would need 36 MiB). Where it is
/// chosen it measured 1.6-2.7x im2col (VGG conv1_2, conv3_2).
inline bool winograd_pays_off(const ConvShape& s) {
    if (!kernels::winograd_applies(s) || s.d1 < 64 || s.k < 64) return false;
    const index_t tiles = s.n * ((s.y.out + 3) / 4) * ((s.x.out + 3) / 4);
    return tiles >= 128 && kernels::kWinogradPoints * s.d1 * s.k <= (index_t{3} << 20);
}

/// The automatic choice of the implicit GEMM (see ConvAlgorithm::implicit_gemm), from measurements on this project's benchmark machine (AVX-512, 1 thread):
/// - inputs of at most 4 channels, where im2col's copy of F*F*D1-value patches costs as much as
///   the arithmetic: MNIST conv1 (D1 = 1) 137 -> 208-225 GFLOP/s, AlexNet conv1 (D1 = 3) 190 -> 228;
/// - any depth where tiles of output columns (best_tile_rows(): 8, 12 or 14) leave at most 1/8 of
///   their rows idle: MNIST conv2 248 -> 286, VGG conv5_2 260 -> 275, ResNet's 3x3/2 229 -> 254
///   (14, 14 and 28 columns). At 1/8 it is a tie (64 -> 64 channels, 3x3, 7 columns: 224 against
///   im2col's 227 GFLOP/s); where more sit idle im2col's patch rows, which run on across output
///   rows, win (17 columns, 7 of 24 idle: 180 against 225). Measured with AVX-512's tiles; other
///   builds apply the same rule to their 6-row tiles.
inline bool implicit_gemm_pays_off(const ConvShape& s) {
    if (!kernels::implicit_gemm_applies(s)) return false;
    if (s.d1 <= 4) return true;
    const index_t mr = kernels::best_tile_rows<float>(s.x.out);
    const index_t padded = kernels::detail::round_up(s.x.out, mr);
    return 8 * (padded - s.x.out) <= padded;
}

/// Whether algorithm `a` can run problem `s` (automatic and direct always can).
inline bool algorithm_applies(ConvAlgorithm a, const ConvShape& s) {
    switch (a) {
        case ConvAlgorithm::gemm1x1: return s.im2col_is_identity();
        case ConvAlgorithm::winograd: return kernels::winograd_applies(s);
        case ConvAlgorithm::implicit_gemm: return kernels::implicit_gemm_applies(s);
        default: return true;
    }
}

/// The algorithm `requested` resolves to for problem `s`; throws std::invalid_argument when the
/// requested algorithm cannot run it.
inline ConvAlgorithm select_algorithm(ConvAlgorithm requested, const ConvShape& s) {
    if (requested == ConvAlgorithm::automatic) {
        if (s.im2col_is_identity()) return ConvAlgorithm::gemm1x1;
        if (winograd_pays_off(s)) return ConvAlgorithm::winograd;
        return implicit_gemm_pays_off(s) ? ConvAlgorithm::implicit_gemm : ConvAlgorithm::im2col;
    }
    if (requested == ConvAlgorithm::gemm1x1 && !s.im2col_is_identity())
        throw std::invalid_argument("ConvAlgorithm::gemm1x1 needs a 1x1 kernel, stride 1 and no padding; got " +
                                    s.to_string());
    if (requested == ConvAlgorithm::winograd && !kernels::winograd_applies(s))
        throw std::invalid_argument(
            "ConvAlgorithm::winograd needs a 3x3 kernel, stride 1, dilation 1 and equal padding <= 2; got " +
            s.to_string());
    if (requested == ConvAlgorithm::implicit_gemm && !kernels::implicit_gemm_applies(s))
        throw std::invalid_argument("ConvAlgorithm::implicit_gemm needs dilation 1 and padding at most the kernel "
                                    "width along the width; got " +
                                    s.to_string());
    return requested;
}

}  // namespace convlayer
