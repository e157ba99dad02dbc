#include <convlayer/convlayer.hpp>
#include <iostream>

int main() {
    using namespace convlayer;
    ConvParams p(3, 96, 11, 4, 0);                                // D1, K, F, S, P: AlexNet conv1
    auto shared = make_conv_layer<float>(p);                      // ConvLayer
    auto unshared = make_conv_layer<float>(p, Sharing::per_position, HW(227, 227));
    auto reduce = make_conv_layer<float>(ConvParams(256, 64, 1)); // Conv1x1Layer (F=1, S=1, P=0)
    shared->set_algorithm(ConvAlgorithm::im2col);                 // a ConvLayer: no cast needed
    const Layer<float>* layers[] = {shared.get(), unshared.get(), reduce.get()};
    for (const Layer<float>* layer : layers)
        std::cout << layer->describe() << ": " << layer->parameter_count() << " parameters\n";
}
