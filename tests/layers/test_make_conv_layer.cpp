// make_conv_layer picks the class for the configuration.
#include "convlayer/layers/make_conv_layer.hpp"

#include <gtest/gtest.h>

using namespace convlayer;

TEST(MakeConvLayer, PicksTheClassThatFits) {
    auto pointwise = make_conv_layer<float>(ConvParams(64, 256, 1));
    EXPECT_NE(dynamic_cast<Conv1x1Layer<float>*>(pointwise.get()), nullptr);
    EXPECT_EQ(pointwise->name(), "Conv1x1Layer");
    // Each condition of the 1x1 path alone sends the configuration to ConvLayer.
    for (const ConvParams& p : {ConvParams(64, 256, 1, 2, 0), ConvParams(64, 256, 1, 1, 1), ConvParams(64, 256, 3, 1, 1),
                                ConvParams(64, 256, HW(1, 3), 1, HW(0, 1)), ConvParams(64, 256, 1, HW(1, 2), 0)}) {
        auto layer = make_conv_layer<float>(p);
        EXPECT_EQ(layer->name(), "ConvLayer") << layer->describe();
    }
    auto unshared = make_conv_layer<double>(ConvParams(3, 8, 3, 1, 1), Sharing::per_position, HW(10, 12));
    EXPECT_EQ(unshared->name(), "LocallyConnectedLayer");
    EXPECT_EQ(unshared->parameter_count(), 10 * 12 * 8 * (27 + 1));
    // Unshared 1x1 is still locally connected.
    EXPECT_EQ(make_conv_layer<float>(ConvParams(4, 2, 1), Sharing::per_position, HW(3, 3))->name(),
              "LocallyConnectedLayer");
}

TEST(MakeConvLayer, ParameterCountFormulas) {
    // shared F*F*D1*K + K; unshared W2*H2*K*(F*F*D1 + 1); 1x1 D1*K + K.
    EXPECT_EQ(make_conv_layer<float>(ConvParams(3, 96, 11, 4, 0))->parameter_count(), 11 * 11 * 3 * 96 + 96);
    EXPECT_EQ(make_conv_layer<float>(ConvParams(3, 4, 5, 1, 0), Sharing::per_position, HW(9, 9))->parameter_count(),
              5 * 5 * 4 * (5 * 5 * 3 + 1));
    EXPECT_EQ(make_conv_layer<float>(ConvParams(256, 64, 1))->parameter_count(), 256 * 64 + 64);
}

TEST(MakeConvLayer, ErrorsAreClear) {
    EXPECT_THROW(make_conv_layer<float>(ConvParams(3, 8, 3), Sharing::per_position), std::invalid_argument);
    EXPECT_THROW(make_conv_layer<float>(ConvParams(0, 8, 3)), std::invalid_argument);
}

// The shared factory returns a ConvLayer: weights and algorithms are set without a cast.
TEST(MakeConvLayer, TheSharedLayerNeedsNoCast) {
    std::unique_ptr<ConvLayer<float>> conv = make_conv_layer<float>(ConvParams(3, 8, 3, 1, 1));
    conv->set_algorithm(ConvAlgorithm::direct);
    conv->weights().setConstant(0.5f);
    EXPECT_EQ(conv->requested_algorithm(ConvPass::forward), ConvAlgorithm::direct);
    EXPECT_EQ(conv->weights().rows(), 8);
    EXPECT_EQ(conv->parameters()[0].value[0], 0.5f);
    std::unique_ptr<ConvLayer<float>> pointwise = make_conv_layer<float>(ConvParams(8, 4, 1));
    EXPECT_EQ(pointwise->name(), "Conv1x1Layer");
}
