// Human-readable numbers for summaries, tools and examples.
#pragma once

#include <string>

#include "convlayer/core/checked_math.hpp"

namespace convlayer {

/// 105705600 -> "105,705,600" (and -1234 -> "-1,234").
inline std::string with_thousands_separators(index_t v) {
    const std::string digits = std::to_string(v);
    const std::size_t first = v < 0 ? 1 : 0;  // the sign is not a digit
    std::string out = digits.substr(0, first);
    for (std::size_t i = first; i < digits.size(); ++i) {
        if (i > first && (digits.size() - i) % 3 == 0) out += ',';
        out += digits[i];
    }
    return out;
}

}  // namespace convlayer
