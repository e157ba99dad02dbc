// convlayer: the library on the command line.
//
//   convlayer shape ...   output volume, extent formula per axis, parameters (shared, locally
//                         connected, 1x1), FLOPs of a forward pass, ConvLayer's workspace
//   convlayer bench ...   median time and GFLOP/s per algorithm and pass, as text or JSON
//
// Every number comes from the library (conv_geometry.hpp, ConvShape, the layers and
// make_conv_layer); this file parses, times and formats. Exit codes: 0 success, 2 a malformed
// command line or an invalid configuration, 1 anything else.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iomanip>
#include <iostream>
#include <memory>
#include <new>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "convlayer/core/conv_geometry.hpp"
#include "convlayer/core/conv_shape.hpp"
#include "convlayer/core/threading.hpp"
#include "convlayer/core/volume.hpp"
#include "convlayer/layers/conv_algorithm.hpp"
#include "convlayer/layers/filter_bank.hpp"
#include "convlayer/layers/make_conv_layer.hpp"

#include "benchmarks/conv_suite.hpp"
#include "cli_args.hpp"
#include "cli_format.hpp"

#ifndef CONVLAYER_VERSION
#define CONVLAYER_VERSION "unknown"
#endif

namespace {

using namespace convlayer;
using namespace convlayer::cli;

// ---------------------------------------------------------------------------------------------
// The values the flags choose from: one list each.

// The algorithms come from the library's own list, kAllConvAlgorithms (layers/conv_algorithm.hpp),
// named by to_string(): a new algorithm there is picked up here with no change.
constexpr const auto& kAlgorithms = kAllConvAlgorithms;

constexpr FitPolicy kFitPolicies[] = {FitPolicy::exact, FitPolicy::crop, FitPolicy::pad_to_fit};

constexpr int kPasses[] = {bench::kForward, bench::kBackwardData, bench::kBackwardWeights};

template <typename E, std::size_t N>
std::vector<std::string> names_of(const E (&values)[N]) {
    std::vector<std::string> names;
    for (const E v : values) names.emplace_back(to_string(v));
    return names;
}

std::string join(const std::vector<std::string>& parts, const std::string& sep) {
    std::string out;
    for (const std::string& p : parts) out += (out.empty() ? "" : sep) + p;
    return out;
}

// The families of benchmarks/conv_suite.hpp: each name up to its first '_' ("alexnet", "vgg", ...).
std::vector<std::string> suite_families() {
    std::vector<std::string> families;
    for (const bench::NamedConv& c : bench::kSuite) {
        const std::string name = c.name;
        const std::string family = name.substr(0, name.find('_'));
        if (std::find(families.begin(), families.end(), family) == families.end()) families.push_back(family);
    }
    return families;
}

// ---------------------------------------------------------------------------------------------
// Flags and help.

std::vector<FlagSpec> geometry_flags() {
    return {
        {"--input", "HxWxD", "input height x width x depth, e.g. 227x227x3 (required)"},
        {"--filters", "K", "number of filters = output depth (required)"},
        {"--kernel", "F|FhxFw", "receptive field F, e.g. 11 or 3x5 (required)"},
        {"--stride", "S|ShxSw", "stride S (default 1)"},
        {"--pad", "P|PhxPw", "zero-padding P on each side (default 0)"},
        {"--dilation", "D|DhxDw", "dilation, 1 = none (default 1)"},
        {"--fit", join(names_of(kFitPolicies), "|"),
         "when (W - F + 2P)/S + 1 is not an integer: reject it (exact, the default), floor it (crop) "
         "or zero-pad the far edge (pad_to_fit)"},
        {"--batch", "N", "batch size N (default 1)"},
        {"--threads", "N", "threads (default: OMP_NUM_THREADS, else every core)"},
    };
}

std::vector<FlagSpec> shape_flags() { return geometry_flags(); }

std::vector<FlagSpec> bench_flags() {
    std::vector<FlagSpec> flags = geometry_flags();
    flags.push_back({"--backward", "", "also time backward-data and backward-weights"});
    flags.push_back({"--algo", join(names_of(kAlgorithms), "|") + "|all",
                     "algorithm to time; all = every algorithm but auto (default auto)"});
    flags.push_back({"--autotune", "",
                     "with --algo auto: time every algorithm that can run on the warm-up call and keep the fastest "
                     "(ConvLayer::set_autotune)"});
    flags.push_back({"--repeats", "N", "timed runs per algorithm and pass, after one warm-up run (default 5)"});
    flags.push_back({"--json", "", "print one JSON document instead of the table"});
    flags.push_back({"--suite", join(suite_families(), "|") + "|all",
                     "run the configurations of benchmarks/conv_suite.hpp whose names start with this "
                     "(instead of --input ... --fit)"});
    return flags;
}

// "  --flag VALUE   help", the help wrapped at 100 columns; a long flag puts it on the next line.
void print_flags(std::ostream& o, const std::vector<FlagSpec>& flags) {
    constexpr std::size_t kIndent = 24, kWidth = 100;
    for (const FlagSpec& f : flags) {
        const std::string head = "  " + f.name + (f.value.empty() ? "" : " " + f.value);
        std::string line = head.size() + 2 <= kIndent ? head + std::string(kIndent - head.size(), ' ')
                                                      : head + "\n" + std::string(kIndent, ' ');
        std::size_t column = line.size() - (line.rfind('\n') == std::string::npos ? 0 : line.rfind('\n') + 1);
        std::istringstream words(f.help);
        std::string word;
        bool first = true;
        while (words >> word) {
            if (!first && column + 1 + word.size() > kWidth) {
                line += "\n" + std::string(kIndent, ' ');
                column = kIndent;
            } else if (!first) {
                line += ' ';
                ++column;
            }
            line += word;
            column += word.size();
            first = false;
        }
        o << line << "\n";
    }
}

void print_usage(std::ostream& o) {
    o << "usage: convlayer <command> [options]\n\n"
         "commands:\n"
         "  shape   output volume, extent formula per axis, parameter counts (shared, locally\n"
         "          connected, 1x1), FLOPs of a forward pass and the im2col workspace of a conv layer\n"
         "  bench   median time and GFLOP/s of the forward (and backward) passes per algorithm\n\n"
         "Run 'convlayer <command> --help' for a command's options.\n"
         "Sizes are HxW pairs where a single number means both axes (--kernel 3 = --kernel 3x3).\n"
         "Exit codes: 0 success, 2 bad arguments or an invalid configuration, 1 other failures.\n\n"
         "example:\n"
         "  convlayer shape --input 227x227x3 --filters 96 --kernel 11 --stride 4\n";
}

void print_shape_help(std::ostream& o) {
    o << "usage: convlayer shape --input HxWxD --filters K --kernel F [options]\n\n"
         "Prints the output volume, (W - F + 2P)/S + 1 per axis with the numbers filled in, the\n"
         "weights and biases of a shared (ConvLayer), locally connected and, where make_conv_layer\n"
         "picks it, 1x1 layer, the FLOPs of one forward pass and ConvLayer's im2col workspace.\n"
         "An invalid configuration prints the library's message and the nearest valid paddings\n"
         "and strides, and exits with code 2.\n\noptions:\n";
    print_flags(o, shape_flags());
    o << "\nexample:\n  convlayer shape --input 227x227x3 --filters 96 --kernel 11 --stride 4 --pad 0\n";
}

void print_bench_help(std::ostream& o) {
    o << "usage: convlayer bench (--input HxWxD --filters K --kernel F [options] | --suite NAME) [options]\n\n"
         "Runs a configuration through ConvLayer<float> with each requested algorithm and prints\n"
         "the median time and GFLOP/s per pass, FLOPs = 2*N*H2*W2*K*Fh*Fw*D1 (ConvShape::flops,\n"
         "the same for every algorithm and pass, so an algorithm doing fewer multiplications, such\n"
         "as Winograd, shows effective GFLOP/s). Times are medians of single calls after one\n"
         "warm-up call. An algorithm that cannot run the configuration is reported as not\n"
         "applicable, with the library's reason.\n\noptions:\n";
    print_flags(o, bench_flags());
    o << "\nexamples:\n"
         "  convlayer bench --input 56x56x64 --filters 64 --kernel 3 --pad 1 --algo all --backward\n"
         "  convlayer bench --suite mnist --batch 8 --json\n";
}

// ---------------------------------------------------------------------------------------------
// The configuration on the command line.

struct Geometry {
    std::string name;  // a suite entry's name, or "" for the command line's configuration
    ConvParams params;
    Shape input;  // N x H x W x D
};

bool has_geometry_flag(const ParsedFlags& f, std::string* which = nullptr) {
    for (const char* flag : {"--input", "--filters", "--kernel", "--stride", "--pad", "--dilation", "--fit"}) {
        if (f.has(flag)) {
            if (which) *which = flag;
            return true;
        }
    }
    return false;
}

index_t parse_batch(const ParsedFlags& f) {
    return f.has("--batch") ? parse_count("--batch", f.value("--batch"), 1, kMaxSize, "the batch size") : 1;
}

Geometry parse_geometry(const ParsedFlags& f) {
    const std::vector<index_t> in = parse_sizes("--input", f.required("--input", "HxWxD, e.g. 227x227x3"), 3, 3, 1,
                                                "each input size", "HxWxD (height x width x depth, e.g. 227x227x3)");
    const index_t k = parse_count("--filters", f.required("--filters", "the number of filters K"), 1, kMaxSize,
                                  "the number of filters");
    const HW kernel = parse_hw("--kernel", f.required("--kernel", "F or FhxFw, e.g. 3 or 3x5"), 1, "the kernel size",
                               "F or FhxFw, e.g. 3 or 3x5");
    const HW stride = f.has("--stride")
                          ? parse_hw("--stride", f.value("--stride"), 1, "the stride", "S or ShxSw, e.g. 2 or 2x1")
                          : HW(1);
    const HW pad =
        f.has("--pad") ? parse_hw("--pad", f.value("--pad"), 0, "the padding", "P or PhxPw, e.g. 1 or 1x2") : HW(0);
    const HW dilation = f.has("--dilation") ? parse_hw("--dilation", f.value("--dilation"), 1, "the dilation",
                                                       "D or DhxDw, e.g. 2 or 2x1")
                                            : HW(1);
    const FitPolicy fit = f.has("--fit") ? kFitPolicies[parse_choice("--fit", f.value("--fit"), names_of(kFitPolicies))]
                                         : FitPolicy::exact;
    Geometry g;
    g.input = {parse_batch(f), in[0], in[1], in[2]};
    g.params = ConvParams(in[2], k, kernel, stride, pad).with_dilation(dilation).with_fit(fit);
    return g;
}

void apply_threads(const ParsedFlags& f) {
    if (f.has("--threads"))
        set_num_threads(static_cast<int>(parse_count("--threads", f.value("--threads"), 1, 4096, "the thread count")));
}

// ---------------------------------------------------------------------------------------------
// Geometry: formulas, and suggestions for an invalid configuration.

// One axis of a configuration, as the user gave it.
struct AxisInput {
    const char* name;    // "height" or "width", as in the library's messages
    const char* symbol;  // "H" or "W"
    index_t in, kernel, pad, stride, dilation;

    bool same_numbers(const AxisInput& o) const {
        return in == o.in && kernel == o.kernel && pad == o.pad && stride == o.stride && dilation == o.dilation;
    }
};

std::vector<AxisInput> axes_of(const Geometry& g) {
    const ConvParams& p = g.params;
    return {{"height", "H", g.input.h, p.kernel.h, p.pad.h, p.stride.h, p.dilation.h},
            {"width", "W", g.input.w, p.kernel.w, p.pad.w, p.stride.w, p.dilation.w}};
}

// The library's resolution of one axis with padding `pad` and stride `stride`, or nothing when
// it rejects them.
std::optional<AxisGeometry> try_axis(const AxisInput& a, index_t pad, index_t stride, FitPolicy fit) {
    try {
        return resolve_axis(a.name, a.in, a.kernel, pad, stride, a.dilation, fit);
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

// "(227 - 11 + 2*0)/4 + 1 = 55" for a resolved axis. A non-integer extent (crop, pad_to_fit)
// shows the real value and what the fit policy made of it.
std::string extent_formula(const AxisGeometry& a, FitPolicy fit, const char* axis) {
    std::ostringstream os;
    os << "(" << a.in << " - " << effective_kernel(a.kernel, a.dilation) << " + 2*" << a.pad_begin << ")/" << a.stride
       << " + 1 = ";
    if (output_extent_is_integer(a.in, a.kernel, a.pad_begin, a.stride, a.dilation)) {
        os << a.out;
        return os.str();
    }
    os << detail::extent_real_text(a.in, a.kernel, a.pad_begin, a.stride, a.dilation);
    const char* unit = axis[0] == 'h' ? "row" : "column";
    if (fit == FitPolicy::crop) {
        const index_t unread = a.pad_begin - a.pad_end;
        os << ", floored to " << a.out << " by --fit crop (the last " << unread << " " << unit
           << (unread == 1 ? " of the padded input is" : "s of the padded input are") << " not read)";
    } else {
        const index_t extra = a.pad_end - a.pad_begin;
        os << ", rounded up to " << a.out << " by --fit pad_to_fit (" << extra << " more zero " << unit
           << (extra == 1 ? "" : "s") << " at the far edge)";
    }
    return os.str();
}

// "(H - F + 2P)/S + 1 = (227 - 11 + 2*0)/4 + 1 = 55", with F_eff spelled out under dilation.
std::string axis_line(const AxisGeometry& a, FitPolicy fit, const char* axis, const char* symbol) {
    std::ostringstream os;
    const bool dilated = a.dilation != 1;
    os << "(" << symbol << (dilated ? " - F_eff" : " - F") << " + 2P)/S + 1 = " << extent_formula(a, fit, axis);
    if (dilated)
        os << ", F_eff = " << a.dilation << "*(" << a.kernel
           << " - 1) + 1 = " << effective_kernel(a.kernel, a.dilation);
    return os.str();
}

struct Candidate {
    index_t pad, stride;
    AxisGeometry g;
};

// Prints the valid (P, S) nearest to an axis's invalid ones: other paddings with the same
// stride, other strides with the same padding, both changed, and the fit policies.
void suggest(std::ostream& o, const AxisInput& a, const std::string& where, const std::string& symbol) {
    // A small window around the given values (validity repeats with period S along P).
    const index_t f_eff = effective_kernel(a.kernel, a.dilation);
    const index_t p_min = std::max<index_t>(0, a.pad - 16), p_max = a.pad + 16 + std::min<index_t>(a.stride, 48);
    const index_t s_min = std::max<index_t>(1, a.stride - 16), s_max = a.stride + 16;
    const std::string p_range = std::to_string(p_min) + ".." + std::to_string(p_max);
    const std::string s_range = std::to_string(s_min) + ".." + std::to_string(s_max);
    const double target = output_extent_real(a.in, a.kernel, a.pad, a.stride, a.dilation);
    std::vector<Candidate> all;
    for (index_t s = s_min; s <= s_max; ++s)
        for (index_t p = p_min; p <= p_max; ++p)
            if (const auto g = try_axis(a, p, s, FitPolicy::exact)) all.push_back({p, s, *g});

    auto distance = [&](const Candidate& c) {
        return std::abs(static_cast<double>(c.pad - a.pad)) + std::abs(static_cast<double>(c.stride - a.stride));
    };
    auto nearest = [&](auto keep) {
        std::vector<Candidate> picked;
        for (const Candidate& c : all)
            if (keep(c)) picked.push_back(c);
        std::stable_sort(picked.begin(), picked.end(), [&](const Candidate& x, const Candidate& y) {
            if (distance(x) != distance(y)) return distance(x) < distance(y);
            return std::abs(static_cast<double>(x.g.out) - target) < std::abs(static_cast<double>(y.g.out) - target);
        });
        if (picked.size() > 2) picked.resize(2);
        return picked;
    };
    const std::string keep_s = "keep S=" + std::to_string(a.stride) + ", change P:";
    const std::string keep_p = "keep P=" + std::to_string(a.pad) + ", change S:";
    const std::size_t column = std::max<std::size_t>(22, std::max(keep_s.size(), keep_p.size()) + 1);
    auto print = [&](const std::string& label, const std::vector<Candidate>& cs, const std::string& none, bool show_pad,
                     bool show_stride) {
        o << "  " << std::left << std::setw(static_cast<int>(column)) << label;
        if (cs.empty()) o << none << "\n";
        for (std::size_t i = 0; i < cs.size(); ++i) {
            std::string head;
            if (show_pad) head += "P=" + std::to_string(cs[i].pad);
            if (show_stride) head += std::string(show_pad ? ", " : "") + "S=" + std::to_string(cs[i].stride);
            o << (i ? std::string(column + 2, ' ') : "") << head << ": "
              << extent_formula(cs[i].g, FitPolicy::exact, a.name) << "\n";
        }
    };

    o << "\nNearest valid settings along the " << where << " (" << symbol << "=" << a.in << ", F=" << a.kernel
      << ", P=" << a.pad << ", S=" << a.stride;
    if (a.dilation != 1) o << ", dilation=" << a.dilation << ", F_eff=" << f_eff;
    o << "):\n";
    print(keep_s, nearest([&](const Candidate& c) { return c.stride == a.stride && c.pad != a.pad; }),
          "no padding P in " + p_range + " works", true, false);
    print(keep_p, nearest([&](const Candidate& c) { return c.pad == a.pad && c.stride != a.stride; }),
          "no stride S in " + s_range + " works", false, true);
    print("change both:", nearest([&](const Candidate& c) { return c.pad != a.pad && c.stride != a.stride; }),
          "nothing with P in " + p_range + " and S in " + s_range, true, true);
    const auto crop = try_axis(a, a.pad, a.stride, FitPolicy::crop);
    const auto padded = try_axis(a, a.pad, a.stride, FitPolicy::pad_to_fit);
    if (crop && padded)
        o << "  " << std::left << std::setw(static_cast<int>(column)) << "or keep P and S:"
          << "--fit crop gives " << crop->out << ", --fit pad_to_fit gives " << padded->out << "\n";
}

// Thrown once an invalid configuration has been reported: exit code 2.
struct InvalidConfiguration {};

// The library's resolution of `g`; when it throws, prints its message and the nearest valid
// settings of every rejected axis to stderr, then throws InvalidConfiguration.
ConvShape resolve_or_report(const Geometry& g) {
    try {
        return resolve(g.params, g.input, "ConvLayer");
    } catch (const std::invalid_argument& e) {
        std::cerr << e.what() << "\n";
        const std::vector<AxisInput> axes = axes_of(g);
        const bool same = axes[0].same_numbers(axes[1]);
        for (std::size_t i = 0; i < axes.size(); ++i) {
            if (try_axis(axes[i], axes[i].pad, axes[i].stride, g.params.fit)) continue;
            if (i == 1 && same) break;
            if (same)
                suggest(std::cerr, axes[i], "height and width", "H=W");
            else
                suggest(std::cerr, axes[i], axes[i].name, axes[i].symbol);
        }
    } catch (const std::length_error& e) {
        std::cerr << e.what() << "\n";
    }
    throw InvalidConfiguration{};
}

std::string hwd(const Shape& s) { return std::to_string(s.h) + "x" + std::to_string(s.w) + "x" + std::to_string(s.d); }

// ---------------------------------------------------------------------------------------------
// convlayer shape

// "0.21 GFLOP", "236.76 GFLOP", "180,000,000 GFLOP"; "1.25 MFLOP" below a GFLOP.
std::string gflop_text(double flops) {
    if (flops < 1e9) return fixed(flops * 1e-6, 2) + " MFLOP";
    const double g = flops * 1e-9;
    return (g < 1000 ? fixed(g, 2) : with_commas(g)) + " GFLOP";
}

// Beyond these the shape report does not build the layer or run the forward pass that sizes
// its workspace (it still prints everything else).
constexpr index_t kShapeMemoryLimit = index_t{2} << 30;
constexpr double kShapeFlopLimit = 5e10;

int run_shape(const ParsedFlags& f) {
    const Geometry g = parse_geometry(f);
    apply_threads(f);
    const ConvShape s = resolve_or_report(g);
    const ConvParams& p = g.params;
    std::ostream& o = std::cout;

    // Shared parameters: the layer make_conv_layer builds (a ConvLayer or a Conv1x1Layer), when
    // its weights and gradients fit in memory.
    const index_t shared_count = FilterBank<float>::parameter_count(p, 1);
    std::unique_ptr<ConvLayer<float>> layer;
    const index_t layer_bytes =
        checked_mul(checked_bytes<float>(shared_count, "parameter bytes"), 2, "parameter bytes");
    if (layer_bytes <= kShapeMemoryLimit) layer = make_conv_layer<float>(p);
    ConvLayer<float>* conv = layer.get();
    const bool is_1x1 = dynamic_cast<Conv1x1Layer<float>*>(layer.get()) != nullptr;

    o << "input      " << hwd(s.input()) << " (height x width x depth), batch " << s.n << "\n";
    o << "output     " << hwd(s.output()) << "\n";
    o << "  height   " << axis_line(s.y, s.fit, "height", "H") << "\n";
    o << "  width    " << axis_line(s.x, s.fit, "width", "W") << "\n";
    o << "layer      "
      << (layer ? layer->describe() + " (make_conv_layer's choice)"
                : "not built: " + human_bytes(layer_bytes) + " of weights and gradients")
      << "\n";
    o << "problem    " << s.to_string() << "\n\n";

    // Rows of label, weights, biases, total (or a note instead of the numbers).
    std::vector<std::vector<std::string>> rows = {{"parameters", "weights", "biases", "total"}};
    const std::string shared_total = with_commas(layer ? layer->parameter_count() : shared_count);
    rows.push_back({"  shared (ConvLayer)", with_commas(p.weight_count()), with_commas(p.filters), shared_total});
    try {
        const index_t total = LocallyConnectedLayer<float>::parameter_count(p, HW(s.y.in, s.x.in));
        const index_t sets = s.weight_sets(Sharing::per_position);
        rows.push_back({"  unshared (LocallyConnectedLayer)",
                        with_commas(checked_mul(sets, p.weight_count(), "weights")),
                        with_commas(checked_mul(sets, p.filters, "biases")), with_commas(total)});
    } catch (const std::length_error& e) {
        rows.push_back({"  unshared (LocallyConnectedLayer)", e.what()});
    }
    if (!layer)
        rows.push_back({"  1x1 (Conv1x1Layer)", "not determined: the layer is too large to build here"});
    else if (is_1x1)
        rows.push_back({"  1x1 (Conv1x1Layer)", with_commas(p.weight_count()), with_commas(p.filters), shared_total});
    else
        rows.push_back({"  1x1 (Conv1x1Layer)", "not used: make_conv_layer picks it for 1x1, stride 1, pad 0 only"});
    std::size_t width[4] = {0, 0, 0, 0};
    for (const auto& r : rows)
        for (std::size_t i = 0; i < r.size() && r.size() == 4; ++i) width[i] = std::max(width[i], r[i].size() + 2);
    for (const auto& r : rows) {
        o << std::left << std::setw(static_cast<int>(width[0])) << r[0];
        if (r.size() == 4)
            for (std::size_t i = 1; i < 4; ++i) o << std::right << std::setw(static_cast<int>(width[i])) << r[i];
        else
            o << "  " << r[1];
        o << "\n";
    }

    o << "\nFLOPs      " << with_commas(s.flops())
      << " per forward pass: 2*N*H2*W2*K*Fh*Fw*D1 = 2*" << s.n << "*" << s.y.out << "*" << s.x.out << "*" << s.k << "*"
      << s.y.kernel << "*" << s.x.kernel << "*" << s.d1
      << (s.flops() >= 1e6 ? " (" + gflop_text(s.flops()) + ")" : std::string()) << "\n";

    // The workspace is sized by the layer for an input shape on its first pass: run one forward
    // pass on zeros when the volumes and the work are moderate.
    // Input and output bytes of that pass (std::nullopt when they do not even fit an index).
    std::optional<index_t> volume_bytes;
    try {
        volume_bytes = checked_bytes<float>(checked_add(s.input().size(), s.output().size()), "volume bytes");
    } catch (const std::length_error&) {
    }
    o << "workspace  ";
    if (!conv) {
        o << "not measured: the layer is too large to build here\n";
    } else if (!volume_bytes || *volume_bytes > kShapeMemoryLimit - layer_bytes || s.flops() > kShapeFlopLimit) {
        o << "not measured: the forward pass that sizes it needs "
          << (volume_bytes ? human_bytes(*volume_bytes) : std::string("more than 8 EiB")) << " of input and output and "
          << gflop_text(s.flops()) << " (this tool runs it up to " << human_bytes(kShapeMemoryLimit) << " and "
          << gflop_text(kShapeFlopLimit) << (s.n > 1 ? "; try a smaller --batch)" : ")") << "\n";
    } else {
        Volume<float> x(s.input()), y;
        conv->forward(x, y);
        o << with_commas(conv->workspace_bytes()) << " bytes (" << human_bytes(conv->workspace_bytes())
          << "): " << conv->name() << "<float>, forward algorithm " << to_string(conv->algorithm(ConvPass::forward))
          << ", num_threads() = " << num_threads() << "\n";
    }
    return 0;
}

// ---------------------------------------------------------------------------------------------
// convlayer bench

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// One line on stderr, redrawn in place, once the run has taken more than a second; only on a
// terminal.
class Progress {
public:
    explicit Progress(index_t total) : total_(total), tty_(isatty(STDERR_FILENO) != 0) {}
    ~Progress() { clear(); }
    Progress(const Progress&) = delete;
    Progress& operator=(const Progress&) = delete;

    void show(index_t done, const std::string& what) {
        if (!tty_) return;
        const double t = seconds_since(start_);
        if (t < 1.0 || t - last_ < 0.1) return;
        last_ = t;
        std::fprintf(stderr, "\r\033[K[%3.0f%%  %4.0fs] %s",
                     100.0 * static_cast<double>(done) / static_cast<double>(total_), t, what.c_str());
        std::fflush(stderr);
        shown_ = true;
    }
    void clear() {
        if (shown_) std::fprintf(stderr, "\r\033[K");
        std::fflush(stderr);
        shown_ = false;
    }

private:
    index_t total_;
    bool tty_;
    std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
    double last_ = 0;
    bool shown_ = false;
};

struct Measurement {
    ConvAlgorithm requested = ConvAlgorithm::automatic;
    ConvAlgorithm ran = ConvAlgorithm::automatic;
    int pass = bench::kForward;
    bool applicable = true;
    std::string reason;  // the library's message when not applicable
    bool autotuned = false;  // auto's choice was timed (--autotune): the layer timed this shape
    double median_ms = 0;
    double gflops = 0;
    index_t workspace_bytes = 0;
};

struct ConfigResult {
    Geometry geometry;
    ConvShape shape;
    std::vector<Measurement> results;
};

struct BenchOptions {
    std::vector<ConvAlgorithm> algorithms;
    std::vector<int> passes;
    index_t repeats = 5;
    bool autotune = false;  // auto's choice timed (set_autotune) rather than the heuristic's
    bool json = false;
};

// The library's name of a benchmark pass.
ConvPass conv_pass(int pass) {
    return pass == bench::kForward        ? ConvPass::forward
           : pass == bench::kBackwardData ? ConvPass::backward_data
                                          : ConvPass::backward_weights;
}

// One configuration's volumes and layer, with fixed random data.
class BenchProblem {
public:
    explicit BenchProblem(const Geometry& g) : layer_(g.params) {
        layer_.weights().setRandom();
        layer_.bias().setRandom();
        const ConvShape s = layer_.conv_shape(g.input);
        x_.resize(s.input());
        x_.fill_random(1);
        dy_.resize(s.output());
        dy_.fill_random(2);
    }
    ConvLayer<float>& layer() { return layer_; }
    void run(int pass) {
        if (pass == bench::kForward)
            layer_.forward(x_, y_);
        else if (pass == bench::kBackwardData)
            layer_.backward_data(x_.shape(), dy_, dx_);
        else
            layer_.backward_weights(x_, dy_);
    }

private:
    ConvLayer<float> layer_;
    Volume<float> x_, y_, dy_, dx_;
};

index_t physical_memory_bytes() {
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    return pages > 0 && page > 0 ? static_cast<index_t>(pages) * static_cast<index_t>(page) : 0;
}

// Refuses (std::runtime_error, exit code 1) a configuration whose volumes and parameters would
// take more than 3/4 of the machine's memory.
void check_memory(const Geometry& g, const ConvShape& s) {
    const index_t params = FilterBank<float>::parameter_count(g.params, 1);
    const index_t elements = checked_add(
        checked_add(checked_mul(s.input().size(), 2), checked_mul(s.output().size(), 2)), checked_mul(params, 2));
    const index_t bytes = checked_bytes<float>(elements, "benchmark memory");
    const index_t limit = physical_memory_bytes() / 4 * 3;
    if (limit > 0 && bytes > limit)
        throw std::runtime_error("bench: " + s.to_string() + " needs " + human_bytes(bytes) +
                                 " for its volumes, gradients and parameters, more than 3/4 of this machine's " +
                                 human_bytes(physical_memory_bytes()));
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const std::size_t m = v.size() / 2;
    return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

std::vector<ConfigResult> run_benchmarks(const std::vector<Geometry>& configs, const BenchOptions& opt) {
    std::vector<ConfigResult> out;
    std::vector<ConvShape> shapes;
    for (const Geometry& g : configs) {
        shapes.push_back(resolve_or_report(g));
        check_memory(g, shapes.back());
    }
    const index_t steps =
        static_cast<index_t>(configs.size() * opt.algorithms.size() * opt.passes.size()) * (opt.repeats + 1);
    Progress progress(steps);
    index_t done = 0;
    for (std::size_t c = 0; c < configs.size(); ++c) {
        const Geometry& g = configs[c];
        const ConvShape& s = shapes[c];
        const std::string label = g.name.empty() ? s.to_string() : g.name;
        BenchProblem problem(g);
        ConfigResult r{g, s, {}};
        for (const ConvAlgorithm a : opt.algorithms) {
            problem.layer().set_algorithm(a);
            problem.layer().set_autotune(opt.autotune && a == ConvAlgorithm::automatic);
            for (const int pass : opt.passes) {
                Measurement m;
                m.requested = a;
                m.pass = pass;
                const std::string what = label + " " + to_string(a) + " " + bench::pass_name(pass);
                progress.show(done++, what + " (warm-up)");
                m.reason = algorithm_refusal<float>(a, conv_pass(pass), s);
                if (!m.reason.empty()) {
                    m.applicable = false;
                    done += opt.repeats;
                    r.results.push_back(m);
                    continue;
                }
                try {
                    problem.run(pass);  // sizes the workspace; throws when the algorithm cannot run
                } catch (const std::invalid_argument& e) {
                    m.applicable = false;
                    m.reason = e.what();
                    done += opt.repeats;
                    r.results.push_back(m);
                    continue;
                }
                std::vector<double> seconds;
                for (index_t i = 0; i < opt.repeats; ++i) {
                    progress.show(done++, what + " " + std::to_string(i + 1) + "/" + std::to_string(opt.repeats));
                    const auto t0 = std::chrono::steady_clock::now();
                    problem.run(pass);
                    seconds.push_back(seconds_since(t0));
                }
                const double t = median(seconds);
                m.ran = problem.layer().algorithm(conv_pass(pass));
                // Each configuration has a layer of its own, so a shape it timed is this one.
                m.autotuned = problem.layer().autotune() && problem.layer().autotuned_shapes() > 0;
                m.median_ms = t * 1e3;
                m.gflops = t > 0 ? s.flops() / t * 1e-9 : std::nan("");
                m.workspace_bytes = problem.layer().workspace_bytes();
                r.results.push_back(m);
            }
        }
        out.push_back(std::move(r));
    }
    progress.clear();
    return out;
}

std::string algorithm_label(const Measurement& m) {
    std::string s = to_string(m.requested);
    if (m.requested == ConvAlgorithm::automatic && m.applicable) s += std::string(" (") + to_string(m.ran) + ")";
    return s;
}

// Whether two measurements are the same algorithm refused for the same reason.
bool same_refusal(const Measurement& a, const Measurement& b) {
    return a.requested == b.requested && !a.applicable && !b.applicable && a.reason == b.reason;
}

std::string ms_text(double ms) { return fixed(ms, ms < 1 ? 4 : 3); }
std::string gflops_text(double g) { return std::isfinite(g) ? fixed(g, g < 10 ? 2 : g < 100 ? 1 : 0) : "-"; }

void print_table(std::ostream& o, const std::vector<ConfigResult>& all, const BenchOptions& opt) {
    o << "convlayer bench: float, " << num_threads() << (num_threads() == 1 ? " thread" : " threads")
      << (has_openmp() ? "" : " (built without OpenMP)") << ", median of " << opt.repeats << " run"
      << (opt.repeats == 1 ? "" : "s") << " after a warm-up run"
      << (opt.autotune ? " (auto's choice timed on it: --autotune)" : "") << "\n"
      << "GFLOP/s = FLOPs / median time; FLOPs = 2*N*H2*W2*K*Fh*Fw*D1, the same for every algorithm and pass\n";
    for (const ConfigResult& r : all) {
        o << "\n"
          << (r.geometry.name.empty() ? "" : r.geometry.name + "  ") << r.shape.to_string() << " -> "
          << hwd(r.shape.output()) << ", " << with_commas(r.shape.flops()) << " FLOPs\n";
        o << "  " << std::left << std::setw(23) << "algorithm" << std::setw(13) << "pass" << std::right << std::setw(11)
          << "median ms" << std::setw(10) << "GFLOP/s" << std::setw(18) << "workspace bytes"
          << "\n";
        for (std::size_t i = 0; i < r.results.size(); ++i) {
            const Measurement& m = r.results[i];
            if (!m.applicable) {
                // One line per run of passes with the same reason, naming them unless they are all.
                if (i > 0 && same_refusal(r.results[i - 1], m)) continue;
                std::string passes;
                std::size_t j = i;
                for (; j < r.results.size() && same_refusal(r.results[j], m); ++j)
                    passes += (j > i ? "," : "") + std::string(bench::pass_name(r.results[j].pass));
                const bool every_pass = std::all_of(r.results.begin(), r.results.end(), [&](const Measurement& e) {
                    return e.requested != m.requested || same_refusal(e, m);
                });
                o << "  " << std::left << std::setw(23) << algorithm_label(m);
                if (!every_pass) o << std::setw(13) << passes;
                o << "not applicable: " << m.reason << "\n";
                continue;
            }
            o << "  " << std::left << std::setw(23) << algorithm_label(m) << std::setw(13) << bench::pass_name(m.pass)
              << std::right << std::setw(11) << ms_text(m.median_ms) << std::setw(10) << gflops_text(m.gflops)
              << std::setw(18) << with_commas(m.workspace_bytes) << "\n";
        }
    }
}

std::string json_hw(HW v) { return "{\"h\": " + std::to_string(v.h) + ", \"w\": " + std::to_string(v.w) + "}"; }
std::string json_shape(const Shape& s) {
    return "{\"n\": " + std::to_string(s.n) + ", \"h\": " + std::to_string(s.h) + ", \"w\": " + std::to_string(s.w) +
           ", \"d\": " + std::to_string(s.d) + "}";
}

void print_json(std::ostream& o, const std::vector<ConfigResult>& all, const BenchOptions& opt) {
    o << "{\n  \"tool\": \"convlayer bench\",\n  \"version\": " << json_string(CONVLAYER_VERSION)
      << ",\n  \"scalar\": \"float\",\n  \"threads\": " << num_threads()
      << ",\n  \"openmp\": " << (has_openmp() ? "true" : "false") << ",\n  \"repeats\": " << opt.repeats
      << ",\n  \"autotune\": " << (opt.autotune ? "true" : "false")
      << ",\n  \"configurations\": [";
    for (std::size_t c = 0; c < all.size(); ++c) {
        const ConfigResult& r = all[c];
        const ConvParams& p = r.geometry.params;
        o << (c ? "," : "") << "\n    {\n      \"name\": "
          << (r.geometry.name.empty() ? std::string("null") : json_string(r.geometry.name))
          << ",\n      \"problem\": " << json_string(r.shape.to_string())
          << ",\n      \"input\": " << json_shape(r.shape.input())
          << ",\n      \"output\": " << json_shape(r.shape.output()) << ",\n      \"filters\": " << p.filters
          << ",\n      \"kernel\": " << json_hw(p.kernel) << ",\n      \"stride\": " << json_hw(p.stride)
          << ",\n      \"pad\": " << json_hw(p.pad) << ",\n      \"dilation\": " << json_hw(p.dilation)
          << ",\n      \"fit\": " << json_string(to_string(p.fit))
          << ",\n      \"flops\": " << json_number(r.shape.flops(), 17) << ",\n      \"results\": [";
        for (std::size_t i = 0; i < r.results.size(); ++i) {
            const Measurement& m = r.results[i];
            o << (i ? "," : "") << "\n        {\"algorithm\": " << json_string(to_string(m.requested))
              << ", \"pass\": " << json_string(bench::pass_name(m.pass))
              << ", \"applicable\": " << (m.applicable ? "true" : "false");
            if (m.applicable)
                o << ", \"ran\": " << json_string(to_string(m.ran)) << ", \"autotuned\": " << (m.autotuned ? "true" : "false")
                  << ", \"median_ms\": " << json_number(m.median_ms)
                  << ", \"gflops\": " << json_number(m.gflops) << ", \"workspace_bytes\": " << m.workspace_bytes;
            else
                o << ", \"reason\": " << json_string(m.reason);
            o << "}";
        }
        o << "\n      ]\n    }";
    }
    o << "\n  ]\n}\n";
}

std::vector<Geometry> bench_configurations(const ParsedFlags& f) {
    if (!f.has("--suite")) return {parse_geometry(f)};
    std::string flag;
    if (has_geometry_flag(f, &flag))
        f.fail("--suite runs the configurations of benchmarks/conv_suite.hpp; " + flag + " cannot be combined with it");
    const std::string& wanted = f.value("--suite");
    const index_t batch = parse_batch(f);
    std::vector<Geometry> configs;
    std::vector<std::string> names;
    for (const bench::NamedConv& c : bench::kSuite) {
        names.emplace_back(c.name);
        if (!wanted.empty() && (wanted == "all" || names.back().rfind(wanted, 0) == 0))
            configs.push_back({c.name, c.params(), c.input(batch)});
    }
    if (configs.empty())
        f.fail("--suite '" + wanted + "': no configuration's name starts with it; expected " +
               join(suite_families(), ", ") + ", all, or the start of a name (" + join(names, ", ") + ")");
    return configs;
}

int run_bench(const ParsedFlags& f) {
    BenchOptions opt;
    const std::vector<Geometry> configs = bench_configurations(f);
    const std::string algo = f.has("--algo") ? f.value("--algo") : "auto";
    if (algo == "all") {
        for (const ConvAlgorithm a : kAlgorithms)
            if (a != ConvAlgorithm::automatic) opt.algorithms.push_back(a);
    } else {
        std::vector<std::string> names = names_of(kAlgorithms);
        names.emplace_back("all");
        opt.algorithms.push_back(kAlgorithms[parse_choice("--algo", algo, names)]);
    }
    opt.passes = {bench::kForward};
    if (f.has("--backward")) opt.passes.assign(std::begin(kPasses), std::end(kPasses));
    if (f.has("--repeats"))
        opt.repeats = parse_count("--repeats", f.value("--repeats"), 1, 1000000, "the repeat count");
    opt.autotune = f.has("--autotune");
    if (opt.autotune && algo != "auto")
        f.fail("--autotune times auto's candidates; it cannot be combined with --algo " + algo);
    opt.json = f.has("--json");
    apply_threads(f);

    const std::vector<ConfigResult> results = run_benchmarks(configs, opt);
    if (opt.json)
        print_json(std::cout, results, opt);
    else
        print_table(std::cout, results, opt);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    const std::vector<std::string> args(argv + 1, argv + argc);
    std::string command;
    try {
        if (args.empty()) {
            print_usage(std::cerr);
            return 2;
        }
        const std::string& first = args[0];
        if (first == "--help" || first == "-h" || first == "help") {
            const std::string topic = args.size() > 1 ? args[1] : "";
            if (topic == "shape")
                print_shape_help(std::cout);
            else if (topic == "bench")
                print_bench_help(std::cout);
            else
                print_usage(std::cout);
            return 0;
        }
        if (first == "--version") {
            std::cout << "convlayer " << CONVLAYER_VERSION << "\n";
            return 0;
        }
        if (first != "shape" && first != "bench") {
            throw UsageError(first.rfind("-", 0) == 0 ? "expected a command (shape or bench) before '" + first + "'"
                                                      : "unknown command '" + first + "'; expected shape or bench");
        }
        command = first;
        const std::vector<std::string> rest(args.begin() + 1, args.end());
        const bool help = std::find_if(rest.begin(), rest.end(),
                                       [](const std::string& a) { return a == "--help" || a == "-h"; }) != rest.end();
        if (command == "shape") {
            if (help) print_shape_help(std::cout);
            return help ? 0 : run_shape(ParsedFlags(shape_flags(), rest));
        }
        if (help) print_bench_help(std::cout);
        return help ? 0 : run_bench(ParsedFlags(bench_flags(), rest));
    } catch (const UsageError& e) {
        const std::string who = command.empty() ? "convlayer" : "convlayer " + command;
        std::cerr << who << ": " << e.what() << "\nRun '" << who << " --help' for usage.\n";
        return 2;
    } catch (const InvalidConfiguration&) {
        return 2;
    } catch (const std::bad_alloc&) {
        std::cerr << (command.empty() ? "convlayer" : "convlayer " + command) << ": out of memory\n";
        return 1;
    } catch (const std::exception& e) {
        // The library's messages start with "convlayer: " already.
        const std::string what = e.what(), prefix = "convlayer: ";
        const std::string who = command.empty() ? "convlayer" : "convlayer " + command;
        std::cerr << who << ": " << (what.rfind(prefix, 0) == 0 ? what.substr(prefix.size()) : what) << "\n";
        return 1;
    }
}
