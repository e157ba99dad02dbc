// ConvLayer<T>: K filters of Fh x Fw x D1, each shared across its output depth slice.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "convlayer/core/aligned_buffer.hpp"
#include "convlayer/core/conv_shape.hpp"
#include "convlayer/core/threading.hpp"
#include "convlayer/kernels/conv_plan.hpp"
#include "convlayer/kernels/tuning.hpp"
#include "convlayer/layers/conv_algorithm.hpp"
#include "convlayer/layers/filter_bank.hpp"
#include "convlayer/layers/layer.hpp"

namespace convlayer {

/// A convolutional layer with parameter sharing.
///
/// Weights are stored OHWI, [K][Fh][Fw][D1]: filter k is contiguous, in the same (y, x, d) order
/// as an input patch, so weights() is the K x (Fh*Fw*D1) row-major matrix with one row per
/// filter, parameters()' {K, Fh, Fw, D1} with the last three flattened. Output extent per axis: (W - F_eff + 2P)/S + 1 (see conv_geometry.hpp).
/// Parameters: Fh*Fw*D1*K weights + K biases. Weights and biases start at zero; set them or use
/// an initialiser.
///
/// Each pass (forward, backward-data, backward-weights) runs one plan of its table in
/// conv_algorithm.hpp, chosen per input shape (set_algorithm() forces one, for every pass or for
/// one; algorithm(pass) says which ran): a 1x1 kernel with stride 1 and no padding reads the input
/// as the patch matrix (gemm1x1); other layers build each block's patches by im2col, read them in
/// place from padded input rows (implicit GEMM) or go through Winograd, where those pay off. The
/// plans' blocks and per-thread buffers live in one workspace the layer owns and reuses
/// (workspace_bytes(), about workspace_budget_bytes() per thread); the weights packed for the
/// GEMM in a buffer of their own (packed_weight_bytes(), set_cache_packed_weights()).
/// Calls run on num_threads() threads (see core/threading.hpp).
template <typename T>
class ConvLayer : public Layer<T> {
public:
    /// Default bound on the im2col workspace: 2 MiB.
    static constexpr index_t kDefaultWorkspaceBudget = kernels::kDefaultWorkspaceBudgetBytes;

    /// Throws std::invalid_argument for a non-positive D1, K, F, S or dilation, or negative P.
    explicit ConvLayer(const ConvParams& params) : params_(validated(params, "ConvLayer")), bank_(params_, 1, {}) {}
    /// D1 -> K with an F x F kernel, stride S, zero-padding P.
    ConvLayer(index_t in_depth, index_t filters, HW kernel, HW stride = 1, HW pad = 0)
        : ConvLayer(ConvParams(in_depth, filters, kernel, stride, pad)) {}

    /// The hyperparameters the layer was built with.
    const ConvParams& params() const { return params_; }

    /// The resolved problem for an input shape (throws std::invalid_argument if it is invalid).
    ConvShape conv_shape(const Shape& input) const { return resolve(params_, input, this->name().c_str()); }
    Shape output_shape(const Shape& input) const override { return conv_shape(input).output(); }

    /// K x (Fh*Fw*D1), row k = filter k in OHWI order. (Non-const access counts as a write:
    /// the packed weights cached by set_cache_packed_weights() are rebuilt.)
    RowMatrixMap<T> weights() {
        bank_.mark_changed();
        return bank_.weights();
    }
    /// The weights, read-only (laid out as weights()).
    ConstRowMatrixMap<T> weights() const { return bank_.weights(); }
    /// The K biases, one per filter.
    VectorMap<T> bias() { return bank_.bias(); }
    /// The K biases, read-only.
    ConstVectorMap<T> bias() const { return bank_.bias(); }
    /// dLoss/dweights of the last backward(), laid out as weights().
    RowMatrixMap<T> weight_gradient() { return bank_.weight_gradient(); }
    /// dLoss/dbias of the last backward().
    VectorMap<T> bias_gradient() { return bank_.bias_gradient(); }
    /// Weight of filter k at kernel tap (ky, kx), input depth d.
    T& weight(index_t k, index_t ky, index_t kx, index_t d) {
        bank_.mark_changed();
        return bank_.weights()(k, (ky * params_.kernel.w + kx) * params_.in_depth + d);
    }

    /// Counts as a write, as Parameter::mark_changed() does after each later write through it.
    std::vector<Parameter<T>> parameters() override {
        bank_.mark_changed();
        return bank_.parameters();
    }
    /// Fh*Fw*D1*K + K.
    index_t parameter_count() const override { return bank_.parameter_count(); }
    std::string name() const override { return "ConvLayer"; }
    std::string describe() const override { return describe_conv(name(), params_); }

    /// Only the input gradient: dx = dLoss/dx for an input of shape `input` (parameter gradients
    /// untouched). For layers whose weights are frozen, and for benchmarks. dx must not overlap
    /// dy in memory (std::invalid_argument).
    void backward_data(const Shape& input, const Volume<T>& dy, Volume<T>& dx) {
        this->check_output_gradient(input, dy);
        this->check_distinct(dx, input.size(), dy, "backward_data", "dx", "dy");
        dx.resize(input);
        prepare(input);
        run_backward_data(dy.data(), dx.data());
    }
    /// Only the parameter gradients (weight_gradient(), bias_gradient()), overwritten. x and dy
    /// must not overlap them in memory (std::invalid_argument).
    void backward_weights(const Volume<T>& x, const Volume<T>& dy) {
        this->check_output_gradient(x.shape(), dy);
        check_apart_from_gradients(x, "backward_weights", "the input x");
        check_apart_from_gradients(dy, "backward_weights", "dy");
        prepare(x.shape());
        run_backward_weights(x.data(), dy.data(), bank_.weight_grad_data(), bank_.bias_grad_data());
    }

    /// Forces algorithm `a` on every pass (ConvAlgorithm::automatic restores the choice). A pass
    /// the forced algorithm cannot run for an input shape (Winograd has no backward-weights;
    /// see conv_algorithm.hpp) throws std::invalid_argument naming the pass and the reason when
    /// that pass is called.
    void set_algorithm(ConvAlgorithm a) {
        for (ConvPass pass : kAllConvPasses) set_algorithm(pass, a);
    }
    /// Forces algorithm `a` on one pass only (the other passes keep their plans).
    void set_algorithm(ConvPass pass, ConvAlgorithm a) {
        requested_[index_of(pass)] = a;
        plans_[index_of(pass)].reset();
        chosen_[index_of(pass)] = ConvAlgorithm::automatic;
    }
    /// The algorithm set for `pass` (ConvAlgorithm::automatic unless set_algorithm() forced one).
    ConvAlgorithm requested_algorithm(ConvPass pass) const { return requested_[index_of(pass)]; }
    /// The algorithm that ran `pass` for the last input shape (ConvAlgorithm::automatic until
    /// that pass has run for it).
    ConvAlgorithm algorithm(ConvPass pass) const { return chosen_[index_of(pass)]; }

    /// With `on`, each pass left automatic times, the first time it runs for a new input shape
    /// (and thread count), every plan of its table that can run it but `direct` (a warm-up call,
    /// then the best of two, on random data; the layer's weights and gradients are not touched)
    /// and keeps the fastest, remembered per shape: coming back to a shape does not time it again.
    /// That first call costs about three calls of the pass per candidate. Off by default: the
    /// rules of the plans decide, which timings can beat on a given machine.
    void set_autotune(bool on) {
        autotune_ = on;
        cached_input_ = Shape{};
    }
    /// Whether set_autotune(true) is in effect.
    bool autotune() const { return autotune_; }
    /// Input shapes (with thread counts) timed so far by set_autotune(true), on any pass.
    index_t autotuned_shapes() const { return tuned_shapes_; }

    /// Forward and backward-data multiply a copy of the weights packed (or Winograd-transformed)
    /// into the GEMM's layout, rebuilt on every call by default, as training changes the weights
    /// between any two calls. For inference and benchmarks, with `on` the copy is built once and
    /// reused, which saves up to a quarter of the time of a small batch on a big layer (as
    /// oneDNN's weights in `any` format, reordered once). It is rebuilt after any write the layer
    /// is told of: weights(), weight() or parameters() called (non-const), Parameter::mark_changed()
    /// (which every optimiser step, initialiser and load_weights() calls), and for a new input
    /// shape or algorithm. Writes through a map or pointer kept from earlier are not seen: call
    /// discard_packed_weights() after them. Costs one copy per pass used instead of one shared.
    void set_cache_packed_weights(bool on) {
        cache_packed_ = on;
        discard_packed_weights();
        if (!on) packed_backward_ = AlignedBuffer<T>();
    }
    /// Whether set_cache_packed_weights(true) is in effect.
    bool cache_packed_weights() const { return cache_packed_; }
    /// Marks the cached packed weights stale; the next call packs them again.
    void discard_packed_weights() { forward_packed_version_ = backward_packed_version_ = kNotPacked; }
    /// Bytes of packed weights held (a copy of the weights per pass with the cache, else one
    /// shared; not part of workspace_bytes()).
    index_t packed_weight_bytes() const {
        return (packed_forward_.capacity() + packed_backward_.capacity()) * static_cast<index_t>(sizeof(T));
    }

    /// Upper bound on the im2col workspace per thread; a block holds at least one patch row (and,
    /// with several threads, ceil(F_eff/S) output rows) regardless. The same bound applies to
    /// Winograd's blocks of transformed tiles (at least one GEMM panel of tiles).
    void set_workspace_budget_bytes(index_t bytes) {
        if (bytes < 1) throw std::invalid_argument(this->name() + ": workspace budget must be positive");
        budget_ = bytes;
        cached_input_ = Shape{};
        tuned_.clear();  // the blocks, and so the timings, depend on the budget
        tuned_shapes_ = 0;
    }
    /// The bound set by set_workspace_budget_bytes().
    index_t workspace_budget_bytes() const { return budget_; }
    /// Bytes of workspace held for the last input shape (all threads; scratch that scales with
    /// the thread count and the budget, not with the weights: see packed_weight_bytes()).
    index_t workspace_bytes() const { return workspace_.size() * static_cast<index_t>(sizeof(T)); }

protected:
    /// `p`, after ConvParams::validate(who) (for the constructors' initialiser lists).
    static const ConvParams& validated(const ConvParams& p, const char* who) {
        p.validate(who);
        return p;
    }

    void do_forward(const Volume<T>& x, Volume<T>& y) override {
        prepare(x.shape());
        kernels::ConvOperands<T> io;
        io.x = x.data();
        io.bias = bank_.bias_data();
        io.y = y.data();
        run_pass(ConvPass::forward, io);
    }
    void do_backward(const Volume<T>& x, const Volume<T>& dy, Volume<T>* dx) override {
        check_apart_from_gradients(x, "backward", "the input x");
        check_apart_from_gradients(dy, "backward", "dy");
        prepare(x.shape());
        run_backward_weights(x.data(), dy.data(), bank_.weight_grad_data(), bank_.bias_grad_data());
        if (dx) run_backward_data(dy.data(), dx->data());
    }

private:
    static constexpr std::size_t index_of(ConvPass pass) { return static_cast<std::size_t>(pass); }

    // Throws std::invalid_argument when `in` overlaps the weight or bias gradients it would be
    // read while they are written.
    void check_apart_from_gradients(const Volume<T>& in, const char* pass, const char* name) {
        const Volume<T> dw = Volume<T>::view(bank_.weight_grad_data(), {1, 1, 1, bank_.weight_gradient().size()});
        const Volume<T> db = Volume<T>::view(bank_.bias_grad_data(), {1, 1, 1, bank_.bias_gradient().size()});
        if (overlaps(dw, in) || overlaps(db, in))
            throw std::invalid_argument(this->name() + "::" + pass + ": " + name +
                                        " overlaps the layer's parameter gradients in memory");
    }

    void run_backward_data(const T* dy, T* dx) {
        kernels::ConvOperands<T> io;
        io.dy = dy;
        io.dx = dx;
        run_pass(ConvPass::backward_data, io);
    }
    void run_backward_weights(const T* x, const T* dy, T* dw, T* db) {
        kernels::ConvOperands<T> io;
        io.x = x;
        io.dy = dy;
        io.dw = dw;
        io.db = db;
        run_pass(ConvPass::backward_weights, io);
    }

    // Runs `pass` through its plan for shape_, with the weights (packed as it multiplies them).
    void run_pass(ConvPass pass, kernels::ConvOperands<T> io) {
        kernels::ConvPlan<T>& plan = plan_for(pass);
        io.weights = bank_.weight_data();
        io.packed = packed_weights(pass, plan);
        plan.run(io, workspace_.data());
    }

    // The weights packed as `plan` multiplies them: packed now, unless the cache holds them
    // (null for a plan that reads them as they are).
    const T* packed_weights(ConvPass pass, const kernels::ConvPlan<T>& plan) {
        if (plan.packed_weight_elements() == 0) return nullptr;
        const bool backward_data = pass == ConvPass::backward_data;
        std::uint64_t& packed_version = backward_data ? backward_packed_version_ : forward_packed_version_;
        AlignedBuffer<T>& packed = cache_packed_ && backward_data ? packed_backward_ : packed_forward_;
        if (cache_packed_ && packed_version == bank_.version()) return packed.data();
        packed.resize(plan.packed_weight_elements());
        plan.pack_weights(bank_.weight_data(), packed.data(), workspace_.data());
        packed_version = cache_packed_ ? bank_.version() : kNotPacked;
        return packed.data();
    }

    // Resolves the geometry and the thread count once per input shape and thread count; the
    // passes' plans are then made as each pass first runs.
    void prepare(const Shape& input) {
        if (input == cached_input_ && requested_threads_ == num_threads()) return;
        requested_threads_ = num_threads();
        shape_ = conv_shape(input);
        threads_ = kernels::threads_for_flops<T>(shape_.flops(), requested_threads_);
        for (ConvPass pass : kAllConvPasses) {
            plans_[index_of(pass)].reset();
            chosen_[index_of(pass)] = ConvAlgorithm::automatic;
        }
        workspace_.resize(0);
        discard_packed_weights();
        cached_input_ = input;
    }

    // The plan of `pass` for shape_, made when first asked for: the forced algorithm (which
    // throws if it cannot run the pass), the autotuned one, or the table's automatic choice.
    kernels::ConvPlan<T>& plan_for(ConvPass pass) {
        const std::size_t i = index_of(pass);
        if (plans_[i]) return *plans_[i];
        const ConvAlgorithm requested = requested_[i];
        ConvAlgorithm a = requested;
        if (requested == ConvAlgorithm::automatic)
            a = autotune_ ? tuned_algorithm(pass) : automatic_algorithm<T>(pass, shape_, threads_);
        else if (const std::string why = algorithm_refusal<T>(requested, pass, shape_); !why.empty())
            throw std::invalid_argument(this->name() + ": ConvAlgorithm::" + to_string(requested) + " cannot run " +
                                        to_string(pass) + " of " + shape_.to_string() + ": " + why);
        make_plan(pass, a);
        return *plans_[i];
    }

    // Makes algorithm a's plan for `pass` and grows the workspace to hold it.
    void make_plan(ConvPass pass, ConvAlgorithm a) {
        const std::size_t i = index_of(pass);
        plans_[i].reset(conv_plan_table<T>(pass).find(a)->make({shape_, threads_, budget_}));
        chosen_[i] = a;
        workspace_.resize(std::max(workspace_.size(), plans_[i]->workspace_elements()));
        if (pass == ConvPass::backward_data) backward_packed_version_ = kNotPacked;
        if (pass == ConvPass::forward) forward_packed_version_ = kNotPacked;
    }

    // The algorithm set_autotune() keeps for `pass` of shape_: remembered, or timed now.
    ConvAlgorithm tuned_algorithm(ConvPass pass) {
        for (const TunedPass& e : tuned_)
            if (e.input == cached_input_ && e.threads == requested_threads_ && e.pass == pass) return e.algorithm;
        const ConvAlgorithm fastest = fastest_algorithm(pass);
        const auto same_shape = [&](const TunedPass& e) {
            return e.input == cached_input_ && e.threads == requested_threads_;
        };
        tuned_shapes_ += std::none_of(tuned_.begin(), tuned_.end(), same_shape);
        tuned_.push_back({cached_input_, requested_threads_, pass, fastest});
        return fastest;
    }

    // Times `pass` with each plan of its table but direct that can run shape_ (a warm-up, then
    // the best of two) into scratch volumes and gradients, and returns the fastest. Releases the
    // buffers the candidates grew, so the layer holds only what the winner needs.
    ConvAlgorithm fastest_algorithm(ConvPass pass) {
        Volume<T> x(shape_.input()), y(shape_.output()), dy(shape_.output()), dx(shape_.input());
        x.fill_random(1);
        dy.fill_random(2);
        AlignedBuffer<T> dw(bank_.weights().size()), db(shape_.k);
        kernels::ConvOperands<T> io;
        io.x = x.data();
        io.bias = bank_.bias_data();
        io.y = y.data();
        io.dy = dy.data();
        io.dx = dx.data();
        io.dw = dw.data();
        io.db = db.data();
        ConvAlgorithm best = automatic_algorithm<T>(pass, shape_, threads_);
        double best_seconds = std::numeric_limits<double>::infinity();
        for (const ConvPlanEntry<T>& e : conv_plan_table<T>(pass)) {
            if (e.algorithm == ConvAlgorithm::direct || !e.refusal(shape_).empty()) continue;
            try {
                make_plan(pass, e.algorithm);
                run_pass(pass, io);
                for (int rep = 0; rep < 2; ++rep) {
                    const auto start = std::chrono::steady_clock::now();
                    run_pass(pass, io);
                    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
                    if (seconds < best_seconds) best_seconds = seconds, best = e.algorithm;
                }
            } catch (const std::length_error&) {
                // Its buffers would pass the memory limit (set_memory_limit_bytes): not a candidate.
            }
        }
        plans_[index_of(pass)].reset();
        workspace_ = AlignedBuffer<T>();
        for (const auto& plan : plans_)  // the other passes' plans made so far
            if (plan) workspace_.resize(std::max(workspace_.size(), plan->workspace_elements()));
        packed_forward_ = AlignedBuffer<T>();
        packed_backward_ = AlignedBuffer<T>();
        discard_packed_weights();
        return best;
    }

    ConvParams params_;
    FilterBank<T> bank_;
    AlignedBuffer<T> workspace_;
    AlignedBuffer<T> packed_forward_;   // packed weights (both passes unless cached)
    AlignedBuffer<T> packed_backward_;  // backward-data's, with set_cache_packed_weights()
    static constexpr std::uint64_t kNotPacked = ~std::uint64_t{0};
    bool cache_packed_ = false;
    std::uint64_t forward_packed_version_ = kNotPacked, backward_packed_version_ = kNotPacked;  // bank_.version() packed
    index_t budget_ = kDefaultWorkspaceBudget;
    std::array<ConvAlgorithm, 3> requested_{ConvAlgorithm::automatic, ConvAlgorithm::automatic,
                                            ConvAlgorithm::automatic};
    std::array<ConvAlgorithm, 3> chosen_{ConvAlgorithm::automatic, ConvAlgorithm::automatic,
                                         ConvAlgorithm::automatic};
    std::array<kernels::ConvPlanSlot<T>, 3> plans_;  // per pass, for shape_; made on first use (not copied)
    bool autotune_ = false;
    struct TunedPass {
        Shape input;
        int threads;
        ConvPass pass;
        ConvAlgorithm algorithm;
    };
    std::vector<TunedPass> tuned_;  // set_autotune's choices
    index_t tuned_shapes_ = 0;      // distinct (input, threads) among them
    Shape cached_input_{};
    ConvShape shape_{};
    int requested_threads_ = 0;
    int threads_ = 1;
};

}  // namespace convlayer
