// The textbook's real-world example: AlexNet's first conv layer, computed by convlayer.
//
// Prints the geometry (output extent formula, neurons, parameters with and without sharing),
// then runs a forward and a backward pass, checks a few outputs against the nested-loop
// reference, and reports the time and GFLOP/s of each pass.
#include <convlayer/convlayer.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>

using namespace convlayer;

namespace {
double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

int main() {
    const index_t W = 227, D1 = 3, K = 96, F = 11, S = 4, P = 0;
    ConvLayer<float> conv(D1, K, F, S, P);
    const Shape in{1, W, W, D1};
    const ConvShape s = conv.conv_shape(in);

    std::printf("AlexNet conv1: input %tdx%tdx%td, K=%td filters of %tdx%tdx%td, stride %td, pad %td\n",
                W, W, D1, K, F, F, D1, S, P);
    std::printf("  output extent (W - F + 2P)/S + 1 = (%td - %td + 2*%td)/%td + 1 = %td\n", W, F, P, S,
                output_extent(W, F, P, S));
    std::printf("  output volume %tdx%tdx%td = %td neurons, each seeing %tdx%tdx%td = %td inputs\n", s.y.out,
                s.x.out, K, s.output().size(), F, F, D1, s.patch_length());
    std::printf("  parameters with sharing:    %td weights + %td biases = %td\n", conv.params().weight_count(), K,
                conv.parameter_count());
    std::printf("  parameters without sharing: %td neurons x %td = %td\n", s.output().size(),
                s.patch_length() + 1, s.output().size() * (s.patch_length() + 1));
    std::printf("  problem %s, %.2f GFLOP per forward pass\n\n", s.to_string().c_str(), s.flops() * 1e-9);

    Volume<float> x(in);
    x.fill_random(1);
    conv.weights().setRandom();
    conv.bias().setRandom();

    Volume<float> y, dx;
    conv.forward(x, y);  // warm-up: sizes the workspace
    auto t0 = std::chrono::steady_clock::now();
    conv.forward(x, y);
    const double t_fwd = seconds_since(t0);

    Volume<float> dy(y.shape());
    dy.fill_random(2);
    conv.backward(x, dy, &dx);
    t0 = std::chrono::steady_clock::now();
    conv.backward(x, dy, &dx);
    const double t_bwd = seconds_since(t0);

    // Check against the plain nested-loop reference.
    Volume<float> y_ref(y.shape());
    kernels::direct_conv_forward(s, x.data(), conv.weights().data(), conv.bias().data(), y_ref.data());
    const double max_err = (y.flat() - y_ref.flat()).cwiseAbs().maxCoeff();

    std::printf("forward:  %s -> %s in %.2f ms (%.1f GFLOP/s), max |y - reference| = %.2g\n",
                x.shape().to_string().c_str(), y.shape().to_string().c_str(), t_fwd * 1e3,
                s.flops() / t_fwd * 1e-9, max_err);
    std::printf("backward: dx %s, dW %tdx%td, db %td in %.2f ms (%.1f GFLOP/s for dX + dW)\n",
                dx.shape().to_string().c_str(), conv.weight_gradient().rows(), conv.weight_gradient().cols(),
                conv.bias_gradient().size(), t_bwd * 1e3, 2 * s.flops() / t_bwd * 1e-9);
    std::printf("threads: %d; workspace: %td bytes (packed weights + per thread a patch block of at most %td bytes)\n",
                num_threads(), conv.workspace_bytes(), conv.workspace_budget_bytes());
    return max_err < 1e-3 ? 0 : 1;
}
