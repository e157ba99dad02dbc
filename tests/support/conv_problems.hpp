// Randomly drawn conv problems and the data to run them on, for the reference sweeps.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "convlayer/core/conv_shape.hpp"
#include "convlayer/core/volume.hpp"

namespace convlayer::support {

/// A drawn problem: the layer's hyperparameters, the input shape, and the resolved shape.
struct ConvProblem {
    ConvParams params;
    Shape input;
    ConvShape shape;
    std::uint64_t seed = 0;  ///< the seed that drew it (printed on failure)

    std::string to_string() const {
        return shape.to_string() + " (seed " + std::to_string(seed) + ")";
    }
};

/// Ranges of the sweep in issue #2: N in [1,4], H != W in [1,40], D1, K in [1,24],
/// Fh, Fw in [1,7], S in [1,4], P in [0,3], dilation in [1,3], any fit policy.
struct ProblemRanges {
    index_t max_n = 4, max_hw = 40, max_depth = 24, max_filters = 24, max_kernel = 7;
    index_t max_stride = 4, max_pad = 3, max_dilation = 3;
    double max_macs = 2.0e7;  ///< redraw problems costlier than this for the nested-loop reference
    bool one_by_one = false;  ///< draw only 1x1 kernels without padding (any stride)
};

/// Draws a valid problem from `seed` (deterministic); invalid draws are redrawn.
inline ConvProblem draw_problem(std::uint64_t seed, const ProblemRanges& r = {}) {
    std::mt19937_64 gen(seed);
    auto uni = [&](index_t lo, index_t hi) { return std::uniform_int_distribution<index_t>(lo, hi)(gen); };
    for (;;) {
        ConvProblem p;
        p.seed = seed;
        const index_t h = uni(1, r.max_hw);
        index_t w = uni(1, r.max_hw);
        if (w == h && r.max_hw > 1) w = (w % r.max_hw) + 1;  // H != W
        p.input = Shape{uni(1, r.max_n), h, w, uni(1, r.max_depth)};
        const index_t fh = uni(1, r.max_kernel);
        const index_t fw = uni(0, 3) == 0 ? fh : uni(1, r.max_kernel);  // mostly rectangular
        p.params = ConvParams(p.input.d, uni(1, r.max_filters), HW(fh, fw),
                              HW(uni(1, r.max_stride), uni(1, r.max_stride)),
                              HW(uni(0, r.max_pad), uni(0, r.max_pad)));
        p.params.with_dilation(uni(0, 2) == 0 ? HW(uni(1, r.max_dilation), uni(1, r.max_dilation)) : HW(1));
        p.params.with_fit(static_cast<FitPolicy>(uni(0, 2)));
        if (r.one_by_one) {
            p.params.kernel = HW(1);
            p.params.pad = HW(0);
            p.params.dilation = HW(1);
        }
        try {
            p.shape = resolve(p.params, p.input);
        } catch (const std::invalid_argument&) {
            continue;  // e.g. kernel larger than the padded input, or not an integer under exact
        }
        const double macs = p.shape.flops() / 2;
        if (macs > r.max_macs) continue;
        return p;
    }
}

/// Number of problems a sweep draws: `standard`, or CONVLAYER_SWEEP_PROBLEMS when set (the
/// sanitizer preset uses a smaller sweep).
inline int sweep_size(int standard) {
    if (const char* env = std::getenv("CONVLAYER_SWEEP_PROBLEMS")) return std::max(1, std::atoi(env));
    return standard;
}

/// Fills `v` with small integers in [-range, range]: sums of their products are exact in float,
/// so kernels can be compared with the reference with tolerance 0.
template <typename T>
void fill_small_integers(Volume<T>& v, std::uint64_t seed, int range = 4) {
    std::mt19937_64 gen(seed);
    std::uniform_int_distribution<int> dist(-range, range);
    for (index_t i = 0; i < v.size(); ++i) v.data()[i] = static_cast<T>(dist(gen));
}
template <typename T>
void fill_small_integers(T* data, index_t count, std::uint64_t seed, int range = 4) {
    std::mt19937_64 gen(seed);
    std::uniform_int_distribution<int> dist(-range, range);
    for (index_t i = 0; i < count; ++i) data[i] = static_cast<T>(dist(gen));
}
template <typename T>
void fill_uniform(T* data, index_t count, std::uint64_t seed) {
    std::mt19937_64 gen(seed);
    std::uniform_real_distribution<T> dist(T(-1), T(1));
    for (index_t i = 0; i < count; ++i) data[i] = dist(gen);
}

}  // namespace convlayer::support
