// Counts calls to the global operator new made while an AllocationCounter is alive.
// The replacement operators live in allocation_counter.cpp, linked into the tests that use this.
// (Eigen's GEMM takes its blocking buffers from malloc, which this does not count.)
#pragma once

#include <atomic>

namespace convlayer::support {

std::atomic<long>& allocation_count();

class AllocationCounter {
public:
    AllocationCounter() : start_(allocation_count().load()) {}
    long count() const { return allocation_count().load() - start_; }

private:
    long start_;
};

}  // namespace convlayer::support
