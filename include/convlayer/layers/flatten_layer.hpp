// FlattenLayer<T>: each H x W x D volume as one vector of H*W*D features.
#pragma once

#include <algorithm>
#include <string>

#include "convlayer/core/checked_math.hpp"
#include "convlayer/layers/layer.hpp"

namespace convlayer {

/// [N, H, W, D] -> [N, 1, 1, H*W*D]. In NHWC the values are already in that order, so a network
/// (Sequential) passes a view of the input instead of running forward()/backward(); called on its
/// own the layer copies. Feature i of a sample is input (y, x, d) with i = (y*W + x)*D + d.
template <typename T>
class FlattenLayer : public Layer<T> {
public:
    Shape output_shape(const Shape& input) const override {
        validate_shape(input, "FlattenLayer");
        return {input.n, 1, 1, checked_product("FlattenLayer features", input.h, input.w, input.d)};
    }
    bool reshapes_only() const override { return true; }
    std::string name() const override { return "FlattenLayer"; }
    std::string describe() const override { return "FlattenLayer"; }

protected:
    /// Copies x into y: NHWC already has each sample's features in order.
    void do_forward(const Volume<T>& x, Volume<T>& y) override { std::copy_n(x.data(), x.size(), y.data()); }
    /// Copies dy into dx (when dx is not null).
    void do_backward(const Volume<T>&, const Volume<T>& dy, Volume<T>* dx) override {
        if (dx) std::copy_n(dy.data(), dy.size(), dx->data());
    }
};

}  // namespace convlayer
