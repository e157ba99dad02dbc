// ConvLayer<T>: K filters of Fh x Fw x D1, each shared across its output depth slice.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "convlayer/core/aligned_buffer.hpp"
#include "convlayer/core/conv_shape.hpp"
#include "convlayer/core/threading.hpp"
#include "convlayer/kernels/bias_gradient.hpp"
#include "convlayer/kernels/direct_conv.hpp"
#include "convlayer/kernels/im2col_conv.hpp"
#include "convlayer/kernels/nonfinite.hpp"
#include "convlayer/layers/conv_algorithm.hpp"
#include "convlayer/layers/filter_bank.hpp"
#include "convlayer/layers/layer.hpp"

namespace convlayer {

/// A convolutional layer with parameter sharing.
///
/// Weights are stored OHWI, [K][Fh][Fw][D1]: filter k is contiguous, in the same (y, x, d) order
/// as an input patch, so weights() is the (Fh*Fw*D1) x K column-major matrix with one column per
/// filter. Output extent per axis: (W - F_eff + 2P)/S + 1 (see conv_geometry.hpp).
/// Parameters: Fh*Fw*D1*K weights + K biases. Weights and biases start at zero; set them or use
/// an initialiser.
///
/// The algorithm is chosen per input shape (set_algorithm() forces one, see conv_algorithm.hpp):
/// everything runs a packed GEMM per block of output positions; a 1x1 kernel with stride 1 and no
/// padding reads the input as the patch matrix (gemm1x1), other layers build each block's patches
/// by im2col, or read them in place from padded input rows (implicit GEMM: the forward pass where
/// it pays off, with backward-data as a forward conv over dY at stride 1 where the input depth
/// fills the GEMM's panels; backward-weights wherever it applies), or go through Winograd. Patch
/// blocks and per-thread buffers live in a workspace the layer owns and reuses
/// (workspace_bytes(), about workspace_budget_bytes() per thread); the weights packed for the
/// GEMM in a buffer of their own (packed_weight_bytes(), set_cache_packed_weights()).
/// Calls run on num_threads() threads (see core/threading.hpp).
template <typename T>
class ConvLayer : public Layer<T> {
public:
    /// Default bound on the im2col workspace: 2 MiB.
    static constexpr index_t kDefaultWorkspaceBudget = index_t{2} << 20;

    /// Throws std::invalid_argument for a non-positive D1, K, F, S or dilation, or negative P.
    explicit ConvLayer(const ConvParams& params) : params_(validated(params, "ConvLayer")), bank_(params_, 1, {}) {}
    /// D1 -> K with an F x F kernel, stride S, zero-padding P.
    ConvLayer(index_t in_depth, index_t filters, HW kernel, HW stride = 1, HW pad = 0)
        : ConvLayer(ConvParams(in_depth, filters, kernel, stride, pad)) {}

    const ConvParams& params() const { return params_; }

    /// The resolved problem for an input shape (throws std::invalid_argument if it is invalid).
    ConvShape conv_shape(const Shape& input) const { return resolve(params_, input, this->name().c_str()); }
    Shape output_shape(const Shape& input) const override { return conv_shape(input).output(); }

    /// (Fh*Fw*D1) x K, column k = filter k in OHWI order. (Non-const access counts as a write:
    /// the packed weights cached by set_cache_packed_weights() are rebuilt.)
    MatrixMap<T> weights() {
        bank_.mark_changed();
        return bank_.weights();
    }
    ConstMatrixMap<T> weights() const { return bank_.weights(); }
    VectorMap<T> bias() { return bank_.bias(); }
    ConstVectorMap<T> bias() const { return bank_.bias(); }
    MatrixMap<T> weight_gradient() { return bank_.weight_gradient(); }
    VectorMap<T> bias_gradient() { return bank_.bias_gradient(); }
    /// Weight of filter k at kernel tap (ky, kx), input depth d.
    T& weight(index_t k, index_t ky, index_t kx, index_t d) {
        bank_.mark_changed();
        return bank_.weights()((ky * params_.kernel.w + kx) * params_.in_depth + d, k);
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
        run_backward(nullptr, dy.data(), dx.data(), nullptr, nullptr);
    }
    /// Only the parameter gradients (weight_gradient(), bias_gradient()), overwritten. x and dy
    /// must not overlap them in memory (std::invalid_argument).
    void backward_weights(const Volume<T>& x, const Volume<T>& dy) {
        this->check_output_gradient(x.shape(), dy);
        check_apart_from_gradients(x, "backward_weights", "the input x");
        check_apart_from_gradients(dy, "backward_weights", "dy");
        prepare(x.shape());
        run_backward(x.data(), dy.data(), nullptr, bank_.weight_grad_data(), bank_.bias_grad_data());
    }

    /// Forces an algorithm (ConvAlgorithm::automatic restores the choice). A forced algorithm
    /// that cannot run an input shape makes forward/backward throw std::invalid_argument.
    void set_algorithm(ConvAlgorithm a) {
        requested_ = a;
        cached_input_ = Shape{};
    }
    ConvAlgorithm requested_algorithm() const { return requested_; }
    /// The algorithm that ran for the last input shape.
    ConvAlgorithm algorithm() const { return algorithm_; }

    /// With `on` and the algorithm left automatic, the first call with a new input shape (and
    /// thread count) times forward plus backward (dX, dW, db) of every algorithm that can run it
    /// but `direct` (a warm-up call, then the best of two, on random data; the layer's weights and
    /// gradients are not touched) and keeps the fastest, remembered per shape: coming back to a
    /// shape does not time it again. That first call costs about seven training steps per
    /// candidate. Off by default: the heuristic of select_algorithm() decides, from measurements on
    /// an AVX-512 machine, which a different machine may not match.
    void set_autotune(bool on) {
        autotune_ = on;
        cached_input_ = Shape{};
    }
    bool autotune() const { return autotune_; }
    /// Input shapes (with thread counts) timed so far by set_autotune(true).
    index_t autotuned_shapes() const { return static_cast<index_t>(tuned_.size()); }

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
    }
    index_t workspace_budget_bytes() const { return budget_; }
    /// Bytes of workspace held for the last input shape (all threads; scratch that scales with
    /// the thread count and the budget, not with the weights: see packed_weight_bytes()).
    index_t workspace_bytes() const { return workspace_.size() * static_cast<index_t>(sizeof(T)); }

protected:
    static const ConvParams& validated(const ConvParams& p, const char* who) {
        p.validate(who);
        return p;
    }

    void do_forward(const Volume<T>& x, Volume<T>& y) override {
        prepare(x.shape());
        forward_prepared(x, y);
    }
    void do_backward(const Volume<T>& x, const Volume<T>& dy, Volume<T>* dx) override {
        check_apart_from_gradients(x, "backward", "the input x");
        check_apart_from_gradients(dy, "backward", "dy");
        prepare(x.shape());
        run_backward(x.data(), dy.data(), dx ? dx->data() : nullptr, bank_.weight_grad_data(), bank_.bias_grad_data());
    }

private:
    // Throws std::invalid_argument when `in` overlaps the weight or bias gradients it would be
    // read while they are written.
    void check_apart_from_gradients(const Volume<T>& in, const char* pass, const char* name) {
        const Volume<T> dw = Volume<T>::view(bank_.weight_grad_data(), {1, 1, 1, bank_.weight_gradient().size()});
        const Volume<T> db = Volume<T>::view(bank_.bias_grad_data(), {1, 1, 1, bank_.bias_gradient().size()});
        if (overlaps(dw, in) || overlaps(db, in))
            throw std::invalid_argument(this->name() + "::" + pass + ": " + name +
                                        " overlaps the layer's parameter gradients in memory");
    }

    void forward_prepared(const Volume<T>& x, Volume<T>& y) {
        const SerialEigenGemm serial_eigen;
        const T* w = bank_.weight_data();
        const T* b = bank_.bias_data();
        const T* packed = packed_weights(false);
        if (algorithm_ == ConvAlgorithm::direct)
            kernels::direct_conv_forward(shape_, x.data(), w, b, y.data());
        else if (algorithm_ == ConvAlgorithm::winograd)
            run_winograd(false, x.data(), y.data(), packed);
        else if (algorithm_ == ConvAlgorithm::implicit_gemm)
            kernels::implicit_gemm_conv_forward(shape_, x.data(), w, b, y.data(), workspace_.data() + implicit_offset_,
                                                implicit_plan_, threads_, packed);
        else
            kernels::im2col_conv_forward(shape_, x.data(), w, b, y.data(), workspace_.data(), forward_block_rows_, threads_,
                                         algorithm_ == ConvAlgorithm::gemm1x1, packed);
        if (algorithm_ == ConvAlgorithm::im2col || algorithm_ == ConvAlgorithm::implicit_gemm)
            kernels::repair_forward_border(shape_, x.data(), w, b, y.data());
    }

    // Any of x (needed only for dw), dx, dw, db may be null.
    void run_backward(const T* x, const T* dy, T* dx, T* dw, T* db) {
        const SerialEigenGemm serial_eigen;
        const T* w = bank_.weight_data();
        if (algorithm_ == ConvAlgorithm::direct) {
            if (dx) kernels::direct_conv_backward_data(shape_, dy, w, dx);
            if (dw) kernels::direct_conv_backward_weights(shape_, x, dy, dw, db);
            return;
        }
        run_fast_backward(x, dy, dx, dw, db);
        // The padding's products are zeros unless dY is not finite, which db shows.
        if (dw && (db ? kernels::any_nonfinite(db, shape_.k) : kernels::any_nonfinite(dy, shape_.output().size())))
            kernels::repair_weight_gradient(shape_, x, dy, dw);
    }

    // run_backward() through the algorithm's kernels (not direct).
    void run_fast_backward(const T* x, const T* dy, T* dx, T* dw, T* db) {
        const T* w = bank_.weight_data();
        const T* packed = dx ? packed_weights(true) : nullptr;
        if (dw && implicit_dw_) {  // patches packed straight from the input: no im2col matrix; db alongside
            kernels::implicit_gemm_conv_backward_weights(shape_, x, dy, dw, workspace_.data() + implicit_offset_,
                                                         implicit_dw_plan_, threads_, db, bias_partials_.data());
            dw = db = nullptr;
        }
        if (db) {
            kernels::conv_bias_gradient(dy, shape_.output_positions(), shape_.k, db, bias_partials_.data(), threads_);
            db = nullptr;
        }
        if (dx && algorithm_ == ConvAlgorithm::winograd) {
            run_winograd(true, dy, dx, packed);
            dx = nullptr;
        }
        if (dx && implicit_dx_) {  // a forward conv over dY (stride 1)
            kernels::implicit_gemm_conv_backward_data(shape_, dy, w, dx, workspace_.data() + implicit_offset_,
                                                      implicit_dx_plan_, threads_, packed);
            kernels::repair_backward_data_border(shape_, dy, w, dx);
            dx = nullptr;
        }
        // The rest (dW or dX where no path above took them) through im2col.
        kernels::im2col_conv_backward(shape_, x, dy, w, dx, dw, db, workspace_.data(), block_rows_, threads_,
                                      algorithm_ == ConvAlgorithm::gemm1x1, packed, forward_block_rows_);
    }

    // Forward (y = conv(x)) or backward-data (dx = conv(dy, flipped W)) through Winograd, with
    // the filters transformed by packed_weights().
    void run_winograd(bool backward_data, const T* in, T* out, const T* transformed) {
        const auto p = backward_data ? kernels::WinogradProblem::backward_data(shape_)
                                     : kernels::WinogradProblem::forward(shape_);
        const index_t tiles = backward_data ? winograd_block_tiles_bwd_ : winograd_block_tiles_fwd_;
        T* per_thread = workspace_.data() + im2col_elements_ + threads_ * kernels::winograd_filter_scratch_elements(shape_.d1);
        const T* w = bank_.weight_data();
        const T* b = backward_data ? nullptr : bank_.bias_data();
        // A tile with a NaN or Inf is recomputed by the definition (see kernels/nonfinite.hpp).
        auto repair = [&](index_t n, index_t oy0, index_t ox0, index_t rows, index_t cols) {
            const index_t depth = backward_data ? shape_.d1 : shape_.k;
            for (index_t i = 0; i < rows; ++i)
                for (index_t q = 0; q < cols; ++q) {
                    T* at = out + ((n * p.out_h + oy0 + i) * p.out_w + ox0 + q) * depth;
                    if (backward_data) kernels::direct_conv_backward_data_at(shape_, in, w, n, oy0 + i, ox0 + q, at);
                    else kernels::direct_conv_forward_at(shape_, in, w, b, n, oy0 + i, ox0 + q, at);
                }
        };
        kernels::winograd_conv(p, in, transformed, b, out, per_thread, tiles, threads_, repair);
    }

    // The weights packed for the forward pass (or backward-data) as the current algorithm
    // multiplies them: packed now, unless the cache holds them (null for direct).
    const T* packed_weights(bool backward_data) {
        if (algorithm_ == ConvAlgorithm::direct) return nullptr;
        std::uint64_t& packed_version = backward_data ? backward_packed_version_ : forward_packed_version_;
        AlignedBuffer<T>& packed = cache_packed_ && backward_data ? packed_backward_ : packed_forward_;
        if (cache_packed_ && packed_version == bank_.version()) return packed.data();
        const T* w = bank_.weight_data();
        if (algorithm_ == ConvAlgorithm::winograd) {
            const auto p = backward_data ? kernels::WinogradProblem::backward_data(shape_)
                                         : kernels::WinogradProblem::forward(shape_);
            packed.resize(kernels::winograd_filter_elements<T>(p.c_in, p.c_out));
            kernels::winograd_transform_filters(w, shape_.k, shape_.d1, backward_data, workspace_.data() + im2col_elements_,
                                                packed.data(), threads_);
        } else if (algorithm_ == ConvAlgorithm::implicit_gemm && !backward_data) {
            packed.resize(kernels::implicit_gemm_packed_weight_elements<T>(shape_));
            kernels::implicit_gemm_pack_weights(shape_, w, packed.data());
        } else if (backward_data && implicit_dx_) {
            packed.resize(kernels::implicit_gemm_packed_weight_elements<T>(kernels::implicit_gemm_backward_data_shape(shape_)));
            kernels::implicit_gemm_pack_backward_data_weights(shape_, w, packed.data());
        } else {
            packed.resize(kernels::packed_weight_elements<T>(shape_));
            if (backward_data) kernels::im2col_pack_backward_data_weights(shape_, w, packed.data(), threads_);
            else kernels::im2col_pack_forward_weights(shape_, w, packed.data(), threads_);
        }
        packed_version = cache_packed_ ? bank_.version() : kNotPacked;
        return packed.data();
    }

    // Resolves geometry and algorithm and sizes the workspace once per input shape and thread
    // count.
    void prepare(const Shape& input) {
        if (input == cached_input_ && requested_threads_ == num_threads()) return;
        requested_threads_ = num_threads();
        shape_ = conv_shape(input);
        // Below ~0.25 MFLOP (a few microseconds) per thread, forking costs more than it saves.
        threads_ = shape_.flops() < 2.5e5 * requested_threads_ ? 1 : requested_threads_;
        cached_input_ = Shape{};  // until configured: a throw leaves the layer unprepared
        if (autotune_ && requested_ == ConvAlgorithm::automatic) {
            const auto tuned = std::find_if(tuned_.begin(), tuned_.end(), [&](const TunedShape& e) {
                return e.input == input && e.threads == requested_threads_;
            });
            if (tuned != tuned_.end()) {
                configure(tuned->algorithm);
            } else {
                const ConvAlgorithm fastest = fastest_algorithm();
                tuned_.push_back({input, requested_threads_, fastest});
                configure(fastest);
            }
        } else {
            configure(select_algorithm(requested_, shape_));
        }
        cached_input_ = input;
    }

    // Times forward + backward of each algorithm but direct that can run shape_ (a warm-up, then
    // the best of two) into scratch volumes and gradients, and returns the fastest. Releases the
    // buffers the candidates grew, so the layer holds only what the winner needs.
    ConvAlgorithm fastest_algorithm() {
        Volume<T> x(shape_.input()), y(shape_.output()), dy(shape_.output()), dx(shape_.input());
        x.fill_random(1);
        dy.fill_random(2);
        AlignedBuffer<T> dw(bank_.weights().size()), db(shape_.k);
        ConvAlgorithm best = select_algorithm(ConvAlgorithm::automatic, shape_);
        double best_seconds = std::numeric_limits<double>::infinity();
        for (ConvAlgorithm a :
             {ConvAlgorithm::gemm1x1, ConvAlgorithm::winograd, ConvAlgorithm::implicit_gemm, ConvAlgorithm::im2col}) {
            if (!algorithm_applies(a, shape_)) continue;
            try {
                configure(a);
                auto step = [&] {
                    forward_prepared(x, y);
                    run_backward(x.data(), dy.data(), dx.data(), dw.data(), db.data());
                };
                step();
                for (int rep = 0; rep < 2; ++rep) {
                    const auto start = std::chrono::steady_clock::now();
                    step();
                    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
                    if (seconds < best_seconds) best_seconds = seconds, best = a;
                }
            } catch (const std::length_error&) {
                // Its buffers would pass the memory limit (set_memory_limit_bytes): not a candidate.
            }
        }
        workspace_ = AlignedBuffer<T>();
        packed_forward_ = AlignedBuffer<T>();
        packed_backward_ = AlignedBuffer<T>();
        return best;
    }

    // Sizes the workspace for algorithm `a` on shape_ and threads_.
    void configure(ConvAlgorithm a) {
        algorithm_ = a;
        index_t elements = 0;
        if (algorithm_ != ConvAlgorithm::direct) {
            block_rows_ = kernels::im2col_block_rows(shape_, budget_, sizeof(T), threads_);
            forward_block_rows_ = kernels::im2col_forward_block_rows<T>(shape_, budget_, threads_);
            elements = kernels::im2col_workspace_elements<T>(shape_, std::max(block_rows_, forward_block_rows_), threads_,
                                                             algorithm_ == ConvAlgorithm::gemm1x1, false);
        }
        im2col_elements_ = elements;
        if (algorithm_ == ConvAlgorithm::winograd) {
            // After the im2col part (used for db): the filter transform's scratch, then the
            // per-thread blocks of whichever pass needs more.
            const auto fwd = kernels::WinogradProblem::forward(shape_);
            const auto bwd = kernels::WinogradProblem::backward_data(shape_);
            winograd_block_tiles_fwd_ = kernels::winograd_block_tiles<T>(fwd, budget_);
            winograd_block_tiles_bwd_ = kernels::winograd_block_tiles<T>(bwd, budget_);
            const index_t per_thread =
                std::max(kernels::winograd_thread_elements<T>(fwd, winograd_block_tiles_fwd_),
                         kernels::winograd_thread_elements<T>(bwd, winograd_block_tiles_bwd_));
            elements = checked_add(elements,
                                   checked_add(threads_ * kernels::winograd_filter_scratch_elements(shape_.d1),
                                               checked_mul(per_thread, threads_, "workspace"), "workspace"),
                                   "workspace");
        }
        // Backward-weights reads patches in place wherever it can (it measured 1.0-1.9x im2col's
        // speed on the benchmark suite).
        // (gemm1x1 reads x in place already.)
        implicit_dw_ = algorithm_ != ConvAlgorithm::direct && algorithm_ != ConvAlgorithm::gemm1x1 &&
                       kernels::implicit_gemm_dw_applies<T>(shape_, threads_);
        implicit_offset_ = elements;
        const index_t budget_elements = budget_ / static_cast<index_t>(sizeof(T));
        index_t implicit_elements = 0;
        if (algorithm_ == ConvAlgorithm::implicit_gemm) {
            implicit_plan_ = kernels::ImplicitGemmPlan::make(shape_, budget_elements, threads_, 4,
                                                             !kernels::forward_splits_filters<T>(shape_, threads_));
            implicit_elements = kernels::implicit_gemm_workspace_elements<T>(shape_, implicit_plan_, threads_, false);
        }
        // Backward-data as a forward conv over dY, where the implicit forward runs and that pays off.
        implicit_dx_ = algorithm_ == ConvAlgorithm::implicit_gemm && kernels::implicit_gemm_backward_data_pays_off<T>(shape_);
        if (implicit_dx_) {
            const ConvShape turned = kernels::implicit_gemm_backward_data_shape(shape_);
            implicit_dx_plan_ = kernels::ImplicitGemmPlan::make(turned, budget_elements, threads_, 4,
                                                                !kernels::forward_splits_filters<T>(turned, threads_));
            implicit_elements = std::max(
                implicit_elements, kernels::implicit_gemm_workspace_elements<T>(turned, implicit_dx_plan_, threads_, false));
        }
        if (implicit_dw_) {
            const bool split = kernels::implicit_gemm_dw_splits_taps<T>(shape_, threads_);
            implicit_dw_plan_ = kernels::ImplicitGemmPlan::make(shape_, budget_elements, split ? 1 : threads_, 1);
            implicit_elements = std::max(
                implicit_elements, kernels::implicit_gemm_workspace_elements<T>(shape_, implicit_dw_plan_, threads_, false));
        }
        elements = checked_add(elements, implicit_elements, "workspace");  // last
        workspace_.resize(elements);
        bias_partials_.resize(kernels::conv_bias_gradient_scratch_elements(shape_.k, threads_));
        discard_packed_weights();  // the layout depends on the algorithm
    }

    ConvParams params_;
    FilterBank<T> bank_;
    AlignedBuffer<T> workspace_;
    AlignedBuffer<T> packed_forward_;   // packed weights (both passes unless cached)
    AlignedBuffer<T> packed_backward_;  // backward-data's, with set_cache_packed_weights()
    AlignedBuffer<T> bias_partials_;    // per-thread partial sums of db
    static constexpr std::uint64_t kNotPacked = ~std::uint64_t{0};
    bool cache_packed_ = false;
    std::uint64_t forward_packed_version_ = kNotPacked, backward_packed_version_ = kNotPacked;  // bank_.version() packed
    index_t budget_ = kDefaultWorkspaceBudget;
    ConvAlgorithm requested_ = ConvAlgorithm::automatic;
    ConvAlgorithm algorithm_ = ConvAlgorithm::automatic;
    bool autotune_ = false;
    struct TunedShape {
        Shape input;
        int threads;
        ConvAlgorithm algorithm;
    };
    std::vector<TunedShape> tuned_;  // set_autotune's choices
    Shape cached_input_{};
    ConvShape shape_{};
    index_t block_rows_ = 1;          // backward-data in two colours
    index_t forward_block_rows_ = 1;  // blocks that need no colouring
    index_t im2col_elements_ = 0;
    index_t winograd_block_tiles_fwd_ = 0, winograd_block_tiles_bwd_ = 0;
    kernels::ImplicitGemmPlan implicit_plan_{}, implicit_dw_plan_{}, implicit_dx_plan_{};
    bool implicit_dw_ = false;     // backward-weights through the implicit GEMM
    bool implicit_dx_ = false;     // backward-data through the implicit forward
    index_t implicit_offset_ = 0;  // of its part of the workspace
    int requested_threads_ = 0;
    int threads_ = 1;
};

}  // namespace convlayer
