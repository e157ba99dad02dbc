#include "convlayer/core/threading.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <vector>

using namespace convlayer;

TEST(Threading, ParallelForVisitsEveryIndexOnceWithValidThreadIds) {
    for (int threads : {1, 2, 3, 8}) {
        std::vector<std::atomic<int>> hits(1000);
        std::atomic<int> bad_thread{0};
        parallel_for(1000, threads, [&](index_t i, int t) {
            hits[static_cast<std::size_t>(i)].fetch_add(1);
            if (t < 0 || t >= threads) bad_thread.fetch_add(1);
        });
        for (const auto& h : hits) ASSERT_EQ(h.load(), 1);
        EXPECT_EQ(bad_thread.load(), 0);
    }
    parallel_for(0, 2, [](index_t, int) { FAIL() << "no work expected"; });
}

TEST(Threading, KnobSetsTheCount) {
    const int saved = num_threads();
    set_num_threads(1);
    EXPECT_EQ(num_threads(), 1);
    set_num_threads(2);
    EXPECT_EQ(num_threads(), has_openmp() ? 2 : 1);
    EXPECT_THROW(set_num_threads(-1), std::invalid_argument);
    set_num_threads(saved);
}
