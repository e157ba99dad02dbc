// The machine's memory bandwidth, measured: a STREAM-style copy b[i] = a[i] over two float arrays
// each 4x the size of L3 (so neither stays in any cache), on 1 and 2 threads, each thread copying
// its own contiguous share of arrays it first touched itself. Bytes moved count the read and the
// write (2 x 4 bytes per element), as STREAM counts them; the best of the repetitions is kept, as
// STREAM keeps its fastest. Prints "threads=T copy_gbs=G" lines, beside peak_flops' figures: the
// limit a bandwidth-bound kernel (depthwise convolution) is measured against.
// Usage: peak_bandwidth [--bytes B] [--repetitions R]
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace {

// L3 as the C library reports it, or 32 MiB when it does not.
long l3_bytes() {
#ifdef _SC_LEVEL3_CACHE_SIZE
    const long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
    if (l3 > 0) return l3;
#endif
    return 32L << 20;
}

// Runs f(begin, end) over thread t's share of [0, n) on `threads` threads.
template <typename F>
void on_threads(int threads, long n, F&& f) {
#ifdef _OPENMP
#pragma omp parallel num_threads(threads)
    {
        const long t = omp_get_thread_num(), parts = omp_get_num_threads();
        f(n * t / parts, n * (t + 1) / parts);
    }
#else
    (void)threads;
    f(0L, n);
#endif
}

// GB/s of the fastest of `repetitions` copies of n floats from a to b on `threads` threads.
double measure(int threads, float* a, float* b, long n, int repetitions) {
    // First touch by the thread that copies the share, so its pages are local to it.
    on_threads(threads, n, [&](long i0, long i1) {
        for (long i = i0; i < i1; ++i) a[i] = static_cast<float>(i & 1023);
        std::fill(b + i0, b + i1, 0.0f);
    });
    double best = 1e30;
    for (int r = 0; r < repetitions; ++r) {
        const auto t0 = std::chrono::steady_clock::now();
        on_threads(threads, n, [&](long i0, long i1) {
            for (long i = i0; i < i1; ++i) b[i] = a[i];
        });
        best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    if (b[n / 2] != a[n / 2]) std::fprintf(stderr, "peak_bandwidth: copy check failed\n");
    return 2.0 * sizeof(float) * static_cast<double>(n) / best * 1e-9;
}

}  // namespace

int main(int argc, char** argv) {
    long bytes = 4 * l3_bytes();
    int repetitions = 10;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--bytes") == 0 && i + 1 < argc) {
            bytes = std::atol(argv[++i]);
        } else if (std::strcmp(argv[i], "--repetitions") == 0 && i + 1 < argc) {
            repetitions = std::atoi(argv[++i]);
        } else {
            std::fprintf(stderr, "usage: peak_bandwidth [--bytes B] [--repetitions R]\n");
            return 2;
        }
    }
    if (bytes < 4096 || repetitions < 1) {
        std::fprintf(stderr, "peak_bandwidth: --bytes must be at least 4096 and --repetitions at least 1\n");
        return 2;
    }
    const long n = bytes / static_cast<long>(sizeof(float));
    const std::unique_ptr<float[]> a(new float[n]), b(new float[n]);
    std::printf("# STREAM-style copy, 2 arrays of %ld MiB (L3 %ld MiB), best of %d, bytes read + written\n",
                bytes >> 20, l3_bytes() >> 20, repetitions);
    for (int threads : {1, 2}) std::printf("threads=%d copy_gbs=%.1f\n", threads, measure(threads, a.get(), b.get(), n, repetitions));
    return 0;
}
