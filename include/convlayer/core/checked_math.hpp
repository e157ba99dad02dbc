// Size arithmetic that cannot overflow silently.
//
// Every product of dimensions in convlayer (elements of a volume, weights of a layer, bytes of a
// workspace) goes through these helpers, so a request that does not fit in a signed 64-bit index
// fails with std::length_error naming the operands, before anything is allocated.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>

namespace convlayer {

/// Signed index type used for every size and coordinate (matches Eigen::Index).
using index_t = std::ptrdiff_t;

namespace detail {
[[noreturn]] inline void throw_overflow(const char* what, index_t a, const char* op, index_t b) {
    std::ostringstream os;
    os << "convlayer: " << what << " overflows: " << a << " " << op << " " << b << " does not fit in a 64-bit index";
    throw std::length_error(os.str());
}
}  // namespace detail

/// a * b, or std::length_error naming `what` and both operands when the product overflows.
/// Requires a >= 0 and b >= 0.
constexpr index_t checked_mul(index_t a, index_t b, const char* what = "size") {
    index_t r = 0;
    if (__builtin_mul_overflow(a, b, &r)) detail::throw_overflow(what, a, "*", b);
    return r;
}

/// a + b, or std::length_error naming `what` and both operands when the sum overflows.
constexpr index_t checked_add(index_t a, index_t b, const char* what = "size") {
    index_t r = 0;
    if (__builtin_add_overflow(a, b, &r)) detail::throw_overflow(what, a, "+", b);
    return r;
}

/// a - b, or std::length_error naming `what` and both operands when the difference overflows.
constexpr index_t checked_sub(index_t a, index_t b, const char* what = "size") {
    index_t r = 0;
    if (__builtin_sub_overflow(a, b, &r)) detail::throw_overflow(what, a, "-", b);
    return r;
}

/// Product of all arguments with overflow checks.
template <typename... Rest>
index_t checked_product(const char* what, index_t first, Rest... rest) {
    index_t r = first;
    ((r = checked_mul(r, static_cast<index_t>(rest), what)), ...);
    return r;
}

/// Bytes needed for `count` elements of T, checked against overflow of size_t and index_t.
template <typename T>
index_t checked_bytes(index_t count, const char* what = "buffer") {
    return checked_mul(count, static_cast<index_t>(sizeof(T)), what);
}

}  // namespace convlayer
