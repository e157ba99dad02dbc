// FilterBank<T>: the weights, biases and their gradients of a conv-like layer, in one place.
//
// A bank holds `sets` independent sets of K filters (1 set when parameters are shared across
// positions, H2*W2 sets for a locally connected layer). Set s is a K x (Fh*Fw*D1) row-major
// matrix (OHWI: filter k contiguous, taps in (ky, kx, d) order) followed in memory by set s+1;
// its K biases likewise.
#pragma once

#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "convlayer/core/aligned_buffer.hpp"
#include "convlayer/core/conv_shape.hpp"
#include "convlayer/core/eigen_types.hpp"
#include "convlayer/layers/layer.hpp"

namespace convlayer {

/// The weights, biases and their gradients of a conv-like layer: `sets` sets of K filters of
/// Fh*Fw*D1 weights (OHWI) and K biases, one set per output position or one shared.
template <typename T>
class FilterBank {
public:
    /// Parameters of `sets` sets of K filters of p.filter_size() weights + K biases each.
    static index_t parameter_count(const ConvParams& p, index_t sets) {
        return checked_mul(sets, checked_add(p.weight_count(), p.filters, "parameter count"), "parameter count");
    }

    /// Zero-initialised bank. `set_dims` prefixes the logical dims reported by parameters()
    /// (e.g. {H2, W2} for per-position sets, {} for a shared set).
    FilterBank(const ConvParams& p, index_t sets, std::vector<index_t> set_dims)
        : params_(p), sets_(sets), set_dims_(std::move(set_dims)) {
        const index_t w = checked_mul(sets, p.weight_count(), "weight count");
        const index_t b = checked_mul(sets, p.filters, "bias count");
        for (auto* buf : {&weights_, &weight_grad_}) buf->resize(w);
        for (auto* buf : {&bias_, &bias_grad_}) buf->resize(b);
        for (auto* buf : {&weights_, &weight_grad_, &bias_, &bias_grad_})
            std::fill(buf->data(), buf->data() + buf->size(), T(0));
    }

    /// Number of filter sets: 1 when shared, H2*W2 for a locally connected layer.
    index_t sets() const { return sets_; }
    /// K, filters per set.
    index_t filters() const { return params_.filters; }
    /// Weights per filter: Fh*Fw*D1.
    index_t filter_size() const { return params_.kernel.h * params_.kernel.w * params_.in_depth; }

    /// Set `set` as the K x (Fh*Fw*D1) row-major matrix, row k = filter k (OHWI): the dims of
    /// parameters()' "weights" with Fh, Fw, D1 flattened.
    RowMatrixMap<T> weights(index_t set = 0) {
        return RowMatrixMap<T>(weight_data() + set_offset(set), filters(), filter_size());
    }
    /// Set `set` as a read-only K x (Fh*Fw*D1) matrix; `set` is not checked.
    ConstRowMatrixMap<T> weights(index_t set = 0) const {
        return ConstRowMatrixMap<T>(weight_data() + set_offset(set), filters(), filter_size());
    }
    /// The K biases of set `set`; `set` is not checked.
    VectorMap<T> bias(index_t set = 0) { return VectorMap<T>(bias_data() + set * filters(), filters()); }
    /// The K biases of set `set`, read-only.
    ConstVectorMap<T> bias(index_t set = 0) const { return ConstVectorMap<T>(bias_data() + set * filters(), filters()); }
    /// dL/dW of set `set`, laid out as weights(set).
    RowMatrixMap<T> weight_gradient(index_t set = 0) {
        return RowMatrixMap<T>(weight_grad_.data() + set_offset(set), filters(), filter_size());
    }
    /// dL/db of set `set`, laid out as bias(set).
    VectorMap<T> bias_gradient(index_t set = 0) { return VectorMap<T>(bias_grad_.data() + set * filters(), filters()); }

    /// All weights, set after set (sets()*K*filter_size() values, OHWI within a set).
    T* weight_data() { return weights_.data(); }
    /// All weights, read-only.
    const T* weight_data() const { return weights_.data(); }
    /// All biases, set after set (sets()*K values).
    T* bias_data() { return bias_.data(); }
    /// All biases, read-only.
    const T* bias_data() const { return bias_.data(); }
    /// All weight gradients, laid out as weight_data().
    T* weight_grad_data() { return weight_grad_.data(); }
    /// All bias gradients, laid out as bias_data().
    T* bias_grad_data() { return bias_grad_.data(); }

    /// "weights" with dims set_dims + {K, Fh, Fw, D1}, then "bias" with set_dims + {K}.
    std::vector<Parameter<T>> parameters() {
        std::vector<index_t> wd = set_dims_, bd = set_dims_;
        wd.insert(wd.end(), {filters(), params_.kernel.h, params_.kernel.w, params_.in_depth});
        bd.push_back(filters());
        const index_t taps = params_.kernel.h * params_.kernel.w;
        return {{"weights", wd, weights_.data(), weight_grad_.data(), weights_.size(), filter_size(), filters() * taps,
                 &version_},
                {"bias", bd, bias_.data(), bias_grad_.data(), bias_.size(), 0, 0, &version_}};
    }
    /// Number of weights and biases in the bank.
    index_t parameter_count() const { return weights_.size() + bias_.size(); }

    /// Counts writes to the weights and biases as reported by Parameter::mark_changed() and
    /// mark_changed() (the bank's own accessors do not count, so layers can read through them).
    std::uint64_t version() const { return version_; }
    /// Records a write to the weights or biases made outside Parameter::mark_changed().
    void mark_changed() { ++version_; }

private:
    index_t set_offset(index_t set) const { return set * filter_size() * filters(); }

    ConvParams params_;
    index_t sets_;
    std::vector<index_t> set_dims_;
    AlignedBuffer<T> weights_, weight_grad_, bias_, bias_grad_;
    std::uint64_t version_ = 0;
};

/// One line for a network summary: "<name> 96 filters 11x11x3, stride 4x4, pad 0x0[, ...]".
inline std::string describe_conv(const std::string& name, const ConvParams& p) {
    std::ostringstream os;
    os << name << " " << p.filters << " filters " << p.kernel.h << "x" << p.kernel.w << "x" << p.in_depth
       << ", stride " << p.stride.h << "x" << p.stride.w << ", pad " << p.pad.h << "x" << p.pad.w;
    if (p.dilation != HW(1)) os << ", dilation " << p.dilation.h << "x" << p.dilation.w;
    if (p.fit != FitPolicy::exact) os << ", fit " << to_string(p.fit);
    return os.str();
}

}  // namespace convlayer
