// ConvLayer forward and backward on the named suite, batch 1 and 8, in GFLOP/s.
// FLOPs per pass = 2*N*H2*W2*K*F*F*D1 (backward counts dX and dW: twice that).
#include <benchmark/benchmark.h>

#include <convlayer/convlayer.hpp>

#include "conv_suite.hpp"

using namespace convlayer;

namespace {

enum Pass { kForward = 0, kBackward = 1 };

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

}  // namespace

BENCHMARK(BM_ConvLayer)->Apply(SuiteArgs);
BENCHMARK_MAIN();
