// Convolution geometry: output extent, fit policy and the validation of a conv configuration.
//
// Along one axis, with input extent W, kernel F, dilation d, stride S and zero-padding P:
//   F_eff = d*(F - 1) + 1                     (extent the dilated kernel covers)
//   out   = (W - F_eff + 2P) / S + 1
// When S does not divide W - F_eff + 2P the configuration is invalid (FitPolicy::exact, the
// default). FitPolicy::crop floors the quotient (the last input rows/columns are never read, as in
// PyTorch); FitPolicy::pad_to_fit rounds it up and zero-pads the far edge by the missing amount.
#pragma once

#include <cmath>
#include <iomanip>
#include <sstream>
#include <stdexcept>
#include <string>

#include "convlayer/core/checked_math.hpp"

namespace convlayer {

/// What to do when (W - F_eff + 2P)/S + 1 is not an integer.
enum class FitPolicy {
    exact,       ///< reject with std::invalid_argument (default)
    crop,        ///< floor: drop the input that no full window reaches
    pad_to_fit,  ///< ceil: zero-pad the far edge so the last window fits
};

/// The policy's name as spelled in code: "exact", "crop" or "pad_to_fit".
inline const char* to_string(FitPolicy p) {
    switch (p) {
        case FitPolicy::exact: return "exact";
        case FitPolicy::crop: return "crop";
        case FitPolicy::pad_to_fit: return "pad_to_fit";
    }
    return "?";
}

/// A pair of extents along height and width (kernel, stride, padding or dilation).
struct HW {
    /// Extent along the height (y).
    index_t h = 0;
    /// Extent along the width (x).
    index_t w = 0;
    constexpr HW() = default;
    /// The same extent along both axes; implicit, so `3` means 3x3.
    constexpr HW(index_t both) : h(both), w(both) {}  // NOLINT: implicit by design (F=3 -> 3x3)
    /// Height `h_` and width `w_`.
    constexpr HW(index_t h_, index_t w_) : h(h_), w(w_) {}
    /// True when both extents are equal.
    friend constexpr bool operator==(HW a, HW b) { return a.h == b.h && a.w == b.w; }
    /// True when either extent differs.
    friend constexpr bool operator!=(HW a, HW b) { return !(a == b); }
};

namespace detail {
[[noreturn]] inline void throw_invalid(const std::string& msg) { throw std::invalid_argument(msg); }
}  // namespace detail

/// Throws std::invalid_argument unless kernel, stride, dilation >= 1 and pad >= 0. `axis`
/// ("height", "width", or "" for none) appears in the message.
inline void validate_axis_parameters(const char* axis, index_t kernel, index_t pad, index_t stride,
                                     index_t dilation) {
    const std::string at = *axis ? std::string(" ") + axis : std::string();
    std::ostringstream os;
    if (kernel < 1) os << "kernel" << at << " F=" << kernel << " must be at least 1";
    else if (stride < 1) os << "stride" << at << " S=" << stride << " must be at least 1";
    else if (dilation < 1) os << "dilation" << at << " " << dilation << " must be at least 1 (1 means none)";
    else if (pad < 0) os << "padding" << at << " P=" << pad << " must not be negative";
    else return;
    detail::throw_invalid("convlayer: " + os.str());
}

// The helpers below are constexpr for valid arguments; they throw std::invalid_argument for a
// kernel, stride or dilation below 1 or a negative padding, and std::length_error when the
// arithmetic would overflow a 64-bit index.

/// Extent covered by a kernel of F taps with the given dilation: d*(F-1) + 1.
constexpr index_t effective_kernel(index_t kernel, index_t dilation = 1) {
    if (kernel < 1 || dilation < 1) validate_axis_parameters("", kernel, 0, 1, dilation);
    return checked_add(checked_mul(dilation, kernel - 1, "dilated kernel"), 1, "dilated kernel");
}

namespace detail {
/// W + 2P - F_eff, the span the windows' starts cover, after validating F, P, S and dilation.
constexpr index_t padded_span(index_t in, index_t kernel, index_t pad, index_t stride, index_t dilation) {
    if (kernel < 1 || pad < 0 || stride < 1 || dilation < 1) validate_axis_parameters("", kernel, pad, stride, dilation);
    const index_t padded = checked_add(in, checked_mul(2, pad, "padding"), "padded input");
    return checked_sub(padded, effective_kernel(kernel, dilation), "padded input");
}
}  // namespace detail

/// True when S divides W - F_eff + 2P, i.e. the windows fit exactly.
constexpr bool output_extent_is_integer(index_t in, index_t kernel, index_t pad, index_t stride,
                                        index_t dilation = 1) {
    return detail::padded_span(in, kernel, pad, stride, dilation) % stride == 0;
}

/// (W - F_eff + 2P)/S + 1 as a real number: the value quoted when it is not an integer.
constexpr double output_extent_real(index_t in, index_t kernel, index_t pad, index_t stride,
                                    index_t dilation = 1) {
    return static_cast<double>(detail::padded_span(in, kernel, pad, stride, dilation)) / static_cast<double>(stride) +
           1.0;
}

namespace detail {
/// (W - F_eff + 2P)/S + 1 for a message: 6 significant digits, more where those would print a
/// fraction as an integer (7/2147483647 + 1 is not "1"), the exact fraction where a double cannot.
inline std::string extent_real_text(index_t in, index_t kernel, index_t pad, index_t stride, index_t dilation) {
    const index_t span = padded_span(in, kernel, pad, stride, dilation);
    if (span % stride == 0) return std::to_string(span / stride + 1);
    for (int digits = 6; digits <= 17; ++digits) {
        std::ostringstream os;
        os << std::setprecision(digits) << output_extent_real(in, kernel, pad, stride, dilation);
        const std::string text = os.str();
        if (text.find('.') != std::string::npos && text.find('e') == std::string::npos) return text;
    }
    return std::to_string(span) + "/" + std::to_string(stride) + " + 1";
}

inline std::string extent_formula(const char* axis, index_t in, index_t kernel, index_t pad,
                                  index_t stride, index_t dilation) {
    std::ostringstream os;
    const char* W = axis[0] == 'h' ? "H" : "W";
    os << "(" << W << " - F + 2P)/S + 1 = (" << in << " - " << effective_kernel(kernel, dilation)
       << " + 2*" << pad << ")/" << stride << " + 1 = " << extent_real_text(in, kernel, pad, stride, dilation);
    return os.str();
}
}  // namespace detail

/// The resolved geometry of a conv along one axis. pad_end may differ from pad_begin: larger
/// under pad_to_fit, smaller (negative = input cropped) under crop.
struct AxisGeometry {
    index_t in = 0;         ///< input extent (W or H)
    index_t kernel = 1;     ///< F
    index_t stride = 1;     ///< S
    index_t dilation = 1;   ///< 1 = no dilation
    index_t pad_begin = 0;  ///< zeros before the first input element
    index_t pad_end = 0;    ///< zeros after the last one that the last window reaches
    index_t out = 0;        ///< output extent

    /// Input coordinate of kernel tap `k` of output `o` (may fall in the padding).
    constexpr index_t input_coord(index_t o, index_t k) const {
        return o * stride - pad_begin + k * dilation;
    }
};

/// Resolves one axis: validates, then computes the output extent under `fit`.
/// `axis` is "height" or "width" and appears in the messages.
inline AxisGeometry resolve_axis(const char* axis, index_t in, index_t kernel, index_t pad,
                                 index_t stride, index_t dilation, FitPolicy fit) {
    validate_axis_parameters(axis, kernel, pad, stride, dilation);
    if (in < 1) {
        std::ostringstream os;
        os << "convlayer: input " << axis << " " << in << " must be at least 1";
        detail::throw_invalid(os.str());
    }
    const index_t f_eff = checked_add(checked_mul(dilation, kernel - 1, "dilated kernel"), 1, "dilated kernel");
    const index_t padded = checked_add(in, checked_mul(2, pad, "padding"), "padded input");
    if (f_eff > padded) {
        std::ostringstream os;
        os << "convlayer: padded input " << axis << " " << in << " + 2*" << pad << " = " << padded
           << " is smaller than the kernel " << axis << " " << f_eff;
        if (dilation != 1) os << " (F=" << kernel << " with dilation " << dilation << ")";
        detail::throw_invalid(os.str());
    }
    const index_t span = padded - f_eff;
    const index_t rem = span % stride;
    AxisGeometry g{in, kernel, stride, dilation, pad, pad, span / stride + 1};
    if (rem != 0) {
        switch (fit) {
            case FitPolicy::exact: {
                std::ostringstream os;
                os << "convlayer: conv does not fit along the " << axis << ": "
                   << detail::extent_formula(axis, in, kernel, pad, stride, dilation)
                   << " is not an integer (" << (axis[0] == 'h' ? "H" : "W") << "=" << in
                   << ", F=" << kernel << ", P=" << pad << ", S=" << stride;
                if (dilation != 1) os << ", dilation=" << dilation;
                os << "). Choose P and S so that S divides " << (axis[0] == 'h' ? "H" : "W")
                   << " - F + 2P, or pass FitPolicy::crop (floor, as PyTorch does) or "
                      "FitPolicy::pad_to_fit (zero-pad the far edge).";
                detail::throw_invalid(os.str());
            }
            case FitPolicy::crop: g.pad_end = pad - rem; break;
            case FitPolicy::pad_to_fit:
                g.out += 1;
                // The far-edge padding may be up to S - 1 wider; in + pad + pad_end must still fit.
                (void)checked_add(padded, stride - rem, "padded input");
                g.pad_end = pad + (stride - rem);
                break;
        }
    }
    return g;
}

/// Output extent (W - F_eff + 2P)/S + 1 under `fit`; throws std::invalid_argument as
/// resolve_axis does. constexpr when the configuration is valid.
constexpr index_t output_extent(index_t in, index_t kernel, index_t pad, index_t stride,
                                index_t dilation = 1, FitPolicy fit = FitPolicy::exact) {
    const index_t span = detail::padded_span(in, kernel, pad, stride, dilation);
    if (in < 1 || span < 0 || (fit == FitPolicy::exact && span % stride != 0))
        return resolve_axis("width", in, kernel, pad, stride, dilation, fit).out;  // throws
    const index_t q = span / stride + 1;
    if (fit == FitPolicy::pad_to_fit && span % stride != 0) {
        (void)checked_add(span + effective_kernel(kernel, dilation), stride - span % stride,
                          "padded input");
        return q + 1;
    }
    return q;
}

/// The zero-padding that keeps the extent at stride 1: P = (F_eff - 1)/2. Throws for an even
/// effective kernel, which cannot be padded symmetrically.
inline index_t same_padding(index_t kernel, index_t dilation = 1) {
    validate_axis_parameters("(same padding)", kernel, 0, 1, dilation);
    const index_t f_eff = effective_kernel(kernel, dilation);
    if (f_eff % 2 == 0) {
        std::ostringstream os;
        os << "convlayer: same padding needs an odd kernel extent, got F=" << kernel;
        if (dilation != 1) os << " with dilation " << dilation << " (extent " << f_eff << ")";
        detail::throw_invalid(os.str());
    }
    return (f_eff - 1) / 2;
}

}  // namespace convlayer
