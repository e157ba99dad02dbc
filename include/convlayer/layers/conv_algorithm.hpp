// Which kernel a ConvLayer runs, and the automatic choice.
#pragma once

#include <stdexcept>
#include <string>

#include "convlayer/core/conv_shape.hpp"

namespace convlayer {

enum class ConvAlgorithm {
    automatic,  ///< gemm1x1 where it applies, otherwise im2col
    im2col,     ///< im2col + packed GEMM over bounded blocks: any configuration
    gemm1x1,    ///< the packed GEMM on the NHWC input itself: 1x1 kernel, stride 1, no padding only
    direct,     ///< the nested-loop reference: any configuration, slow, allocates
};

inline const char* to_string(ConvAlgorithm a) {
    switch (a) {
        case ConvAlgorithm::automatic: return "auto";
        case ConvAlgorithm::im2col: return "im2col";
        case ConvAlgorithm::gemm1x1: return "gemm1x1";
        case ConvAlgorithm::direct: return "direct";
    }
    return "?";
}

/// The algorithm `requested` resolves to for problem `s`; throws std::invalid_argument when the
/// requested algorithm cannot run it.
inline ConvAlgorithm select_algorithm(ConvAlgorithm requested, const ConvShape& s) {
    if (requested == ConvAlgorithm::automatic)
        return s.im2col_is_identity() ? ConvAlgorithm::gemm1x1 : ConvAlgorithm::im2col;
    if (requested == ConvAlgorithm::gemm1x1 && !s.im2col_is_identity())
        throw std::invalid_argument("ConvAlgorithm::gemm1x1 needs a 1x1 kernel, stride 1 and no padding; got " +
                                    s.to_string());
    return requested;
}

}  // namespace convlayer
