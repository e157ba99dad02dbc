// Volume<T>: a batch of N volumes of W x H x D, stored NHWC.
#pragma once

#include <algorithm>
#include <cstdint>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "convlayer/core/aligned_buffer.hpp"
#include "convlayer/core/eigen_types.hpp"
#include "convlayer/core/shape.hpp"

// Element access through operator() is bounds-checked when CONVLAYER_BOUNDS_CHECK is non-zero,
// which is the default in debug builds (NDEBUG not defined). at() is always checked.
#ifndef CONVLAYER_BOUNDS_CHECK
#ifdef NDEBUG
#define CONVLAYER_BOUNDS_CHECK 0
#else
#define CONVLAYER_BOUNDS_CHECK 1
#endif
#endif

namespace convlayer {

/// A batch of N volumes of W x H x D (width, height, depth) in NHWC order: depth fastest, then
/// x, then y, then n. Element (n, y, x, d) lives at ((n*H + y)*W + x)*D + d.
///
/// A Volume either owns 64-byte-aligned storage, or is a view over a caller's buffer
/// (`Volume::view`), which it never frees or reallocates. Copying a Volume always makes an owning
/// deep copy; moving keeps the storage (or the view).
template <typename T>
class Volume {
    static_assert(std::is_floating_point<T>::value, "Volume<T>: T must be float or double");

public:
    /// The element type (float or double).
    using Scalar = T;

    Volume() = default;
    /// Owning volume of `shape`, zero-filled. Throws std::invalid_argument on a non-positive extent.
    explicit Volume(const Shape& shape) { resize(shape); zero(); }
    /// Owning, zero-filled volume of N=n, H=h, W=w, D=d; throws like Volume(const Shape&).
    Volume(index_t n, index_t h, index_t w, index_t d) : Volume(Shape{n, h, w, d}) {}

    /// Non-owning view over `data`, which must hold shape.size() elements and outlive the view.
    static Volume view(T* data, const Shape& shape) {
        validate_shape(shape, "Volume::view");
        if (data == nullptr) throw std::invalid_argument("Volume::view: data pointer is null");
        Volume v;
        v.data_ = data;
        v.shape_ = shape;
        v.owning_ = false;
        return v;
    }

    /// Owning deep copy of `other`, also when `other` is a view.
    Volume(const Volume& other) : Volume() { *this = other; }
    /// Takes `other`'s storage (or its view); `other` is left empty.
    Volume(Volume&& other) noexcept { swap(other); }
    /// Copies `other`'s shape and elements into owning storage. A view assigned to becomes owning:
    /// its old buffer is not written.
    Volume& operator=(const Volume& other) {
        if (this == &other) return *this;
        owning_ = true;
        storage_.resize(other.shape_.size());
        data_ = storage_.data();
        shape_ = other.shape_;
        std::copy(other.data_, other.data_ + other.size(), data_);
        return *this;
    }
    /// Takes `other`'s storage (or its view) and frees this volume's; `other` is left empty.
    Volume& operator=(Volume&& other) noexcept {
        Volume tmp(std::move(other));
        swap(tmp);
        return *this;
    }

    /// Exchanges storage, shape and ownership with `other`, without copying elements.
    void swap(Volume& other) noexcept {
        storage_.swap(other.storage_);
        std::swap(data_, other.data_);
        std::swap(shape_, other.shape_);
        std::swap(owning_, other.owning_);
    }

    /// Gives the volume `shape`. An owning volume reallocates only when its capacity is too
    /// small (contents are then unspecified); a view must keep its element count.
    void resize(const Shape& shape) {
        validate_shape(shape, "Volume::resize");
        if (!owning_) {
            if (shape.size() != shape_.size()) {
                throw std::invalid_argument("Volume::resize: a view over " + shape_.to_string() +
                                            " cannot be resized to " + shape.to_string());
            }
        } else {
            storage_.resize(shape.size());
            data_ = storage_.data();
        }
        shape_ = shape;
    }

    /// The extents N, H, W, D.
    const Shape& shape() const noexcept { return shape_; }
    /// N, the number of volumes in the batch.
    index_t batch() const noexcept { return shape_.n; }
    /// H, the extent along y.
    index_t height() const noexcept { return shape_.h; }
    /// W, the extent along x.
    index_t width() const noexcept { return shape_.w; }
    /// D, the number of channels (depth slices).
    index_t depth() const noexcept { return shape_.d; }
    /// Number of elements, N*H*W*D.
    index_t size() const noexcept { return shape_.n * shape_.h * shape_.w * shape_.d; }
    /// True when the volume has no elements (a default-constructed or moved-from volume).
    bool empty() const noexcept { return size() == 0; }
    /// True for owning storage, false for a view (Volume::view).
    bool owns_data() const noexcept { return owning_; }
    /// Elements of the buffer the volume writes into: its capacity when it owns storage (which
    /// resize() may reuse or free), its size when it is a view.
    index_t buffer_elements() const noexcept { return owning_ ? storage_.capacity() : size(); }

    /// First element of the NHWC buffer (null when empty).
    T* data() noexcept { return data_; }
    /// First element of the NHWC buffer, read-only (null when empty).
    const T* data() const noexcept { return data_; }

    /// Offset of element (n, y, x, d) in the NHWC buffer.
    index_t offset(index_t n, index_t y, index_t x, index_t d) const noexcept {
        return ((n * shape_.h + y) * shape_.w + x) * shape_.d + d;
    }

    /// Element (n, y, x, d); bounds-checked (std::out_of_range) only when CONVLAYER_BOUNDS_CHECK is
    /// non-zero, the default without NDEBUG.
    T& operator()(index_t n, index_t y, index_t x, index_t d) {
#if CONVLAYER_BOUNDS_CHECK
        check_index(n, y, x, d);
#endif
        return data_[offset(n, y, x, d)];
    }
    /// Element (n, y, x, d), read-only; checked like the non-const overload.
    const T& operator()(index_t n, index_t y, index_t x, index_t d) const {
#if CONVLAYER_BOUNDS_CHECK
        check_index(n, y, x, d);
#endif
        return data_[offset(n, y, x, d)];
    }
    /// Always bounds-checked element access; throws std::out_of_range naming the index.
    T& at(index_t n, index_t y, index_t x, index_t d) {
        check_index(n, y, x, d);
        return data_[offset(n, y, x, d)];
    }
    /// Element (n, y, x, d), read-only, always bounds-checked (std::out_of_range).
    const T& at(index_t n, index_t y, index_t x, index_t d) const {
        check_index(n, y, x, d);
        return data_[offset(n, y, x, d)];
    }

    /// The depth column (fibre) at (x, y) of volume n: its D values, contiguous.
    VectorMap<T> depth_column(index_t n, index_t y, index_t x) {
        check_index(n, y, x, 0);
        return VectorMap<T>(data_ + offset(n, y, x, 0), shape_.d);
    }
    /// Read-only depth column at (x, y) of volume n; std::out_of_range outside the volume.
    ConstVectorMap<T> depth_column(index_t n, index_t y, index_t x) const {
        check_index(n, y, x, 0);
        return ConstVectorMap<T>(data_ + offset(n, y, x, 0), shape_.d);
    }

    /// The depth slice (activation map) d of volume n: an H x W strided view, element (y, x).
    SliceMap<T> depth_slice(index_t n, index_t d) {
        check_index(n, 0, 0, d);
        return SliceMap<T>(data_ + offset(n, 0, 0, d), shape_.h, shape_.w,
                           Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>(shape_.w * shape_.d, shape_.d));
    }
    /// Read-only depth slice d of volume n; std::out_of_range outside the volume.
    ConstSliceMap<T> depth_slice(index_t n, index_t d) const {
        check_index(n, 0, 0, d);
        return ConstSliceMap<T>(data_ + offset(n, 0, 0, d), shape_.h, shape_.w,
                                Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>(shape_.w * shape_.d, shape_.d));
    }

    /// All elements as one vector (for norms, reductions, optimiser updates).
    VectorMap<T> flat() { return VectorMap<T>(data_, size()); }
    /// All elements as one read-only vector.
    ConstVectorMap<T> flat() const { return ConstVectorMap<T>(data_, size()); }
    /// The batch as an (N*H*W) x D row-major matrix: one row per depth column.
    RowMatrixMap<T> rows() { return RowMatrixMap<T>(data_, shape_.n * shape_.h * shape_.w, shape_.d); }
    /// The batch as a read-only (N*H*W) x D row-major matrix.
    ConstRowMatrixMap<T> rows() const {
        return ConstRowMatrixMap<T>(data_, shape_.n * shape_.h * shape_.w, shape_.d);
    }

    /// Sets every element to `value`.
    void fill(T value) { std::fill(data_, data_ + size(), value); }
    /// Sets every element to 0.
    void zero() { fill(T(0)); }
    /// Fills with values drawn uniformly from [lo, hi) by a generator seeded with `seed`.
    void fill_random(std::uint64_t seed, T lo = T(-1), T hi = T(1)) {
        std::mt19937_64 gen(seed);
        std::uniform_real_distribution<T> dist(lo, hi);
        for (index_t i = 0; i < size(); ++i) data_[i] = dist(gen);
    }

    /// Copies `count` elements in NHWC order from `src`; `count` must equal size().
    void copy_from(const T* src, index_t count) {
        check_count(count, "copy_from");
        std::copy(src, src + count, data_);
    }
    /// Copies all elements in NHWC order to `dst`, which holds `count` == size() elements.
    void copy_to(T* dst, index_t count) const {
        check_count(count, "copy_to");
        std::copy(data_, data_ + count, dst);
    }

private:
    void check_index(index_t n, index_t y, index_t x, index_t d) const {
        if (n < 0 || n >= shape_.n || y < 0 || y >= shape_.h || x < 0 || x >= shape_.w || d < 0 ||
            d >= shape_.d) {
            std::ostringstream os;
            os << "Volume: index (n=" << n << ", y=" << y << ", x=" << x << ", d=" << d
               << ") is outside " << shape_.to_string();
            throw std::out_of_range(os.str());
        }
    }
    void check_count(index_t count, const char* who) const {
        if (count != size()) {
            std::ostringstream os;
            os << "Volume::" << who << ": buffer holds " << count << " elements but the volume "
               << shape_.to_string() << " has " << size();
            throw std::invalid_argument(os.str());
        }
    }

    AlignedBuffer<T> storage_;
    T* data_ = nullptr;
    Shape shape_{};
    bool owning_ = true;
};

/// True when writing `out` (anywhere in its buffer, see buffer_elements()) may change a value of
/// `in`, or resizing `out` may free memory `in` views: their memory ranges intersect.
template <typename T>
bool overlaps(const Volume<T>& out, const Volume<T>& in) noexcept {
    if (out.buffer_elements() == 0 || in.empty()) return false;
    // As integers: comparing pointers into different arrays is unspecified.
    const auto out_begin = reinterpret_cast<std::uintptr_t>(out.data());
    const auto in_begin = reinterpret_cast<std::uintptr_t>(in.data());
    const auto out_end = out_begin + static_cast<std::uintptr_t>(out.buffer_elements()) * sizeof(T);
    const auto in_end = in_begin + static_cast<std::uintptr_t>(in.size()) * sizeof(T);
    return out_begin < in_end && in_begin < out_end;
}

}  // namespace convlayer
