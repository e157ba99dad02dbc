// ConvLayer forward and backward on the named suite, batch 1 and 8, in GFLOP/s.
// FLOPs per pass = 2*N*H2*W2*K*F*F*D1 (backward counts dX and dW: twice that).
#include <benchmark/benchmark.h>

#include <convlayer/convlayer.hpp>

#include <memory>
#include <string>

#include "conv_suite.hpp"

using namespace convlayer;

namespace {

enum Pass { kForward = 0, kBackward = 1 };

struct NamedPointwise {
    const char* name;
    index_t hw, d1, k;
};

void BM_ConvLayer(benchmark::State& state) {
    const auto& cfg = bench::kSuite[static_cast<std::size_t>(state.range(0))];
    const index_t n = state.range(1);
    const auto pass = static_cast<Pass>(state.range(2));
    ConvLayer<float> conv(cfg.params());
    conv.weights().setRandom();
    Volume<float> x(cfg.input(n)), y, dx;
    x.fill_random(1);
    conv.forward(x, y);
    Volume<float> dy(y.shape());
    dy.fill_random(2);
    const ConvShape s = conv.conv_shape(x.shape());
    for (auto _ : state) {
        if (pass == kForward) {
            conv.forward(x, y);
            benchmark::DoNotOptimize(y.data());
        } else {
            conv.backward(x, dy, &dx);
            benchmark::DoNotOptimize(dx.data());
        }
        benchmark::ClobberMemory();
    }
    const double flops = s.flops() * (pass == kForward ? 1 : 2);
    state.counters["GFLOPS"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
    state.counters["workspace_bytes"] = static_cast<double>(conv.workspace_bytes());
    state.SetLabel(std::string(cfg.name) + (pass == kForward ? " forward " : " backward ") + s.to_string());
}

void SuiteArgs(benchmark::internal::Benchmark* b) {
    b->ArgNames({"layer", "N", "backward"});
    for (std::size_t i = 0; i < bench::kSuite.size(); ++i)
        for (index_t n : {1, 8})
            for (int pass : {kForward, kBackward}) b->Args({static_cast<index_t>(i), n, pass});
    b->Unit(benchmark::kMillisecond)->UseRealTime();
}

// Conv1x1Layer (one GEMM on the NHWC input) against ConvLayer forced through im2col with F=1:
// the 1x1 path must never be the slower one.
constexpr NamedPointwise kPointwise[] = {{"resnet_1x1_a", 56, 64, 256}, {"resnet_1x1_b", 14, 1024, 256}};

void BM_Pointwise(benchmark::State& state) {
    const auto& cfg = kPointwise[state.range(0)];
    const index_t n = state.range(1);
    const bool general = state.range(2) != 0;
    const bool backward = state.range(3) != 0;
    std::unique_ptr<ConvLayer<float>> layer;
    if (general) {
        layer = std::make_unique<ConvLayer<float>>(cfg.d1, cfg.k, 1);
        layer->set_algorithm(ConvAlgorithm::im2col);
    } else {
        layer = std::make_unique<Conv1x1Layer<float>>(cfg.d1, cfg.k);
    }
    layer->weights().setRandom();
    Volume<float> x(n, cfg.hw, cfg.hw, cfg.d1), y, dx;
    x.fill_random(1);
    layer->forward(x, y);
    Volume<float> dy(y.shape());
    dy.fill_random(2);
    for (auto _ : state) {
        if (backward) {
            layer->backward(x, dy, &dx);
            benchmark::DoNotOptimize(dx.data());
        } else {
            layer->forward(x, y);
            benchmark::DoNotOptimize(y.data());
        }
        benchmark::ClobberMemory();
    }
    const double flops = layer->conv_shape(x.shape()).flops() * (backward ? 2 : 1);
    state.counters["GFLOPS"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
    state.SetLabel(std::string(cfg.name) + (general ? " ConvLayer/im2col" : " Conv1x1Layer") +
                   (backward ? " backward" : " forward"));
}

void PointwiseArgs(benchmark::internal::Benchmark* b) {
    b->ArgNames({"layer", "N", "general", "backward"});
    for (index_t i = 0; i < 2; ++i)
        for (index_t n : {1, 8})
            for (int backward : {0, 1})
                for (int general : {0, 1}) b->Args({i, n, general, backward});
    b->Unit(benchmark::kMillisecond)->UseRealTime();
}

}  // namespace

BENCHMARK(BM_ConvLayer)->Apply(SuiteArgs);
BENCHMARK(BM_Pointwise)->Apply(PointwiseArgs);
BENCHMARK_MAIN();
