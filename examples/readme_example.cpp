#include <convlayer/convlayer.hpp>
#include <iostream>

int main() {
    using namespace convlayer;
    ConvLayer<float> conv(3, 96, /*F=*/11, /*S=*/4, /*P=*/0);  // AlexNet conv1
    conv.weights().setRandom();                              // 96 x (11*11*3), one OHWI row per filter
    Volume<float> x(1, 227, 227, 3);                         // N x H x W x D, NHWC
    x.fill_random(/*seed=*/42);
    Volume<float> y = conv.forward(x);                       // 1 x 55 x 55 x 96
    Volume<float> dy(y.shape()), dx;
    dy.fill(1.0f);
    conv.backward(x, dy, &dx);                               // dx, and dW, db inside the layer
    std::cout << y.shape().to_string() << ", " << conv.parameter_count() << " parameters\n";
}
