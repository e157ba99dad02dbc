// Classic image filters computed by conv layers whose weights are set by hand.
//
// Reads an image (PNG, or PGM/PPM: binary P5/P6 or ASCII P2/P3) into a 1 x H x W x D volume
// (D = 1 gray, 3 RGB; values in [0, 1]) and runs two ConvLayers with fixed filters: a 3x3 layer
// holding the averaging kernel (all 1/9) and the horizontal and vertical Sobel kernels, and a
// 5x5 layer holding a Gaussian, both with P = (F - 1)/2 so the output is as large as the input.
// Writes each activation map as a PNG plus one tiled image of all of them, and checks that the
// averaging map at interior pixels is the mean of the 3x3 neighbourhood (exit code 1 if not).
//
//   image_filters [input.png|.pgm|.ppm] [--out DIR]   (default: examples/data/test_scene.png)
//   image_filters --make-test-scene FILE.png|.pgm|.ppm (writes the synthetic default image)
#include <convlayer/convlayer.hpp>
#include <convlayer/io/plot.hpp>
#include <convlayer/io/png.hpp>
#include <convlayer/io/pnm.hpp>

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

using namespace convlayer;

#ifndef CONVLAYER_EXAMPLE_DATA_DIR
#define CONVLAYER_EXAMPLE_DATA_DIR "examples/data"
#endif

namespace {

struct Options {
    std::string input = CONVLAYER_EXAMPLE_DATA_DIR "/test_scene.png";
    std::string out = "image_filters_out";
    std::string make_scene;  // when set: write the synthetic test scene there and stop
};

void usage(std::FILE* to) {
    std::fprintf(to,
                 "usage: image_filters [input.png|.pgm|.ppm] [--out DIR]\n"
                 "       image_filters --make-test-scene FILE.png|.pgm|.ppm\n"
                 "  input              image to filter (default %s/test_scene.png)\n"
                 "  --out DIR          where the activation maps go (default image_filters_out)\n"
                 "  --make-test-scene  write the synthetic 128x128 test scene (.pgm: gray) and exit\n",
                 CONVLAYER_EXAMPLE_DATA_DIR);
}

[[noreturn]] void bad_usage(const std::string& why) {
    std::fprintf(stderr, "image_filters: %s\n", why.c_str());
    usage(stderr);
    std::exit(2);
}

Options parse(int argc, char** argv) {
    Options o;
    bool have_input = false;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            usage(stdout);
            std::exit(0);
        }
        if (arg == "--out" || arg == "--make-test-scene") {
            if (i + 1 >= argc) bad_usage(arg + " needs a value");
            (arg == "--out" ? o.out : o.make_scene) = argv[++i];
        } else if (arg.rfind("--", 0) == 0) {
            bad_usage("unknown flag '" + arg + "'");
        } else if (have_input) {
            bad_usage("more than one input image ('" + o.input + "', '" + arg + "')");
        } else {
            o.input = arg;
            have_input = true;
        }
    }
    return o;
}

std::string extension(const std::string& path) {
    const std::size_t dot = path.find_last_of('.');
    if (dot == std::string::npos || path.find('/', dot) != std::string::npos) return "";
    std::string e = path.substr(dot + 1);
    for (char& c : e) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return e;
}
bool is_pnm(const std::string& path) {
    const std::string e = extension(path);
    return e == "pgm" || e == "ppm" || e == "pnm";
}

// ---------------------------------------------------------------------------------------------
// The default input: a 128 x 128 RGB scene drawn here, with features each filter responds to.
// A horizontal brightness ramp (Sobel x sees a weak constant slope, Sobel y nothing), a disc, a
// rectangle and a triangle (edges in every direction), a checkerboard (fine detail that the
// averaging and Gaussian kernels wash out to gray) and a thin diagonal line.

io::Image test_scene() {
    const index_t n = 128;
    io::Image im = io::Image::blank(n, n, 3);
    auto put = [&](index_t x, index_t y, int r, int g, int b) {
        std::uint8_t* p = &im.pixels[static_cast<std::size_t>((y * n + x) * 3)];
        p[0] = static_cast<std::uint8_t>(r);
        p[1] = static_cast<std::uint8_t>(g);
        p[2] = static_cast<std::uint8_t>(b);
    };
    for (index_t y = 0; y < n; ++y)
        for (index_t x = 0; x < n; ++x) {
            const int ramp = static_cast<int>(20 + (120 * x) / (n - 1));  // 20 .. 140, left to right
            put(x, y, ramp, ramp, ramp + 40);
            const index_t dx = x - 34, dy = y - 34;
            if (dx * dx + dy * dy <= 22 * 22) put(x, y, 255, 90, 70);            // red disc
            if (x >= 74 && x < 116 && y >= 16 && y < 52) put(x, y, 30, 150, 50);  // green rectangle
            // Yellow triangle: apex (34, 72), base from (12, 116) to (56, 116).
            if (y >= 72 && y < 116 && 2 * std::abs(x - 34) <= y - 72) put(x, y, 250, 220, 60);
            // Checkerboard of 6-pixel squares in [70, 118) x [68, 116).
            if (x >= 70 && x < 118 && y >= 68 && y < 116) {
                const bool white = (((x - 70) / 6) + ((y - 68) / 6)) % 2 == 0;
                const int v = white ? 210 : 50;
                put(x, y, v, v, v);
            }
        }
    // A thin white line from (4, 62) to (60, 54), one pixel wide.
    for (index_t x = 4; x <= 60; ++x) put(x, 62 - (x - 4) / 7, 255, 255, 255);
    return im;
}

/// Gray from RGB with the Rec. 601 luma weights (0.299 R + 0.587 G + 0.114 B), rounded.
io::Image to_gray(const io::Image& rgb) {
    if (rgb.channels == 1) return rgb;
    io::Image g = io::Image::blank(rgb.width, rgb.height, 1);
    for (std::size_t i = 0; i < g.pixels.size(); ++i) {
        const std::uint8_t* p = &rgb.pixels[3 * i];
        g.pixels[i] = static_cast<std::uint8_t>((299 * p[0] + 587 * p[1] + 114 * p[2] + 500) / 1000);
    }
    return g;
}

io::Image to_rgb(const io::Image& gray) {
    if (gray.channels == 3) return gray;
    io::Image c = io::Image::blank(gray.width, gray.height, 3);
    for (std::size_t i = 0; i < gray.pixels.size(); ++i) std::fill_n(&c.pixels[3 * i], 3, gray.pixels[i]);
    return c;
}

// ---------------------------------------------------------------------------------------------

/// The image as a 1 x H x W x D volume (D = channels), each 8-bit value v as v / 255 in [0, 1].
/// Interleaved image rows are already NHWC order.
Volume<float> to_volume(const io::Image& im) {
    Volume<float> v(1, im.height, im.width, im.channels);
    for (index_t i = 0; i < v.size(); ++i) v.data()[i] = im.pixels[static_cast<std::size_t>(i)] / 255.0f;
    return v;
}

/// A kernel as written on paper: rows top to bottom (ky), columns left to right (kx).
struct Kernel {
    std::string name, formula;
    index_t size;
    std::vector<float> taps;  // size * size, row-major
};

Kernel binomial_gaussian_5x5() {
    const float row[5] = {1, 4, 6, 4, 1};
    Kernel k{"5x5 Gaussian", "[1 4 6 4 1]^T [1 4 6 4 1] / 256, binomial, sigma = 1", 5, {}};
    for (float a : row)
        for (float b : row) k.taps.push_back(a * b / 256.0f);
    return k;
}

/// Puts kernel `k` into filter `filter` of `conv` on every input depth slice, each weight divided
/// by D1: a filter always spans the whole input depth, and this one then sees the mean of the
/// channels. Set through the layer's weight accessor (OHWI: filter, ky, kx, d).
void set_filter(ConvLayer<float>& conv, index_t filter, const Kernel& k) {
    const index_t d1 = conv.params().in_depth;
    for (index_t ky = 0; ky < k.size; ++ky)
        for (index_t kx = 0; kx < k.size; ++kx)
            for (index_t d = 0; d < d1; ++d)
                conv.weight(filter, ky, kx, d) = k.taps[static_cast<std::size_t>(ky * k.size + kx)] / static_cast<float>(d1);
    conv.bias()(filter) = 0.0f;
}

void print_kernel(const Kernel& k) {
    for (index_t ky = 0; ky < k.size; ++ky) {
        std::printf("      ");
        for (index_t kx = 0; kx < k.size; ++kx) std::printf(" %7.4f", static_cast<double>(k.taps[static_cast<std::size_t>(ky * k.size + kx)]));
        std::printf("\n");
    }
}

/// Depth slice d of `v` as a gray image: f(value) mapped from [0, hi] to [0, 255].
template <typename F>
io::Image map_image(const Volume<float>& v, index_t d, double hi, F f) {
    io::Image im = io::Image::blank(v.width(), v.height(), 1);
    for (index_t y = 0; y < v.height(); ++y)
        for (index_t x = 0; x < v.width(); ++x)
            im.pixels[static_cast<std::size_t>(y * v.width() + x)] =
                io::detail::to_byte(f(static_cast<double>(v(0, y, x, d))), 0.0, hi > 0 ? hi : 1.0);
    return im;
}

double max_abs(const Volume<float>& v, index_t d) {
    double m = 0;
    for (index_t y = 0; y < v.height(); ++y)
        for (index_t x = 0; x < v.width(); ++x) m = std::max(m, std::abs(static_cast<double>(v(0, y, x, d))));
    return m;
}

/// The averaging map at (x, y) against the mean of the input's 3 x 3 x D neighbourhood, where
/// taps outside the image read the zero padding. Prints one line; returns true when they agree.
bool check_average(const Volume<float>& in, const Volume<float>& out, index_t x, index_t y, const char* where) {
    double sum = 0;
    int inside = 0;
    for (index_t dy = -1; dy <= 1; ++dy)
        for (index_t dx = -1; dx <= 1; ++dx) {
            const index_t yy = y + dy, xx = x + dx;
            if (yy < 0 || xx < 0 || yy >= in.height() || xx >= in.width()) continue;  // zero padding
            ++inside;
            for (index_t d = 0; d < in.depth(); ++d) sum += in(0, yy, xx, d);
        }
    const double expected = sum / (9.0 * static_cast<double>(in.depth()));
    const double got = out(0, y, x, 0);
    const bool ok = std::abs(got - expected) <= 1e-5 * std::max(1.0, std::abs(expected));
    std::printf("  %-9s (x=%3td, y=%3td): conv output %.6f, sum of the %d in-image taps / %td = %.6f  %s\n", where, x,
                y, got, inside * static_cast<int>(in.depth()), 9 * in.depth(), expected, ok ? "OK" : "FAILED: mismatch");
    return ok;
}

/// All maps side by side with a label above each, upscaled for small inputs.
io::Image tiled(const std::vector<io::Image>& maps, const std::vector<std::string>& labels) {
    const index_t side = std::max(maps[0].width, maps[0].height);
    const index_t scale = std::clamp<index_t>(256 / side, 1, 4);
    const index_t text_scale = scale >= 2 ? 2 : 1;
    const index_t border = io::text_height(text_scale) + 6 * text_scale;
    io::Image grid = io::tile_images(maps, 3, border, scale, 255);
    const index_t cell_w = maps[0].width * scale, cell_h = maps[0].height * scale;
    for (std::size_t i = 0; i < maps.size(); ++i) {
        const index_t col = static_cast<index_t>(i) % 3, row = static_cast<index_t>(i) / 3;
        const index_t x0 = border + col * (cell_w + border), y0 = border + row * (cell_h + border);
        io::draw_text(grid, x0, y0 - io::text_height(text_scale) - 2 * text_scale, labels[i], {0, 0, 0}, text_scale);
    }
    return grid;
}

}  // namespace

int main(int argc, char** argv) try {
    const Options o = parse(argc, argv);
    if (!o.make_scene.empty()) {
        const io::Image scene = test_scene();
        const std::string e = extension(o.make_scene);
        if (e == "pgm") io::write_pnm(o.make_scene, to_gray(scene));
        else if (e == "ppm" || e == "pnm") io::write_pnm(o.make_scene, scene);
        else io::write_png(o.make_scene, scene);
        std::printf("Wrote the %td x %td test scene to %s\n", scene.width, scene.height, o.make_scene.c_str());
        return 0;
    }

    // 1. The image as a volume.
    const io::Image image = is_pnm(o.input) ? io::read_pnm(o.input) : io::read_png(o.input);
    if (image.width < 3 || image.height < 3)
        throw std::runtime_error(o.input + ": the image is " + std::to_string(image.width) + " x " +
                                 std::to_string(image.height) + "; the checks need at least 3 x 3");
    const Volume<float> x = to_volume(image);
    const index_t D = x.depth(), W = x.width(), H = x.height();
    std::printf("Input %s: %td x %td %s -> Volume %s, each 8-bit value v stored as v/255\n\n", o.input.c_str(), W, H,
                D == 1 ? "gray" : "RGB", x.shape().to_string().c_str());

    // 2. The filters, set by hand through the layer's weight accessor.
    const Kernel average{"3x3 average", "all weights 1/9: the mean of the 3x3 neighbourhood", 3,
                         std::vector<float>(9, 1.0f / 9.0f)};
    const Kernel sobel_x{"Sobel x", "d/dx: responds to vertical edges", 3, {-1, 0, 1, -2, 0, 2, -1, 0, 1}};
    const Kernel sobel_y{"Sobel y", "d/dy: responds to horizontal edges", 3, {-1, -2, -1, 0, 0, 0, 1, 2, 1}};
    const Kernel gaussian = binomial_gaussian_5x5();

    ConvLayer<float> conv3(D, 3, 3, 1, same_padding(3));
    ConvLayer<float> conv5(D, 1, 5, 1, same_padding(5));
    set_filter(conv3, 0, average);
    set_filter(conv3, 1, sobel_x);
    set_filter(conv3, 2, sobel_y);
    set_filter(conv5, 0, gaussian);

    std::printf("A filter spans the whole input depth (D = %td here) and produces ONE activation map.\n", D);
    if (D > 1)
        std::printf("Each kernel below is put on all %td depth slices with its weights divided by %td,\n"
                    "so the filter sees the mean of the channels.\n",
                    D, D);
    std::printf("Conv layers compute a cross-correlation (the kernel is not flipped): Sobel x is\n"
                "positive where brightness increases to the right, Sobel y where it increases downwards.\n\n");
    const Shape out3 = conv3.output_shape(x.shape()), out5 = conv5.output_shape(x.shape());
    std::printf("Layer 1: %s -> %tdx%tdx%td, %td parameters\n", conv3.describe().c_str(), out3.h, out3.w, out3.d,
                conv3.parameter_count());
    const Kernel* layer1[3] = {&average, &sobel_x, &sobel_y};
    for (int k = 0; k < 3; ++k) {
        std::printf("  filter %d, %s (%s):\n", k, layer1[k]->name.c_str(), layer1[k]->formula.c_str());
        print_kernel(*layer1[k]);
    }
    std::printf("Layer 2: %s -> %tdx%tdx%td, %td parameters\n", conv5.describe().c_str(), out5.h, out5.w, out5.d,
                conv5.parameter_count());
    std::printf("  filter 0, %s (%s):\n", gaussian.name.c_str(), gaussian.formula.c_str());
    print_kernel(gaussian);
    std::printf("Padding P = (F - 1)/2 keeps the size: (W - F + 2P)/S + 1 = (%td - 3 + 2*1)/1 + 1 = %td and "
                "(%td - 5 + 2*2)/1 + 1 = %td\n\n",
                W, output_extent(W, 3, 1, 1), W, output_extent(W, 5, 2, 1));

    // 3. Forward passes: three activation maps from layer 1, one from layer 2.
    const Volume<float> y3 = conv3.forward(x);
    const Volume<float> y5 = conv5.forward(x);

    // 4. The averaging map is the neighbourhood mean: at interior pixels, and at a corner where
    //    5 of the 9 taps read the zero padding (so the border of a padded average is darker).
    std::printf("Check: the 3x3 average map equals the mean of each 3x3x%td neighbourhood (sum / %td)\n", D, 9 * D);
    bool ok = check_average(x, y3, W / 2, H / 2, "centre");
    ok = check_average(x, y3, 1, 1, "interior") && ok;
    ok = check_average(x, y3, W - 2, H - 2, "interior") && ok;
    ok = check_average(x, y3, 0, 0, "corner") && ok;
    std::printf("\n");

    // 5. Activation maps as images, scaled for display.
    Volume<float> magnitude(1, H, W, 1);
    for (index_t yy = 0; yy < H; ++yy)
        for (index_t xx = 0; xx < W; ++xx)
            magnitude(0, yy, xx, 0) = std::hypot(y3(0, yy, xx, 1), y3(0, yy, xx, 2));
    const double max_sx = max_abs(y3, 1), max_sy = max_abs(y3, 2), max_mag = max_abs(magnitude, 0);
    auto identity = [](double v) { return v; };
    auto absolute = [](double v) { return std::abs(v); };
    const io::Image avg_im = map_image(y3, 0, 1.0, identity), gauss_im = map_image(y5, 0, 1.0, identity);
    const io::Image sx_im = map_image(y3, 1, max_sx, absolute), sy_im = map_image(y3, 2, max_sy, absolute);
    const io::Image mag_im = map_image(magnitude, 0, max_mag, identity);

    mkdir(o.out.c_str(), 0755);
    const std::string dir = o.out + "/";
    io::write_png(dir + "average.png", avg_im);
    io::write_png(dir + "gaussian.png", gauss_im);
    io::write_png(dir + "sobel_x.png", sx_im);
    io::write_png(dir + "sobel_y.png", sy_im);
    io::write_png(dir + "gradient_magnitude.png", mag_im);
    const bool colour = image.channels == 3;
    std::vector<io::Image> maps = {image, avg_im, gauss_im, sx_im, sy_im, mag_im};
    if (colour)
        for (std::size_t i = 1; i < maps.size(); ++i) maps[i] = to_rgb(maps[i]);
    io::write_png(dir + "filters.png",
                  tiled(maps, {"input", "3x3 average", "5x5 Gaussian", "|Sobel x|", "|Sobel y|", "gradient magnitude"}));

    std::printf("Display scaling of the activation maps:\n");
    std::printf("  average.png, gaussian.png   v * 255: non-negative weights summing to 1 keep v in [0, 1],\n"
                "                              the input's scale (the zero padding darkens the border)\n");
    std::printf("  sobel_x.png                 |v| / max|v| * 255 with max|v| = %.3f (black: no edge)\n", max_sx);
    std::printf("  sobel_y.png                 |v| / max|v| * 255 with max|v| = %.3f\n", max_sy);
    std::printf("  gradient_magnitude.png      sqrt(sobel_x^2 + sobel_y^2) / max * 255, max = %.3f\n", max_mag);
    std::printf("  filters.png                 the input and the five maps above, tiled\n");
    std::printf("Wrote %saverage.png, gaussian.png, sobel_x.png, sobel_y.png, gradient_magnitude.png and filters.png\n",
                dir.c_str());
    if (!ok) {
        std::printf("FAILED: the averaging map is not the neighbourhood mean\n");
        return 1;
    }
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "image_filters: %s\n", e.what());
    return 1;
}
