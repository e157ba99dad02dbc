#include "tests/support/allocation_counter.hpp"

#include <cstddef>
#include <cstdlib>
#include <new>

namespace convlayer::support {
std::atomic<long>& allocation_count() {
    static std::atomic<long> count{0};
    return count;
}
std::atomic<std::size_t>& largest_allocation() {
    static std::atomic<std::size_t> largest{0};
    return largest;
}
}  // namespace convlayer::support

namespace {
void* counted_alloc(std::size_t size, std::size_t align) {
    convlayer::support::allocation_count().fetch_add(1, std::memory_order_relaxed);
    auto& largest = convlayer::support::largest_allocation();
    for (std::size_t seen = largest.load(); size > seen && !largest.compare_exchange_weak(seen, size);) {
    }
    if (size == 0) size = 1;
    void* p = align <= alignof(std::max_align_t) ? std::malloc(size)
                                                 : std::aligned_alloc(align, (size + align - 1) / align * align);
    if (!p) throw std::bad_alloc();
    return p;
}
}  // namespace

void* operator new(std::size_t size) { return counted_alloc(size, alignof(std::max_align_t)); }
void* operator new[](std::size_t size) { return counted_alloc(size, alignof(std::max_align_t)); }
void* operator new(std::size_t size, std::align_val_t a) { return counted_alloc(size, static_cast<std::size_t>(a)); }
void* operator new[](std::size_t size, std::align_val_t a) { return counted_alloc(size, static_cast<std::size_t>(a)); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
