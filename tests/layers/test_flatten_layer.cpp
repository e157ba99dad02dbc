// FlattenLayer: shape, NHWC order, and the gradient passes through unchanged.
#include "convlayer/layers/flatten_layer.hpp"

#include <gtest/gtest.h>

using namespace convlayer;

TEST(FlattenLayer, KeepsNhwcOrderUnderTheNewShape) {
    FlattenLayer<float> flatten;
    EXPECT_TRUE(flatten.reshapes_only());
    EXPECT_EQ(flatten.output_shape({2, 7, 7, 64}), (Shape{2, 1, 1, 3136}));
    Volume<float> x(2, 3, 4, 5);
    x.fill_random(1);
    const Volume<float> y = flatten.forward(x);
    ASSERT_EQ(y.shape(), (Shape{2, 1, 1, 60}));
    for (index_t n = 0; n < 2; ++n)
        for (index_t iy = 0; iy < 3; ++iy)
            for (index_t ix = 0; ix < 4; ++ix)
                for (index_t d = 0; d < 5; ++d) EXPECT_EQ(y(n, 0, 0, (iy * 4 + ix) * 5 + d), x(n, iy, ix, d));
    Volume<float> dy(y.shape()), dx;
    dy.fill_random(2);
    flatten.backward(x, dy, &dx);
    ASSERT_EQ(dx.shape(), x.shape());
    for (index_t i = 0; i < dx.size(); ++i) EXPECT_EQ(dx.data()[i], dy.data()[i]);
    EXPECT_EQ(flatten.parameter_count(), 0);
}

TEST(FlattenLayer, RejectsAnEmptyShape) {
    FlattenLayer<float> flatten;
    EXPECT_THROW(flatten.output_shape({1, 0, 3, 3}), std::invalid_argument);
}
