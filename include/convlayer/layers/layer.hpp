// Layer<T>: the interface every layer implements, so layers stack into networks.
#pragma once

#include <string>
#include <vector>

#include "convlayer/core/eigen_types.hpp"
#include "convlayer/core/volume.hpp"

namespace convlayer {

/// One trainable tensor of a layer and its gradient, as an optimiser walks them.
template <typename T>
struct Parameter {
    std::string name;             ///< "weights", "bias", ...
    std::vector<index_t> dims;    ///< logical shape, e.g. {K, Fh, Fw, D1} (OHWI) or {K}
    T* value = nullptr;           ///< `size` values
    T* gradient = nullptr;        ///< `size` values, written by backward()
    index_t size = 0;
    /// Inputs and outputs each weight connects (for He/Xavier initialisation); 0 for biases,
    /// which initialisers set to zero.
    index_t fan_in = 0;
    index_t fan_out = 0;

    VectorMap<T> values() const { return VectorMap<T>(value, size); }
    VectorMap<T> gradients() const { return VectorMap<T>(gradient, size); }
};

/// The shared interface of all layers.
///
/// forward() and backward() validate their arguments, size their outputs, then call the
/// layer's do_forward()/do_backward(), which may assume shapes are consistent.
///
/// Thread safety: a layer object owns a workspace, so one object must not run forward/backward
/// from two threads at once; distinct objects may.
template <typename T>
class Layer {
public:
    using Scalar = T;
    virtual ~Layer() = default;

    /// Output shape for an input of shape `input`; throws std::invalid_argument when the layer
    /// cannot take that input (message names the layer and both shapes or numbers).
    virtual Shape output_shape(const Shape& input) const = 0;

    /// y = layer(x). `y` is resized to output_shape(x.shape()) (no allocation when its capacity
    /// suffices). `y` must not be `x`.
    void forward(const Volume<T>& x, Volume<T>& y) {
        if (&x == &y) throw std::invalid_argument(name() + "::forward: output must not alias the input");
        y.resize(output_shape(x.shape()));
        do_forward(x, y);
    }
    /// Convenience: returns a new output volume.
    Volume<T> forward(const Volume<T>& x) {
        Volume<T> y;
        forward(x, y);
        return y;
    }

    /// Given the input `x` of the matching forward() and dy = dLoss/dy, writes dx = dLoss/dx
    /// (skipped when `dx` is null, e.g. for a first layer) and overwrites the gradients of this
    /// layer's parameters (they are not accumulated across calls).
    void backward(const Volume<T>& x, const Volume<T>& dy, Volume<T>* dx) {
        check_output_gradient(x.shape(), dy);
        if (dx) {
            if (dx == &x || dx == &dy)
                throw std::invalid_argument(name() + "::backward: dx must not alias x or dy");
            dx->resize(x.shape());
        }
        do_backward(x, dy, dx);
    }

    /// Parameters and their gradients, in a fixed order (empty for parameter-free layers).
    virtual std::vector<Parameter<T>> parameters() { return {}; }
    /// Number of trainable scalars: the sum of parameters()[i].size.
    virtual index_t parameter_count() const { return 0; }
    /// True when the output holds the input's values in the same (NHWC) order under another
    /// shape and dx likewise holds dy's: a network may then pass a view instead of copying.
    virtual bool reshapes_only() const { return false; }
    /// Class name, e.g. "ConvLayer".
    virtual std::string name() const = 0;
    /// One line for a network summary, e.g. "ConvLayer 96 x 11x11x3, stride 4, pad 0".
    virtual std::string describe() const = 0;

protected:
    /// Throws std::invalid_argument unless dy has the output shape for `input`.
    void check_output_gradient(const Shape& input, const Volume<T>& dy) const {
        const Shape expected = output_shape(input);
        if (dy.shape() != expected)
            throw std::invalid_argument(name() + "::backward: output gradient has shape " + dy.shape().to_string() +
                                        " but the output for input " + input.to_string() + " is " + expected.to_string());
    }

    virtual void do_forward(const Volume<T>& x, Volume<T>& y) = 0;
    virtual void do_backward(const Volume<T>& x, const Volume<T>& dy, Volume<T>* dx) = 0;
};

}  // namespace convlayer
