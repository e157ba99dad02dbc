// Finite-difference gradient checker for any Layer<double>.
//
// The loss is L = <layer(x), r> for a fixed random r, so dL/dy = r. backward() gives the
// analytic dx and parameter gradients; each is compared with the central difference
//   (L(v + h) - L(v - h)) / 2h
// for every element (or an evenly spaced sample of `max_checks` elements). Elements whose
// perturbation crosses a kink (the two one-sided differences disagree) are skipped and counted.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <sstream>
#include <string>

#include "convlayer/layers/layer.hpp"
#include "tests/support/conv_problems.hpp"

namespace convlayer::support {

struct GradientCheckOptions {
    double step = 1e-5;
    double tolerance = 1e-7;  ///< on |numeric - analytic| / max(1, |analytic|)
    index_t max_checks = 400; ///< per tensor
    std::uint64_t seed = 7;
};

struct GradientCheckResult {
    index_t checked = 0;
    index_t skipped_kinks = 0;
};

namespace detail {
inline double loss(Layer<double>& layer, const Volume<double>& x, const Volume<double>& r, Volume<double>& y) {
    layer.forward(x, y);
    return y.flat().dot(r.flat());
}

// Checks d loss / d v[i] for the tensor `values` (size `count`) against `analytic`.
inline ::testing::AssertionResult check_tensor(Layer<double>& layer, Volume<double>& x, const Volume<double>& r,
                                               double* values, const double* analytic, index_t count,
                                               const std::string& what, const GradientCheckOptions& o,
                                               GradientCheckResult& result) {
    Volume<double> y;
    const index_t stride = std::max<index_t>(1, count / o.max_checks);
    for (index_t i = 0; i < count; i += stride) {
        const double saved = values[i];
        values[i] = saved + o.step;
        const double up = loss(layer, x, r, y);
        values[i] = saved - o.step;
        const double down = loss(layer, x, r, y);
        values[i] = saved;
        const double mid = loss(layer, x, r, y);
        const double forward_diff = (up - mid) / o.step, backward_diff = (mid - down) / o.step;
        if (std::fabs(forward_diff - backward_diff) > 1e-3 * std::max(1.0, std::fabs(forward_diff))) {
            ++result.skipped_kinks;  // the perturbation crossed a kink (ReLU, max-pool tie)
            continue;
        }
        const double numeric = (up - down) / (2 * o.step);
        const double err = std::fabs(numeric - analytic[i]) / std::max(1.0, std::fabs(analytic[i]));
        ++result.checked;
        if (!(err <= o.tolerance)) {
            std::ostringstream os;
            os.precision(12);
            os << what << "[" << i << "]: analytic " << analytic[i] << ", numeric " << numeric
               << " (relative error " << err << " > " << o.tolerance << ")";
            return ::testing::AssertionFailure() << os.str();
        }
    }
    return ::testing::AssertionSuccess();
}
}  // namespace detail

/// Checks dx and every parameter gradient of `layer` at input `x`.
inline ::testing::AssertionResult check_gradients(Layer<double>& layer, Volume<double> x,
                                                  const GradientCheckOptions& o = {},
                                                  GradientCheckResult* out = nullptr) {
    GradientCheckResult result;
    Volume<double> r(layer.output_shape(x.shape()));
    fill_uniform(r.data(), r.size(), o.seed);
    Volume<double> y, dx;
    layer.forward(x, y);  // backward() follows the forward() of the same input, as in training
    layer.backward(x, r, &dx);
    // Copy analytic parameter gradients: the finite-difference forwards must not disturb them.
    auto params = layer.parameters();
    std::vector<std::vector<double>> grads;
    for (auto& p : params) grads.emplace_back(p.gradient, p.gradient + p.size);

    auto res = detail::check_tensor(layer, x, r, x.data(), dx.data(), x.size(), "dx", o, result);
    if (!res) return res;
    for (std::size_t j = 0; j < params.size(); ++j) {
        res = detail::check_tensor(layer, x, r, params[j].value, grads[j].data(), params[j].size,
                                   "d" + params[j].name, o, result);
        if (!res) return res;
    }
    if (out) *out = result;
    if (result.checked == 0) return ::testing::AssertionFailure() << "no element could be checked";
    return ::testing::AssertionSuccess();
}

}  // namespace convlayer::support
