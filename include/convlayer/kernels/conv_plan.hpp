// The seam between a conv layer and its algorithms: one plan per algorithm and pass.
//
// Each kernel file (im2col_conv.hpp, implicit_gemm_conv.hpp, implicit_gemm_backward_data.hpp,
// winograd.hpp, direct_conv.hpp) ends with a plan type for every pass it runs. A plan type says
// whether it applies to a ConvShape (and why not, as text) and whether the automatic choice
// takes it; an instance,
// made for one shape, thread count and workspace budget, sizes its workspace and its packed
// weights, packs the weights, and runs the pass. The layer holds one chosen plan per pass and
// one workspace it hands to whichever runs; it never looks inside either.
#pragma once

#include <memory>
#include <string>

#include "convlayer/core/conv_shape.hpp"
#include "convlayer/kernels/bias_gradient.hpp"

namespace convlayer {

/// The three computations of a conv layer.
enum class ConvPass {
    forward,           ///< y = conv(x, W) + b
    backward_data,     ///< dx from dy and W
    backward_weights,  ///< dW and db from x and dy
};

/// The three passes, for loops over every pass: forward, backward-data, backward-weights.
inline constexpr ConvPass kAllConvPasses[] = {ConvPass::forward, ConvPass::backward_data, ConvPass::backward_weights};

/// The pass's name in messages and tools: "forward", "backward-data" or "backward-weights".
inline const char* to_string(ConvPass p) {
    switch (p) {
        case ConvPass::forward: return "forward";
        case ConvPass::backward_data: return "backward-data";
        case ConvPass::backward_weights: return "backward-weights";
    }
    return "?";
}

namespace kernels {

/// What a plan is made for.
struct ConvPlanContext {
    /// The problem: batch, extents, channels and the geometry along each axis.
    ConvShape shape;
    int threads = 1;            ///< threads the pass runs on
    index_t budget_bytes = 0;   ///< per-thread bound on blocks of patches or tiles
};

/// The tensors of one pass; each pass reads and writes only its own fields.
template <typename T>
struct ConvOperands {
    const T* x = nullptr;        ///< input: forward, backward-weights
    const T* weights = nullptr;  ///< OHWI: forward, backward-data
    const T* packed = nullptr;   ///< pack_weights()'s output: forward, backward-data
    const T* bias = nullptr;     ///< forward; may be null
    const T* dy = nullptr;       ///< backward passes
    T* y = nullptr;              ///< forward
    T* dx = nullptr;             ///< backward-data
    T* dw = nullptr;             ///< backward-weights (OHWI, overwritten)
    T* db = nullptr;             ///< backward-weights; may be null (overwritten)
};

/// One algorithm's pass, made for one ConvPlanContext.
template <typename T>
class ConvPlan {
public:
    virtual ~ConvPlan() = default;
    /// Values of workspace run() and pack_weights() need.
    virtual index_t workspace_elements() const = 0;
    /// Values of pack_weights()'s output (0: the pass reads the weights as they are).
    virtual index_t packed_weight_elements() const { return 0; }
    /// The OHWI weights w in the layout run() multiplies, into `packed`.
    virtual void pack_weights(const T* /*w*/, T* /*packed*/, T* /*workspace*/) const {}
    /// The pass itself, with the definition's pattern of NaN and Inf (nonfinite.hpp).
    virtual void run(const ConvOperands<T>& io, T* workspace) const = 0;
};

/// A layer's plan for one pass. A copy starts empty: the copied layer makes its own plans when
/// its passes next run (a plan is cheap to make, and the copy may be given other weights).
template <typename T>
class ConvPlanSlot {
public:
    ConvPlanSlot() = default;
    /// Starts empty: the copy does not share or clone the plan.
    ConvPlanSlot(const ConvPlanSlot&) {}
    /// Drops this slot's plan; the copied layer makes a new one when the pass next runs.
    ConvPlanSlot& operator=(const ConvPlanSlot&) {
        plan_.reset();
        return *this;
    }
    /// Takes the other slot's plan.
    ConvPlanSlot(ConvPlanSlot&&) noexcept = default;
    /// Takes the other slot's plan, destroying this slot's.
    ConvPlanSlot& operator=(ConvPlanSlot&&) noexcept = default;
    ~ConvPlanSlot() = default;

    /// True when the slot holds a plan.
    explicit operator bool() const { return plan_ != nullptr; }
    /// The plan; the slot must hold one.
    ConvPlan<T>& operator*() const { return *plan_; }
    /// The plan, or null when the slot is empty.
    ConvPlan<T>* operator->() const { return plan_.get(); }
    /// Replaces the plan with `plan` (none by default), destroying the old one.
    void reset(std::unique_ptr<ConvPlan<T>> plan = nullptr) { plan_ = std::move(plan); }

private:
    std::unique_ptr<ConvPlan<T>> plan_;
};

/// n values rounded up to whole 64-byte cache lines: where a plan starts the next part of its
/// workspace, so that every part is as aligned as the workspace.
template <typename T>
constexpr index_t cache_line_elements(index_t n) {
    constexpr index_t line = 64 / static_cast<index_t>(sizeof(T));
    return (n + line - 1) / line * line;
}

/// The workspace of a backward-weights plan that also sums db: conv_bias_gradient()'s
/// per-thread partial sums first, then, from the next cache line, the kernel's own.
template <typename T>
struct BiasGradientThenKernel {
    index_t bias_elements;  ///< whole cache lines holding conv_bias_gradient()'s scratch
    /// For K filters on `threads` threads.
    BiasGradientThenKernel(index_t k, int threads)
        : bias_elements(cache_line_elements<T>(conv_bias_gradient_scratch_elements(k, threads))) {}
    /// The whole workspace, for a kernel needing `kernel_elements`.
    index_t elements(index_t kernel_elements) const {
        return checked_add(bias_elements, kernel_elements, "backward-weights workspace");
    }
    /// Where the kernel's part starts.
    T* kernel_part(T* workspace) const { return workspace + bias_elements; }
};

/// Makes plan type P for a context.
template <typename P, typename T = typename P::Scalar>
std::unique_ptr<ConvPlan<T>> make_plan(const ConvPlanContext& c) {
    return std::make_unique<P>(c);
}

}  // namespace kernels
}  // namespace convlayer
