// locally connected kernels against the per-position reference, with a batch, on 1-3 threads.
#include "convlayer/kernels/locally_connected.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "convlayer/kernels/direct_conv.hpp"
#include "tests/support/compare.hpp"
#include "tests/support/conv_problems.hpp"

using namespace convlayer;
using namespace convlayer::kernels;
using support::all_near;

namespace {

struct Operands {
    Volume<double> x, dy, y, dx;
    std::vector<double> w, b, dw, db;
    explicit Operands(const ConvShape& s)
        : x(s.input()), dy(s.output()), y(s.output()), dx(s.input()),
          w(static_cast<std::size_t>(s.weight_sets(Sharing::per_position) * s.k * s.patch_length())),
          b(static_cast<std::size_t>(s.weight_sets(Sharing::per_position) * s.k)), dw(w.size()), db(b.size()) {}
};

// Every thread count gives the reference's small-integer results exactly, with and without dx.
void check(const support::ConvProblem& p, std::uint64_t seed, int threads) {
    const ConvShape& s = p.shape;
    Operands a(s), ref(s);
    support::fill_small_integers(a.x, seed);
    support::fill_small_integers(a.dy, seed + 1);
    support::fill_small_integers(a.w.data(), static_cast<index_t>(a.w.size()), seed + 2);
    support::fill_small_integers(a.b.data(), static_cast<index_t>(a.b.size()), seed + 3);
    const LocallyConnectedPlan<double> plan(s, threads);
    std::vector<double> ws(static_cast<std::size_t>(plan.workspace_elements()));
    plan.forward(a.x.data(), a.w.data(), a.b.data(), a.y.data(), ws.data());
    direct_conv_forward(s, a.x.data(), a.w.data(), a.b.data(), ref.y.data(), Sharing::per_position);
    ASSERT_TRUE(all_near(a.y.data(), ref.y.data(), s.output(), 0.0)) << p.to_string();
    plan.backward(a.x.data(), a.dy.data(), a.w.data(), a.dx.data(), a.dw.data(), a.db.data(), ws.data());
    direct_conv_backward_data(s, a.dy.data(), a.w.data(), ref.dx.data(), Sharing::per_position);
    direct_conv_backward_weights(s, a.x.data(), a.dy.data(), ref.dw.data(), ref.db.data(), Sharing::per_position);
    ASSERT_TRUE(all_near(a.dx.data(), ref.dx.data(), s.input(), 0.0)) << p.to_string();
    ASSERT_EQ(a.dw, ref.dw) << p.to_string();
    ASSERT_EQ(a.db, ref.db) << p.to_string();
    std::fill(a.dw.begin(), a.dw.end(), -1.0);
    plan.backward(a.x.data(), a.dy.data(), a.w.data(), nullptr, a.dw.data(), nullptr, ws.data());
    ASSERT_EQ(a.dw, ref.dw) << p.to_string() << " without dx";
}

}  // namespace

TEST(LocallyConnectedKernels, MatchTheReferenceExactlyOnEveryThreadCount) {
    for (std::uint64_t seed = 1; seed <= 80; ++seed) {
        const auto p = support::draw_problem(seed, {4, 12, 6, 6, 5, 3, 2, 2});
        for (int threads : {1, 2, 3}) {
            SCOPED_TRACE(threads);
            check(p, seed, threads);
            if (testing::Test::HasFatalFailure()) return;
        }
    }
}

// Batches that fill the micro-kernel's NR columns run linear.hpp's plan, smaller ones the
// streamed loops: both sides of the switch.
TEST(LocallyConnectedKernels, BatchesOnBothSidesOfTheTileWidthMatchTheReference) {
    constexpr index_t NR = GemmTile<double>::NR;
    for (std::uint64_t seed = 1; seed <= 20; ++seed) {
        auto p = support::draw_problem(seed, {1, 8, 4, 4, 4, 3, 2, 2});
        for (index_t n : {NR - 1, NR, 2 * NR + 3}) {
            p.shape.n = n;
            SCOPED_TRACE(n);
            check(p, seed, 2);
            if (testing::Test::HasFatalFailure()) return;
        }
    }
}

// Tall output, so the bands of rows split over the threads (AlexNet conv1's F 11, S 4 shape).
TEST(LocallyConnectedKernels, BandsOfRowsAddIntoOverlappingInputsExactly) {
    support::ConvProblem p;
    p.shape = resolve(ConvParams(3, 8, HW(11), HW(4), HW(2)), Shape{2, 47, 23, 3});
    for (int threads : {1, 2, 4}) {
        SCOPED_TRACE(threads);
        check(p, 7, threads);
    }
}

// Float results do not depend on the thread count (the bands fix every sum's order).
TEST(LocallyConnectedKernels, FloatResultsAreBitIdenticalAcrossThreadCounts) {
    const ConvShape s = resolve(ConvParams(5, 7, HW(3), HW(1), HW(1)), Shape{3, 13, 9, 5});
    std::vector<std::vector<float>> results;
    for (int threads : {1, 2}) {
        Volume<float> x(s.input()), dy(s.output()), y(s.output()), dx(s.input());
        x.fill_random(1);
        dy.fill_random(2);
        std::vector<float> w(static_cast<std::size_t>(s.weight_sets(Sharing::per_position) * s.k * s.patch_length()), 0.5f);
        std::vector<float> dw(w.size()), db(static_cast<std::size_t>(s.weight_sets(Sharing::per_position) * s.k));
        for (std::size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(i % 7) * 0.3f - 1.f;
        const LocallyConnectedPlan<float> plan(s, threads);
        std::vector<float> ws(static_cast<std::size_t>(plan.workspace_elements()));
        plan.forward(x.data(), w.data(), nullptr, y.data(), ws.data());
        plan.backward(x.data(), dy.data(), w.data(), dx.data(), dw.data(), db.data(), ws.data());
        std::vector<float> all(y.data(), y.data() + y.size());
        all.insert(all.end(), dx.data(), dx.data() + dx.size());
        all.insert(all.end(), dw.begin(), dw.end());
        results.push_back(all);
    }
    EXPECT_EQ(results[0], results[1]);
}
