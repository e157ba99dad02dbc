// LocallyConnectedLayer<T>: the conv geometry without parameter sharing.
#pragma once

#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "convlayer/core/aligned_buffer.hpp"
#include "convlayer/core/conv_shape.hpp"
#include "convlayer/core/threading.hpp"
#include "convlayer/kernels/locally_connected.hpp"
#include "convlayer/kernels/tuning.hpp"
#include "convlayer/layers/filter_bank.hpp"
#include "convlayer/layers/layer.hpp"

namespace convlayer {

/// A locally connected layer: the same receptive fields as ConvLayer (D1, K, F, S, P, dilation,
/// fit policy), but every output position (x, y) has its own K filters and K biases, one bias per
/// output neuron. Useful where features differ by position (e.g. centred faces).
///
/// Because the weights depend on the output extent, the layer is built for one input height and
/// width. Parameters: W2*H2*K*(Fh*Fw*D1 + 1) (AlexNet conv1's geometry: 105,705,600).
/// Weights are position-major: for p = y*W2 + x, weights(p) is a contiguous K x (Fh*Fw*D1)
/// row-major block in the same OHWI order as ConvLayer; bias(p) its K biases.
template <typename T>
class LocallyConnectedLayer : public Layer<T> {
public:
    /// Default bound on parameters + gradients: 2 GiB.
    static constexpr index_t kDefaultMemoryLimit = index_t{2} << 30;

    /// Parameters for inputs of height and width `input`, computed without allocating.
    static index_t parameter_count(const ConvParams& params, HW input) {
        const ConvShape s = resolve(params, Shape{1, input.h, input.w, params.in_depth}, "LocallyConnectedLayer");
        return FilterBank<T>::parameter_count(params, s.weight_sets(Sharing::per_position));
    }

    /// Throws std::invalid_argument for an invalid configuration and std::length_error, before
    /// allocating, when parameters and gradients would need more than `memory_limit_bytes`.
    LocallyConnectedLayer(const ConvParams& params, HW input, index_t memory_limit_bytes = kDefaultMemoryLimit)
        : params_(params),
          geometry_(resolve(params, Shape{1, input.h, input.w, params.in_depth}, "LocallyConnectedLayer")),
          bank_(checked_bank(params_, geometry_, memory_limit_bytes)) {}

    /// The hyperparameters the layer was built with.
    const ConvParams& params() const { return params_; }
    /// Output positions H2*W2, each with its own filters.
    index_t positions() const { return geometry_.y.out * geometry_.x.out; }

    /// The resolved problem for an input; its height and width must be the ones built for.
    ConvShape conv_shape(const Shape& input) const {
        if (input.h != geometry_.y.in || input.w != geometry_.x.in) {
            std::ostringstream os;
            os << "LocallyConnectedLayer: built for inputs of H=" << geometry_.y.in << ", W=" << geometry_.x.in
               << ", got input " << input.to_string();
            throw std::invalid_argument(os.str());
        }
        return resolve(params_, input, "LocallyConnectedLayer");
    }
    Shape output_shape(const Shape& input) const override { return conv_shape(input).output(); }

    /// Weights of output position p = y*W2 + x: K x (Fh*Fw*D1), row k = filter k (OHWI).
    RowMatrixMap<T> weights(index_t p) { return bank_.weights(check_position(p)); }
    /// The K biases of output position p.
    VectorMap<T> bias(index_t p) { return bank_.bias(check_position(p)); }
    /// dLoss/dweights of position p from the last backward(), laid out as weights(p).
    RowMatrixMap<T> weight_gradient(index_t p) { return bank_.weight_gradient(check_position(p)); }
    /// dLoss/dbias of position p from the last backward().
    VectorMap<T> bias_gradient(index_t p) { return bank_.bias_gradient(check_position(p)); }

    std::vector<Parameter<T>> parameters() override { return bank_.parameters(); }
    index_t parameter_count() const override { return bank_.parameter_count(); }
    std::string name() const override { return "LocallyConnectedLayer"; }
    std::string describe() const override {
        std::ostringstream os;
        os << describe_conv(name(), params_) << ", unshared over " << geometry_.y.out << "x" << geometry_.x.out
           << " positions";
        return os.str();
    }
    /// Bytes of workspace held for the last input shape (per thread, one N x Fh*Fw*D1 patch block
    /// and the packed patches).
    index_t workspace_bytes() const { return workspace_.size() * static_cast<index_t>(sizeof(T)); }

protected:
    void do_forward(const Volume<T>& x, Volume<T>& y) override {
        prepare(x.shape()).forward(x.data(), bank_.weight_data(), bank_.bias_data(), y.data(), workspace_.data());
    }
    void do_backward(const Volume<T>& x, const Volume<T>& dy, Volume<T>* dx) override {
        prepare(x.shape()).backward(x.data(), dy.data(), bank_.weight_data(), dx ? dx->data() : nullptr,
                                    bank_.weight_grad_data(), bank_.bias_grad_data(), workspace_.data());
    }

private:
    static FilterBank<T> checked_bank(const ConvParams& p, const ConvShape& g, index_t limit) {
        const index_t sets = g.weight_sets(Sharing::per_position);
        const index_t count = FilterBank<T>::parameter_count(p, sets);
        const index_t bytes = checked_mul(checked_bytes<T>(count, "parameter bytes"), 2, "parameter bytes");
        if (bytes > limit) {
            std::ostringstream os;
            os << "LocallyConnectedLayer: " << count << " parameters (" << g.y.out << "x" << g.x.out
               << " positions x " << p.filters << " filters x (" << p.filter_size() << " + 1)) need " << bytes
               << " bytes with their gradients, over the limit of " << limit
               << " bytes; pass a larger memory_limit_bytes to allow it";
            throw std::length_error(os.str());
        }
        return FilterBank<T>(p, sets, {g.y.out, g.x.out});
    }
    index_t check_position(index_t p) const {
        if (p < 0 || p >= positions())
            throw std::out_of_range("LocallyConnectedLayer: position " + std::to_string(p) + " is outside [0, " +
                                    std::to_string(positions()) + ")");
        return p;
    }
    // The plan and workspace for an input shape and the thread count.
    const kernels::LocallyConnectedPlan<T>& prepare(const Shape& input) {
        if (!plan_ || input != cached_input_) {
            shape_ = conv_shape(input);
            cached_input_ = input;
            plan_.reset();
        }
        const int threads = kernels::threads_for_flops<T>(shape_.flops(), num_threads());
        if (!plan_ || threads != threads_) {
            plan_.emplace(shape_, threads);
            workspace_.resize(plan_->workspace_elements());
            threads_ = threads;
        }
        return *plan_;
    }

    ConvParams params_;
    ConvShape geometry_;  // resolved for N = 1
    FilterBank<T> bank_;
    std::optional<kernels::LocallyConnectedPlan<T>> plan_;
    AlignedBuffer<T> workspace_;
    Shape cached_input_{};
    ConvShape shape_{};
    int threads_ = 1;
};

}  // namespace convlayer
