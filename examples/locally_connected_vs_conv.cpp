// Parameter sharing (ConvLayer) against none (LocallyConnectedLayer): counts and a tiny training run.
//
// First the textbook's numbers, from the layers: AlexNet conv1 (227x227x3 input, 96 filters of
// 11x11x3, stride 4) has 34,944 parameters with sharing and 105,705,600 without (counted by the
// static LocallyConnectedLayer::parameter_count, which allocates nothing). Then two small networks
// with the same geometry, one per kind of layer, are trained with Adam on synthetic 16x16 images
// of three centred digit-like shapes ("0", "1", "7"); both losses are printed as they fall, and
// the exit code is 1 unless each ends below half of where it started. Finally both are tested on
// new centred images and on images shifted off centre, where the shared filters carry over and
// the per-position ones do not. Runs in a fraction of a second.
#include <convlayer/convlayer.hpp>

#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

using namespace convlayer;

namespace {

constexpr index_t kSide = 16, kClasses = 3;
const char* const kClassNames[kClasses] = {"0 (ring)", "1 (bar)", "7"};

/// `count` images per class of a digit-like shape drawn around the centre, moved by (shift_x,
/// shift_y) plus a random jitter of up to one pixel, with random stroke brightness and noise.
struct Data {
    Volume<float> images;
    std::vector<int> labels;
};
Data make_data(index_t count, index_t shift_x, index_t shift_y, std::uint64_t seed) {
    std::mt19937_64 gen(seed);
    auto uniform = [&](double lo, double hi) { return lo + (hi - lo) * static_cast<double>(gen() >> 11) * 0x1.0p-53; };
    Data d{Volume<float>(count * kClasses, kSide, kSide, 1), {}};
    for (index_t i = 0; i < count * kClasses; ++i) {
        const int label = static_cast<int>(i % kClasses);
        d.labels.push_back(label);
        const double cx = 7.5 + static_cast<double>(shift_x) + std::round(uniform(-1, 1));
        const double cy = 7.5 + static_cast<double>(shift_y) + std::round(uniform(-1, 1));
        const double ink = uniform(0.7, 1.0);
        for (index_t y = 0; y < kSide; ++y)
            for (index_t x = 0; x < kSide; ++x) {
                const double u = static_cast<double>(x) - cx, v = static_cast<double>(y) - cy;  // centred coordinates
                bool on = false;
                if (label == 0) on = std::abs(std::hypot(u / 3.5, v / 5.0) - 1.0) < 0.25;         // an upright ring
                if (label == 1) on = std::abs(u) < 1.0 && std::abs(v) < 5.5;                      // a vertical bar
                if (label == 2) on = (v > -5.5 && v < -3.5 && std::abs(u) < 4.0) ||              // a top bar and
                                     (v >= -3.5 && v < 5.5 && std::abs(u - (1.5 - (v + 3.5) * 0.35)) < 1.0);  // a slant
                d.images(i, y, x, 0) = static_cast<float>((on ? ink : 0.0) + uniform(-0.1, 0.1));
            }
    }
    return d;
}

/// input 16x16x1 -> [conv-like 5x5, 8 filters] -> 12x12x8 -> ReLU -> max pool over the whole
/// 12x12 map (each filter's strongest response, wherever it is) -> dense 8 -> 3.
Sequential<float> make_network(bool shared, index_t batch) {
    const ConvParams p(1, 8, 5, 1, 0);
    Sequential<float> net({batch, kSide, kSide, 1});
    if (shared) net.emplace<ConvLayer<float>>(p);
    else net.emplace<LocallyConnectedLayer<float>>(p, HW(kSide, kSide));
    net.emplace<ReluLayer<float>>();
    net.emplace<PoolLayer<float>>(PoolKind::max, 12, 12);
    net.emplace<DenseLayer<float>>(8, kClasses);
    return net;
}

double accuracy(ClassifierTrainer<float>& trainer, const Data& d) {
    const std::vector<int>& predicted = trainer.predict(d.images);
    index_t correct = 0;
    for (std::size_t i = 0; i < predicted.size(); ++i) correct += predicted[i] == d.labels[i];
    return 100.0 * static_cast<double>(correct) / static_cast<double>(predicted.size());
}

}  // namespace

int main() try {
    // 1. The textbook's numbers, from the layers.
    const ConvParams alex(3, 96, 11, 4, 0);
    const ConvLayer<float> shared_conv1(alex);
    const index_t unshared = LocallyConnectedLayer<float>::parameter_count(alex, HW(227, 227));
    const ConvShape s = shared_conv1.conv_shape({1, 227, 227, 3});
    std::printf("AlexNet conv1: %s on a 227x227x3 input -> %tdx%tdx%td\n", shared_conv1.describe().c_str(), s.y.out,
                s.x.out, s.k);
    std::printf("  shared (ConvLayer):           96 filters x (11*11*3 + 1) = %s parameters\n",
                with_thousands_separators(shared_conv1.parameter_count()).c_str());
    std::printf("  unshared (LocallyConnected):  %td*%td positions x 96 x (11*11*3 + 1) = %s parameters\n", s.y.out,
                s.x.out, with_thousands_separators(unshared).c_str());
    std::printf("  that is %.0fx more: one filter bank per output position, %.0f MB of float weights\n"
                "  (counted by the static LocallyConnectedLayer::parameter_count, nothing allocated)\n\n",
                static_cast<double>(unshared) / static_cast<double>(shared_conv1.parameter_count()),
                static_cast<double>(unshared) * 4 / 1e6);
    const bool counts_ok = shared_conv1.parameter_count() == 34944 && unshared == 105705600;

    // 2. A tiny training run on centred images.
    const index_t per_class = 30;
    const Data train = make_data(per_class, 0, 0, 1);
    Sequential<float> conv_net = make_network(true, train.images.batch());
    Sequential<float> lc_net = make_network(false, train.images.batch());
    std::printf("Data: %td synthetic 16x16 images, %td per class, shapes %s, %s and %s centred\n"
                "(jitter of one pixel, random brightness, noise). The same network twice, only the first layer\n"
                "differs; a ReLU, a max pool over the whole 12x12 map (each filter's strongest response, wherever\n"
                "it is) and a dense layer to %td classes follow.\n\n",
                train.images.batch(), per_class, kClassNames[0], kClassNames[1], kClassNames[2], kClasses);
    std::printf("shared:   %s\n%s\n", conv_net.layer(0).describe().c_str(), conv_net.summary().c_str());
    std::printf("unshared: %s\n%s\n", lc_net.layer(0).describe().c_str(), lc_net.summary().c_str());
    std::printf("First layer parameters: ConvLayer %s (8 x (5*5*1 + 1)), LocallyConnectedLayer %s (12*12 positions\n"
                "x 8 x (5*5*1 + 1)); whole networks %s vs %s.\n\n",
                with_thousands_separators(conv_net.layer(0).parameter_count()).c_str(), with_thousands_separators(lc_net.layer(0).parameter_count()).c_str(),
                with_thousands_separators(conv_net.parameter_count()).c_str(), with_thousands_separators(lc_net.parameter_count()).c_str());

    initialize(conv_net, Init::he_uniform, 7);
    initialize(lc_net, Init::he_uniform, 7);
    Adam<float> conv_adam(0.01f), lc_adam(0.01f);
    ClassifierTrainer<float> conv_trainer(conv_net, conv_adam), lc_trainer(lc_net, lc_adam);

    const int steps = 40;
    std::printf("Full-batch training, Adam lr 0.01, softmax cross-entropy (ln 3 = 1.0986 is chance):\n");
    std::printf("  %5s  %14s  %14s\n", "step", "ConvLayer", "LocallyConn.");
    float conv_first = 0, lc_first = 0, conv_loss = 0, lc_loss = 0;
    for (int step = 1; step <= steps; ++step) {
        conv_loss = conv_trainer.train_batch(train.images, train.labels);
        lc_loss = lc_trainer.train_batch(train.images, train.labels);
        if (step == 1) {
            conv_first = conv_loss;
            lc_first = lc_loss;
        }
        if (step == 1 || step % 5 == 0)
            std::printf("  %5d  %14.4f  %14.4f\n", step, static_cast<double>(conv_loss), static_cast<double>(lc_loss));
    }
    const bool conv_learned = conv_loss < conv_first / 2, lc_learned = lc_loss < lc_first / 2;
    std::printf("ConvLayer:             loss %.4f -> %.4f, %s\n", static_cast<double>(conv_first),
                static_cast<double>(conv_loss), conv_learned ? "below half of the start: it learns" : "FAILED: not below half of the start");
    std::printf("LocallyConnectedLayer: loss %.4f -> %.4f, %s\n\n", static_cast<double>(lc_first),
                static_cast<double>(lc_loss), lc_learned ? "below half of the start: it learns" : "FAILED: not below half of the start");

    // 3. New images: centred as in training, and moved 2 pixels right and down.
    const Data centred = make_data(50, 0, 0, 2), shifted = make_data(50, 2, 2, 3);
    std::printf("Accuracy on 150 new images     ConvLayer  LocallyConn.\n");
    std::printf("  centred, like the training   %8.1f%%  %11.1f%%\n", accuracy(conv_trainer, centred),
                accuracy(lc_trainer, centred));
    std::printf("  shifted by (2, 2) pixels     %8.1f%%  %11.1f%%\n", accuracy(conv_trainer, shifted),
                accuracy(lc_trainer, shifted));
    std::printf("On centred images both work: the unshared layer can learn a different detector for each place,\n"
                "which suits inputs that are always centred (faces, say). Off centre, a shared filter detects its\n"
                "stroke wherever it lies and the max pool passes the response on, while the unshared layer's\n"
                "filters at the new positions were trained on other parts of the shapes.\n");
    if (!counts_ok) std::printf("FAILED: AlexNet conv1 counts differ from 34,944 and 105,705,600\n");
    return counts_ok && conv_learned && lc_learned ? 0 : 1;
} catch (const std::exception& e) {
    std::fprintf(stderr, "locally_connected_vs_conv: %s\n", e.what());
    return 1;
}
