// Shape of a batch of volumes: N volumes of W x H x D, stored NHWC.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

#include "convlayer/core/checked_math.hpp"

namespace convlayer {

/// The extents of a `Volume`: batch n, height h, width w, depth d.
/// Element (n, y, x, d) of an NHWC buffer lives at ((n*h + y)*w + x)*d + d.
struct Shape {
    index_t n = 0;  ///< batch size (number of volumes)
    index_t h = 0;  ///< height (y extent)
    index_t w = 0;  ///< width (x extent)
    index_t d = 0;  ///< depth (number of depth slices / channels)

    /// Number of elements n*h*w*d; throws std::length_error if it overflows.
    index_t size() const { return checked_product("volume element count", n, h, w, d); }
    /// Elements of one volume of the batch (h*w*d).
    index_t volume_size() const { return checked_product("volume element count", h, w, d); }

    /// "[N=1, H=227, W=227, D=3]": used in every error message that quotes a shape.
    std::string to_string() const {
        std::ostringstream os;
        os << "[N=" << n << ", H=" << h << ", W=" << w << ", D=" << d << "]";
        return os.str();
    }

    /// True when all four extents are equal.
    friend bool operator==(const Shape& a, const Shape& b) {
        return a.n == b.n && a.h == b.h && a.w == b.w && a.d == b.d;
    }
    /// True when any extent differs.
    friend bool operator!=(const Shape& a, const Shape& b) { return !(a == b); }
};

/// Throws std::invalid_argument unless every extent of `s` is positive and the element count
/// fits in an index. `who` names the caller in the message.
inline void validate_shape(const Shape& s, const char* who) {
    if (s.n <= 0 || s.h <= 0 || s.w <= 0 || s.d <= 0) {
        throw std::invalid_argument(std::string(who) + ": every extent must be positive, got " +
                                    s.to_string());
    }
    (void)s.size();  // overflow check
}

}  // namespace convlayer
