// Layer<T>: the interface every layer implements, so layers stack into networks.
#pragma once

#include <cstdint>
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
    index_t size = 0;             ///< number of values
    /// Inputs and outputs each weight connects (for He/Xavier initialisation); 0 for biases,
    /// which initialisers set to zero.
    index_t fan_in = 0;
    index_t fan_out = 0;  ///< outputs each weight connects (see fan_in)
    /// The owning layer's count of writes to its parameters (null when it keeps none): a layer
    /// that caches something derived from them (ConvLayer's packed weights) rebuilds it when the
    /// count has moved.
    std::uint64_t* version = nullptr;

    /// Tells the owning layer that `value` was written. The library's own writers (optimisers,
    /// initialisers, load_weights) call it; so must code that writes through `value` itself.
    void mark_changed() const {
        if (version) ++*version;
    }
    /// The values as an Eigen vector (a view; write through it, then mark_changed()).
    VectorMap<T> values() const { return VectorMap<T>(value, size); }
    /// The gradients as an Eigen vector (a view).
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
    using Scalar = T;  ///< the element type (float or double)
    virtual ~Layer() = default;

    /// Output shape for an input of shape `input`; throws std::invalid_argument when the layer
    /// cannot take that input (message names the layer and both shapes or numbers).
    virtual Shape output_shape(const Shape& input) const = 0;

    /// y = layer(x). `y` is resized to output_shape(x.shape()) (no allocation when its capacity
    /// suffices). `y`'s memory must not overlap `x`'s (std::invalid_argument), except that a
    /// layer whose runs_in_place() is true takes y over exactly x's values (y being x, or a view
    /// of the same elements).
    void forward(const Volume<T>& x, Volume<T>& y) {
        const Shape out = output_shape(x.shape());
        check_distinct(y, out.size(), x, "forward", "the output y", "the input x");
        y.resize(out);
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
    /// dx's memory must not overlap x's or dy's, with the same exception for in-place layers.
    void backward(const Volume<T>& x, const Volume<T>& dy, Volume<T>* dx) {
        check_output_gradient(x.shape(), dy);
        if (dx) {
            check_distinct(*dx, x.size(), x, "backward", "dx", "the input x");
            check_distinct(*dx, x.size(), dy, "backward", "dx", "dy");
            dx->resize(x.shape());
        }
        do_backward(x, dy, dx);
    }

    /// Parameters and their gradients, in a fixed order (empty for parameter-free layers).
    virtual std::vector<Parameter<T>> parameters() { return {}; }
    /// Number of trainable scalars: the sum of parameters()[i].size.
    virtual index_t parameter_count() const { return 0; }
    /// Moves whenever the list parameters() returns may have changed (a layer added to a
    /// network); 0 for a layer whose list is fixed. Trainers compare it to follow the network.
    virtual std::uint64_t structure_version() const { return 0; }
    /// True when the output holds the input's values in the same (NHWC) order under another
    /// shape and dx likewise holds dy's: a network may then pass a view instead of copying.
    virtual bool reshapes_only() const { return false; }
    /// True when forward() may write y over exactly x's values, and backward() dx over exactly
    /// x's or dy's (element-wise layers).
    virtual bool runs_in_place() const { return false; }
    /// Class name, e.g. "ConvLayer".
    virtual std::string name() const = 0;
    /// One line for a network summary, e.g. "ConvLayer 96 x 11x11x3, stride 4, pad 0".
    virtual std::string describe() const = 0;

protected:
    /// Throws std::invalid_argument when `out` (to hold `out_size` values) overlaps `in` in memory,
    /// unless both are the same elements and the layer runs_in_place().
    void check_distinct(const Volume<T>& out, index_t out_size, const Volume<T>& in, const char* pass,
                        const char* out_name, const char* in_name) const {
        if (!overlaps(out, in)) return;
        const bool same = out.data() == in.data() && out_size == in.size();
        if (same && runs_in_place()) return;
        throw std::invalid_argument(name() + "::" + pass + ": " + out_name + " overlaps " + in_name + " in memory" +
                                    (same ? " (this layer does not run in place)" : "") +
                                    "; give it a buffer of its own");
    }

    /// Throws std::invalid_argument unless dy has the output shape for `input`.
    void check_output_gradient(const Shape& input, const Volume<T>& dy) const {
        const Shape expected = output_shape(input);
        if (dy.shape() != expected)
            throw std::invalid_argument(name() + "::backward: output gradient has shape " + dy.shape().to_string() +
                                        " but the output for input " + input.to_string() + " is " + expected.to_string());
    }

    /// The layer's forward pass: y (already sized to output_shape(x.shape())) = layer(x).
    virtual void do_forward(const Volume<T>& x, Volume<T>& y) = 0;
    /// The layer's backward pass, arguments checked and dx (when not null) sized like x: writes
    /// dx and overwrites the parameters' gradients.
    virtual void do_backward(const Volume<T>& x, const Volume<T>& dy, Volume<T>* dx) = 0;
};

}  // namespace convlayer
