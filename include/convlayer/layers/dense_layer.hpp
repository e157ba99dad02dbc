// DenseLayer<T>: a fully connected layer, y = W x + b for each sample.
#pragma once

#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

#include "convlayer/core/aligned_buffer.hpp"
#include "convlayer/core/threading.hpp"
#include "convlayer/kernels/linear.hpp"
#include "convlayer/kernels/tuning.hpp"
#include "convlayer/layers/filter_bank.hpp"
#include "convlayer/layers/layer.hpp"

namespace convlayer {

/// Fully connected: each sample's H*W*D input values (in NHWC order, so no Flatten is needed in
/// front) times an out x in weight matrix, plus a bias. Output [N, 1, 1, out].
///
/// Weights are stored row-major out x in, the layout of PyTorch's nn.Linear, which is also OHWI
/// for a conv whose filter covers the whole input: weights() is that out x in matrix, row j =
/// the weights of output j. One GEMM per batch and pass:
///   Y = X W^T + 1 b^T,   dX = dY W,   dW^T = X^T dY,   db = column sums of dY,
/// on the packed micro-kernel (kernels/linear.hpp) and num_threads() threads.
template <typename T>
class DenseLayer : public Layer<T> {
public:
    /// Throws std::invalid_argument for non-positive sizes. Parameters start at zero.
    DenseLayer(index_t in_features, index_t out_features)
        : in_(in_features), out_(out_features), bank_(validated(in_features, out_features), 1, {}) {}

    /// Input features per sample.
    index_t in_features() const { return in_; }
    /// Output features per sample.
    index_t out_features() const { return out_; }

    /// out x in, row j = the weights of output j (PyTorch's nn.Linear weight).
    RowMatrixMap<T> weights() { return bank_.weights(); }
    /// The weights, read-only (laid out as weights()).
    ConstRowMatrixMap<T> weights() const { return bank_.weights(); }
    /// The out biases.
    VectorMap<T> bias() { return bank_.bias(); }
    /// dLoss/dweights of the last backward(), laid out as weights().
    RowMatrixMap<T> weight_gradient() { return bank_.weight_gradient(); }
    /// dLoss/dbias of the last backward().
    VectorMap<T> bias_gradient() { return bank_.bias_gradient(); }

    Shape output_shape(const Shape& input) const override {
        validate_shape(input, "DenseLayer");
        const index_t features = checked_product("DenseLayer input", input.h, input.w, input.d);
        if (features != in_) {
            std::ostringstream os;
            os << "DenseLayer: expects " << in_ << " input features per sample, but input " << input.to_string()
               << " has H*W*D = " << features;
            throw std::invalid_argument(os.str());
        }
        return {input.n, 1, 1, out_};
    }
    /// The bank's weights relabelled with nn.Linear's dims {out, in} (the same memory).
    std::vector<Parameter<T>> parameters() override {
        auto params = bank_.parameters();
        params[0].dims = {out_, in_};
        return params;
    }
    index_t parameter_count() const override { return bank_.parameter_count(); }
    std::string name() const override { return "DenseLayer"; }
    std::string describe() const override {
        return "DenseLayer " + std::to_string(in_) + " -> " + std::to_string(out_);
    }

protected:
    void do_forward(const Volume<T>& x, Volume<T>& y) override {
        const kernels::LinearPlan<T>& plan = prepare(x.shape().n);
        plan.forward(x.data(), in_, bank_.weight_data(), bank_.bias_data(), y.data(), out_, workspace_.data(), threads_);
    }
    void do_backward(const Volume<T>& x, const Volume<T>& dy, Volume<T>* dx) override {
        const kernels::LinearPlan<T>& plan = prepare(x.shape().n);
        plan.backward_weights(x.data(), in_, dy.data(), out_, bank_.weight_grad_data(), bank_.bias_grad_data(),
                              workspace_.data(), threads_);
        if (dx) plan.backward_data(dy.data(), out_, bank_.weight_data(), dx->data(), in_, workspace_.data(), threads_);
    }

private:
    // The products' plan and workspace for a batch of n samples (and the thread count).
    const kernels::LinearPlan<T>& prepare(index_t n) {
        const double flops = 2.0 * static_cast<double>(n) * static_cast<double>(in_ * out_);
        const int threads = kernels::threads_for_flops<T>(flops, num_threads());
        if (n != plan_.s.rows || threads != threads_) {
            plan_ = kernels::LinearPlan<T>({n, in_, out_});
            threads_ = threads;
            workspace_.resize(plan_.workspace_elements(threads_));
        }
        return plan_;
    }

    // A dense layer is a 1x1 conv over an in-channel input.
    static ConvParams validated(index_t in, index_t out) {
        if (in <= 0 || out <= 0) {
            std::ostringstream os;
            os << "DenseLayer: feature counts must be positive, got " << in << " inputs and " << out << " outputs";
            throw std::invalid_argument(os.str());
        }
        return ConvParams(in, out, HW(1));
    }

    index_t in_, out_;
    FilterBank<T> bank_;
    kernels::LinearPlan<T> plan_{kernels::LinearShape{}};
    int threads_ = 1;
    AlignedBuffer<T> workspace_;
};

}  // namespace convlayer
