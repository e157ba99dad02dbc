// Why stacks of small filters: receptive fields and parameter counts, from the layer objects.
//
// Three stacked 3x3 conv layers (stride 1) see the same 7x7 region of the input as one 7x7
// layer, with 27 C^2 weights instead of 49 C^2 and two more non-linearities in between. The
// receptive field is composed layer by layer from each layer's params() (r += (F_eff - 1) * jump,
// jump *= S); parameter counts come from each layer's parameters() and parameter_count(). Then
// the 1x1 bottleneck of a ResNet block, and an empirical check: a single bright pixel forwarded
// through the 3-layer stack (all weights 1, bias 0) lights up exactly the 7x7 the formula gives
// (exit code 1 if not).
#include <convlayer/convlayer.hpp>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

using namespace convlayer;

namespace {

/// A conv-like layer's hyperparameters (ConvLayer and Conv1x1Layer, which derives from it).
const ConvParams& params_of(const Layer<float>& layer) {
    const auto* conv = dynamic_cast<const ConvLayer<float>*>(&layer);
    if (!conv) throw std::invalid_argument(layer.describe() + " is not a conv layer");
    return conv->params();
}

/// Weights and biases of a layer, summed from its parameter list by name, and the total
/// reported by parameter_count().
struct Count {
    index_t weights = 0, biases = 0, total = 0;
    Count& operator+=(const Count& o) {
        weights += o.weights;
        biases += o.biases;
        total += o.total;
        return *this;
    }
};
Count count(Layer<float>& layer) {
    Count c;
    for (const Parameter<float>& p : layer.parameters()) (p.name == "bias" ? c.biases : c.weights) += p.size;
    c.total = layer.parameter_count();
    if (c.weights + c.biases != c.total) throw std::logic_error(layer.describe() + ": parameter list and count disagree");
    return c;
}

using Stack = std::vector<std::unique_ptr<Layer<float>>>;

Stack make_stack(const std::vector<ConvParams>& configs) {
    Stack s;
    for (const ConvParams& p : configs) s.push_back(make_conv_layer<float>(p));
    return s;
}

/// Receptive field (along the height) of the last layer of `stack` on its input, composed from
/// the layers' geometry and printed step by step when `print` is set.
index_t receptive_field(const std::vector<const Layer<float>*>& stack, bool print) {
    index_t r = 1, jump = 1;  // one input pixel; adjacent outputs are `jump` input pixels apart
    if (print) std::printf("    %-50s %3s %3s %5s %5s\n", "layer", "F", "S", "r", "jump");
    if (print) std::printf("    %-50s %3s %3s %5td %5td\n", "input pixel", "", "", r, jump);
    for (const Layer<float>* layer : stack) {
        const ConvParams& p = params_of(*layer);
        const index_t f = effective_kernel(p.kernel.h, p.dilation.h), s = p.stride.h;
        r += (f - 1) * jump;
        jump *= s;
        if (print) std::printf("    %-50s %3td %3td %5td %5td\n", layer->describe().c_str(), f, s, r, jump);
    }
    return r;
}
std::vector<const Layer<float>*> pointers(const Stack& s) {
    std::vector<const Layer<float>*> v;
    for (const auto& l : s) v.push_back(l.get());
    return v;
}

Count total(Stack& s) {
    Count c;
    for (auto& l : s) c += count(*l);
    return c;
}

/// Multiply-adds of a whole stack on one H x H x D input (from each layer's resolved conv shape:
/// FLOPs / 2).
double macs(const Stack& s, index_t h, index_t d) {
    double total = 0;
    Shape in{1, h, h, d};
    for (const auto& l : s) {
        const ConvShape cs = dynamic_cast<const ConvLayer<float>&>(*l).conv_shape(in);
        total += cs.flops() / 2;
        in = cs.output();
    }
    return total;
}

/// Forwards one bright pixel through `net` (an H x H x 1 input) and returns the extent (rows,
/// columns) of the nonzero outputs; prints the output around the centre.
std::pair<index_t, index_t> impulse_extent(Sequential<float>& net, index_t h, bool show) {
    Volume<float> x(1, h, h, 1);
    x(0, h / 2, h / 2, 0) = 1.0f;
    const Volume<float> y = net.forward(x);
    index_t top = h, bottom = -1, left = h, right = -1;
    for (index_t r = 0; r < y.height(); ++r)
        for (index_t c = 0; c < y.width(); ++c)
            if (y(0, r, c, 0) != 0.0f) {
                top = std::min(top, r);
                bottom = std::max(bottom, r);
                left = std::min(left, c);
                right = std::max(right, c);
            }
    if (show) {
        std::printf("    output around the impulse (rows and columns %td..%td; '.' = 0):\n", h / 2 - 5, h / 2 + 5);
        for (index_t r = h / 2 - 5; r <= h / 2 + 5; ++r) {
            std::printf("     ");
            for (index_t c = h / 2 - 5; c <= h / 2 + 5; ++c) {
                const float v = y(0, r, c, 0);
                if (v == 0.0f) std::printf("    .");
                else std::printf(" %4.0f", static_cast<double>(v));
            }
            std::printf("\n");
        }
    }
    if (bottom < 0) return {0, 0};
    return {bottom - top + 1, right - left + 1};
}

}  // namespace

int main() try {
    bool ok = true;

    // ------------------------------------------------------------------------------------------
    std::printf("1. Effective receptive field: how much of the input one output neuron sees.\n"
                "   Composed layer by layer from each layer's F and S (params()):\n"
                "   r <- r + (F - 1) * jump,  jump <- jump * S,  starting from r = 1, jump = 1.\n\n");
    const index_t C = 64;
    Stack three = make_stack({ConvParams(C, C, 3, 1, 1), ConvParams(C, C, 3, 1, 1), ConvParams(C, C, 3, 1, 1)});
    Stack seven = make_stack({ConvParams(C, C, 7, 1, 3)});
    std::printf("   three 3x3 layers:\n");
    const index_t r3 = receptive_field(pointers(three), true);
    std::printf("   one 7x7 layer:\n");
    const index_t r7 = receptive_field(pointers(seven), true);
    std::printf("\n   Both see %tdx%td input pixels%s. The stack puts a ReLU after each layer: three\n"
                "   non-linearities instead of one, for fewer parameters (next table).\n\n",
                r3, r3, r3 == r7 ? "" : " -- FAILED: they differ");
    ok = ok && r3 == r7 && r3 == 7;

    // ------------------------------------------------------------------------------------------
    std::printf("2. Parameters for C input and C output channels (each layer C -> C).\n"
                "   Weights as the textbook counts them (3 x 3*3*C*C vs 7*7*C*C); every filter also has a bias,\n"
                "   so each layer adds C biases (the stack 3C, the single layer C).\n\n");
    std::printf("   %5s  %-16s %13s %9s %13s   %s\n", "C", "layers", "weights", "biases", "total", "weights vs 7x7");
    for (const index_t c : {index_t{64}, index_t{256}}) {
        Stack s3 = make_stack({ConvParams(c, c, 3, 1, 1), ConvParams(c, c, 3, 1, 1), ConvParams(c, c, 3, 1, 1)});
        Stack s7 = make_stack({ConvParams(c, c, 7, 1, 3)});
        const Count a = total(s3), b = total(s7);
        std::printf("   %5td  %-16s %13s %9s %13s   %.3f (= 27/49), %s fewer\n", c, "3 x conv 3x3",
                    with_thousands_separators(a.weights).c_str(), with_thousands_separators(a.biases).c_str(), with_thousands_separators(a.total).c_str(),
                    static_cast<double>(a.weights) / static_cast<double>(b.weights), with_thousands_separators(b.weights - a.weights).c_str());
        std::printf("   %5td  %-16s %13s %9s %13s\n", c, "1 x conv 7x7", with_thousands_separators(b.weights).c_str(),
                    with_thousands_separators(b.biases).c_str(), with_thousands_separators(b.total).c_str());
        ok = ok && a.weights * 49 == b.weights * 27;
    }
    std::printf("\n");

    // ------------------------------------------------------------------------------------------
    std::printf("3. The 1x1 bottleneck (ResNet-50's block at 256 channels, 56x56 maps).\n"
                "   A 1x1 conv mixes depth only: 256 -> 64 shrinks the volume, the 3x3 works on 64 channels,\n"
                "   and 64 -> 256 restores the depth. Compared with a plain residual block of two 3x3 convs at\n"
                "   the same width (256 -> 256 twice), and for reference with a single 3x3 256 -> 256.\n\n");
    Stack bottleneck = make_stack({ConvParams(256, 64, 1), ConvParams(64, 64, 3, 1, 1), ConvParams(64, 256, 1)});
    Stack two = make_stack({ConvParams(256, 256, 3, 1, 1), ConvParams(256, 256, 3, 1, 1)});
    Stack one = make_stack({ConvParams(256, 256, 3, 1, 1)});
    std::printf("   %-32s %11s %7s %11s %4s %14s\n", "block", "weights", "biases", "total", "r", "MACs on 56x56");
    struct Row {
        const char* label;
        Stack* stack;
    };
    for (const Row& row : {Row{"bottleneck 1x1, 3x3, 1x1", &bottleneck}, Row{"two 3x3 256 -> 256 (plain)", &two},
                           Row{"one 3x3 256 -> 256 (reference)", &one}}) {
        const Count c = total(*row.stack);
        std::printf("   %-32s %11s %7s %11s %4td %13.0fM\n", row.label, with_thousands_separators(c.weights).c_str(),
                    with_thousands_separators(c.biases).c_str(), with_thousands_separators(c.total).c_str(),
                    receptive_field(pointers(*row.stack), false),
                    macs(*row.stack, 56, 256) / 1e6);
    }
    std::printf("   layers of the bottleneck, as make_conv_layer built them:\n");
    for (const auto& l : bottleneck) {
        const Count c = count(*l);
        std::printf("     %-54s %7s weights + %3s biases\n", l->describe().c_str(), with_thousands_separators(c.weights).c_str(),
                    with_thousands_separators(c.biases).c_str());
    }
    const Count cb = total(bottleneck), c2 = total(two), c1 = total(one);
    std::printf("   The bottleneck has %.1fx fewer weights than the two 3x3 convs at the same width and %.1fx fewer\n"
                "   than a single 3x3 256 -> 256; its 1x1 layers add nothing to the receptive field (r = 3 like\n"
                "   one 3x3, against 5 for two). ResNet's convs have no bias (batch norm follows); convlayer's layers\n"
                "   always have one, counted separately above.\n\n",
                static_cast<double>(c2.weights) / static_cast<double>(cb.weights),
                static_cast<double>(c1.weights) / static_cast<double>(cb.weights));

    // ------------------------------------------------------------------------------------------
    std::printf("4. Measured receptive field: one bright pixel in the middle of a 21x21 zero image, forwarded\n"
                "   through three 3x3 conv layers (1 channel, every weight 1, bias 0, pad 1). Each output value\n"
                "   counts the paths from the impulse; the nonzero region is what one input pixel reaches,\n"
                "   which is also the set of outputs whose receptive field contains it.\n\n");
    const index_t h = 21;
    Sequential<float> net({1, h, h, 1});
    for (int i = 0; i < 3; ++i) net.emplace<ConvLayer<float>>(1, 1, 3, 1, 1).weights().setOnes();
    std::vector<const Layer<float>*> layers;
    for (std::size_t i = 0; i < net.size(); ++i) layers.push_back(&net.layer(i));
    const index_t formula = receptive_field(layers, false);
    const auto [rows, cols] = impulse_extent(net, h, true);
    const bool agree = rows == formula && cols == formula;
    std::printf("\n   Measured nonzero extent: %tdx%td; formula: %tdx%td  %s\n", rows, cols, formula, formula,
                agree ? "(they agree)" : "FAILED: they disagree");
    ok = ok && agree;

    Sequential<float> single({1, h, h, 1});
    single.emplace<ConvLayer<float>>(1, 1, 7, 1, 3).weights().setOnes();
    const auto [rows7, cols7] = impulse_extent(single, h, false);
    const bool agree7 = rows7 == 7 && cols7 == 7;
    std::printf("   The same impulse through one 7x7 layer (weights 1): nonzero extent %tdx%td  %s\n", rows7, cols7,
                agree7 ? "(the same region, every value 1)" : "FAILED: expected 7x7");
    ok = ok && agree7;
    return ok ? 0 : 1;
} catch (const std::exception& e) {
    std::fprintf(stderr, "receptive_fields: %s\n", e.what());
    return 1;
}
