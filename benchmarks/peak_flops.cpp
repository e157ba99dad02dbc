// The machine's fp32 peak, measured: a loop of independent FMAs on registers (no memory traffic),
// on 1 and 2 threads. Prints "threads=T gflops=G" lines that the compare script reads.
// Usage: peak_flops [--seconds S]
#include <immintrin.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <cstring>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace {

#if defined(__AVX512F__)
using Vec = __m512;
constexpr int kLanes = 16;
constexpr const char* kIsa = "AVX-512";
inline Vec fma(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
inline Vec splat(float v) { return _mm512_set1_ps(v); }
inline float lane0(Vec v) { return _mm512_cvtss_f32(v); }
#elif defined(__FMA__)
using Vec = __m256;
constexpr int kLanes = 8;
constexpr const char* kIsa = "AVX2+FMA";
inline Vec fma(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
inline Vec splat(float v) { return _mm256_set1_ps(v); }
inline float lane0(Vec v) { return _mm256_cvtss_f32(v); }
#else
#error "peak_flops needs FMA (compile with -march=native on an FMA machine)"
#endif

constexpr int kAccumulators = 12;  // > FMA latency x pipes, so every cycle can issue two FMAs

// Runs `iterations` rounds of kAccumulators independent FMAs; returns a value the optimiser
// cannot drop.
float fma_loop(long iterations) {
    Vec acc[kAccumulators];
    for (int i = 0; i < kAccumulators; ++i) acc[i] = splat(1.0f + 0.001f * static_cast<float>(i));
    const Vec mul = splat(0.9999999f), add = splat(1e-7f);
    for (long it = 0; it < iterations; ++it)
        for (int i = 0; i < kAccumulators; ++i) acc[i] = fma(acc[i], mul, add);
    float sum = 0;
    for (int i = 0; i < kAccumulators; ++i) sum += lane0(acc[i]);
    return sum;
}

double measure(int threads, double seconds) {
    long iterations = 1 << 20;
    for (;;) {
        const auto t0 = std::chrono::steady_clock::now();
        volatile float sink = 0;
#ifdef _OPENMP
#pragma omp parallel num_threads(threads)
        { sink = sink + fma_loop(iterations); }
#else
        (void)threads;
        sink = fma_loop(iterations);
#endif
        const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (dt >= seconds) {
            const double flops = 2.0 * kLanes * kAccumulators * static_cast<double>(iterations) * threads;
            return flops / dt * 1e-9;
        }
        iterations *= 2;
    }
}

}  // namespace

int main(int argc, char** argv) {
    double seconds = 0.5;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            seconds = std::atof(argv[++i]);
        } else {
            std::fprintf(stderr, "usage: peak_flops [--seconds S]\n");
            return 2;
        }
    }
    std::printf("# %s, %d fp32 lanes per FMA, %d independent accumulators\n", kIsa, kLanes, kAccumulators);
#ifdef _OPENMP
    const int max_threads = omp_get_num_procs() >= 2 ? 2 : 1;
#else
    const int max_threads = 1;
#endif
    for (int t = 1; t <= max_threads; ++t) {
        double best = 0;
        for (int rep = 0; rep < 3; ++rep) best = std::max(best, measure(t, seconds));
        std::printf("threads=%d gflops=%.1f\n", t, best);
    }
}
