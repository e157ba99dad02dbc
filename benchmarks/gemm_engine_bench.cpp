// DenseLayer and LocallyConnectedLayer on convlayer's packed GEMM micro-kernel
// (kernels/linear.hpp), side by side with the Eigen products they ran on before (the same maths
// written with Eigen, here), on Fashion-MNIST's classifier (3136 -> 10), a 1024 -> 1024 layer
// and a locally connected layer of AlexNet conv1's geometry.
#include <benchmark/benchmark.h>

#include <convlayer/convlayer.hpp>

#include <algorithm>
#include <string>
#include <vector>

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
    Eigen::setNbThreads(1);  // as the layer ran Eigen's products
    DenseLayer<float> layer(c.in, c.out);
    layer.weights().setRandom();
    layer.bias().setRandom();
    Volume<float> x(n, 1, 1, c.in), y(n, 1, 1, c.out), dy(n, 1, 1, c.out), dx(n, 1, 1, c.in);
    x.fill_random(1);
    dy.fill_random(2);
    const Matrix<float> w = layer.weights().transpose();  // in x out, as the Eigen products took it
    const Vector<float> b = layer.bias();
    Matrix<float> dw(c.in, c.out);
    Vector<float> db(c.out);
    auto run = [&] {
        if (!packed) {
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

// The locally connected layer's maths as Eigen products, per output position p over the batch:
// Y_p = P_p W_p + 1 b_p^T; db_p, dW_p = P_p^T dY_p, dX += col2im(dY_p W_p^T), W_p (L x K).
template <typename T>
using BatchRows = Eigen::Map<RowMatrix<T>, Eigen::Unaligned, Eigen::OuterStride<>>;

void eigen_locally_connected(int pass, const ConvShape& s, const float* x, const float* dy, const float* w,
                             const float* b, float* y, float* dx, float* dw, float* db, float* block_data) {
    const index_t L = s.patch_length(), positions = s.y.out * s.x.out;
    RowMatrixMap<float> block(block_data, s.n, L);
    if (pass == kBackward) std::fill(dx, dx + s.input().size(), 0.f);
    for (index_t p = 0; p < positions; ++p) {
        BatchRows<float> Y(const_cast<float*>(pass == kForward ? y : dy) + p * s.k, s.n, s.k,
                           Eigen::OuterStride<>(positions * s.k));
        const ConstMatrixMap<float> W(w + p * L * s.k, L, s.k);
        if (pass == kForward) {
            for (index_t n = 0; n < s.n; ++n) kernels::im2col_row(s, x, n * positions + p, block_data + n * L);
            Y.noalias() = block * W;
            Y.rowwise() += ConstVectorMap<float>(b + p * s.k, s.k).transpose();
            continue;
        }
        VectorMap<float>(db + p * s.k, s.k).noalias() = Y.colwise().sum().transpose();
        for (index_t n = 0; n < s.n; ++n) kernels::im2col_row(s, x, n * positions + p, block_data + n * L);
        MatrixMap<float>(dw + p * L * s.k, L, s.k).noalias() = block.transpose() * Y;
        block.noalias() = Y * W.transpose();
        for (index_t n = 0; n < s.n; ++n) kernels::col2im_add_row(s, block_data + n * L, n * positions + p, dx);
    }
}

// Args: N, pass, threads, packed (1: LocallyConnectedLayer, 0: Eigen, one thread as it ran).
void BM_locally_connected(benchmark::State& state) {
    const index_t n = state.range(0);
    const int pass = static_cast<int>(state.range(1));
    const bool packed = state.range(3) != 0;
    set_num_threads(static_cast<int>(state.range(2)));
    Eigen::setNbThreads(1);  // as the layer ran Eigen's products
    const ConvParams params(3, 96, HW(11), HW(4));  // AlexNet conv1: 227x227x3 -> 55x55x96
    LocallyConnectedLayer<float> layer(params, HW(227));
    const std::vector<Parameter<float>> ps = layer.parameters();
    std::fill(ps[0].value, ps[0].value + ps[0].size, 0.01f);
    std::fill(ps[1].value, ps[1].value + ps[1].size, 0.1f);
    const ConvShape s = layer.conv_shape(Shape{n, 227, 227, 3});
    Volume<float> x(s.input()), y(s.output()), dy(s.output()), dx(s.input());
    x.fill_random(1);
    dy.fill_random(2);
    std::vector<float> block(static_cast<std::size_t>(s.n * s.patch_length()));
    auto run = [&] {
        if (!packed)
            eigen_locally_connected(pass, s, x.data(), dy.data(), ps[0].value, ps[1].value, y.data(), dx.data(),
                                    ps[0].gradient, ps[1].gradient, block.data());
        else if (pass == kForward)
            layer.forward(x, y);
        else
            layer.backward(x, dy, &dx);
    };
    run();
    for (auto _ : state) {
        run();
        benchmark::ClobberMemory();
    }
    state.counters["GFLOPS"] =
        benchmark::Counter(s.flops() * (pass == kForward ? 1 : 2) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
    state.SetLabel(std::string(packed ? "packed" : "eigen") + " alexnet_conv1_lc" + (pass == kForward ? " fwd" : " bwd"));
}

void LocallyConnectedArgs(benchmark::internal::Benchmark* b) {
    b->ArgNames({"N", "pass", "threads", "packed"});
    for (int threads : {1, 2})
        for (index_t n : {1, 8, 32})
            for (int pass : {kForward, kBackward})
                for (int packed : {0, 1})
                    if (packed || threads == 1) b->Args({n, pass, threads, packed});
    b->Unit(benchmark::kMillisecond)->UseRealTime();
}

}  // namespace

BENCHMARK(BM_dense)->Apply(DenseArgs);
BENCHMARK(BM_locally_connected)->Apply(LocallyConnectedArgs);

BENCHMARK_MAIN();
