// Number and JSON formatting for the convlayer tool's reports.
#pragma once

#include <cmath>
#include <cstdio>
#include <string>

#include "convlayer/core/checked_math.hpp"
#include "convlayer/core/format.hpp"

namespace convlayer::cli {

/// 105705600 -> "105,705,600".
inline std::string with_commas(index_t v) { return with_thousands_separators(v); }

/// A count held in a double (FLOPs): with separators while it fits an index, else "1.8e+20".
inline std::string with_commas(double v) {
    if (v < 9.2e18 && v > -9.2e18) return with_commas(static_cast<index_t>(std::llround(v)));
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.4g", v);
    return buf;
}

/// `v` with `decimals` digits after the point.
inline std::string fixed(double v, int decimals) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    return buf;
}

/// 2359296 -> "2.25 MiB".
inline std::string human_bytes(index_t bytes) {
    const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
    double v = static_cast<double>(bytes);
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        ++u;
    }
    return u == 0 ? std::to_string(bytes) + " bytes" : fixed(v, 2) + " " + units[u];
}

/// A JSON string literal.
inline std::string json_string(const std::string& s) {
    std::string out = "\"";
    for (const char c : s) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\t': out += "\\t"; break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
                    out += buf;
                } else {
                    out += c;
                }
        }
    }
    return out + "\"";
}

/// A JSON number with `digits` significant digits (null for infinities and NaN, which JSON
/// cannot represent).
inline std::string json_number(double v, int digits = 6) {
    if (!std::isfinite(v)) return "null";
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*g", digits, v);
    return buf;
}

}  // namespace convlayer::cli
