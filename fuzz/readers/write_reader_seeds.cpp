// Writes the seed corpus of every reader fuzz target with the library's own writers:
//   write_reader_seeds DIR   ->   DIR/{idx,idx_gzip,png,pnm,npy,weights}/*
// (idx_gzip_fuzz compresses its inputs itself, so its seeds are plain IDX files too.)
#include <convlayer/convlayer.hpp>
#include <convlayer/io/idx.hpp>
#include <convlayer/io/npy.hpp>
#include <convlayer/io/png.hpp>
#include <convlayer/io/pnm.hpp>

#include <sys/stat.h>

#include "weights_network.hpp"

#include <cstdio>
#include <string>
#include <vector>

using namespace convlayer;

namespace {

io::Image pattern(index_t w, index_t h, index_t c) {
    io::Image im = io::Image::blank(w, h, c);
    for (std::size_t i = 0; i < im.pixels.size(); ++i) im.pixels[i] = static_cast<std::uint8_t>((i * 37 + 11) % 256);
    return im;
}

void idx_seeds(const std::string& dir) {
    Volume<float> images(2, 3, 4, 1);
    images.fill_random(1, 0.0f, 1.0f);
    io::write_idx_images(dir + "/images.idx", images);
    io::write_idx_labels(dir + "/labels.idx", {7, 3, 9});
    io::write_idx(dir + "/i16.idx", {io::IdxType::i16, {2}, {0xFF, 0x01, 0x00, 0x7F}});
    io::write_idx(dir + "/f64.idx", {io::IdxType::f64, {1}, {0xC0, 0x02, 0, 0, 0, 0, 0, 0}});
}

}  // namespace

int main(int argc, char** argv) try {
    if (argc != 2) {
        std::fprintf(stderr, "usage: write_reader_seeds DIR\n");
        return 2;
    }
    const std::string root = argv[1];
    for (const char* sub : {"", "/idx", "/idx_gzip", "/png", "/pnm", "/npy", "/weights"})
        mkdir((root + sub).c_str(), 0755);
    idx_seeds(root + "/idx");
    idx_seeds(root + "/idx_gzip");
    io::write_idx_labels(root + "/idx/labels.idx.gz", {1, 2});  // a gzip file for the plain target
    io::write_png(root + "/png/gray.png", pattern(5, 3, 1));
    io::write_png(root + "/png/rgb.png", pattern(4, 4, 3));
    for (io::PnmEncoding e : {io::PnmEncoding::binary, io::PnmEncoding::ascii}) {
        const std::string kind = e == io::PnmEncoding::ascii ? "ascii" : "binary";
        io::write_pnm(root + "/pnm/gray_" + kind + ".pgm", pattern(5, 3, 1), e);
        io::write_pnm(root + "/pnm/rgb_" + kind + ".ppm", pattern(3, 2, 3), e);
    }
    const std::vector<float> f{1.5f, -2.0f, 0.25f, 8.0f, 0.0f, -0.5f};
    const std::vector<double> d{1.5, -2.0, 3.0};
    io::write_npy(root + "/npy/f32_2x3.npy", f.data(), {2, 3});
    io::write_npy(root + "/npy/f64_3.npy", d.data(), {3});
    io::write_npy(root + "/npy/f32_scalar.npy", f.data(), {});
    Volume<float> v(1, 2, 2, 1);
    v.fill_random(2);
    io::write_npy(root + "/npy/volume.npy", v);
    // The fuzz target's network, with two initialisations, and a smaller one.
    for (std::uint64_t seed : {1, 2}) {
        Sequential<float> n = convlayer::fuzz::weights_network(seed);
        save_weights(n, root + "/weights/net_" + std::to_string(seed) + ".weights");
    }
    DenseLayer<float> other(3, 2);
    save_weights(other, root + "/weights/other.weights");
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "write_reader_seeds: %s\n", e.what());
    return 1;
}
