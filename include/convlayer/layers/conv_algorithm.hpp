// Which kernels a ConvLayer runs: the algorithms, and for each pass the ordered table of plans
// (kernels/conv_plan.hpp) the automatic choice walks. Adding an algorithm: its kernel file with
// a plan type per pass it runs, an enum value and name here, and a line in each pass's table.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>

#include "convlayer/core/conv_shape.hpp"
#include "convlayer/kernels/conv_plan.hpp"
#include "convlayer/kernels/direct_conv.hpp"
#include "convlayer/kernels/im2col_conv.hpp"
#include "convlayer/kernels/implicit_gemm_backward_data.hpp"
#include "convlayer/kernels/implicit_gemm_conv.hpp"
#include "convlayer/kernels/winograd.hpp"

namespace convlayer {

/// Which kernels run a ConvLayer's passes (ConvLayer::set_algorithm()): the automatic choice, or
/// one algorithm forced; a pass the forced algorithm cannot run throws std::invalid_argument.
enum class ConvAlgorithm {
    automatic,      ///< per pass, the first plan of its table that applies and pays off
    im2col,         ///< im2col + packed GEMM over bounded blocks: any configuration, every pass
    gemm1x1,        ///< the packed GEMM on the NHWC input itself: 1x1 kernel, stride 1, no padding
    winograd,       ///< Winograd F(4x4, 3x3), forward and backward-data: 3x3, stride 1, dilation 1,
                    ///< equal padding <= 2
    implicit_gemm,  ///< patches read from padded input rows (no im2col matrix): forward and
                    ///< backward-weights with dilation 1 along the width; backward-data as a
                    ///< forward conv over dY per stride phase, at dilation 1 with each phase's
                    ///< padding within its taps (at stride 1: P <= F - 1)
    direct,         ///< the nested-loop reference: any configuration, slow, allocates
};

/// Every algorithm, for tools and tests that try them all.
inline constexpr ConvAlgorithm kAllConvAlgorithms[] = {ConvAlgorithm::automatic, ConvAlgorithm::im2col,
                                                       ConvAlgorithm::gemm1x1, ConvAlgorithm::winograd,
                                                       ConvAlgorithm::implicit_gemm, ConvAlgorithm::direct};

/// The algorithm's name as `convlayer bench --algo` and CONVLAYER_BENCH_ALGORITHM spell it:
/// "auto", "im2col", "gemm1x1", "winograd", "implicit_gemm" or "direct".
inline const char* to_string(ConvAlgorithm a) {
    switch (a) {
        case ConvAlgorithm::automatic: return "auto";
        case ConvAlgorithm::im2col: return "im2col";
        case ConvAlgorithm::gemm1x1: return "gemm1x1";
        case ConvAlgorithm::winograd: return "winograd";
        case ConvAlgorithm::implicit_gemm: return "implicit_gemm";
        case ConvAlgorithm::direct: return "direct";
    }
    return "?";
}

/// One line of a pass's table: an algorithm and its plan type's rules and constructor.
template <typename T>
struct ConvPlanEntry {
    /// The algorithm this line runs.
    ConvAlgorithm algorithm;
    std::string (*refusal)(const ConvShape&);  ///< why it cannot run a problem ("" if it can)
    bool (*pays_off)(const ConvShape&, int threads);  ///< whether the automatic choice takes it
    /// Makes the plan for a context (kernels::make_plan()).
    std::unique_ptr<kernels::ConvPlan<T>> (*make)(const kernels::ConvPlanContext&);
};

/// The line of plan type P for algorithm `a`.
template <typename P, typename T = typename P::Scalar>
ConvPlanEntry<T> plan_entry(ConvAlgorithm a) {
    return {a, &P::refusal, &P::pays_off, &kernels::make_plan<P>};
}

/// The plans of one pass, in the order the automatic choice tries them (the last that applies
/// always pays off but direct, which the automatic choice never takes).
template <typename T>
struct ConvPlanTable {
    /// First line of the table.
    const ConvPlanEntry<T>* begin_;
    /// One past the last line.
    const ConvPlanEntry<T>* end_;
    /// First line, for range-for.
    const ConvPlanEntry<T>* begin() const { return begin_; }
    /// One past the last line, for range-for.
    const ConvPlanEntry<T>* end() const { return end_; }
    /// The line of algorithm `a`, or null when it does not run this pass.
    const ConvPlanEntry<T>* find(ConvAlgorithm a) const {
        for (const auto& e : *this)
            if (e.algorithm == a) return &e;
        return nullptr;
    }
};

/// The table of `pass`, in the automatic choice's order: gemm1x1, winograd (not backward-weights),
/// implicit_gemm, im2col, direct.
template <typename T>
ConvPlanTable<T> conv_plan_table(ConvPass pass) {
    using namespace kernels;
    using A = ConvAlgorithm;
    static const ConvPlanEntry<T> forward[] = {
        plan_entry<Gemm1x1Forward<T>>(A::gemm1x1),
        plan_entry<WinogradForward<T>>(A::winograd),
        plan_entry<ImplicitGemmForward<T>>(A::implicit_gemm),
        plan_entry<Im2colForward<T>>(A::im2col),
        plan_entry<DirectForward<T>>(A::direct),
    };
    static const ConvPlanEntry<T> backward_data[] = {
        plan_entry<Gemm1x1BackwardData<T>>(A::gemm1x1),
        plan_entry<WinogradBackwardData<T>>(A::winograd),
        plan_entry<ImplicitGemmBackwardData<T>>(A::implicit_gemm),
        plan_entry<Im2colBackwardData<T>>(A::im2col),
        plan_entry<DirectBackwardData<T>>(A::direct),
    };
    static const ConvPlanEntry<T> backward_weights[] = {
        plan_entry<Gemm1x1BackwardWeights<T>>(A::gemm1x1),
        plan_entry<ImplicitGemmBackwardWeights<T>>(A::implicit_gemm),
        plan_entry<Im2colBackwardWeights<T>>(A::im2col),
        plan_entry<DirectBackwardWeights<T>>(A::direct),
    };
    switch (pass) {
        case ConvPass::forward: return {std::begin(forward), std::end(forward)};
        case ConvPass::backward_data: return {std::begin(backward_data), std::end(backward_data)};
        case ConvPass::backward_weights: break;
    }
    return {std::begin(backward_weights), std::end(backward_weights)};
}

/// Why algorithm `a` cannot run `pass` of problem `s` ("" when it can; automatic always can).
template <typename T = float>
std::string algorithm_refusal(ConvAlgorithm a, ConvPass pass, const ConvShape& s) {
    if (a == ConvAlgorithm::automatic) return {};
    const ConvPlanEntry<T>* e = conv_plan_table<T>(pass).find(a);
    if (!e) return std::string(to_string(a)) + " has no " + to_string(pass) + " kernel";
    return e->refusal(s);
}

/// Whether algorithm `a` can run `pass` of problem `s`.
template <typename T = float>
bool algorithm_applies(ConvAlgorithm a, ConvPass pass, const ConvShape& s) {
    return algorithm_refusal<T>(a, pass, s).empty();
}

/// The algorithm the automatic choice takes for `pass` of `s` on `threads` threads.
template <typename T = float>
ConvAlgorithm automatic_algorithm(ConvPass pass, const ConvShape& s, int threads) {
    for (const auto& e : conv_plan_table<T>(pass))
        if (e.algorithm != ConvAlgorithm::direct && e.refusal(s).empty() && e.pays_off(s, threads)) return e.algorithm;
    return ConvAlgorithm::im2col;
}

}  // namespace convlayer
