// ReluLayer<T>: y = max(0, x), element by element.
#pragma once

#include <string>

#include "convlayer/layers/layer.hpp"

namespace convlayer {

/// Rectified linear unit. Backward: dx = dy where x > 0, else 0 (the derivative at 0 is taken
/// as 0). NaN inputs propagate to the output. No parameters, no workspace.
template <typename T>
class ReluLayer : public Layer<T> {
public:
    Shape output_shape(const Shape& input) const override {
        validate_shape(input, "ReluLayer");
        return input;
    }
    /// y may be x, and dx may be x or dy (element by element, each value read before it is written).
    bool runs_in_place() const override { return true; }
    std::string name() const override { return "ReluLayer"; }
    std::string describe() const override { return "ReluLayer"; }

protected:
    /// y = max(0, x) element by element; a NaN input gives NaN.
    void do_forward(const Volume<T>& x, Volume<T>& y) override {
        // NaN compares false with everything: test it explicitly so that it propagates.
        y.flat() = x.flat().unaryExpr([](T v) { return v > T(0) || v != v ? v : T(0); });
    }
    /// dx = dy where x > 0, else 0 (also where x is NaN); nothing when dx is null.
    void do_backward(const Volume<T>& x, const Volume<T>& dy, Volume<T>* dx) override {
        if (!dx) return;
        dx->flat() = (x.flat().array() > T(0)).select(dy.flat(), T(0));
    }
};

}  // namespace convlayer
