// Sequential<T>: a stack of layers, each feeding the next, that is itself a Layer.
#pragma once

#include <cstdint>
#include <iomanip>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "convlayer/core/format.hpp"
#include "convlayer/layers/layer.hpp"

namespace convlayer {

/// Layers applied in order. The input shape is given once; each added layer's output shape is
/// inferred and checked on the spot, so a network that cannot run is never built. forward()
/// accepts any batch size (the layers decide which heights, widths and depths they take).
///
/// Activations and their gradients live in buffers owned by the network and reused across
/// batches. backward(x, dy, dx) uses the activations of the last forward(), which must have been
/// called with the same `x` (std::logic_error when no forward() has completed since the last
/// add(), or it took another shape). Layers that only reshape (FlattenLayer) pass a view, not a copy.
/// parameters() lists every layer's parameters in order, named "<index>.<layer>.<name>", e.g.
/// "0.ConvLayer.weights".
template <typename T>
class Sequential : public Layer<T> {
public:
    /// An empty network for inputs of shape `input` (its N is the nominal batch size).
    explicit Sequential(const Shape& input) : input_(input) { validate_shape(input, "Sequential"); }
    /// A network of `layers`; throws std::invalid_argument naming the two layers and the shape
    /// when one cannot take the previous one's output.
    Sequential(const Shape& input, std::vector<std::unique_ptr<Layer<T>>> layers) : Sequential(input) {
        for (auto& l : layers) add(std::move(l));
    }

    /// Appends `layer` after checking that it takes the current output shape.
    Layer<T>& add(std::unique_ptr<Layer<T>> layer) {
        if (!layer) throw std::invalid_argument("Sequential::add: null layer");
        const Shape out = apply(*layer, layers_.size(), output_shape());
        layers_.push_back(std::move(layer));
        shapes_.push_back(out);
        activations_.emplace_back();
        gradients_.emplace_back();
        forwarded_ = Shape{};  // the kept activations no longer match the layers
        ++structure_;
        return *layers_.back();
    }
    /// Constructs a layer of type L from `args` and appends it; returns it.
    template <typename L, typename... Args>
    L& emplace(Args&&... args) {
        auto layer = std::make_unique<L>(std::forward<Args>(args)...);
        L& ref = *layer;
        add(std::move(layer));
        return ref;
    }

    /// Number of layers.
    std::size_t size() const { return layers_.size(); }
    /// Layer `i` (0 first); std::out_of_range past the last.
    Layer<T>& layer(std::size_t i) { return *layers_.at(i); }
    /// Layer `i`, read-only; std::out_of_range past the last.
    const Layer<T>& layer(std::size_t i) const { return *layers_.at(i); }
    /// The input shape given at construction and the output shape it leads to.
    const Shape& input_shape() const { return input_; }
    /// The output shape for input_shape(): the last layer's, or the input's when there is none.
    Shape output_shape() const { return shapes_.empty() ? input_ : shapes_.back(); }

    Shape output_shape(const Shape& input) const override {
        validate_shape(input, "Sequential");
        Shape s = input;
        for (std::size_t i = 0; i < layers_.size(); ++i) s = apply(*layers_[i], i, s);
        return s;
    }

    std::vector<Parameter<T>> parameters() override {
        std::vector<Parameter<T>> all;
        for (std::size_t i = 0; i < layers_.size(); ++i)
            for (Parameter<T> p : layers_[i]->parameters()) {
                p.name = std::to_string(i) + "." + layers_[i]->name() + "." + p.name;
                all.push_back(std::move(p));
            }
        return all;
    }
    index_t parameter_count() const override {
        index_t total = 0;
        for (const auto& l : layers_) total = checked_add(total, l->parameter_count(), "parameter count");
        return total;
    }
    /// Moves with every add() here or in a nested network.
    std::uint64_t structure_version() const override {
        std::uint64_t v = structure_;
        for (const auto& l : layers_) v += l->structure_version();
        return v;
    }
    std::string name() const override { return "Sequential"; }
    std::string describe() const override { return "Sequential of " + std::to_string(layers_.size()) + " layers"; }

    /// A table like Keras's: one row per layer with its description, output shape (H x W x D per
    /// sample) and parameter count, then the total.
    std::string summary() const {
        std::size_t width = 5;
        for (const auto& l : layers_) width = std::max(width, l->describe().size());
        std::ostringstream os;
        os << std::left << std::setw(4) << "#" << std::setw(static_cast<int>(width) + 2) << "Layer" << std::setw(16)
           << "Output (HxWxD)" << std::right << std::setw(12) << "Parameters" << "\n";
        const std::string rule(4 + width + 2 + 16 + 12, '-');
        os << rule << "\n";
        os << std::left << std::setw(4) << "" << std::setw(static_cast<int>(width) + 2) << "input" << std::setw(16)
           << per_sample(input_) << "\n";
        for (std::size_t i = 0; i < layers_.size(); ++i)
            os << std::left << std::setw(4) << i << std::setw(static_cast<int>(width) + 2) << layers_[i]->describe()
               << std::setw(16) << per_sample(shapes_[i]) << std::right << std::setw(12)
               << with_thousands_separators(layers_[i]->parameter_count()) << "\n";
        os << rule << "\n" << "Total parameters: " << with_thousands_separators(parameter_count()) << "\n";
        return os.str();
    }

protected:
    /// Runs the layers in order into the kept activations, the last into y (an empty network
    /// copies x).
    void do_forward(const Volume<T>& x, Volume<T>& y) override {
        forwarded_ = Shape{};  // until every layer has run
        if (layers_.empty()) {
            y.copy_from(x.data(), x.size());
            return;
        }
        const Volume<T>* in = &x;
        for (std::size_t i = 0; i < layers_.size(); ++i) {
            const bool last = i + 1 == layers_.size();
            Volume<T>& out = last ? y : activations_[i];
            if (layers_[i]->reshapes_only() && !last)
                out = view_of(*in, layers_[i]->output_shape(in->shape()));
            else
                layers_[i]->forward(*in, out);
            in = &out;
        }
        forwarded_ = x.shape();
    }

    /// Runs the layers' backward passes in reverse on the kept activations; std::logic_error when
    /// the last completed forward() did not take x's shape.
    void do_backward(const Volume<T>& x, const Volume<T>& dy, Volume<T>* dx) override {
        if (layers_.empty()) {
            if (dx) dx->copy_from(dy.data(), dy.size());
            return;
        }
        if (forwarded_ != x.shape())
            throw std::logic_error("Sequential::backward: call forward() first, with the same input (" +
                                   (forwarded_ == Shape{} ? std::string("no forward() has completed")
                                                          : "the last forward() took " + forwarded_.to_string()) +
                                   ", backward() was given " + x.shape().to_string() + ")");
        for (std::size_t i = layers_.size(); i-- > 0;) {
            const Volume<T>& in = i == 0 ? x : activations_[i - 1];
            const Volume<T>& grad_out = i + 1 == layers_.size() ? dy : gradients_[i];
            Volume<T>* grad_in = i == 0 ? dx : &gradients_[i - 1];
            if (layers_[i]->reshapes_only() && i > 0)
                *grad_in = view_of(grad_out, in.shape());
            else
                layers_[i]->backward(in, grad_out, grad_in);
        }
    }

private:
    /// Output shape of layer `i` for `input`, or std::invalid_argument naming both layers.
    Shape apply(const Layer<T>& layer, std::size_t i, const Shape& input) const {
        try {
            return layer.output_shape(input);
        } catch (const std::invalid_argument& e) {
            std::ostringstream os;
            os << "Sequential: layer " << i << " (" << layer.describe() << ") cannot take ";
            if (i == 0) os << "the network input";
            else os << "the output of layer " << i - 1 << " (" << layers_[i - 1]->describe() << ")";
            os << " of shape " << input.to_string() << ": " << e.what();
            throw std::invalid_argument(os.str());
        }
    }

    /// A read-only view of `v`'s values under `shape` (same element count). The network only
    /// reads activations and output gradients through such views.
    static Volume<T> view_of(const Volume<T>& v, const Shape& shape) {
        return Volume<T>::view(const_cast<T*>(v.data()), shape);
    }

    static std::string per_sample(const Shape& s) {
        return std::to_string(s.h) + "x" + std::to_string(s.w) + "x" + std::to_string(s.d);
    }

    Shape input_;
    std::vector<std::unique_ptr<Layer<T>>> layers_;
    std::vector<Shape> shapes_;  // output shape of each layer for input_
    std::vector<Volume<T>> activations_, gradients_;  // output of layer i and dLoss/d(that output)
    std::uint64_t structure_ = 0;  // add() calls
    Shape forwarded_{};  // input shape of the last forward() that completed (none: all zero)
};

}  // namespace convlayer
