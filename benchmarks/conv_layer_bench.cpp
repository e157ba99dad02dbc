// ConvLayer on the named suite, forward, backward-data and backward-weights, batch 1 and 8, on
// 1 and 2 threads, in GFLOP/s; and, when oneDNN is installed, oneDNN on the same problems in
// the same run, after checking that both compute the same thing.
// FLOPs per pass = 2*N*H2*W2*K*F*F*D1, the same count for every pass and algorithm.
#include <benchmark/benchmark.h>

#include <convlayer/convlayer.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "conv_suite.hpp"
#ifdef CONVLAYER_HAVE_ONEDNN
#include "onednn_conv.hpp"
#endif

using namespace convlayer;
using namespace convlayer::bench;

namespace {

// One configuration with random weights, input and output gradient (fixed seeds).
struct Problem {
    ConvLayer<float> layer;
    ConvShape s;
    Volume<float> x, y, dy, dx;

    Problem(const NamedConv& cfg, index_t n) : layer(cfg.params()), s(layer.conv_shape(cfg.input(n))) {
        if (const char* name = std::getenv("CONVLAYER_BENCH_ALGORITHM"))
            for (ConvAlgorithm a : kAllConvAlgorithms)
                if (name == std::string(to_string(a))) layer.set_algorithm(a);
        layer.weights() = Matrix<float>::Random(layer.weights().rows(), layer.weights().cols());
        layer.bias() = Vector<float>::Random(layer.bias().size());
        x.resize(s.input());
        x.fill_random(1);
        dy.resize(s.output());
        dy.fill_random(2);
    }
    void run(int pass) {
        if (pass == kForward) layer.forward(x, y);
        else if (pass == kBackwardData) layer.backward_data(x.shape(), dy, dx);
        else layer.backward_weights(x, dy);
    }
    // The result of the last run() as (pointer, count).
    std::pair<const float*, index_t> result(int pass) {
        if (pass == kForward) return {y.data(), y.size()};
        if (pass == kBackwardData) return {dx.data(), dx.size()};
        return {layer.weight_gradient().data(), layer.weight_gradient().size()};
    }
};

void report(benchmark::State& state, const NamedConv& cfg, const ConvShape& s, int pass, const std::string& who,
            const std::string& plan = "") {
    state.counters["GFLOPS"] = benchmark::Counter(s.flops() * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
    state.SetLabel(who + " " + cfg.name + " " + pass_name(pass) + " " + s.to_string() + plan);
}

ConvPass conv_pass(int pass) {
    return pass == kForward ? ConvPass::forward : pass == kBackwardData ? ConvPass::backward_data : ConvPass::backward_weights;
}

// Weights packed once (set_cache_packed_weights), as oneDNN's are reordered once outside its
// timed region: inference. BM_convlayer_training packs them on every call, as training must.
void run_convlayer(benchmark::State& state, bool cache_packed_weights) {
    const NamedConv& cfg = kSuite[static_cast<std::size_t>(state.range(0))];
    const int pass = static_cast<int>(state.range(2));
    set_num_threads(static_cast<int>(state.range(3)));
    Problem p(cfg, state.range(1));
    p.layer.set_cache_packed_weights(cache_packed_weights);
    try {
        p.run(pass);  // warm-up: sizes the workspace
    } catch (const std::invalid_argument& e) {  // a forced algorithm that cannot run this pass
        state.SkipWithError(e.what());
        return;
    }
    for (auto _ : state) {
        p.run(pass);
        benchmark::ClobberMemory();
    }
    report(state, cfg, p.s, pass, cache_packed_weights ? "convlayer" : "convlayer(training)",
           std::string(" (") + to_string(p.layer.algorithm(conv_pass(pass))) + ")");
    state.counters["workspace_bytes"] = static_cast<double>(p.layer.workspace_bytes());
    state.counters["packed_weight_bytes"] = static_cast<double>(p.layer.packed_weight_bytes());
}
void BM_convlayer(benchmark::State& state) { run_convlayer(state, true); }
void BM_convlayer_training(benchmark::State& state) { run_convlayer(state, false); }

#ifdef CONVLAYER_HAVE_ONEDNN
void BM_onednn(benchmark::State& state) {
    const NamedConv& cfg = kSuite[static_cast<std::size_t>(state.range(0))];
    const int pass = static_cast<int>(state.range(2));
    const int threads = static_cast<int>(state.range(3));
    set_num_threads(threads);
    omp_set_num_threads(threads);
    Problem p(cfg, state.range(1));
    OneDnnConv d(p.s, p.layer.weights().data(), p.layer.bias().data());
    std::copy(p.x.data(), p.x.data() + p.x.size(), d.src());
    std::copy(p.dy.data(), p.dy.data() + p.dy.size(), d.diff_dst());
    auto run = [&] {
        if (pass == kForward) d.forward();
        else if (pass == kBackwardData) d.backward_data();
        else d.backward_weights();
    };
    // Both libraries must agree before their speeds are compared.
    run();
    p.run(pass);
    std::vector<float> dw;
    const float* theirs = pass == kForward ? d.dst() : pass == kBackwardData ? d.diff_src() : (dw = d.diff_weights_ohwi()).data();
    const auto [ours, count] = p.result(pass);
    double max_diff = 0, scale = 1;
    for (index_t i = 0; i < count; ++i) {
        max_diff = std::max(max_diff, std::abs(double(ours[i]) - double(theirs[i])));
        scale = std::max(scale, std::abs(double(ours[i])));
    }
    if (max_diff > 1e-4 * scale) {
        state.SkipWithError(("oneDNN and convlayer disagree: max difference " + std::to_string(max_diff)).c_str());
        return;
    }
    for (auto _ : state) {
        run();
        benchmark::ClobberMemory();
    }
    report(state, cfg, p.s, pass, "onednn");
    state.counters["max_rel_diff"] = max_diff / scale;
}
#endif

void SuiteArgs(benchmark::internal::Benchmark* b) {
    b->ArgNames({"layer", "N", "pass", "threads"});
    for (int threads : {1, 2})
        for (index_t i = 0; i < static_cast<index_t>(kSuite.size()); ++i)
            for (index_t n : {1, 8})
                for (int pass : {kForward, kBackwardData, kBackwardWeights}) b->Args({i, n, pass, threads});
    b->Unit(benchmark::kMillisecond)->UseRealTime();
}

// Conv1x1Layer (GEMM on the NHWC input) against ConvLayer forced through im2col with F=1:
// the 1x1 path must never be the slower one.
struct NamedPointwise {
    const char* name;
    index_t hw, d1, k;
};
constexpr NamedPointwise kPointwise[] = {{"resnet_1x1_a", 56, 64, 256}, {"resnet_1x1_b", 14, 1024, 256}};

void BM_Pointwise(benchmark::State& state) {
    const auto& cfg = kPointwise[state.range(0)];
    const index_t n = state.range(1);
    const bool general = state.range(2) != 0;
    const bool backward = state.range(3) != 0;
    set_num_threads(1);
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
        if (backward) layer->backward(x, dy, &dx);
        else layer->forward(x, y);
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

BENCHMARK(BM_convlayer)->Apply(SuiteArgs);
BENCHMARK(BM_convlayer_training)->Apply(SuiteArgs);
#ifdef CONVLAYER_HAVE_ONEDNN
BENCHMARK(BM_onednn)->Apply(SuiteArgs);
#endif
BENCHMARK(BM_Pointwise)->Apply(PointwiseArgs);

int main(int argc, char** argv) {
#ifndef CONVLAYER_HAVE_ONEDNN
    std::fprintf(stderr, "oneDNN not found (apt-get install libdnnl-dev): benchmarking convlayer only\n");
#endif
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
}
