// libFuzzer target: turns its bytes into a conv geometry and a layer kind, and requires either a
// clear exception (std::invalid_argument, std::length_error) or outputs and gradients equal to the
// nested-loop reference; then the bytes after those into arguments, from tiny to near 2^63, of
// the public geometry helpers, which must throw the same exceptions or agree with resolve_axis.
// Any crash, sanitizer report (signed overflow among them), other exception or mismatch is a
// finding.
//
// Build: cmake --workflow --preset fuzz (clang, -fsanitize=fuzzer,address,undefined).
#include <convlayer/convlayer.hpp>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <random>
#include <string>
#include <stdexcept>

using namespace convlayer;

namespace {

// Reads bytes from the input; past its end, zeros.
class Bytes {
public:
    Bytes(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
    unsigned next() { return pos_ < size_ ? data_[pos_++] : 0u; }
    index_t in(index_t lo, index_t hi) { return lo + static_cast<index_t>(next()) % (hi - lo + 1); }
    // Mostly small values; sometimes huge ones, to exercise the overflow and memory-limit checks.
    index_t extent(index_t small_max) {
        const unsigned tag = next();
        if (tag < 250) return 1 + static_cast<index_t>(tag) % small_max;
        return tag == 250 ? (index_t{1} << 31) + 1 : tag == 251 ? (index_t{1} << 62) : tag == 252 ? 0 : -in(1, 5);
    }

private:
    const std::uint8_t* data_;
    std::size_t size_, pos_ = 0;
};

[[noreturn]] void finding(const char* what, const std::string& problem) {
    std::fprintf(stderr, "conv_fuzz: %s on %s\n", what, problem.c_str());
    std::abort();
}

template <typename T>
void check_near(const T* got, const T* want, index_t count, double tol, const char* what, const std::string& problem) {
    for (index_t i = 0; i < count; ++i)
        if (!(std::fabs(static_cast<double>(got[i]) - static_cast<double>(want[i])) <= tol)) finding(what, problem);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    set_memory_limit_bytes(index_t{256} << 20);  // refuse, don't attempt, the huge geometries
    return 0;
}

namespace {

void fuzz_layer(Bytes& b) {
    const Shape input{b.extent(3), b.extent(12), b.extent(12), b.extent(6)};
    ConvParams p(b.extent(6), b.extent(6), HW(b.extent(5), b.extent(5)), HW(b.extent(4), b.extent(4)),
                 HW(b.in(0, 4), b.in(0, 4)));
    p.with_dilation(HW(b.in(1, 3), b.in(1, 3)));
    p.with_fit(static_cast<FitPolicy>(b.in(0, 2)));
    const unsigned kind = b.next() % 4;  // shared (auto), shared (winograd forced), per-position, 1x1
    const std::uint64_t seed = b.next();
    try {
        std::unique_ptr<Layer<double>> layer;
        ConvShape s;
        if (kind == 2) {
            auto lc = std::make_unique<LocallyConnectedLayer<double>>(p, HW(input.h, input.w), index_t{64} << 20);
            s = resolve(p, input, "fuzz");
            layer = std::move(lc);
        } else {
            auto conv = make_conv_layer<double>(kind == 3 ? ConvParams(p.in_depth, p.filters, 1) : p);
            if (kind == 1) {
                conv->set_algorithm(ConvAlgorithm::winograd);  // forward and backward-data; it has no dW
                conv->set_algorithm(ConvPass::backward_weights, ConvAlgorithm::automatic);
            }
            s = resolve(kind == 3 ? ConvParams(p.in_depth, p.filters, 1) : p, input, "fuzz");
            layer = std::move(conv);
        }
        if (s.input().size() > (index_t{1} << 16) || s.output().size() > (index_t{1} << 16)) return;  // keep runs fast
        const Sharing sharing = kind == 2 ? Sharing::per_position : Sharing::shared;
        auto params = layer->parameters();
        Volume<double> x(s.input()), dy(s.output());
        // Small integers: the im2col and 1x1 paths are then exact; Winograd within rounding.
        std::mt19937_64 gen(seed);
        auto small = [&] { return static_cast<double>(static_cast<int>(gen() % 7) - 3); };
        for (auto& pr : params)
            for (index_t i = 0; i < pr.size; ++i) pr.value[i] = small();
        for (index_t i = 0; i < x.size(); ++i) x.data()[i] = small();
        for (index_t i = 0; i < dy.size(); ++i) dy.data()[i] = small();

        const std::string problem = s.to_string() + " kind " + std::to_string(kind);
        Volume<double> y, dx, y_ref(s.output()), dx_ref(s.input());
        layer->forward(x, y);
        layer->backward(x, dy, &dx);
        kernels::direct_conv_forward(s, x.data(), params[0].value, params[1].value, y_ref.data(), sharing);
        kernels::direct_conv_backward_data(s, dy.data(), params[0].value, dx_ref.data(), sharing);
        std::vector<double> dw_ref(static_cast<std::size_t>(params[0].size)), db_ref(static_cast<std::size_t>(params[1].size));
        kernels::direct_conv_backward_weights(s, x.data(), dy.data(), dw_ref.data(), db_ref.data(), sharing);
        const double tol = kind == 1 ? 1e-9 * static_cast<double>(s.patch_length() * s.k + 1) * 27 : 0.0;
        check_near(y.data(), y_ref.data(), y.size(), tol, "forward mismatch", problem);
        check_near(dx.data(), dx_ref.data(), dx.size(), tol, "backward-data mismatch", problem);
        check_near(params[0].gradient, dw_ref.data(), params[0].size, 0.0, "dW mismatch", problem);
        check_near(params[1].gradient, db_ref.data(), params[1].size, 0.0, "db mismatch", problem);
    } catch (const std::invalid_argument&) {
    } catch (const std::length_error&) {
    }
}

// A helper argument: small, or near one of the limits the arithmetic must check.
index_t wide(Bytes& b) {
    const unsigned tag = b.next();
    const index_t small = static_cast<index_t>(b.next());
    switch (tag % 8) {
        case 0: return (index_t{1} << 62) - small;
        case 1: return std::numeric_limits<index_t>::max() - small;
        case 2: return -small;
        case 3: return std::numeric_limits<index_t>::min() + small;
        case 4: return (index_t{1} << 31) + small;
        default: return small % 16;
    }
}

void fuzz_geometry(Bytes& b) {
    const index_t in = wide(b), kernel = wide(b), pad = wide(b), stride = wide(b), dilation = wide(b);
    const auto fit = static_cast<FitPolicy>(b.in(0, 2));
    const std::string args = "(" + std::to_string(in) + ", " + std::to_string(kernel) + ", " + std::to_string(pad) + ", " +
                             std::to_string(stride) + ", " + std::to_string(dilation) + ")";
    auto quietly = [](auto f) {
        try {
            f();
        } catch (const std::invalid_argument&) {
        } catch (const std::length_error&) {
        }
    };
    quietly([&] { (void)effective_kernel(kernel, dilation); });
    quietly([&] { (void)output_extent_is_integer(in, kernel, pad, stride, dilation); });
    quietly([&] { (void)output_extent_real(in, kernel, pad, stride, dilation); });
    quietly([&] {
        const index_t p = same_padding(kernel, dilation);
        if (p < 0 || 2 * p + 1 != effective_kernel(kernel, dilation)) finding("same_padding mismatch", args);
    });
    quietly([&] {
        const index_t out = output_extent(in, kernel, pad, stride, dilation, fit);
        if (out < 1 || out != resolve_axis("width", in, kernel, pad, stride, dilation, fit).out)
            finding("output_extent disagrees with resolve_axis", args);
    });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    Bytes b(data, size);
    fuzz_layer(b);
    fuzz_geometry(b);
    return 0;
}
