// locally_connected kernels against the per-position reference, with a batch.
#include "convlayer/kernels/locally_connected.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "convlayer/kernels/direct_conv.hpp"
#include "tests/support/compare.hpp"
#include "tests/support/conv_problems.hpp"

using namespace convlayer;
using namespace convlayer::kernels;
using support::all_near;

TEST(LocallyConnectedKernels, MatchTheReferenceExactly) {
    for (std::uint64_t seed = 1; seed <= 80; ++seed) {
        const auto p = support::draw_problem(seed, {4, 12, 6, 6, 5, 3, 2, 2});
        const ConvShape& s = p.shape;
        const index_t sets = s.weight_sets(Sharing::per_position), L = s.patch_length();
        Volume<double> x(s.input()), y(s.output()), y_ref(s.output()), dy(s.output()), dx(s.input()), dx_ref(s.input());
        std::vector<double> w(static_cast<std::size_t>(sets * s.k * L)), b(static_cast<std::size_t>(sets * s.k));
        std::vector<double> dw(w.size()), db(b.size()), dw_ref(w.size()), db_ref(b.size());
        std::vector<double> ws(static_cast<std::size_t>(locally_connected_workspace_elements(s)));
        support::fill_small_integers(x, seed);
        support::fill_small_integers(dy, seed + 1);
        support::fill_small_integers(w.data(), static_cast<index_t>(w.size()), seed + 2);
        support::fill_small_integers(b.data(), static_cast<index_t>(b.size()), seed + 3);
        locally_connected_forward(s, x.data(), w.data(), b.data(), y.data(), ws.data());
        direct_conv_forward(s, x.data(), w.data(), b.data(), y_ref.data(), Sharing::per_position);
        ASSERT_TRUE(all_near(y.data(), y_ref.data(), s.output(), 0.0)) << p.to_string();
        locally_connected_backward(s, x.data(), dy.data(), w.data(), dx.data(), dw.data(), db.data(), ws.data());
        direct_conv_backward_data(s, dy.data(), w.data(), dx_ref.data(), Sharing::per_position);
        direct_conv_backward_weights(s, x.data(), dy.data(), dw_ref.data(), db_ref.data(), Sharing::per_position);
        ASSERT_TRUE(all_near(dx.data(), dx_ref.data(), s.input(), 0.0)) << p.to_string();
        ASSERT_EQ(dw, dw_ref) << p.to_string();
        ASSERT_EQ(db, db_ref) << p.to_string();
    }
}
