// The Eigen matrix and map types convlayer's views and kernels are written in.
#pragma once

#include <Eigen/Core>

namespace convlayer {

/// Owning dynamic column vector of T.
template <typename T>
using Vector = Eigen::Matrix<T, Eigen::Dynamic, 1>;
/// Owning dynamic column-major matrix of T (weights: one column per filter).
template <typename T>
using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>;
/// Owning dynamic row-major matrix of T (activations: one row per spatial position).
template <typename T>
using RowMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// Writable Vector view over existing memory (no copy).
template <typename T>
using VectorMap = Eigen::Map<Vector<T>>;
/// Read-only Vector view over existing memory (no copy).
template <typename T>
using ConstVectorMap = Eigen::Map<const Vector<T>>;
/// Column-major map: weights, one column per filter ((Fh*Fw*D1) x K).
template <typename T>
using MatrixMap = Eigen::Map<Matrix<T>>;
/// Read-only MatrixMap.
template <typename T>
using ConstMatrixMap = Eigen::Map<const Matrix<T>>;
/// Row-major map: NHWC activations and im2col patches, one row per spatial position.
template <typename T>
using RowMatrixMap = Eigen::Map<RowMatrix<T>>;
/// Read-only RowMatrixMap.
template <typename T>
using ConstRowMatrixMap = Eigen::Map<const RowMatrix<T>>;

/// A depth slice: H x W matrix whose element (y, x) sits D elements after (y, x-1).
template <typename T>
using SliceMap = Eigen::Map<RowMatrix<T>, Eigen::Unaligned, Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>>;
/// Read-only SliceMap.
template <typename T>
using ConstSliceMap =
    Eigen::Map<const RowMatrix<T>, Eigen::Unaligned, Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>>;

}  // namespace convlayer
