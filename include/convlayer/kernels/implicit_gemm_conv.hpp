// Implicit-GEMM convolution: the GEMM micro-kernel reads the patches straight from a
// zero-padded copy of the input rows, so no im2col matrix is built. Forward, and backward-weights
// with patch panels packed from the rows (backward-data, a forward over dY per stride phase, is in
// implicit_gemm_backward_data.hpp).
//
// In NHWC, output (oy, ox)'s taps for one kernel row ky are F_w * D1 contiguous values of the
// padded input row oy*S_y + ky*dil_y, starting at column ox*S_x (dilation 1 along x). So the
// patch matrix of one output row is a row-major matrix with leading dimension S_x * D1 whose
// depth runs in F_h segments of F_w * D1 values, segment ky starting dil_y padded rows later.
// A tile is MR (best_tile_rows(): 14, 12 or 8) output columns of one row; the last tile of a row
// reads on past the row's end (into the next padded row, or zeroed slack) and drops those rows.
// That pays off when patches are short and im2col's copy costs as much as the arithmetic (small
// D1, e.g. a first layer on a gray or RGB image), and wherever the tiles fit the row.
#pragma once

#include <algorithm>
#include <string>
#include <utility>

#include "convlayer/core/conv_shape.hpp"
#include "convlayer/core/eigen_types.hpp"
#include "convlayer/core/threading.hpp"
#include "convlayer/kernels/conv_plan.hpp"
#include "convlayer/kernels/schedule.hpp"
#include "convlayer/kernels/nonfinite.hpp"
#include "convlayer/kernels/packed_gemm.hpp"
#include "convlayer/kernels/tuning.hpp"

namespace convlayer::kernels {

/// Whether the implicit GEMM runs problem `s`: dilation 1 along the width, and padding no wider
/// than the kernel along it (the padded rows are materialised; a huge pad-to-fit padding, as a
/// huge stride brings, would make them huge).
inline bool implicit_gemm_applies(const ConvShape& s) {
    return s.x.dilation == 1 && s.x.pad_begin <= s.x.kernel && s.x.pad_end <= s.x.kernel;
}

/// Where a forward writes output position (n, oy, ox): its K values from
/// base + n*image + oy*row_pitch + ox*pixel on. dense() is the NHWC output itself; backward-data
/// by stride phases writes every S-th position of dX.
template <typename T>
struct OutputRows {
    T* base;            ///< position (0, 0, 0)
    index_t image;      ///< values from one image to the next
    index_t row_pitch;  ///< values from one output row to the next
    index_t pixel;      ///< values from one output column to the next (at least K)
    /// The NHWC output y of `s`.
    static OutputRows dense(const ConvShape& s, T* y) {
        return {y, s.y.out * s.x.out * s.k, s.x.out * s.k, s.k};
    }
    /// Output row oy of image n.
    T* row(index_t n, index_t oy) const { return base + n * image + oy * row_pitch; }
};

/// How the output is split: blocks of output rows of one image, each with its padded input rows
/// within `budget_elements`, and enough blocks (about 4 per thread) to keep the threads busy.
struct ImplicitGemmPlan {
    /// Output rows per block (a block lies in one image).
    index_t rows_per_block;  // output rows per block
    /// Columns of a padded input row: (W2 - 1)*Sw + Fw.
    index_t padded_width;    // columns of a padded input row
    /// Padded input rows a block reads: (rows_per_block - 1)*Sh + (Fh - 1)*dil_h + 1.
    index_t block_input_rows;

    /// `blocks_per_thread`: 4 balances the forward's independent blocks; backward-weights wants
    /// long blocks (its GEMM's depth) and asks for 1. `balance_rows` (forward with more than one
    /// block per thread) shortens blocks until the threads' shares of rows are even; a forward
    /// whose threads split the filters (forward_splits_filters()) runs every block on every
    /// thread and gains nothing from it but more padded rows to fill.
    static ImplicitGemmPlan make(const ConvShape& s, index_t budget_elements, int threads,
                                 index_t blocks_per_thread = kImplicitForwardBlocksPerThread,
                                 bool balance_rows = true) {
        ImplicitGemmPlan p{};
        p.padded_width = checked_add(checked_mul(s.x.out - 1, s.x.stride), s.x.kernel, "implicit GEMM row");
        const index_t row = checked_mul(p.padded_width, s.d1, "implicit GEMM row");
        // r output rows need (r - 1)*S_y + (F_h - 1)*dil_y + 1 padded input rows.
        const index_t fixed = (s.y.kernel - 1) * s.y.dilation + 1;
        const index_t by_budget = (budget_elements / std::max<index_t>(row, 1) - fixed) / s.y.stride + 1;
        const index_t parts = blocks_per_thread * threads;
        const index_t by_threads = (s.n * s.y.out + parts - 1) / parts;
        p.rows_per_block = std::clamp<index_t>(std::min(by_budget, by_threads), 1, s.y.out);
        // Threads take contiguous runs of blocks (parallel_for's static schedule), so the busiest
        // takes ceil(blocks / threads) of them: the tallest blocks that keep that load least. 28
        // rows on 2 threads in 7 blocks of 4 are 16 rows against 12; 14 blocks of 2, 14 each.
        auto busiest = [&](index_t rows) {
            const index_t blocks = s.n * ((s.y.out + rows - 1) / rows);
            return (blocks + threads - 1) / threads * rows;
        };
        const bool balance = balance_rows && threads > 1 && blocks_per_thread > 1;
        for (index_t rows = p.rows_per_block - 1; balance && rows >= 1; --rows)
            if (busiest(rows) < busiest(p.rows_per_block)) p.rows_per_block = rows;
        p.block_input_rows = (p.rows_per_block - 1) * s.y.stride + fixed;
        return p;
    }
    /// Blocks per image of `s`: H2 / rows_per_block, rounded up.
    index_t blocks_per_image(const ConvShape& s) const { return (s.y.out + rows_per_block - 1) / rows_per_block; }
};

/// Positions (the GEMM's depth) backward-weights packs into one patch panel at a time: the patch
/// panel and the edge panel of dY share L1d as the GEMM's B and A panels do (Tuning::gemm_depth).
template <typename T>
index_t implicit_dw_depth() {
    return tuning<T>().gemm_depth;
}
/// Slack after the padded rows and after the patch panel for whole-packet copies (see
/// detail::pack_patch_panel): one packet.
template <typename T>
inline constexpr index_t kPackSlack = GemmTile<T>::kLanes;

/// Values of implicit_gemm_pack_weights()'s output.
template <typename T>
index_t implicit_gemm_packed_weight_elements(const ConvShape& s) {
    constexpr int NR = GemmTile<T>::NR;
    return checked_mul(s.patch_length(), detail::round_up(s.k, NR), "implicit GEMM packed weights");
}

/// Whether backward-weights runs with the patch's taps as the GEMM's rows (dW as taps x filters,
/// A read in place from the padded rows through one pointer per tap): for an input of at most
/// kImplicitGemmFewChannels channels, whose patch panels would be gathered in runs so short that
/// packing them costs as much as the arithmetic on them; where a dW within kPrivateDwBytes lets
/// every thread keep its own and an output row fits one chunk of positions (implicit_dw_depth()).
template <typename T>
bool implicit_gemm_dw_by_taps(const ConvShape& s) {
    return s.d1 <= kImplicitGemmFewChannels && s.x.out <= implicit_dw_depth<T>() &&
           s.patch_length() * s.k * static_cast<index_t>(sizeof(T)) <= kPrivateDwBytes;
}

/// How backward-weights spreads over threads: each thread takes its own blocks of positions into
/// a private dW accumulator, summed at the end, when dW is small (private_dw()); otherwise
/// each thread takes a range of patch columns (NR panels of taps: disjoint columns of dW) over
/// every position, when there are at least kSplitDwMinPanelsPerThread panels per thread.
template <typename T>
bool implicit_gemm_dw_splits_taps(const ConvShape& s, int threads) {
    const index_t panels = (s.patch_length() + GemmTile<T>::NR - 1) / GemmTile<T>::NR;
    const auto t = static_cast<index_t>(threads);
    return threads > 1 && !implicit_gemm_dw_by_taps<T>(s) && !private_dw<T>(s, threads) &&
           panels >= kSplitDwMinPanelsPerThread * t;
}

/// Whether backward-weights runs as an implicit GEMM on `threads` threads: where the forward
/// does, with the columns split over the threads or small private accumulators.
template <typename T>
bool implicit_gemm_dw_applies(const ConvShape& s, int threads) {
    return implicit_gemm_applies(s) && (threads == 1 || implicit_gemm_dw_by_taps<T>(s) ||
                                        implicit_gemm_dw_splits_taps<T>(s, threads) || private_dw<T>(s, threads));
}

/// Whether backward-weights needs threads - 1 private dW accumulators.
template <typename T>
bool implicit_gemm_dw_private(const ConvShape& s, int threads) {
    return threads > 1 && !implicit_gemm_dw_splits_taps<T>(s, threads);
}

namespace detail {
// Workspace layout: per thread [padded rows][slack], and for backward-weights [patch panel][edge
// panel] after them; then the shared part: the packed weights (forward, and backward-data as a
// forward) or backward-weights' threads - 1 private dW accumulators.
template <typename T>
struct ImplicitGemmWorkspace {
    static constexpr int MR = GemmTile<T>::kMaxMR, NR = GemmTile<T>::NR;
    bool weights_gradient;  // backward-weights' layout
    index_t pad_elements, pad_slack, per_thread, threads_part;
    T* base;

    // The forward's last tile of a row reads up to MR - 1 positions past the row's end: into the
    // next padded row or, after the last, into this many values (zeros) after the padded rows.
    static index_t forward_tail_elements(const ConvShape& s) {
        // Positions are S_x * D1 values apart (D1 with one output column: the stride is unused).
        return checked_product("implicit GEMM workspace", MR - 1, s.x.out > 1 ? s.x.stride : 1, s.d1);
    }

    // The panels of backward-weights' GEMM: a patch panel of implicit_dw_depth() x NR and dY^T's
    // panels of filters (K rounded up to backward-weights' tile, kMinMR) over implicit_dw_depth()
    // positions, each with slack for whole packets.
    static index_t panel_elements(const ConvShape& s) {
        const index_t filters = round_up(s.k, index_t{GemmTile<T>::kMinMR});
        const index_t columns = checked_add(NR, filters, "implicit GEMM workspace");
        return checked_add(checked_mul(implicit_dw_depth<T>(), columns, "implicit GEMM workspace"), 2 * kPackSlack<T>,
                           "implicit GEMM workspace");
    }

    ImplicitGemmWorkspace(const ConvShape& s, const ImplicitGemmPlan& p, int threads, ConvPass pass, T* ws = nullptr)
        : weights_gradient(pass == ConvPass::backward_weights),
          pad_elements(checked_product("implicit GEMM workspace", p.block_input_rows, p.padded_width, s.d1)),
          pad_slack(checked_add(forward_tail_elements(s), kPackSlack<T>, "implicit GEMM workspace")),
          per_thread(checked_add(checked_add(pad_elements, pad_slack, "implicit GEMM workspace"),
                                 weights_gradient ? panel_elements(s) : 0, "implicit GEMM workspace")),
          threads_part(checked_mul(per_thread, threads, "implicit GEMM workspace")),
          base(ws) {}

    T* pad(int t) const { return base + t * per_thread; }
    T* dw_panel(int t) const { return pad(t) + pad_elements + pad_slack; }
    T* dw_filters(int t) const { return dw_panel(t) + implicit_dw_depth<T>() * NR + kPackSlack<T>; }
    T* shared() const { return base + threads_part; }

    index_t shared_elements(const ConvShape& s, int threads, bool packed_weights) const {
        if (!weights_gradient) return packed_weights ? implicit_gemm_packed_weight_elements<T>(s) : 0;
        if (implicit_gemm_dw_by_taps<T>(s))  // every thread's taps x filters accumulator
            return checked_product("implicit GEMM workspace", threads, s.patch_length(), s.k);
        return implicit_gemm_dw_applies<T>(s, threads) && implicit_gemm_dw_private<T>(s, threads)
                   ? checked_product("implicit GEMM workspace", threads - 1, s.patch_length(), s.k)
                   : 0;
    }
};
}  // namespace detail

/// Workspace values for `pass` (see detail::ImplicitGemmWorkspace): forward, backward-data (of the
/// forward over dY it runs) or backward-weights. Without `packed_weights`, every forward or
/// backward-data call must pass `prepacked` weights.
template <typename T>
index_t implicit_gemm_workspace_elements(const ConvShape& s, const ImplicitGemmPlan& p, int threads, ConvPass pass,
                                         bool packed_weights = true) {
    const detail::ImplicitGemmWorkspace<T> ws(s, p, threads, pass);
    return checked_add(ws.threads_part, ws.shared_elements(s, threads, packed_weights), "implicit GEMM workspace");
}

namespace detail {
// The padded input rows output rows [oy0, oy1) of image n read, from input row oy0*S_y - P_y
// on, each Wp columns wide: zeros outside the input (and past its right edge).
// Returns the number of values written.
template <typename T>
index_t fill_padded_rows(const ConvShape& s, const T* x, index_t n, index_t oy0, index_t oy1, index_t Wp, T* pad) {
    const index_t D = s.d1;
    const index_t rows_needed = (oy1 - oy0 - 1) * s.y.stride + (s.y.kernel - 1) * s.y.dilation + 1;
    const index_t left = s.x.pad_begin, copy = std::clamp<index_t>(s.x.in, 0, Wp - left);
    for (index_t r = 0; r < rows_needed; ++r) {
        T* dst = pad + r * Wp * D;
        const index_t iy = oy0 * s.y.stride - s.y.pad_begin + r;
        if (iy < 0 || iy >= s.y.in) {
            std::fill_n(dst, Wp * D, T(0));
            continue;
        }
        // Eigen's inline stores: the pads are a few values, for which a library call costs more.
        VectorMap<T>(dst, left * D).setZero();
        std::copy_n(x + ((n * s.y.in + iy) * s.x.in) * D, copy * D, dst + left * D);
        VectorMap<T>(dst + (left + copy) * D, (Wp - left - copy) * D).setZero();
    }
    return rows_needed * Wp * D;
}
}  // namespace detail

/// Packs w as implicit_gemm_conv_forward() multiplies it: NR-column panels over the whole depth.
template <typename T>
void implicit_gemm_pack_weights(const ConvShape& s, const T* w, T* packed) {
    pack_b_panels_colmajor(w, s.patch_length(), s.patch_length(), s.k, packed);
}

namespace detail {
// The kernel rows [ky0, ky1) of output row oy that reach inside the image (the others read zero
// padding and are skipped); empty (0, 0) when every kernel row reads padding.
inline std::pair<index_t, index_t> live_kernel_rows(const ConvShape& s, index_t oy) {
    index_t ky0 = 0, ky1 = s.y.kernel;
    while (ky0 < ky1 && s.y.input_coord(oy, ky0) < 0) ++ky0;
    while (ky1 > ky0 && s.y.input_coord(oy, ky1 - 1) >= s.y.in) --ky1;
    return ky0 < ky1 ? std::pair{ky0, ky1} : std::pair<index_t, index_t>{0, 0};
}

// One output row's tiles of MR output columns: bias + the row's patches times one NR panel of B
// over `depth` (segmented as the micro-kernel reads it); the last, partial tile reads on past the
// row's end and drops those rows.
template <typename T, int MR>
void forward_row_tiles(const ConvShape& s, index_t depth, const T* a, index_t lda, const T* bp, T* c, index_t ldc,
                       index_t nc, const T* bias, index_t segment, index_t segment_stride) {
    const index_t full = s.x.out / MR * MR;
    for (index_t i0 = 0; i0 < full; i0 += MR)
        gemm_micro_kernel<T, true, MR>(depth, a + i0 * lda, lda, bp, c + i0 * ldc, ldc, MR, nc, false, bias, segment,
                                       segment_stride);
    if (full < s.x.out)
        gemm_micro_kernel<T, true, MR>(depth, a + full * lda, lda, bp, c + full * ldc, ldc, s.x.out - full, nc, false,
                                       bias, segment, segment_stride);
}

// Output rows [r0, r1) of image n (of the block whose padded rows, from output row oy0 on, `pad`
// holds) times the NR panel of filters j0 (packed `bp`). Kernel rows that read only padding are
// skipped; a row whose kernel rows all do gets the bias alone.
template <typename T, int MR>
void forward_panel(const ConvShape& s, const ImplicitGemmPlan& plan, const T* pad, index_t n, index_t oy0,
                   index_t r0, index_t r1, index_t j0, const T* bp, const T* bias, const OutputRows<T>& y) {
    const index_t D = s.d1, Wp = plan.padded_width, nc = std::min<index_t>(GemmTile<T>::NR, s.k - j0);
    // With one output column the stride is never applied (and may be huge: don't multiply it).
    const index_t lda = s.x.out > 1 ? s.x.stride * D : D, segment = s.x.kernel * D, segment_stride = s.y.dilation * Wp * D;
    for (index_t oy = r0; oy < r1; ++oy) {
        const auto [ky0, ky1] = live_kernel_rows(s, oy);
        const T* a = pad + (oy - oy0) * s.y.stride * Wp * D + ky0 * segment_stride;
        forward_row_tiles<T, MR>(s, (ky1 - ky0) * segment, a, lda, bp + ky0 * segment * GemmTile<T>::NR,
                                 y.row(n, oy) + j0, y.pixel, nc, bias, segment, segment_stride);
    }
}

// Output rows the forward runs every panel of B over in turn: as many as have their padded input
// rows within Tuning::forward_sweep_bytes, so those stay in L2 (at least 1, at most H2). In
// doubles: a huge stride, unused with one output row, must not overflow.
template <typename T>
index_t forward_rows_per_sweep(const ConvShape& s, const ImplicitGemmPlan& plan) {
    const double row_bytes = static_cast<double>(sizeof(T)) * static_cast<double>(plan.padded_width * s.d1) *
                             static_cast<double>(s.y.stride);
    const double rows = static_cast<double>(tuning<T>().forward_sweep_bytes) / row_bytes;
    return std::max<index_t>(1, static_cast<index_t>(std::min(static_cast<double>(s.y.out), rows)));
}

// implicit_gemm_conv_forward() with tiles of MR output columns.
template <typename T, int MR, typename RowsDone>
void implicit_gemm_forward_tiled(const ConvShape& s, const T* x, const T* bias, const OutputRows<T>& y, const T* packed,
                                 const ImplicitGemmWorkspace<T>& ws, const ImplicitGemmPlan& plan, int threads,
                                 RowsDone&& rows_done) {
    constexpr int NR = GemmTile<T>::NR;
    const index_t per_image = plan.blocks_per_image(s), blocks = s.n * per_image;
    // Few output positions: each thread takes every row for its share of the filters (see
    // forward_splits_filters()), the padded rows filled by each.
    const index_t k_panels = (s.k + NR - 1) / NR;
    const index_t col_groups = threads_split_columns<T>(s.output_positions(), s.k, threads) ? threads : 1;
    const index_t sweep = forward_rows_per_sweep<T>(s, plan);
    parallel_for(blocks * col_groups, threads, [&](index_t task, int t) {
        const index_t b = task % blocks, group = task / blocks;
        const auto [p0, p1] = split_range(k_panels, col_groups, group);
        const index_t n = b / per_image, oy0 = b % per_image * plan.rows_per_block;
        const index_t oy1 = std::min(s.y.out, oy0 + plan.rows_per_block);
        T* pad = ws.pad(t);
        const index_t filled = fill_padded_rows(s, x, n, oy0, oy1, plan.padded_width, pad);
        std::fill_n(pad + filled, ws.pad_slack, T(0));  // read by the last tile of the last row
        for (index_t r0 = oy0; r0 < oy1; r0 += sweep)
            for (index_t j0 = p0 * NR; j0 < std::min(s.k, p1 * NR); j0 += NR)
                forward_panel<T, MR>(s, plan, pad, n, oy0, r0, std::min(oy1, r0 + sweep), j0,
                                     packed + (j0 / NR) * NR * s.patch_length(), bias ? bias + j0 : nullptr, y);
        if (col_groups == 1) rows_done(n, oy0, oy1);
    });
    if (col_groups > 1)
        for (index_t n = 0; n < s.n; ++n) rows_done(n, index_t{0}, s.y.out);
}

// Does nothing with the rows it is told are done.
struct IgnoreRows {
    void operator()(index_t, index_t, index_t) const {}
};
}  // namespace detail

/// implicit_gemm_conv_forward() with weights `packed` by implicit_gemm_pack_weights(), writing
/// through the view `y`.
template <typename T, typename RowsDone = detail::IgnoreRows>
void implicit_gemm_conv_forward_into(const ConvShape& s, const T* x, const T* bias, const OutputRows<T>& y,
                                     T* workspace, const ImplicitGemmPlan& plan, int threads, const T* packed,
                                     RowsDone&& rows_done = RowsDone{}) {
    const detail::ImplicitGemmWorkspace<T> ws(s, plan, threads, ConvPass::forward, workspace);
    with_tile_rows<T>(best_tile_rows<T>(s.x.out), [&](auto mr) {
        detail::implicit_gemm_forward_tiled<T, decltype(mr)::value>(s, x, bias, y, packed, ws, plan, threads,
                                                                    rows_done);
    });
}

/// y = conv(x, w) + bias for OHWI weights w ((F_h F_w D1) x K column-major), through the
/// segmented micro-kernel; `workspace` holds implicit_gemm_workspace_elements() values.
/// With `prepacked` (from implicit_gemm_pack_weights()) w is not read. Tiles are as many output
/// columns as best_tile_rows() picks for the output width. rows_done(n, oy0, oy1) is called once
/// output rows [oy0, oy1) of image n are final, on the thread that computed them (while they are
/// in its cache: the plans check them for NaN there).
template <typename T, typename RowsDone = detail::IgnoreRows>
void implicit_gemm_conv_forward(const ConvShape& s, const T* x, const T* w, const T* bias, T* y, T* workspace,
                                const ImplicitGemmPlan& plan, int threads, const T* prepacked = nullptr,
                                RowsDone&& rows_done = RowsDone{}) {
    const detail::ImplicitGemmWorkspace<T> ws(s, plan, threads, ConvPass::forward, workspace);
    if (!prepacked) implicit_gemm_pack_weights(s, w, ws.shared());
    implicit_gemm_conv_forward_into(s, x, bias, OutputRows<T>::dense(s, y), workspace, plan, threads,
                                    prepacked ? prepacked : ws.shared(), rows_done);
}

namespace detail {
// The runs of contiguous values that make up patch columns [j0, j0 + nc) of one position: column
// j = (ky, kx, d) lies in segment ky (F_w*D1 contiguous values, segment_stride apart).
template <typename T>
struct PatchRuns {
    struct Run {
        index_t src, dst, len;  // offset from the position's first value, column in the panel, length
    } run[GemmTile<T>::NR];
    int count = 0;
    bool short_runs = true;  // every run fits one packet: the common case of few channels

    PatchRuns(const ConvShape& s, index_t segment_stride, index_t j0, index_t nc) {
        const index_t segment = s.x.kernel * s.d1;
        for (index_t j = j0; j < j0 + nc;) {
            const index_t ky = j / segment, off = j % segment, len = std::min(segment - off, j0 + nc - j);
            run[count++] = {ky * segment_stride + off, j - j0, len};
            short_runs = short_runs && len <= GemmTile<T>::kLanes;
            j += len;
        }
    }
};

// Calls copy(src, panel_row) for `count` positions from column x of the padded row at `row`,
// wrapping to the next rows (row_step values apart), the panel rows NR values apart.
template <typename T, typename Copy>
void for_each_patch_position(const ConvShape& s, const T* row, index_t x, index_t count, index_t col_step,
                             index_t row_step, T* panel, Copy&& copy) {
    for (index_t p = 0; p < count; ++p, panel += GemmTile<T>::NR) {
        copy(row + x * col_step, panel);
        if (++x == s.x.out) x = 0, row += row_step;
    }
}

// Packs patch columns [j0, j0 + nc) of `count` consecutive positions, the first at output row
// `r` (of the padded block) and column `ox`, into one NR-column panel: panel[p*NR + j]; with
// `rows` > 1, the same `count` columns (not wrapping) of each of `rows` rows from r on, one
// after another. The panel's columns are a few contiguous runs (PatchRuns), copied per position.
//
// Copies are whole packets: a run shorter than a packet spills past its end, and the next run
// (or the zeros past nc, or the next position) overwrites the spill, so runs go in column order.
// Hence kPackSlack values of slack after the panel and after the padded rows it reads.
template <typename T>
void pack_patch_panel(const ConvShape& s, const T* pad, index_t Wp, index_t r, index_t ox, index_t count, index_t j0,
                      index_t nc, T* panel, index_t rows) {
    using Packet = typename GemmTile<T>::Packet;
    using Eigen::internal::ploadu;
    using Eigen::internal::pstoreu;
    constexpr int NR = GemmTile<T>::NR, P = GemmTile<T>::kLanes;
    const index_t D = s.d1;
    // A stride that is never applied (one output column; positions in the block's first output
    // row only) may be huge, as pad-to-fit allows: don't multiply it. Rows past the first lie in
    // the padded block, whose size was checked.
    const bool past_first_row = r > 0 || rows > 1 || ox + count > s.x.out;
    const index_t col_step = s.x.out > 1 ? s.x.stride * D : 0;
    const index_t row_step = past_first_row ? s.y.stride * Wp * D : 0;
    const PatchRuns<T> runs(s, s.y.dilation * Wp * D, j0, nc);
    const Packet zero = Eigen::internal::pset1<Packet>(T(0));
    // Zeros in columns [nc, NR): at most two packets (NR = 2P), written out so that the compiler
    // does not turn them into a memset call per position.
    auto zero_tail = [&](T* panel_row) {
        if (nc < NR) pstoreu(panel_row + nc, zero);
        if (nc + P < NR) pstoreu(panel_row + nc + P, zero);
    };
    auto pack_rows = [&](auto&& copy) {
        for (index_t rr = 0; rr < rows; ++rr)
            for_each_patch_position(s, pad + (r + rr) * row_step, ox, count, col_step, row_step,
                                    panel + rr * count * NR, copy);
    };
    if (runs.count == 1 && nc == NR) {  // one run of a whole panel: two packets per position
        const index_t src0 = runs.run[0].src;
        pack_rows([&](const T* src, T* to) {
            pstoreu(to, ploadu<Packet>(src + src0));
            pstoreu(to + P, ploadu<Packet>(src + src0 + P));
        });
    } else if (runs.short_runs) {
        pack_rows([&](const T* src, T* to) {
            for (int q = 0; q < runs.count; ++q) pstoreu(to + runs.run[q].dst, ploadu<Packet>(src + runs.run[q].src));
            zero_tail(to);
        });
    } else {
        pack_rows([&](const T* src, T* to) {
            for (int q = 0; q < runs.count; ++q) {
                const T* from = src + runs.run[q].src;
                T* dst = to + runs.run[q].dst;
                // Whole packets; the tail is a whole packet too, spilling past the run.
                for (index_t i = 0; i < runs.run[q].len; i += P) pstoreu(dst + i, ploadu<Packet>(from + i));
            }
            zero_tail(to);
        });
    }
}
}  // namespace detail

namespace detail {
// The output columns [c, d) for which some patch column in [j0, j0 + nc) reads inside the
// image along the width (dilation 1): for the others every such tap is left or right padding.
inline std::pair<index_t, index_t> live_output_columns(const ConvShape& s, index_t j0, index_t nc) {
    const index_t D = s.d1, span = s.x.kernel * D;
    index_t kx_lo = s.x.kernel, kx_hi = -1;  // the kernel columns of the patch columns
    for (index_t j = j0; j < j0 + nc;) {
        const index_t ky = j / span, end = std::min(j0 + nc, (ky + 1) * span);
        kx_lo = std::min(kx_lo, (j - ky * span) / D);
        kx_hi = std::max(kx_hi, (end - 1 - ky * span) / D);
        j = end;
    }
    // Tap kx of output column ox reads input column ox*S - P + kx.
    const index_t S = s.x.stride, P = s.x.pad_begin;
    const index_t c = kx_hi >= P ? 0 : (P - kx_hi + S - 1) / S;
    const index_t last = s.x.in - 1 + P - kx_lo;  // ox*S <= last
    const index_t d = last < 0 ? 0 : std::min(s.x.out, last / S + 1);
    return {c, d};
}

// The output positions [q0, q1) of chunk [p0, p0 + kc) of a block whose first output row is oy0
// that contribute to patch columns [j0, j0 + nc): output rows whose taps in these columns (kernel
// rows ky_a..ky_b) all read top or bottom padding are trimmed from both ends (empty if all do).
inline std::pair<index_t, index_t> live_chunk_positions(const ConvShape& s, index_t oy0, index_t p0, index_t kc,
                                                        index_t j0, index_t nc) {
    const index_t W2 = s.x.out, span = s.x.kernel * s.d1, ky_a = j0 / span, ky_b = (j0 + nc - 1) / span;
    auto live_row = [&](index_t oy) {
        for (index_t ky = ky_a; ky <= ky_b; ++ky) {
            const index_t iy = s.y.input_coord(oy, ky);
            if (iy >= 0 && iy < s.y.in) return true;
        }
        return false;
    };
    index_t q0 = p0, q1 = p0 + kc;
    while (q0 < q1 && !live_row(oy0 + q0 / W2)) q0 = (q0 / W2 + 1) * W2;
    while (q1 > q0 && !live_row(oy0 + (q1 - 1) / W2)) q1 = (q1 - 1) / W2 * W2;
    q0 = std::min(q0, p0 + kc);
    return {q0, std::max(q1, q0)};
}

// One NR-column patch panel as the GEMM reads it: `runs` runs of `run` positions, the first run
// from position `first` of the block, the next `row` values further on in `data` (0: packed one
// after another). Null data: no position reads inside the image.
template <typename T>
struct DwPanel {
    const T* data;
    index_t first, run, runs, row;
};

// The panel of patch columns [j0, j0 + nc) over the live positions [q0, q1) of a block on thread
// t: the padded rows themselves where the panel is one tap's D1 = NR channels at stride 1 (each
// run within one row, or whole rows), else packed into the thread's panel. With `whole_rows`,
// only the output columns whose taps reach inside the image (left and right padding skipped).
template <typename T>
DwPanel<T> dw_patch_panel(const ConvShape& s, const ImplicitGemmPlan& plan, const ImplicitGemmWorkspace<T>& ws,
                          int t, bool whole_rows, index_t q0, index_t q1, index_t j0, index_t nc) {
    constexpr int NR = GemmTile<T>::NR;
    const index_t W2 = s.x.out;
    DwPanel<T> p{ws.dw_panel(t), q0, q1 - q0, 1, 0};
    if (whole_rows) {
        const auto [c, d] = live_output_columns(s, j0, nc);
        if (c >= d) return {nullptr, 0, 0, 0, 0};
        if (c > 0 || d < W2) p.first = q0 + c, p.run = d - c, p.runs = (q1 - q0) / W2;
    }
    const index_t r = p.first / W2, ox = p.first % W2;
    const bool in_place = s.d1 == NR && s.x.stride == 1 &&
                          (p.runs > 1 || ox + p.run <= W2 || (ox == 0 && p.run % W2 == 0));
    if (!in_place) {
        pack_patch_panel(s, ws.pad(t), plan.padded_width, r, ox, p.run, j0, nc, ws.dw_panel(t), p.runs);
        return p;
    }
    if (p.runs == 1 && p.run > W2) p.runs = p.run / W2, p.run = W2;  // whole rows: Wp apart in place
    const index_t Wp = plan.padded_width, span = s.x.kernel * s.d1;
    const index_t kx = j0 % span / s.d1, ky = j0 / span;
    // Rows past the block's first lie in the padded block, whose size was checked.
    p.row = r > 0 || p.runs > 1 ? s.y.stride * Wp * s.d1 : 0;
    p.data = ws.pad(t) + r * p.row + ky * s.y.dilation * Wp * s.d1 + (ox + kx) * s.d1;
    return p;
}

// dW^T[:, j0:j0+nc] (acc, leading dimension L) = (write) or += dY^T (K x positions) times the
// panel, in tiles of MR filters, dY^T packed in panels of MR filters over the chunk of `kc`
// positions from p0 (`filters`: panel i at i*MR*kc, position q at (q - p0)*MR).
template <typename T, int MR>
void multiply_dw_panel(const ConvShape& s, const T* filters, index_t p0, index_t kc, const DwPanel<T>& p, index_t j0,
                       index_t nc, T* acc, bool write) {
    const index_t L = s.patch_length(), W2 = s.x.out, depth = p.runs * p.run;
    const T* a = filters + (p.first - p0) * MR;
    const T* none = nullptr;
    for (index_t i0 = 0; i0 < s.k; i0 += MR, a += MR * kc)
        gemm_micro_kernel<T, false, MR>(depth, a, MR, p.data, acc + i0 * L + j0, L, std::min<index_t>(MR, s.k - i0),
                                        nc, !write, none, p.run, p.runs > 1 ? W2 * MR : 0, p.row);
}

// dW^T[:, l0:l1) += P^T dY over the output rows of block b, on thread t; with `overwrite` (the
// thread's first block) = instead of +=, so that acc need not be cleared first. With `db_acc`,
// the block's dY rows are added to it too, a chunk at a time while they are in cache.
template <typename T, int MR>
void accumulate_dw_block(const ConvShape& s, const T* x, const T* dy, const ImplicitGemmPlan& plan,
                         const ImplicitGemmWorkspace<T>& ws, index_t b, int t, index_t l0, index_t l1, T* acc,
                         bool overwrite, T* db_acc) {
    constexpr int NR = GemmTile<T>::NR;
    const index_t L = s.patch_length(), W2 = s.x.out, per_image = plan.blocks_per_image(s);
    const index_t n = b / per_image, oy0 = b % per_image * plan.rows_per_block;
    const index_t oy1 = std::min(s.y.out, oy0 + plan.rows_per_block);
    fill_padded_rows(s, x, n, oy0, oy1, plan.padded_width, ws.pad(t));
    const index_t positions = (oy1 - oy0) * W2;
    const T* dy_block = dy + (n * s.y.out + oy0) * W2 * s.k;
    // Chunks of whole output rows, so that a panel's live output columns are the same in every
    // row of the chunk, where the width is padded and a chunk holds kImplicitDwMinRowsPerChunk
    // rows (224 of VGG conv1_2's columns a chunk measured 4% slower than 256 positions).
    const index_t depth = implicit_dw_depth<T>();
    const bool whole_rows = (s.x.pad_begin > 0 || s.x.pad_end > 0) && kImplicitDwMinRowsPerChunk * W2 <= depth;
    const index_t chunk = whole_rows ? depth / W2 * W2 : depth;
    for (index_t p0 = 0; p0 < positions; p0 += chunk) {
        const index_t kc = std::min(chunk, positions - p0);
        // dY^T packed once for every patch panel: in place, a tile's MR filters of successive
        // positions are K values apart, which for K a multiple of 64 fall into a few sets of L1.
        pack_panels<MR>(dy_block + p0 * s.k, 1, s.k, s.k, kc, ws.dw_filters(t));
        if (db_acc) add_rows(dy_block, s.k, p0, p0 + kc, s.k, db_acc);
        const bool write = overwrite && p0 == 0;  // the first chunk writes acc's columns
        for (index_t j0 = l0; j0 < l1; j0 += NR) {
            const index_t nc = std::min<index_t>(NR, l1 - j0);
            const auto [q0, q1] = live_chunk_positions(s, oy0, p0, kc, j0, nc);
            const DwPanel<T> panel =
                q0 < q1 ? dw_patch_panel(s, plan, ws, t, whole_rows, q0, q1, j0, nc) : DwPanel<T>{nullptr, 0, 0, 0, 0};
            if (panel.data)
                multiply_dw_panel<T, MR>(s, ws.dw_filters(t), p0, kc, panel, j0, nc, acc, write);
            else if (write)  // no live position: zeros
                for (index_t k = 0; k < s.k; ++k) std::fill_n(acc + k * L + j0, nc, T(0));
        }
    }
}

// acc (taps x filters, row-major) = (write) or += the block's patches^T dY over output rows
// [r0, r1) of the block from oy0 (padded rows at `pad`), for filters [j0, j0 + nc) whose dY panel
// is `b` (positions x NR), in tiles of MR taps, one pointer per tap into the padded rows.
template <typename T, int MR>
void multiply_dw_taps(const ConvShape& s, index_t Wp, const T* pad, index_t oy0, index_t r0, index_t r1,
                      const T* b, index_t j0, index_t nc, T* acc, bool write) {
    const index_t L = s.patch_length(), D = s.d1, span = s.x.kernel * D;
    // Rows past the block's first lie in the padded block, whose size was checked (a huge stride
    // with one row per block is never applied: don't multiply it).
    const index_t row = r1 - r0 > 1 || r0 > oy0 ? s.y.stride * Wp * D : 0;
    const index_t kstride = s.x.out > 1 ? s.x.stride * D : D;  // likewise with one output column
    const T* first = pad + (r0 - oy0) * row;
    const T* rows[MR];
    for (index_t i0 = 0; i0 < L; i0 += MR) {
        for (int i = 0; i < MR; ++i) {  // taps past L repeat the last one; their rows are dropped
            const index_t l = std::min(i0 + i, L - 1), ky = l / span;
            rows[i] = first + ky * s.y.dilation * Wp * D + (l - ky * span);
        }
        gemm_micro_kernel_rows<T, MR>((r1 - r0) * s.x.out, rows, kstride, b, acc + i0 * s.k + j0, s.k,
                                      std::min<index_t>(MR, L - i0), nc, !write, s.x.out, row);
    }
}

// One thread's blocks [b0, b1) of backward-weights by taps into its accumulator acc (taps x
// filters), written by the first chunk of the first block: chunks of whole output rows up to
// implicit_dw_depth() positions, each filter panel of dY read in place when K = NR, else packed.
// With `db_acc`, each chunk's dY rows are added to it after the chunk.
template <typename T, int MR>
void accumulate_dw_by_taps(const ConvShape& s, const T* x, const T* dy, const ImplicitGemmPlan& plan,
                           const ImplicitGemmWorkspace<T>& ws, index_t b0, index_t b1, int t, T* acc, T* db_acc) {
    constexpr int NR = GemmTile<T>::NR;
    const index_t W2 = s.x.out, per_image = plan.blocks_per_image(s);
    const index_t chunk_rows = std::max<index_t>(1, implicit_dw_depth<T>() / W2);
    for (index_t b = b0; b < b1; ++b) {
        const index_t n = b / per_image, oy0 = b % per_image * plan.rows_per_block;
        const index_t oy1 = std::min(s.y.out, oy0 + plan.rows_per_block);
        fill_padded_rows(s, x, n, oy0, oy1, plan.padded_width, ws.pad(t));
        for (index_t r0 = oy0; r0 < oy1; r0 += chunk_rows) {
            const index_t r1 = std::min(oy1, r0 + chunk_rows);
            const T* dy_chunk = dy + (n * s.y.out + r0) * W2 * s.k;
            for (index_t j0 = 0; j0 < s.k; j0 += NR) {
                const index_t nc = std::min<index_t>(NR, s.k - j0);
                const T* panel = dy_chunk;
                if (s.k != NR) {
                    pack_panels<NR>(dy_chunk + j0, 1, s.k, nc, (r1 - r0) * W2, ws.dw_panel(t));
                    panel = ws.dw_panel(t);
                }
                multiply_dw_taps<T, MR>(s, plan.padded_width, ws.pad(t), oy0, r0, r1, panel, j0, nc, acc,
                                        b == b0 && r0 == oy0);
            }
            if (db_acc) add_rows(dy_chunk, s.k, 0, (r1 - r0) * W2, s.k, db_acc);
        }
    }
}

// dw (OHWI: filters x taps) = the sum of the threads' taps x filters accumulators, transposed in
// strips of 16 taps so that the strip's rows of each accumulator stay in L1.
template <typename T>
void sum_transposed_accumulators(const ConvShape& s, const T* acc, int threads, T* dw) {
    const index_t L = s.patch_length(), K = s.k;
    for (index_t l0 = 0; l0 < L; l0 += 16)
        for (index_t k = 0; k < K; ++k)
            for (index_t l = l0; l < std::min(L, l0 + 16); ++l) {
                T v = acc[l * K + k];
                for (int t = 1; t < threads; ++t) v += acc[t * L * K + l * K + k];
                dw[k * L + l] = v;
            }
}

// db's accumulator for part `part` of `parts` (0: db itself, cleared; the others in db_scratch,
// cleared), or null without db.
template <typename T>
T* cleared_bias_part(T* db, T* db_scratch, index_t k, index_t part) {
    if (!db) return nullptr;
    T* acc = part == 0 ? db : db_scratch + (part - 1) * k;
    std::fill_n(acc, k, T(0));
    return acc;
}

// implicit_gemm_conv_backward_weights() by taps (implicit_gemm_dw_by_taps()): each thread takes
// its blocks of output rows into its own accumulator; db (if asked) is summed alongside.
template <typename T, int MR>
void implicit_gemm_backward_weights_by_taps(const ConvShape& s, const T* x, const T* dy, T* dw, T* workspace,
                                            const ImplicitGemmPlan& plan, int threads, T* db, T* db_scratch) {
    const index_t blocks = s.n * plan.blocks_per_image(s);
    threads = static_cast<int>(std::min<index_t>(threads, blocks));
    const ImplicitGemmWorkspace<T> ws(s, plan, threads, ConvPass::backward_weights, workspace);
    parallel_for(threads, threads, [&](index_t part, int t) {
        const auto [b0, b1] = detail::split_range(blocks, threads, part);
        accumulate_dw_by_taps<T, MR>(s, x, dy, plan, ws, b0, b1, t, ws.shared() + part * s.patch_length() * s.k,
                                     cleared_bias_part(db, db_scratch, s.k, part));
    });
    sum_transposed_accumulators(s, static_cast<const T*>(ws.shared()), threads, dw);
    if (db) add_bias_gradient_parts(db, static_cast<const T*>(db_scratch), s.k, threads);
}

// implicit_gemm_conv_backward_weights() with tiles of MR filters. db (if asked) is summed from
// the dY rows of each block as it runs: by part 0 alone when the parts split dW's columns over
// every block, else by each part over its blocks into db (part 0) or db_scratch, added at the end.
template <typename T, int MR>
void implicit_gemm_backward_weights_tiled(const ConvShape& s, const T* x, const T* dy, T* dw, T* workspace,
                                          const ImplicitGemmPlan& plan, int threads, T* db, T* db_scratch) {
    constexpr int NR = GemmTile<T>::NR;
    const index_t L = s.patch_length(), size = L * s.k, blocks = s.n * plan.blocks_per_image(s);
    const bool split_taps = implicit_gemm_dw_splits_taps<T>(s, threads);
    if (!split_taps) threads = static_cast<int>(std::min<index_t>(threads, blocks));
    const ImplicitGemmWorkspace<T> ws(s, plan, threads, ConvPass::backward_weights, workspace);
    if (split_taps) {  // part i: its range of whole NR panels of dW's columns, over every block
        const index_t panels = (L + NR - 1) / NR;
        parallel_for(threads, threads, [&](index_t part, int t) {
            const auto [p0, p1] = detail::split_range(panels, threads, part);
            const index_t l0 = p0 * NR, l1 = std::min(L, p1 * NR);
            T* db_acc = part == 0 ? cleared_bias_part(db, db_scratch, s.k, 0) : nullptr;
            for (index_t b = 0; b < blocks; ++b)
                accumulate_dw_block<T, MR>(s, x, dy, plan, ws, b, t, l0, l1, dw, b == 0, db_acc);
        });
    } else {  // part i: its blocks into accumulator i (0: dw), written first by its first block
        parallel_for(threads, threads, [&](index_t part, int t) {
            T* acc = part == 0 ? dw : ws.shared() + (part - 1) * size;
            const auto [b0, b1] = detail::split_range(blocks, threads, part);
            T* db_acc = cleared_bias_part(db, db_scratch, s.k, part);
            for (index_t b = b0; b < b1; ++b)
                accumulate_dw_block<T, MR>(s, x, dy, plan, ws, b, t, 0, L, acc, b == b0, db_acc);
        });
        detail::add_private_accumulators(dw, static_cast<const T*>(ws.shared()), size, threads);
        if (db) add_bias_gradient_parts(db, static_cast<const T*>(db_scratch), s.k, threads);
    }
}
}  // namespace detail

/// dw = sum over positions of P^T dY (overwritten; (F_h F_w D1) x K column-major, OHWI), with
/// each patch panel packed straight from padded input rows (no im2col matrix). Threads split the
/// patch columns (implicit_gemm_dw_splits_taps()) or take their own blocks of output rows into
/// private accumulators (thread 0 into dw), summed at the end. Needs implicit_gemm_dw_applies().
/// With `db`, also the bias gradient (overwritten), the threads each summing a share of dY's
/// rows; `db_scratch` then holds conv_bias_gradient_scratch_elements(K, threads) values.
template <typename T>
void implicit_gemm_conv_backward_weights(const ConvShape& s, const T* x, const T* dy, T* dw, T* workspace,
                                         const ImplicitGemmPlan& plan, int threads, T* db = nullptr,
                                         T* db_scratch = nullptr) {
    // Tiles of the fewest filters (8 on AVX-512): with dY packed, as fast as 12 or faster on
    // every layer of the suite (docs/performance.md).
    with_tile_rows<T>(GemmTile<T>::kMinMR, [&](auto mr) {
        if (implicit_gemm_dw_by_taps<T>(s))
            detail::implicit_gemm_backward_weights_by_taps<T, decltype(mr)::value>(s, x, dy, dw, workspace, plan,
                                                                                   threads, db, db_scratch);
        else
            detail::implicit_gemm_backward_weights_tiled<T, decltype(mr)::value>(s, x, dy, dw, workspace, plan,
                                                                                 threads, db, db_scratch);
    });
}

// Plans (see conv_plan.hpp): ConvAlgorithm::implicit_gemm.

namespace detail {
// Why implicit_gemm_applies() is false for `s` ("" when it is true).
inline std::string implicit_gemm_refusal(const ConvShape& s) {
    if (s.x.dilation != 1) return "it needs dilation 1 along the width";
    if (implicit_gemm_applies(s)) return {};
    std::string why = "it needs padding at most the kernel width " + std::to_string(s.x.kernel) +
                      " along the width, which has " + std::to_string(s.x.pad_begin) + " before and " +
                      std::to_string(s.x.pad_end) + " after";
    if (s.fit == FitPolicy::pad_to_fit && s.x.pad_end > s.x.pad_begin)
        why += " (" + std::to_string(s.x.pad_end - s.x.pad_begin) +
               " of them the zeros pad_to_fit adds at the far edge to complete the last window)";
    return why;
}
}  // namespace detail

/// The automatic choice of the implicit forward: it applies, and the input has at most 4
/// channels (im2col's copy of F*F*D1-value patches then costs as much as the arithmetic) or the
/// tiles of output columns (best_tile_rows()) leave at most 1/8 of their rows idle
/// (docs/performance.md has the measurements).
template <typename T>
bool implicit_gemm_pays_off(const ConvShape& s) {
    if (!implicit_gemm_applies(s)) return false;
    if (s.d1 <= kImplicitGemmFewChannels) return true;
    const index_t mr = best_tile_rows<T>(s.x.out);
    const index_t padded = detail::round_up(s.x.out, mr);
    return kImplicitGemmIdleRowsDenominator * (padded - s.x.out) <= padded;
}

/// ConvAlgorithm::implicit_gemm, forward.
template <typename T>
struct ImplicitGemmForward final : ConvPlan<T> {
    /// The element type (make_plan() reads it).
    using Scalar = T;
    /// The problem the plan was made for.
    ConvShape s;
    /// Threads the pass runs on.
    int threads;
    /// How the output is split into blocks of rows (about 4 per thread).
    ImplicitGemmPlan blocks;
    /// Sizes the blocks for `c`; rows are balanced over the threads unless they split the filters
    /// (forward_splits_filters()).
    explicit ImplicitGemmForward(const ConvPlanContext& c)
        : s(c.shape),
          threads(c.threads),
          blocks(ImplicitGemmPlan::make(s, c.budget_bytes / static_cast<index_t>(sizeof(T)), threads,
                                        kImplicitForwardBlocksPerThread,
                                        !forward_splits_filters<T>(s, threads))) {}
    /// Why `s` cannot run (dilation along the width, or padding wider than the kernel along it), or
    /// empty when implicit_gemm_applies().
    static std::string refusal(const ConvShape& s) { return detail::implicit_gemm_refusal(s); }
    /// implicit_gemm_pays_off(): few input channels, or little idle tile height.
    static bool pays_off(const ConvShape& s, int) { return implicit_gemm_pays_off<T>(s); }
    index_t workspace_elements() const override {
        return implicit_gemm_workspace_elements<T>(s, blocks, threads, ConvPass::forward, false);
    }
    index_t packed_weight_elements() const override { return implicit_gemm_packed_weight_elements<T>(s); }
    void pack_weights(const T* w, T* packed, T*) const override { implicit_gemm_pack_weights(s, w, packed); }
    void run(const ConvOperands<T>& io, T* workspace) const override {
        implicit_gemm_conv_forward(s, io.x, io.weights, io.bias, io.y, workspace, blocks, threads, io.packed,
                                   [&](index_t n, index_t oy0, index_t oy1) {
                                       repair_forward_border(s, io.x, io.weights, io.bias, io.y, n, oy0, oy1);
                                   });
    }
};

/// ConvAlgorithm::implicit_gemm, backward-weights with db alongside. On a thread count
/// implicit_gemm_dw_applies() refuses, it runs on one thread.
template <typename T>
struct ImplicitGemmBackwardWeights final : ConvPlan<T> {
    /// The element type (make_plan() reads it).
    using Scalar = T;
    /// The problem the plan was made for.
    ConvShape s;
    /// Threads the pass runs on: `c`'s, or 1 where implicit_gemm_dw_applies() refuses them.
    int threads;
    /// How the output rows are split into blocks: long ones (the GEMM's depth), one per thread, or as
    /// for one thread when the threads split the taps (implicit_gemm_dw_splits_taps()).
    ImplicitGemmPlan blocks;
    /// Sizes the blocks for `c`'s shape, threads and per-thread workspace budget.
    explicit ImplicitGemmBackwardWeights(const ConvPlanContext& c)
        : s(c.shape),
          threads(implicit_gemm_dw_applies<T>(s, c.threads) ? c.threads : 1),
          blocks(ImplicitGemmPlan::make(s, c.budget_bytes / static_cast<index_t>(sizeof(T)),
                                        implicit_gemm_dw_splits_taps<T>(s, threads) ? 1 : threads, 1)) {}
    /// Why `s` cannot run (dilation along the width, or padding wider than the kernel along it), or
    /// empty when implicit_gemm_applies().
    static std::string refusal(const ConvShape& s) { return detail::implicit_gemm_refusal(s); }
    /// implicit_gemm_dw_applies() on `threads` threads.
    static bool pays_off(const ConvShape& s, int threads) { return implicit_gemm_dw_applies<T>(s, threads); }
    index_t workspace_elements() const override {
        return layout().elements(
            implicit_gemm_workspace_elements<T>(s, blocks, threads, ConvPass::backward_weights, false));
    }
    void run(const ConvOperands<T>& io, T* workspace) const override {
        implicit_gemm_conv_backward_weights(s, io.x, io.dy, io.dw, layout().kernel_part(workspace), blocks, threads,
                                            io.db, workspace);
        repair_weight_gradient_if_nonfinite(s, io.x, io.dy, io.dw, io.db);
    }

private:
    BiasGradientThenKernel<T> layout() const { return {s.k, threads}; }
};

}  // namespace convlayer::kernels
