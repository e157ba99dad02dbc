// oneDNN's convolution on a ConvShape, set up the way oneDNN is fastest: src/dst nhwc, weights
// in the layout oneDNN chooses (format_tag::any), reordered from convlayer's OHWI outside the
// timed region. Used only by the benchmarks, to run the peer in the same process.
#pragma once

#include <dnnl.hpp>

#include <vector>

#include "convlayer/core/conv_shape.hpp"

namespace convlayer::bench {

class OneDnnConv {
public:
    using tag = dnnl::memory::format_tag;
    using dt = dnnl::memory::data_type;

    /// `w` is OHWI (K x Fh x Fw x D1) and `b` K biases, as in convlayer.
    OneDnnConv(const ConvShape& s, const float* w, const float* b) : eng_(dnnl::engine::kind::cpu, 0), strm_(eng_) {
        using dims = dnnl::memory::dims;
        const dims src{s.n, s.d1, s.y.in, s.x.in}, dst{s.n, s.k, s.y.out, s.x.out};
        const dims wei{s.k, s.d1, s.y.kernel, s.x.kernel}, bias{s.k};
        const dims strides{s.y.stride, s.x.stride}, dil{s.y.dilation - 1, s.x.dilation - 1};
        const dims pad_l{s.y.pad_begin, s.x.pad_begin}, pad_r{s.y.pad_end, s.x.pad_end};
        const auto src_md = dnnl::memory::desc(src, dt::f32, tag::nhwc);
        const auto dst_md = dnnl::memory::desc(dst, dt::f32, tag::nhwc);
        const auto any_w = dnnl::memory::desc(wei, dt::f32, tag::any);
        const auto bias_md = dnnl::memory::desc(bias, dt::f32, tag::a);
        const auto alg = dnnl::algorithm::convolution_auto;  // oneDNN's own choice: its best

        fwd_pd_ = dnnl::convolution_forward::primitive_desc(
            dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, alg, src_md, any_w, bias_md, dst_md,
                                            strides, dil, pad_l, pad_r),
            eng_);
        bwd_data_pd_ = dnnl::convolution_backward_data::primitive_desc(
            dnnl::convolution_backward_data::desc(alg, src_md, any_w, dst_md, strides, dil, pad_l, pad_r), eng_, fwd_pd_);
        bwd_weights_pd_ = dnnl::convolution_backward_weights::primitive_desc(
            dnnl::convolution_backward_weights::desc(alg, src_md, any_w, bias_md, dst_md, strides, dil, pad_l, pad_r),
            eng_, fwd_pd_);

        src_ = dnnl::memory(src_md, eng_);
        dst_ = dnnl::memory(dst_md, eng_);
        diff_src_ = dnnl::memory(src_md, eng_);
        diff_dst_ = dnnl::memory(dst_md, eng_);
        bias_ = dnnl::memory(bias_md, eng_, const_cast<float*>(b));
        diff_bias_ = dnnl::memory(bias_md, eng_);
        user_w_md_ = dnnl::memory::desc(wei, dt::f32, tag::ohwi);
        // Weights in each primitive's preferred layout, reordered once from OHWI.
        const dnnl::memory user_w(user_w_md_, eng_, const_cast<float*>(w));
        w_fwd_ = reordered(user_w, fwd_pd_.weights_desc());
        w_bwd_ = reordered(user_w, bwd_data_pd_.weights_desc());
        diff_w_ = dnnl::memory(bwd_weights_pd_.diff_weights_desc(), eng_);
        fwd_ = dnnl::convolution_forward(fwd_pd_);
        bwd_data_ = dnnl::convolution_backward_data(bwd_data_pd_);
        bwd_weights_ = dnnl::convolution_backward_weights(bwd_weights_pd_);
    }

    float* src() { return static_cast<float*>(src_.get_data_handle()); }
    float* dst() { return static_cast<float*>(dst_.get_data_handle()); }
    float* diff_src() { return static_cast<float*>(diff_src_.get_data_handle()); }
    float* diff_dst() { return static_cast<float*>(diff_dst_.get_data_handle()); }

    void forward() {
        fwd_.execute(strm_, {{DNNL_ARG_SRC, src_}, {DNNL_ARG_WEIGHTS, w_fwd_}, {DNNL_ARG_BIAS, bias_}, {DNNL_ARG_DST, dst_}});
        strm_.wait();
    }
    void backward_data() {
        bwd_data_.execute(strm_, {{DNNL_ARG_DIFF_DST, diff_dst_}, {DNNL_ARG_WEIGHTS, w_bwd_}, {DNNL_ARG_DIFF_SRC, diff_src_}});
        strm_.wait();
    }
    void backward_weights() {
        bwd_weights_.execute(strm_, {{DNNL_ARG_SRC, src_}, {DNNL_ARG_DIFF_DST, diff_dst_},
                                     {DNNL_ARG_DIFF_WEIGHTS, diff_w_}, {DNNL_ARG_DIFF_BIAS, diff_bias_}});
        strm_.wait();
    }
    /// The last weight gradient, reordered to OHWI.
    std::vector<float> diff_weights_ohwi() {
        std::vector<float> out(user_w_md_.get_size() / sizeof(float));
        dnnl::memory user(user_w_md_, eng_, out.data());
        dnnl::reorder(diff_w_, user).execute(strm_, diff_w_, user);
        strm_.wait();
        return out;
    }

private:
    dnnl::memory reordered(const dnnl::memory& from, const dnnl::memory::desc& to_md) {
        dnnl::memory to(to_md, eng_);
        dnnl::reorder(from, to).execute(strm_, const_cast<dnnl::memory&>(from), to);
        strm_.wait();
        return to;
    }

    dnnl::engine eng_;
    dnnl::stream strm_;
    dnnl::convolution_forward::primitive_desc fwd_pd_;
    dnnl::convolution_backward_data::primitive_desc bwd_data_pd_;
    dnnl::convolution_backward_weights::primitive_desc bwd_weights_pd_;
    dnnl::convolution_forward fwd_;
    dnnl::convolution_backward_data bwd_data_;
    dnnl::convolution_backward_weights bwd_weights_;
    dnnl::memory src_, dst_, diff_src_, diff_dst_, bias_, diff_bias_, w_fwd_, w_bwd_, diff_w_;
    dnnl::memory::desc user_w_md_;
};

}  // namespace convlayer::bench
