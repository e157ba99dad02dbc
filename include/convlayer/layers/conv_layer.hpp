// ConvLayer<T>: K filters of Fh x Fw x D1, each shared across its output depth slice.
#pragma once

#include <sstream>
#include <string>
#include <vector>

#include "convlayer/core/aligned_buffer.hpp"
#include "convlayer/core/conv_shape.hpp"
#include "convlayer/kernels/im2col_conv.hpp"
#include "convlayer/layers/layer.hpp"

namespace convlayer {

/// A convolutional layer with parameter sharing.
///
/// Weights are stored OHWI, [K][Fh][Fw][D1]: filter k is contiguous, in the same (y, x, d) order
/// as an input patch, so weights() is the (Fh*Fw*D1) x K column-major matrix with one column per
/// filter. Output extent per axis: (W - F_eff + 2P)/S + 1 (see conv_geometry.hpp).
/// Parameters: Fh*Fw*D1*K weights + K biases. Weights and biases start at zero; set them or use
/// an initialiser.
///
/// Forward runs im2col + one Eigen GEMM per block of output positions; the patch block lives in
/// a workspace the layer owns and reuses, bounded by workspace_budget_bytes().
template <typename T>
class ConvLayer : public Layer<T> {
public:
    /// Default bound on the im2col workspace: 2 MiB.
    static constexpr index_t kDefaultWorkspaceBudget = index_t{2} << 20;

    /// Throws std::invalid_argument for a non-positive D1, K, F, S or dilation, or negative P.
    explicit ConvLayer(const ConvParams& params) : params_(params) {
        params_.validate("ConvLayer");
        weights_.resize(params_.weight_count());
        weight_grad_.resize(params_.weight_count());
        bias_.resize(params_.filters);
        bias_grad_.resize(params_.filters);
        weights().setZero();
        weight_gradient().setZero();
        bias().setZero();
        bias_gradient().setZero();
    }
    /// D1 -> K with an F x F kernel, stride S, zero-padding P.
    ConvLayer(index_t in_depth, index_t filters, HW kernel, HW stride = 1, HW pad = 0)
        : ConvLayer(ConvParams(in_depth, filters, kernel, stride, pad)) {}

    const ConvParams& params() const { return params_; }

    /// The resolved problem for an input shape (throws std::invalid_argument if it is invalid).
    ConvShape conv_shape(const Shape& input) const { return resolve(params_, input, "ConvLayer"); }
    Shape output_shape(const Shape& input) const override { return conv_shape(input).output(); }

    /// (Fh*Fw*D1) x K, column k = filter k in OHWI order.
    MatrixMap<T> weights() { return MatrixMap<T>(weights_.data(), params_.filter_size(), params_.filters); }
    ConstMatrixMap<T> weights() const {
        return ConstMatrixMap<T>(weights_.data(), params_.filter_size(), params_.filters);
    }
    VectorMap<T> bias() { return VectorMap<T>(bias_.data(), params_.filters); }
    ConstVectorMap<T> bias() const { return ConstVectorMap<T>(bias_.data(), params_.filters); }
    MatrixMap<T> weight_gradient() {
        return MatrixMap<T>(weight_grad_.data(), params_.filter_size(), params_.filters);
    }
    VectorMap<T> bias_gradient() { return VectorMap<T>(bias_grad_.data(), params_.filters); }
    /// Weight of filter k at kernel tap (ky, kx), input depth d.
    T& weight(index_t k, index_t ky, index_t kx, index_t d) {
        return weights_[((k * params_.kernel.h + ky) * params_.kernel.w + kx) * params_.in_depth + d];
    }

    std::vector<Parameter<T>> parameters() override {
        const auto& p = params_;
        return {{"weights", {p.filters, p.kernel.h, p.kernel.w, p.in_depth}, weights_.data(),
                 weight_grad_.data(), weights_.size()},
                {"bias", {p.filters}, bias_.data(), bias_grad_.data(), bias_.size()}};
    }
    /// Fh*Fw*D1*K + K.
    index_t parameter_count() const override { return params_.weight_count() + params_.filters; }
    std::string name() const override { return "ConvLayer"; }
    std::string describe() const override {
        const auto& p = params_;
        std::ostringstream os;
        os << "ConvLayer " << p.filters << " filters " << p.kernel.h << "x" << p.kernel.w << "x"
           << p.in_depth << ", stride " << p.stride.h << "x" << p.stride.w << ", pad " << p.pad.h
           << "x" << p.pad.w;
        if (p.dilation != HW(1)) os << ", dilation " << p.dilation.h << "x" << p.dilation.w;
        if (p.fit != FitPolicy::exact) os << ", fit " << to_string(p.fit);
        return os.str();
    }

    /// Upper bound on the im2col workspace; a block holds at least one patch row regardless.
    void set_workspace_budget_bytes(index_t bytes) {
        if (bytes < 1) throw std::invalid_argument("ConvLayer: workspace budget must be positive");
        budget_ = bytes;
        cached_input_ = Shape{};
    }
    index_t workspace_budget_bytes() const { return budget_; }
    /// Bytes of workspace held for the last input shape.
    index_t workspace_bytes() const { return workspace_.size() * static_cast<index_t>(sizeof(T)); }

protected:
    void do_forward(const Volume<T>& x, Volume<T>& y) override {
        prepare(x.shape());
        kernels::im2col_conv_forward(shape_, x.data(), weights_.data(), bias_.data(), y.data(),
                                     workspace_.data(), block_rows_);
    }
    void do_backward(const Volume<T>& x, const Volume<T>& dy, Volume<T>* dx) override {
        prepare(x.shape());
        kernels::im2col_conv_backward(shape_, x.data(), dy.data(), weights_.data(),
                                      dx ? dx->data() : nullptr, weight_grad_.data(),
                                      bias_grad_.data(), workspace_.data(), block_rows_);
    }

private:
    // Resolves geometry and sizes the workspace once per input shape.
    void prepare(const Shape& input) {
        if (input == cached_input_) return;
        shape_ = conv_shape(input);
        block_rows_ = kernels::im2col_block_rows(shape_, budget_, sizeof(T));
        workspace_.resize(kernels::im2col_workspace_elements(shape_, block_rows_));
        cached_input_ = input;
    }

    ConvParams params_;
    AlignedBuffer<T> weights_, weight_grad_, bias_, bias_grad_;
    AlignedBuffer<T> workspace_;
    index_t budget_ = kDefaultWorkspaceBudget;
    Shape cached_input_{};
    ConvShape shape_{};
    index_t block_rows_ = 1;
};

}  // namespace convlayer
