// convlayer: header-only tensors ("volumes") and convolution layers on Eigen.
// Include this umbrella header, or the individual headers under convlayer/.
#pragma once

#include "convlayer/core/aligned_buffer.hpp"
#include "convlayer/core/checked_math.hpp"
#include "convlayer/core/conv_geometry.hpp"
#include "convlayer/core/conv_shape.hpp"
#include "convlayer/core/eigen_types.hpp"
#include "convlayer/core/shape.hpp"
#include "convlayer/core/threading.hpp"
#include "convlayer/core/volume.hpp"
#include "convlayer/kernels/direct_conv.hpp"
#include "convlayer/kernels/im2col.hpp"
#include "convlayer/kernels/im2col_conv.hpp"
#include "convlayer/kernels/locally_connected.hpp"
#include "convlayer/kernels/packed_gemm.hpp"
#include "convlayer/layers/conv1x1_layer.hpp"
#include "convlayer/layers/conv_algorithm.hpp"
#include "convlayer/layers/conv_layer.hpp"
#include "convlayer/layers/filter_bank.hpp"
#include "convlayer/layers/layer.hpp"
#include "convlayer/layers/locally_connected_layer.hpp"
#include "convlayer/layers/make_conv_layer.hpp"
