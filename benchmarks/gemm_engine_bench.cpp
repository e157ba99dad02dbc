// DenseLayer on convlayer's packed GEMM micro-kernel (kernels/linear.hpp), side by side with the
// Eigen products it ran on before (the same maths written with Eigen, here), on Fashion-MNIST's
// classifier (3136 -> 10) and a 1024 -> 1024 layer.
#include <benchmark/benchmark.h>

#include <convlayer/convlayer.hpp>

#include <string>

using namespace convlayer;

namespace {

enum Pass { kForward = 0, kBackward = 1 };

// DenseLayer's maths as Eigen products: Y = X W + 1 b^T; dW = X^T dY, db, dX = dY W^T.
void eigen_dense(int pass, const Volume<float>& x, const Volume<float>& dy, const Matrix<float>& w,
                 const Vector<float>& b, Volume<float>& y, Matrix<float>& dw, Vector<float>& db, Volume<float>& dx) {
    const index_t n = x.shape().n, in = w.rows(), out = w.cols();
    const ConstRowMatrixMap<float> X(x.data(), n, in);
    if (pass == kForward) {
        RowMatrixMap<float> Y(y.data(), n, out);
        Y.noalias() = X * w;
        Y.rowwise() += b.transpose();
        return;
    }
    const ConstRowMatrixMap<float> dY(dy.data(), n, out);
    dw.noalias() = X.transpose() * dY;
    db = dY.colwise().sum().transpose();
    RowMatrixMap<float>(dx.data(), n, in).noalias() = dY * w.transpose();
}

struct DenseCase {
    const char* name;
    index_t in, out;
};
constexpr DenseCase kDense[] = {{"fashion_dense_3136x10", 3136, 10}, {"dense_1024x1024", 1024, 1024}};

// Args: case, N, pass, threads, packed (1: DenseLayer, 0: Eigen).
void BM_dense(benchmark::State& state) {
    const DenseCase& c = kDense[state.range(0)];
    const index_t n = state.range(1);
    const int pass = static_cast<int>(state.range(2));
    const bool packed = state.range(4) != 0;
    set_num_threads(static_cast<int>(state.range(3)));
    DenseLayer<float> layer(c.in, c.out);
    layer.weights().setRandom();
    layer.bias().setRandom();
    Volume<float> x(n, 1, 1, c.in), y(n, 1, 1, c.out), dy(n, 1, 1, c.out), dx(n, 1, 1, c.in);
    x.fill_random(1);
    dy.fill_random(2);
    const Matrix<float> w = layer.weights();
    const Vector<float> b = layer.bias();
    Matrix<float> dw(c.in, c.out);
    Vector<float> db(c.out);
    auto run = [&] {
        if (!packed) {
            const SerialEigenGemm serial;  // as the layer ran it: one thread
            eigen_dense(pass, x, dy, w, b, y, dw, db, dx);
        } else if (pass == kForward) {
            layer.forward(x, y);
        } else {
            layer.backward(x, dy, &dx);
        }
    };
    run();
    for (auto _ : state) {
        run();
        benchmark::ClobberMemory();
    }
    const double flops = 2.0 * n * c.in * c.out * (pass == kForward ? 1 : 2);
    state.counters["GFLOPS"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
    state.SetLabel(std::string(packed ? "packed " : "eigen ") + c.name + (pass == kForward ? " fwd" : " bwd"));
}

void DenseArgs(benchmark::internal::Benchmark* b) {
    b->ArgNames({"case", "N", "pass", "threads", "packed"});
    for (int threads : {1, 2})
        for (index_t c : {0, 1})
            for (index_t n : {32, 256})
                for (int pass : {kForward, kBackward})
                    for (int packed : {0, 1}) b->Args({c, n, pass, threads, packed});
    b->Unit(benchmark::kMicrosecond)->UseRealTime();
}

}  // namespace

BENCHMARK(BM_dense)->Apply(DenseArgs);

BENCHMARK_MAIN();
