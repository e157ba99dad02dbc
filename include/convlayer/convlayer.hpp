// convlayer: header-only tensors ("volumes") and convolution layers on Eigen.
// Include this umbrella header, or the individual headers under convlayer/. File formats
// (convlayer/io/) are included separately: some need zlib or libpng.
#pragma once

#include "convlayer/core/aligned_buffer.hpp"
#include "convlayer/core/checked_math.hpp"
#include "convlayer/core/conv_geometry.hpp"
#include "convlayer/core/conv_shape.hpp"
#include "convlayer/core/eigen_types.hpp"
#include "convlayer/core/format.hpp"
#include "convlayer/core/shape.hpp"
#include "convlayer/core/threading.hpp"
#include "convlayer/core/volume.hpp"
#include "convlayer/kernels/bias_gradient.hpp"
#include "convlayer/kernels/direct_conv.hpp"
#include "convlayer/kernels/im2col.hpp"
#include "convlayer/kernels/im2col_conv.hpp"
#include "convlayer/kernels/implicit_gemm_backward_data.hpp"
#include "convlayer/kernels/implicit_gemm_conv.hpp"
#include "convlayer/kernels/locally_connected.hpp"
#include "convlayer/kernels/packed_gemm.hpp"
#include "convlayer/kernels/winograd.hpp"
#include "convlayer/layers/conv1x1_layer.hpp"
#include "convlayer/layers/conv_algorithm.hpp"
#include "convlayer/layers/conv_layer.hpp"
#include "convlayer/layers/dense_layer.hpp"
#include "convlayer/layers/filter_bank.hpp"
#include "convlayer/layers/flatten_layer.hpp"
#include "convlayer/layers/layer.hpp"
#include "convlayer/layers/locally_connected_layer.hpp"
#include "convlayer/layers/make_conv_layer.hpp"
#include "convlayer/layers/pool_layer.hpp"
#include "convlayer/layers/relu_layer.hpp"
#include "convlayer/layers/softmax_cross_entropy.hpp"
#include "convlayer/nn/initializers.hpp"
#include "convlayer/nn/optimizers.hpp"
#include "convlayer/nn/sequential.hpp"
#include "convlayer/nn/trainer.hpp"
#include "convlayer/nn/weights_file.hpp"

/// \namespace convlayer
/// Everything public in convlayer: Volume<T> and its shapes, the conv geometry, the layers,
/// Sequential networks, initialisers, optimisers and training. Names in a `detail` namespace are
/// internal and may change without notice.

/// \namespace convlayer::kernels
/// The computational kernels behind the layers: im2col, the packed GEMM micro-kernel, the conv
/// algorithms and their plans (ConvPlan), pooling, bias gradients and the NaN/Inf repairs. Public
/// for tools, benchmarks and tests; most users need only the layers.

/// \namespace convlayer::io
/// File formats and images: IDX (MNIST), NumPy .npy, PGM/PPM, PNG, and line plots. Not in the
/// umbrella header: include `convlayer/io/<format>.hpp` (idx.hpp needs zlib, png.hpp libpng).
