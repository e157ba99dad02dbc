// Owning, 64-byte-aligned, uninitialised-on-growth storage for trivially copyable scalars.
//
// 64 bytes is one cache line and one AVX-512 register, so Eigen maps over this storage may use
// aligned loads. The buffer keeps its capacity when shrunk, which is what lets layers reuse their
// workspaces across calls without allocating.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include "convlayer/core/checked_math.hpp"

namespace convlayer {

/// Alignment of every AlignedBuffer allocation, in bytes: one cache line, one AVX-512 register.
inline constexpr std::size_t kAlignment = 64;

namespace detail {
inline std::atomic<index_t>& memory_limit_setting() {
    static std::atomic<index_t> limit{index_t{16} << 30};
    return limit;
}
}  // namespace detail

/// The largest single buffer convlayer allocates (volumes, parameters, workspaces), in bytes;
/// default 16 GiB. A larger request throws std::length_error before allocating.
inline index_t memory_limit_bytes() { return detail::memory_limit_setting().load(); }
/// Sets that limit (std::invalid_argument unless positive).
inline void set_memory_limit_bytes(index_t bytes) {
    if (bytes < 1) throw std::invalid_argument("convlayer::set_memory_limit_bytes: the limit must be positive");
    detail::memory_limit_setting().store(bytes);
}

/// Owning, kAlignment-aligned array of trivially copyable T, uninitialised on growth; it
/// keeps its capacity when shrunk, so workspaces can be reused without allocating.
template <typename T>
class AlignedBuffer {
    static_assert(std::is_trivially_copyable<T>::value,
                  "AlignedBuffer holds trivially copyable scalars only");

public:
    AlignedBuffer() = default;
    /// A buffer of `count` uninitialised elements; std::length_error when `count` is negative or
    /// its bytes exceed memory_limit_bytes().
    explicit AlignedBuffer(index_t count) { resize(count); }
    /// Deep copy of `other`'s elements (its size, not its capacity).
    AlignedBuffer(const AlignedBuffer& other) { *this = other; }
    /// Takes `other`'s storage; `other` is left empty.
    AlignedBuffer(AlignedBuffer&& other) noexcept { swap(other); }
    /// Copies `other`'s elements, reallocating only when they exceed this buffer's capacity.
    AlignedBuffer& operator=(const AlignedBuffer& other) {
        if (this != &other) {
            resize(other.size_);
            if (size_ > 0) std::memcpy(data_, other.data_, static_cast<std::size_t>(size_) * sizeof(T));
        }
        return *this;
    }
    /// Takes `other`'s storage and frees this buffer's; `other` is left empty.
    AlignedBuffer& operator=(AlignedBuffer&& other) noexcept {
        AlignedBuffer tmp(std::move(other));
        swap(tmp);
        return *this;
    }
    ~AlignedBuffer() { release(); }

    /// Sets the size to `count` elements. Allocates only when `count` exceeds the capacity;
    /// existing contents are not preserved when it does. New elements are uninitialised.
    void resize(index_t count) {
        if (count < 0) throw std::length_error("convlayer: AlignedBuffer size must not be negative");
        if (count > capacity_) {
            const index_t bytes = checked_bytes<T>(count, "aligned buffer bytes");
            if (bytes > memory_limit_bytes())
                throw std::length_error("convlayer: a buffer of " + std::to_string(bytes) +
                                        " bytes exceeds the memory limit of " + std::to_string(memory_limit_bytes()) +
                                        " bytes (convlayer::set_memory_limit_bytes)");
            T* p = static_cast<T*>(::operator new(static_cast<std::size_t>(bytes),
                                                  std::align_val_t{kAlignment}));
            release();
            data_ = p;
            capacity_ = count;
        }
        size_ = count;
    }

    /// Exchanges storage, size and capacity with `other`, without copying elements.
    void swap(AlignedBuffer& other) noexcept {
        std::swap(data_, other.data_);
        std::swap(size_, other.size_);
        std::swap(capacity_, other.capacity_);
    }

    /// First element (null before the first allocation); kAlignment-aligned.
    T* data() noexcept { return data_; }
    /// First element, read-only (null before the first allocation).
    const T* data() const noexcept { return data_; }
    /// Number of elements in use.
    index_t size() const noexcept { return size_; }
    /// Number of elements allocated; resize() up to this does not allocate.
    index_t capacity() const noexcept { return capacity_; }
    /// Element `i`, unchecked.
    T& operator[](index_t i) noexcept { return data_[i]; }
    /// Element `i`, read-only, unchecked.
    const T& operator[](index_t i) const noexcept { return data_[i]; }

private:
    void release() noexcept {
        if (data_) ::operator delete(data_, std::align_val_t{kAlignment});
        data_ = nullptr;
        capacity_ = 0;
        size_ = 0;
    }

    T* data_ = nullptr;
    index_t size_ = 0;
    index_t capacity_ = 0;
};

}  // namespace convlayer
