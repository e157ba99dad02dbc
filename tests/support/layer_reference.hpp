// Runs any conv-like Layer<T> against the nested-loop reference through the Layer interface:
// parameters are filled through parameters(), so the check needs nothing layer-specific.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "convlayer/kernels/direct_conv.hpp"
#include "convlayer/layers/layer.hpp"
#include "tests/support/compare.hpp"
#include "tests/support/conv_problems.hpp"

namespace convlayer::support {

enum class Data { small_integers, uniform_reals };

template <typename T>
void fill(T* data, index_t count, Data kind, std::uint64_t seed) {
    if (kind == Data::small_integers)
        fill_small_integers(data, count, seed);
    else
        fill_uniform(data, count, seed);
}

/// Checks forward, dX, dW and db of `layer` (weights then bias, as parameters() lists them) for
/// problem `s` against the reference with the given sharing. With small integers the tolerance is
/// 0; with reals it scales with each reduction length. Also checks that the parameter list
/// matches parameter_count() and the reference's weight and bias counts.
template <typename T>
::testing::AssertionResult matches_reference(Layer<T>& layer, const ConvShape& s, Sharing sharing, Data data,
                                             std::uint64_t seed) {
    auto params = layer.parameters();
    const index_t sets = s.weight_sets(sharing), L = s.patch_length();
    if (params.size() != 2 || params[0].size != sets * s.k * L || params[1].size != sets * s.k ||
        params[0].size + params[1].size != layer.parameter_count())
        return ::testing::AssertionFailure() << "parameter list does not match the geometry " << s.to_string();
    fill(params[0].value, params[0].size, data, seed);
    fill(params[1].value, params[1].size, data, seed + 1);
    Volume<T> x(s.input()), dy(s.output());
    fill(x.data(), x.size(), data, seed + 2);
    fill(dy.data(), dy.size(), data, seed + 3);

    const bool exact = data == Data::small_integers;
    const index_t taps = s.y.kernel * s.x.kernel;
    const double tol_fwd = exact ? 0.0 : reduction_tolerance<T>(L + 1);
    const double tol_dx = exact ? 0.0 : reduction_tolerance<T>(s.k * taps);
    const double tol_dw = exact ? 0.0 : reduction_tolerance<T>(s.output_positions());
    const std::string where = layer.name() + " " + s.to_string() + " seed " + std::to_string(seed);

    Volume<T> y, y_ref(s.output());
    layer.forward(x, y);
    if (y.shape() != s.output()) return ::testing::AssertionFailure() << "output shape " << y.shape().to_string();
    kernels::direct_conv_forward(s, x.data(), params[0].value, params[1].value, y_ref.data(), sharing);
    auto r = all_near(y.data(), y_ref.data(), s.output(), tol_fwd);
    if (!r) return r << " [forward " << where << "]";

    Volume<T> dx, dx_ref(s.input());
    layer.backward(x, dy, &dx);
    std::vector<T> dw_ref(static_cast<std::size_t>(params[0].size)), db_ref(static_cast<std::size_t>(params[1].size));
    kernels::direct_conv_backward_data(s, dy.data(), params[0].value, dx_ref.data(), sharing);
    kernels::direct_conv_backward_weights(s, x.data(), dy.data(), dw_ref.data(), db_ref.data(), sharing);
    r = all_near(dx.data(), dx_ref.data(), s.input(), tol_dx);
    if (!r) return r << " [dX " << where << "]";
    const Shape wdims{sets * s.k, s.y.kernel, s.x.kernel, s.d1};
    r = all_near(params[0].gradient, dw_ref.data(), wdims, tol_dw, "set*K+k,ky,kx,d");
    if (!r) return r << " [dW " << where << "]";
    r = all_near(params[1].gradient, db_ref.data(), Shape{1, 1, sets, s.k}, tol_dw, "-,-,set,k");
    if (!r) return r << " [db " << where << "]";

    // Without dx, the parameter gradients are the same.
    std::fill(params[0].gradient, params[0].gradient + params[0].size, T(99));
    layer.backward(x, dy, nullptr);
    r = all_near(params[0].gradient, dw_ref.data(), wdims, tol_dw, "set*K+k,ky,kx,d");
    if (!r) return r << " [dW without dX " << where << "]";
    return ::testing::AssertionSuccess();
}

}  // namespace convlayer::support
