// Runs one ConvLayer forward pass through the installed (or add_subdirectory'd) package.
#include <convlayer/convlayer.hpp>

#include <cstdio>

int main() {
    convlayer::ConvLayer<float> conv(3, 8, 3, 1, 1);  // D1=3 -> K=8, 3x3, stride 1, pad 1
    conv.weights().setConstant(1.0f);
    convlayer::Volume<float> x(1, 5, 5, 3);
    x.fill(1.0f);
    const convlayer::Volume<float> y = conv.forward(x);
    // Centre output sees all 27 taps; the corner sees 2x2x3 = 12.
    const bool ok = y.shape() == convlayer::Shape{1, 5, 5, 8} && y(0, 2, 2, 7) == 27.0f && y(0, 0, 0, 0) == 12.0f;
    std::printf("consumer: output %s, centre %g, corner %g: %s\n", y.shape().to_string().c_str(),
                static_cast<double>(y(0, 2, 2, 7)), static_cast<double>(y(0, 0, 0, 0)), ok ? "ok" : "WRONG");
    return ok ? 0 : 1;
}
