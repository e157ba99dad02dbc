// Implicit-GEMM backward-data: dX as stride-1 forward convs over dY, one per stride phase, each
// run by the implicit forward (implicit_gemm_conv.hpp), so there is no patch-gradient matrix and
// no col2im.
//
// Along an axis of stride S and padding P (dilation 1), input i takes tap f from output
// o = (i + P - f) / S where that divides. So the inputs of phase q, i = q + S*u, take exactly the
// taps f = f0 + S*j with f0 = (q + P) mod S, from output o = u + c - j with c = (q + P - f0) / S.
// Numbered from the last of those F_q taps (j' = F_q - 1 - j), that is the stride-1 forward conv
// over dY with F_q taps and padding F_q - 1 - c before: dX_q = conv(dY, W'_q), W'_q the phase's
// taps turned 180 degrees with in/out channels swapped (W'_q[(jy, jx, k), d] = W[k, fy, fx, d]).
// At stride 1 there is one phase with every tap and padding F - 1 - P. Each phase writes every
// S-th row and column of dX through an OutputRows view; a phase no tap reaches (F < S) is zeros.
#pragma once

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "convlayer/core/conv_shape.hpp"
#include "convlayer/core/threading.hpp"
#include "convlayer/kernels/conv_plan.hpp"
#include "convlayer/kernels/implicit_gemm_conv.hpp"
#include "convlayer/kernels/nonfinite.hpp"
#include "convlayer/kernels/packed_gemm.hpp"
#include "convlayer/kernels/tuning.hpp"

namespace convlayer::kernels {

/// One stride phase along an axis of a conv (dilation 1): the inputs first + stride*u, and the
/// stride-1 axis over dY that computes them.
struct AxisPhase {
    index_t first;  ///< q: the phase's first input, in [0, S)
    index_t tap0;   ///< f0 = (q + P) mod S: the smallest original tap that reaches the phase
    index_t stride;  ///< the conv's stride S: the phase's inputs and taps are S apart
    /// The forward axis over dY: in = dY's extent, out = the phase's inputs, kernel = its taps
    /// (0 when none), stride 1, padding F_q - 1 - c before.
    AxisGeometry sub;
    /// The original tap of the sub-kernel's tap j (they run backwards).
    index_t tap(index_t j) const { return tap0 + stride * (sub.kernel - 1 - j); }
};

/// Phase q (< S) of axis `a` (see the file comment).
inline AxisPhase axis_phase(const AxisGeometry& a, index_t q) {
    AxisPhase p{q, (q + a.pad_begin) % a.stride, a.stride, a};
    const index_t taps = p.tap0 < a.kernel ? (a.kernel - p.tap0 + a.stride - 1) / a.stride : 0;
    const index_t c = (q + a.pad_begin - p.tap0) / a.stride;
    AxisGeometry& b = p.sub;
    b.in = a.out;
    b.out = (a.in - q + a.stride - 1) / a.stride;
    b.kernel = taps;
    b.stride = 1;
    b.dilation = 1;
    b.pad_begin = taps - 1 - c;
    b.pad_end = b.out - 1 + taps - b.in - b.pad_begin;  // out = in + P_begin + P_end - F_q + 1
    return p;
}

/// The phases along axis `a` that hold inputs: q in [0, min(S, in)).
inline std::vector<AxisPhase> axis_phases(const AxisGeometry& a) {
    std::vector<AxisPhase> phases;
    for (index_t q = 0; q < std::min(a.stride, a.in); ++q) phases.push_back(axis_phase(a, q));
    return phases;
}

/// One phase of dX: its axes and the forward problem over dY that computes it.
struct BackwardDataPhase {
    AxisPhase y;   ///< the phase along the height
    AxisPhase x;   ///< the phase along the width
    ConvShape sub;   ///< input dY, output the phase's inputs of dX, filters W'_q
    /// False when no tap reaches the phase (F < S): its inputs are zeros.
    bool has_taps() const { return sub.y.kernel > 0 && sub.x.kernel > 0; }
};

/// Every phase of dX of conv `s`, height-major.
inline std::vector<BackwardDataPhase> backward_data_phases(const ConvShape& s) {
    std::vector<BackwardDataPhase> phases;
    for (const AxisPhase& py : axis_phases(s.y))
        for (const AxisPhase& px : axis_phases(s.x)) {
            ConvShape t = s;
            t.d1 = s.k;
            t.k = s.d1;
            t.y = py.sub;
            t.x = px.sub;
            t.fit = FitPolicy::exact;
            phases.push_back({py, px, t});
        }
    return phases;
}

/// Why backward-data of `s` cannot run as the implicit forward over dY ("" when it can): it
/// needs dilation 1, and every phase's padding within [0, F_q - 1] on both sides (at stride 1:
/// 0 <= P <= F - 1), as the implicit forward materialises the padded rows of dY.
inline std::string implicit_gemm_backward_data_refusal(const ConvShape& s) {
    if (s.y.dilation != 1 || s.x.dilation != 1) return "it needs dilation 1 on both axes";
    auto fits = [](const AxisGeometry& b) {
        return b.kernel == 0 || (b.pad_begin >= 0 && b.pad_end >= 0 && b.pad_begin < b.kernel && b.pad_end < b.kernel);
    };
    for (const auto& [axis, name] : {std::pair{s.y, "height"}, std::pair{s.x, "width"}})
        for (const AxisPhase& p : axis_phases(axis)) {
            if (fits(p.sub)) continue;
            if (axis.stride == 1) return std::string("it needs padding at most the kernel size - 1 along the ") + name;
            return std::string("it needs each stride phase's padding of dY within [0, taps - 1]; along the ") + name +
                   ", inputs " + std::to_string(p.first) + " + " + std::to_string(axis.stride) + "i take " +
                   std::to_string(p.sub.kernel) + " of the taps, with padding " + std::to_string(p.sub.pad_begin) +
                   " before and " + std::to_string(p.sub.pad_end) + " after";
        }
    return {};
}

/// Whether backward-data of `s` runs as the implicit forward over dY (see the refusal above).
inline bool implicit_gemm_backward_data_applies(const ConvShape& s) {
    return implicit_gemm_backward_data_refusal(s).empty();
}

/// Whether backward-data through the implicit forward beats im2col's: it applies, dX's depth
/// (the GEMM's columns) fills at least kImplicitBackwardDataMinPanelFill of its NR-column panels,
/// and the implicit forward pays off on the conv (stride 1) or, strided, on every phase's forward,
/// each phase has taps (im2col's col2im writes the zeros of F < S at no extra cost) and its rows
/// fill at least one tile of the tallest height (docs/performance.md has the measurements).
template <typename T>
bool implicit_gemm_backward_data_pays_off(const ConvShape& s) {
    const auto padded = static_cast<double>(detail::round_up(s.d1, GemmTile<T>::NR));
    if (!implicit_gemm_backward_data_applies(s) ||
        static_cast<double>(s.d1) < kImplicitBackwardDataMinPanelFill * padded)
        return false;
    if (s.y.stride == 1 && s.x.stride == 1) return implicit_gemm_pays_off<T>(s);
    for (const BackwardDataPhase& p : backward_data_phases(s))
        if (!p.has_taps() || p.sub.x.out < GemmTile<T>::kMaxMR || !implicit_gemm_pays_off<T>(p.sub)) return false;
    return true;
}

/// Packs W'_q of phase `p` of conv `s` (see the file comment) as implicit_gemm_pack_weights()
/// packs the weights of p.sub: NR panels of input channels d over the whole depth (jy, jx, k),
/// each run of d contiguous in OHWI w.
template <typename T>
void implicit_gemm_pack_backward_data_weights(const ConvShape& s, const BackwardDataPhase& p, const T* w, T* packed) {
    constexpr index_t NR = GemmTile<T>::NR;
    const index_t D = s.d1, Fw = s.x.kernel, L = s.patch_length(), Lt = p.sub.patch_length();
    for (index_t j0 = 0; j0 < D; j0 += NR) {
        const index_t nc = std::min(NR, D - j0);
        T* dst = packed + j0 * Lt;
        for (index_t jy = 0; jy < p.sub.y.kernel; ++jy)
            for (index_t jx = 0; jx < p.sub.x.kernel; ++jx)
                for (index_t k = 0; k < s.k; ++k, dst += NR) {
                    std::copy_n(w + k * L + (p.y.tap(jy) * Fw + p.x.tap(jx)) * D + j0, nc, dst);
                    std::fill(dst + nc, dst + NR, T(0));
                }
    }
}

/// The inputs of phase `p` in dX (N x H x W x D1) as an output view of p.sub's forward.
template <typename T>
OutputRows<T> phase_rows(const ConvShape& s, const BackwardDataPhase& p, T* dx) {
    const index_t D = s.d1, W = s.x.in;
    return {dx + (p.y.first * W + p.x.first) * D, s.y.in * W * D, s.y.stride * W * D, s.x.stride * D};
}

/// ConvAlgorithm::implicit_gemm, backward-data: the implicit forward over dY, phase by phase, each
/// on every thread.
template <typename T>
struct ImplicitGemmBackwardData final : ConvPlan<T> {
    /// The element type (make_plan() reads it).
    using Scalar = T;
    /// A phase, how its forward's output is split into blocks of rows, and where its packed
    /// weights start.
    struct Phase {
        BackwardDataPhase geometry;  ///< the phase and its forward over dY
        ImplicitGemmPlan blocks;     ///< blocks of the phase's rows (about 4 per thread)
        index_t packed_offset;       ///< values of the phases' packed weights before this one's
    };
    /// The problem the plan was made for.
    ConvShape s;
    /// Threads the pass runs on.
    int threads;
    /// Every phase of dX, height-major.
    std::vector<Phase> phases;
    /// Values of every phase's packed weights together.
    index_t packed_elements = 0;

    /// Derives the phases from `c`'s shape and sizes their blocks for `c`'s threads and budget.
    explicit ImplicitGemmBackwardData(const ConvPlanContext& c) : s(c.shape), threads(c.threads) {
        for (const BackwardDataPhase& g : backward_data_phases(s)) {
            const ImplicitGemmPlan blocks =
                g.has_taps() ? ImplicitGemmPlan::make(g.sub, c.budget_bytes / static_cast<index_t>(sizeof(T)),
                                                      threads, kImplicitForwardBlocksPerThread,
                                                      !forward_splits_filters<T>(g.sub, threads))
                             : ImplicitGemmPlan{};
            phases.push_back({g, blocks, packed_elements});
            if (g.has_taps())
                packed_elements =
                    checked_add(packed_elements, implicit_gemm_packed_weight_elements<T>(g.sub), "packed weights");
        }
    }
    /// Empty when implicit_gemm_backward_data_applies(), else why not.
    static std::string refusal(const ConvShape& s) { return implicit_gemm_backward_data_refusal(s); }
    /// implicit_gemm_backward_data_pays_off().
    static bool pays_off(const ConvShape& s, int) { return implicit_gemm_backward_data_pays_off<T>(s); }
    index_t workspace_elements() const override {
        index_t most = 0;
        for (const Phase& p : phases)
            if (p.geometry.has_taps())
                most = std::max(most, implicit_gemm_workspace_elements<T>(p.geometry.sub, p.blocks, threads,
                                                                          ConvPass::forward, false));
        return most;
    }
    index_t packed_weight_elements() const override { return packed_elements; }
    void pack_weights(const T* w, T* packed, T*) const override {
        for (const Phase& p : phases)
            if (p.geometry.has_taps())
                implicit_gemm_pack_backward_data_weights(s, p.geometry, w, packed + p.packed_offset);
    }
    /// Needs io.packed from pack_weights().
    void run(const ConvOperands<T>& io, T* workspace) const override {
        for (const Phase& p : phases) {
            const BackwardDataPhase& g = p.geometry;
            const OutputRows<T> rows = phase_rows(s, g, io.dx);
            if (!g.has_taps()) {
                zero_phase(g, rows);
                continue;
            }
            implicit_gemm_conv_forward_into(g.sub, io.dy, static_cast<const T*>(nullptr), rows, workspace, p.blocks,
                                            threads, io.packed + p.packed_offset,
                                            [&](index_t n, index_t u0, index_t u1) {
                                                repair_backward_data_border(s, io.dy, io.weights, io.dx, n, u0, u1,
                                                                            g.y.first, g.x.first);
                                            });
        }
    }

private:
    // The inputs of a phase no tap reaches: zeros, as the definition gives them (a row at a time
    // on every thread: at a 1x1 kernel's stride 2 they are 3/4 of dX).
    void zero_phase(const BackwardDataPhase& g, const OutputRows<T>& rows) const {
        const index_t per_image = g.sub.y.out;
        parallel_for(s.n * per_image, threads, [&](index_t r, int) {
            T* row = rows.row(r / per_image, r % per_image);
            for (index_t v = 0; v < g.sub.x.out; ++v) std::fill_n(row + v * rows.pixel, s.d1, T(0));
        });
    }
};

}  // namespace convlayer::kernels
