// Trains a small CNN on Fashion-MNIST with convlayer alone, then evaluates it.
//
//   conv 5x5 (1 -> 32, pad 2) - ReLU - maxpool 2 - conv 5x5 (32 -> 64, pad 2) - ReLU - maxpool 2
//   - dense 3136 -> 10, softmax cross-entropy, Adam with a cosine learning-rate decay.
//
// Prints the network summary, a progress bar per epoch, test accuracy per epoch and a confusion
// matrix; writes the first layer's filters and a loss/accuracy plot as PNG, and the weights.
// Run with --help for the flags.
#include <convlayer/convlayer.hpp>
#include <convlayer/io/idx.hpp>
#include <convlayer/io/plot.hpp>
#include <convlayer/io/png.hpp>

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <sys/stat.h>
#include <vector>

using namespace convlayer;

namespace {

const char* const kClassNames[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                     "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
// Mean and standard deviation of the Fashion-MNIST training pixels (in [0, 1]).
constexpr float kPixelMean = 0.2860f, kPixelStd = 0.3530f;

struct Options {
    int epochs = 2;
    index_t batch = 32;
    bool adam = true;
    float lr = 0;  // 0: 0.001 for Adam, 0.01 for SGD
    bool cosine = true;  // learning-rate schedule: cosine decay to 0 over the run, or constant
    int threads = 0;  // 0: leave the library default
    std::uint64_t seed = 1;
    index_t limit = 0;  // train on the first `limit` images only (0: all)
    index_t test_limit = 0;  // evaluate on the first `test_limit` test images only (0: all)
    std::string data = "/usr/share/datasets/fashion-mnist";
    std::string out = "fashion_mnist_out";
    std::string save, load;
};

void usage(std::FILE* to) {
    std::fprintf(to,
                 "usage: fashion_mnist [options]\n"
                 "  --epochs N    training epochs, 1 to 1000 (default 2)\n"
                 "  --batch N     batch size (default 32)\n"
                 "  --optimizer O adam (default) or sgd (momentum 0.9)\n"
                 "  --lr X        initial learning rate (default 0.001 for adam, 0.01 for sgd)\n"
                 "  --schedule S  cosine (decay to 0 over the run, default) or constant\n"
                 "  --threads N   threads (default: OMP_NUM_THREADS, else all cores)\n"
                 "  --seed N      seed of the initial weights and the shuffling (default 1)\n"
                 "  --limit N     train on the first N training images only\n"
                 "  --test-limit N  evaluate on the first N test images only\n"
                 "  --data DIR    Fashion-MNIST IDX files (default /usr/share/datasets/fashion-mnist)\n"
                 "  --out DIR     where the PNGs and weights go (default fashion_mnist_out)\n"
                 "  --save FILE   weights file to write (default OUT/fashion_mnist.weights)\n"
                 "  --load FILE   evaluate saved weights instead of training\n");
}

[[noreturn]] void bad_usage(const std::string& why) {
    std::fprintf(stderr, "fashion_mnist: %s\n", why.c_str());
    usage(stderr);
    std::exit(2);
}

long long parse_int(const std::string& flag, const std::string& v, long long lo, long long hi) {
    char* end = nullptr;
    const long long x = std::strtoll(v.c_str(), &end, 10);
    if (v.empty() || *end != '\0' || x < lo || x > hi)
        bad_usage(flag + " needs an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got '" + v + "'");
    return x;
}

Options parse(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string flag = argv[i];
        if (flag == "--help" || flag == "-h") {
            usage(stdout);
            std::exit(0);
        }
        if (i + 1 >= argc) bad_usage(flag.rfind("--", 0) == 0 ? flag + " needs a value" : "unexpected argument '" + flag + "'");
        const std::string v = argv[++i];
        if (flag == "--epochs") o.epochs = static_cast<int>(parse_int(flag, v, 1, 1000));
        else if (flag == "--batch") o.batch = parse_int(flag, v, 1, 60000);
        else if (flag == "--threads") o.threads = static_cast<int>(parse_int(flag, v, 1, 256));
        else if (flag == "--seed") o.seed = static_cast<std::uint64_t>(parse_int(flag, v, 0, 1LL << 62));
        else if (flag == "--limit") o.limit = parse_int(flag, v, 1, 60000);
        else if (flag == "--test-limit") o.test_limit = parse_int(flag, v, 1, 10000);
        else if (flag == "--data") o.data = v;
        else if (flag == "--out") o.out = v;
        else if (flag == "--save") o.save = v;
        else if (flag == "--load") o.load = v;
        else if (flag == "--optimizer") {
            if (v != "adam" && v != "sgd") bad_usage("--optimizer is adam or sgd, got '" + v + "'");
            o.adam = v == "adam";
        } else if (flag == "--schedule") {
            if (v != "cosine" && v != "constant") bad_usage("--schedule is cosine or constant, got '" + v + "'");
            o.cosine = v == "cosine";
        }
        else if (flag == "--lr") {
            char* end = nullptr;
            o.lr = std::strtof(v.c_str(), &end);
            if (v.empty() || *end != '\0' || !(o.lr > 0 && o.lr < 10)) bad_usage("--lr needs a number in (0, 10), got '" + v + "'");
        } else {
            bad_usage("unknown flag '" + flag + "'");
        }
    }
    if (o.save.empty()) o.save = o.out + "/fashion_mnist.weights";
    if (o.lr == 0) o.lr = o.adam ? 0.001f : 0.01f;
    return o;
}

bool file_exists(const std::string& path) { return std::ifstream(path).good(); }

/// The IDX file `name` in `dir`, gzip-compressed or plain; exits with code 2 and install
/// instructions when neither exists.
std::string data_file(const std::string& dir, const std::string& name) {
    for (const std::string& candidate : {dir + "/" + name + ".gz", dir + "/" + name})
        if (file_exists(candidate)) return candidate;
    std::fprintf(stderr,
                 "fashion_mnist: cannot find %s/%s[.gz].\n"
                 "Install the data set with:  sudo apt-get install dataset-fashion-mnist\n"
                 "or pass --data DIR with the four Fashion-MNIST IDX files.\n",
                 dir.c_str(), name.c_str());
    std::exit(2);
}

struct DataSet {
    Volume<float> images;
    std::vector<int> labels;
};

DataSet load(const std::string& dir, const std::string& prefix) {
    DataSet d{io::read_idx_images<float>(data_file(dir, prefix + "-images-idx3-ubyte")),
              io::read_idx_labels(data_file(dir, prefix + "-labels-idx1-ubyte"), 10)};
    if (d.labels.size() != static_cast<std::size_t>(d.images.shape().n))
        throw std::runtime_error(dir + ": " + prefix + " has " + std::to_string(d.images.shape().n) + " images but " +
                                 std::to_string(d.labels.size()) + " labels");
    d.images.flat().array() = (d.images.flat().array() - kPixelMean) / kPixelStd;
    return d;
}

Sequential<float> make_network(index_t batch) {
    Sequential<float> net({batch, 28, 28, 1});
    net.emplace<ConvLayer<float>>(1, 32, 5, 1, 2);
    net.emplace<ReluLayer<float>>();
    net.emplace<PoolLayer<float>>(PoolKind::max, 2, 2);
    net.emplace<ConvLayer<float>>(32, 64, 5, 1, 2);
    net.emplace<ReluLayer<float>>();
    net.emplace<PoolLayer<float>>(PoolKind::max, 2, 2);
    net.emplace<FlattenLayer<float>>();
    net.emplace<DenseLayer<float>>(7 * 7 * 64, 10);
    return net;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

/// A progress bar redrawn in place on a terminal; plain lines every quarter epoch otherwise.
class Progress {
public:
    Progress(int epoch, int epochs, index_t total)
        : epoch_(epoch), epochs_(epochs), total_(total), tty_(isatty(STDOUT_FILENO) != 0),
          start_(std::chrono::steady_clock::now()) {}
    void update(index_t done, double running_loss) {
        const double t = seconds_since(start_);
        const bool finished = done >= total_;
        if (tty_ ? (t - last_ < 0.2 && !finished) : (done < next_plain_ && !finished)) return;
        last_ = t;
        next_plain_ += total_ / 4;
        const double rate = done / std::max(t, 1e-9), eta = (total_ - done) / std::max(rate, 1e-9);
        const int width = 30, filled = static_cast<int>(width * done / total_);
        std::printf("%sepoch %d/%d [%s%s] %6td/%td  %5.0f img/s  loss %.4f  %s %3.0fs%s", tty_ ? "\r" : "", epoch_,
                    epochs_, std::string(static_cast<std::size_t>(filled), '=').c_str(),
                    std::string(static_cast<std::size_t>(width - filled), ' ').c_str(), done, total_, rate,
                    running_loss, finished ? "took" : "ETA ", finished ? t : eta, tty_ && !finished ? "" : "\n");
        std::fflush(stdout);
    }

private:
    int epoch_, epochs_;
    index_t total_;
    bool tty_;
    std::chrono::steady_clock::time_point start_;
    double last_ = -1;
    index_t next_plain_ = 0;
};

/// Accuracy of `trainer`'s network on `data`; fills `confusion` (true x predicted).
/// Accuracy on the first `count` images of `data`, and their confusion matrix.
double evaluate(ClassifierTrainer<float>& trainer, const DataSet& data, index_t count,
                std::vector<std::vector<int>>& confusion) {
    confusion.assign(10, std::vector<int>(10, 0));
    std::vector<index_t> order(static_cast<std::size_t>(count));
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<index_t>(i);
    Volume<float> batch;
    std::vector<int> labels;
    index_t correct = 0;
    for (std::size_t first = 0; first < order.size(); first += 500) {
        const std::size_t size = std::min<std::size_t>(500, order.size() - first);
        gather_batch(data.images, data.labels, order, first, size, batch, labels);
        const std::vector<int>& predicted = trainer.predict(batch);
        for (std::size_t i = 0; i < size; ++i) {
            ++confusion[static_cast<std::size_t>(labels[i])][static_cast<std::size_t>(predicted[i])];
            correct += labels[i] == predicted[i];
        }
    }
    return static_cast<double>(correct) / static_cast<double>(order.size());
}

void print_confusion(const std::vector<std::vector<int>>& c) {
    std::printf("\nConfusion matrix (rows: true class, columns: predicted)\n%-12s", "");
    for (int j = 0; j < 10; ++j) std::printf("%6d", j);
    std::printf("   recall\n");
    for (int i = 0; i < 10; ++i) {
        std::printf("%d %-10s", i, kClassNames[i]);
        int total = 0;
        for (int j = 0; j < 10; ++j) {
            std::printf("%6d", c[static_cast<std::size_t>(i)][static_cast<std::size_t>(j)]);
            total += c[static_cast<std::size_t>(i)][static_cast<std::size_t>(j)];
        }
        std::printf("   %5.1f%%\n", 100.0 * c[static_cast<std::size_t>(i)][static_cast<std::size_t>(i)] / std::max(total, 1));
    }
}

/// Fisher-Yates with our own draws, so the order is the same with every standard library.
void shuffle(std::vector<index_t>& order, std::mt19937_64& gen) {
    for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[gen() % i]);
}

}  // namespace

int main(int argc, char** argv) try {
    const Options o = parse(argc, argv);
    if (o.threads > 0) set_num_threads(o.threads);
    const DataSet test = load(o.data, "t10k");
    const index_t tested = o.test_limit > 0 ? std::min(o.test_limit, test.images.shape().n) : test.images.shape().n;

    Sequential<float> net = make_network(o.batch);
    std::printf("%s\n", net.summary().c_str());
    Adam<float> adam(o.lr);
    Sgd<float> sgd(o.lr, {0.9f});
    Optimizer<float>& optimizer = o.adam ? static_cast<Optimizer<float>&>(adam) : sgd;
    ClassifierTrainer<float> trainer(net, optimizer);
    std::vector<std::vector<int>> confusion;

    if (!o.load.empty()) {
        load_weights(net, o.load);
        std::printf("Loaded %s\nTest accuracy: %.2f%%\n", o.load.c_str(), 100 * evaluate(trainer, test, tested, confusion));
        print_confusion(confusion);
        return 0;
    }

    const DataSet train = load(o.data, "train");
    const index_t n = o.limit > 0 ? std::min(o.limit, train.images.shape().n) : train.images.shape().n;
    std::printf("Training on %td images, testing on %td; batch %td, %s lr %g (%s), %d thread%s, seed %llu\n\n", n,
                tested, o.batch, o.adam ? "Adam" : "SGD momentum 0.9", static_cast<double>(o.lr),
                o.cosine ? "cosine decay" : "constant", num_threads(),
                num_threads() == 1 ? "" : "s", static_cast<unsigned long long>(o.seed));
    initialize(net, Init::he_uniform, o.seed);
    std::mt19937_64 gen(o.seed);
    std::vector<index_t> order(static_cast<std::size_t>(n));
    std::vector<double> epoch_loss, epoch_accuracy;
    Volume<float> batch;
    std::vector<int> labels;
    double train_seconds = 0;
    for (int epoch = 1; epoch <= o.epochs; ++epoch) {
        for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<index_t>(i);
        shuffle(order, gen);
        Progress progress(epoch, o.epochs, n);
        const auto t0 = std::chrono::steady_clock::now();
        double loss_sum = 0, running = 0;
        index_t steps = 0;
        for (std::size_t first = 0; first < order.size(); first += static_cast<std::size_t>(o.batch)) {
            const std::size_t count = std::min<std::size_t>(static_cast<std::size_t>(o.batch), order.size() - first);
            gather_batch(train.images, train.labels, order, first, count, batch, labels);
            if (o.cosine) {  // lr * (1 + cos(pi * progress)) / 2 over all steps of the run
                const double progress = (static_cast<double>(epoch - 1) + static_cast<double>(first) / n) / o.epochs;
                optimizer.set_learning_rate(static_cast<float>(o.lr * 0.5 * (1 + std::cos(3.14159265358979 * progress))));
            }
            const double loss = trainer.train_batch(batch, labels);
            loss_sum += loss;
            running = steps == 0 ? loss : 0.98 * running + 0.02 * loss;
            ++steps;
            progress.update(static_cast<index_t>(first + count), running);
        }
        train_seconds += seconds_since(t0);
        epoch_loss.push_back(loss_sum / static_cast<double>(steps));
        epoch_accuracy.push_back(100 * evaluate(trainer, test, tested, confusion));
        std::printf("epoch %d: mean training loss %.4f, test accuracy %.2f%%\n", epoch, epoch_loss.back(),
                    epoch_accuracy.back());
    }
    std::printf("\nTraining throughput: %.0f images/s (%d thread%s)\n", o.epochs * n / train_seconds, num_threads(),
                num_threads() == 1 ? "" : "s");
    print_confusion(confusion);

    mkdir(o.out.c_str(), 0755);
    const auto& conv1 = dynamic_cast<ConvLayer<float>&>(net.layer(0));
    io::write_png(o.out + "/filters.png", io::filter_grid(conv1.weights().data(), 32, 5, 5, 1, 8));
    io::PlotSpec plot;
    plot.title = "Fashion-MNIST training";
    plot.x_label = "epoch";
    plot.series = {{"training loss", epoch_loss, {200, 60, 40}, false},
                   {"test accuracy %", epoch_accuracy, {40, 90, 200}, true}};
    io::write_png(o.out + "/training.png", io::line_plot(plot));
    save_weights(net, o.save);
    std::printf("\nWrote %s/filters.png, %s/training.png and %s\n", o.out.c_str(), o.out.c_str(), o.save.c_str());
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "fashion_mnist: %s\n", e.what());
    return 1;
}
