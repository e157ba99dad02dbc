// Counts calls to the global operator new made while an AllocationCounter is alive, and the
// largest single request among them.
// The replacement operators live in allocation_counter.cpp, linked into the tests that use this.
// (Eigen's GEMM would take its blocking buffers from malloc, which this does not count; no layer
// calls it.)
#pragma once

#include <atomic>
#include <cstddef>

namespace convlayer::support {

std::atomic<long>& allocation_count();
/// The largest request since the last AllocationCounter was made.
std::atomic<std::size_t>& largest_allocation();

class AllocationCounter {
public:
    AllocationCounter() : start_(allocation_count().load()) { largest_allocation() = 0; }
    long count() const { return allocation_count().load() - start_; }
    std::size_t largest_bytes() const { return largest_allocation().load(); }

private:
    long start_;
};

}  // namespace convlayer::support
