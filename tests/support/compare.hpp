// Element-wise comparison of 4-D buffers that reports where they differ.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <sstream>
#include <string>

#include "convlayer/core/shape.hpp"

namespace convlayer::support {

/// Compares `actual` with `expected`, both laid out as `dims` (n, h, w, d order, last fastest).
/// Passes when |a - e| <= tol everywhere (NaN never passes). On failure the message names the
/// first mismatching index with the axis `labels` (e.g. "n,y,x,d" or "k,ky,kx,d"), both values,
/// the count of mismatches and the largest error.
template <typename T>
::testing::AssertionResult all_near(const T* actual, const T* expected, const Shape& dims, double tol,
                                    const char* labels = "n,y,x,d") {
    const index_t total = dims.size();
    index_t bad = 0, first = -1;
    double worst = 0.0;
    for (index_t i = 0; i < total; ++i) {
        const double a = static_cast<double>(actual[i]), e = static_cast<double>(expected[i]);
        const double err = std::fabs(a - e);
        if (!(err <= tol)) {
            if (first < 0) first = i;
            ++bad;
            worst = std::isnan(err) ? err : std::max(worst, err);
        }
    }
    if (bad == 0) return ::testing::AssertionSuccess();
    const index_t d = first % dims.d, x = (first / dims.d) % dims.w, y = (first / (dims.d * dims.w)) % dims.h,
                  n = first / (dims.d * dims.w * dims.h);
    std::ostringstream os;
    os.precision(std::numeric_limits<double>::max_digits10);
    os << bad << " of " << total << " elements differ by more than " << tol << " (largest " << worst
       << "); first at (" << labels << ") = (" << n << "," << y << "," << x << "," << d << "): actual "
       << static_cast<double>(actual[first]) << ", expected " << static_cast<double>(expected[first]);
    return ::testing::AssertionFailure() << os.str();
}

/// Tolerance for a sum of `length` products of magnitude at most `magnitude` computed in T:
/// a few units of roundoff per term.
template <typename T>
double reduction_tolerance(index_t length, double magnitude = 1.0) {
    return 4.0 * std::numeric_limits<T>::epsilon() * static_cast<double>(std::max<index_t>(length, 1)) *
           magnitude;
}

}  // namespace convlayer::support
