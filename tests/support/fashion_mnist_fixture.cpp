// Writes a small Fashion-MNIST-shaped data set (the four gzip'd IDX files, random images, labels
// cycling 0..9) with the library's own IDX writers, for the demo's tests.
//
//   fashion_mnist_fixture DIR [--bad-test-label VALUE]
//
// --bad-test-label sets the last test label to VALUE (e.g. 200, which no class has).
#include <convlayer/io/idx.hpp>

#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

using namespace convlayer;

namespace {

void write_set(const std::string& dir, const std::string& prefix, index_t n, int last_label, std::uint64_t seed) {
    Volume<float> images(n, 28, 28, 1);
    images.fill_random(seed, 0.0f, 1.0f);
    std::vector<int> labels(static_cast<std::size_t>(n));
    for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<int>(i % 10);
    if (last_label >= 0) labels.back() = last_label;
    io::write_idx_images(dir + "/" + prefix + "-images-idx3-ubyte.gz", images);
    io::write_idx_labels(dir + "/" + prefix + "-labels-idx1-ubyte.gz", labels);
}

}  // namespace

int main(int argc, char** argv) try {
    if (argc != 2 && !(argc == 4 && std::string(argv[2]) == "--bad-test-label")) {
        std::fprintf(stderr, "usage: fashion_mnist_fixture DIR [--bad-test-label VALUE]\n");
        return 2;
    }
    const std::string dir = argv[1];
    mkdir(dir.c_str(), 0755);
    write_set(dir, "train", 64, -1, 1);
    write_set(dir, "t10k", 20, argc == 4 ? std::atoi(argv[3]) : -1, 2);
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "fashion_mnist_fixture: %s\n", e.what());
    return 1;
}
