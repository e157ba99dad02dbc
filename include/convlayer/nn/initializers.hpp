// Seeded He and Xavier (Glorot) initialisation of a layer's or network's parameters.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "convlayer/layers/layer.hpp"

namespace convlayer {

/// He et al. 2015 (for ReLU networks): variance 2 / fan_in.
/// Xavier/Glorot & Bengio 2010: variance 2 / (fan_in + fan_out).
/// Uniform variants draw from [-a, a] with a = sqrt(3 * variance); normal variants from
/// N(0, variance). Biases (fan_in == 0) are set to zero.
enum class Init { he_uniform, he_normal, xavier_uniform, xavier_normal };

/// The scheme's name as spelled in code, e.g. "he_uniform".
inline std::string to_string(Init init) {
    switch (init) {
        case Init::he_uniform: return "he_uniform";
        case Init::he_normal: return "he_normal";
        case Init::xavier_uniform: return "xavier_uniform";
        case Init::xavier_normal: return "xavier_normal";
    }
    return "?";
}

namespace detail {

/// Uniform in [0, 1) from the top 53 bits of a 64-bit draw, so the values are the same with every
/// standard library (std::*_distribution are implementation-defined).
inline double unit_uniform(std::mt19937_64& gen) { return static_cast<double>(gen() >> 11) * 0x1.0p-53; }

}  // namespace detail

/// Fills every parameter of `params` as `init` says, from one random stream seeded by `seed`
/// and consumed in parameter order (so the same seed gives the same network).
template <typename T>
void initialize(const std::vector<Parameter<T>>& params, Init init, std::uint64_t seed) {
    std::mt19937_64 gen(seed);
    const double pi = 3.14159265358979323846;
    for (const Parameter<T>& p : params) {
        p.mark_changed();
        if (p.fan_in <= 0) {
            p.values().setZero();
            continue;
        }
        const bool he = init == Init::he_uniform || init == Init::he_normal;
        const double variance = he ? 2.0 / static_cast<double>(p.fan_in)
                                   : 2.0 / static_cast<double>(p.fan_in + p.fan_out);
        if (init == Init::he_uniform || init == Init::xavier_uniform) {
            const double a = std::sqrt(3.0 * variance);
            for (index_t i = 0; i < p.size; ++i) p.value[i] = static_cast<T>(a * (2.0 * detail::unit_uniform(gen) - 1.0));
        } else {
            // Box-Muller: two uniforms give two independent standard normals.
            const double sd = std::sqrt(variance);
            for (index_t i = 0; i < p.size; i += 2) {
                const double r = std::sqrt(-2.0 * std::log(1.0 - detail::unit_uniform(gen)));
                const double angle = 2.0 * pi * detail::unit_uniform(gen);
                p.value[i] = static_cast<T>(sd * r * std::cos(angle));
                if (i + 1 < p.size) p.value[i + 1] = static_cast<T>(sd * r * std::sin(angle));
            }
        }
    }
}

/// Initialises all parameters of `layer` (a single layer or a whole Sequential network).
template <typename T>
void initialize(Layer<T>& layer, Init init, std::uint64_t seed) {
    initialize(layer.parameters(), init, seed);
}

}  // namespace convlayer
