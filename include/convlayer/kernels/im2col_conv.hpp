// Convolution as im2col + packed GEMM (packed_gemm.hpp), over blocks of output positions, on
// several threads. With Y, dY as (positions x K) row-major (NHWC), P the im2col patch matrix and
// W the (Fh*Fw*D1) x K column-major weights (OHWI):
//   forward:   Y_blk = P_blk * W + 1 b^T         (W packed once per call)
//   backward:  dX   += col2im(dY_blk * W^T)      (W^T packed once per call)
//              dW^T += dY_blk^T * P_blk          (dW^T row-major = dW column-major)
//              db    = column sums of dY
// For a 1x1 kernel with stride 1 and no padding the NHWC input *is* the patch matrix and dX *is*
// dP: with `skip_im2col` (ConvAlgorithm::gemm1x1) the kernels read x and write dx directly, with
// no im2col, no col2im and no patch buffer.
//
// Workspace, per pass: [threads - 1 private dX (backward-data) or dW (backward-weights)
// accumulators, where the schedule has them][threads x block_rows patch rows][threads x GEMM
// packing space: A's edge panel, and for dW a block of packed B][packed weights: forward and
// backward-data], so it is bounded by threads x the block budget plus the weights, never by the
// batch or the image. The packed weights come last, so a caller that passes its own
// (`prepacked`) can leave them out (im2col_workspace_elements()).
//
// Threads: forward blocks are independent. A small dW (<= kPrivateDwBytes) is accumulated by each
// thread over its own blocks and summed; a large one takes threads*block_rows rows at a time,
// the threads splitting their im2col by rows and the GEMM by patch columns. dX blocks scatter into
// overlapping input rows: a small dX (<= Tuning::private_dx_bytes) is accumulated per thread and summed,
// like dW; a large one runs in two colours: blocks of at least ceil(F_eff/S) output rows are far
// enough apart that every other block touches disjoint input rows.
#pragma once

#include <algorithm>
#include <stdexcept>
#include <utility>

#include "convlayer/core/conv_shape.hpp"
#include "convlayer/core/eigen_types.hpp"
#include "convlayer/core/threading.hpp"
#include "convlayer/kernels/bias_gradient.hpp"
#include "convlayer/kernels/conv_plan.hpp"
#include "convlayer/kernels/im2col.hpp"
#include "convlayer/kernels/nonfinite.hpp"
#include "convlayer/kernels/packed_gemm.hpp"
#include "convlayer/kernels/schedule.hpp"
#include "convlayer/kernels/tuning.hpp"

namespace convlayer::kernels {

namespace detail {
// A depth split into equal blocks of at most Tuning::gemm_depth (800 becomes 4 x 200, not
// 3 x 256 + 32).
template <typename T>
index_t depth_block(index_t depth) {
    const index_t kc = tuning<T>().gemm_depth, blocks = (depth + kc - 1) / kc;
    return (depth + blocks - 1) / blocks;
}

// GEMM packing space per thread: A's edge panel (at most MR x gemm_depth; sized generously),
// then, for backward-weights, a B sub-block (gemm_depth x dw_columns) from edge_elements() on.
// A row stride of at least `depth` values (depth plus one or two packets) at which rows do not
// share L1d sets (rows_share_l1_sets()).
template <typename T>
index_t unaliased_stride(index_t depth) {
    const index_t stride = depth + GemmTile<T>::kLanes;
    return rows_share_l1_sets(stride * static_cast<index_t>(sizeof(T))) ? stride + GemmTile<T>::kLanes : stride;
}

// Values of the edge panel gemm_block() packs A's last, partial panel (of the tallest tile) into.
template <typename T>
index_t edge_panel_elements() {
    return GemmTile<T>::kMaxMR * tuning<T>().gemm_depth;
}

template <typename T>
index_t edge_elements(const ConvShape& s) {
    const index_t depth = tuning<T>().gemm_depth;
    // The forward's A block copied at unaliased_stride() after the edge panel.
    const index_t restrided = edge_panel_elements<T>() + kGemmRowBlock * unaliased_stride<T>(depth);
    return std::max(restrided, round_up(s.k, GemmTile<T>::MR) * depth);
}
template <typename T>
index_t packing_elements(const ConvShape& s, ConvPass pass) {
    const index_t b_block = pass == ConvPass::backward_weights ? tuning<T>().gemm_depth * tuning<T>().dw_columns : 0;
    return edge_elements<T>(s) + b_block;
}
}  // namespace detail

/// Smallest block (in output positions) for which every other block scatters into disjoint input
/// rows: ceil(F_eff/S) output rows. (Blocks i and i+2 are then at least F_eff input rows apart.)
inline index_t im2col_two_colour_min_rows(const ConvShape& s) {
    const index_t f_eff = effective_kernel(s.y.kernel, s.y.dilation);
    return (f_eff + s.y.stride - 1) / s.y.stride * s.x.out;
}

/// Block size in output positions: as many patch rows as fit `budget_bytes` (at least 1, at most
/// all). With several threads the number of blocks is a multiple of twice the thread count (so
/// each colour of the dX schedule has work for every thread), and a block spans
/// im2col_two_colour_min_rows(), which the two-colour schedule needs.
inline index_t im2col_block_rows(const ConvShape& s, index_t budget_bytes, index_t scalar_bytes, int threads = 1) {
    const index_t M = s.output_positions();
    index_t rows = std::max<index_t>(1, budget_bytes / (s.patch_length() * scalar_bytes));
    if (threads > 1) {
        const index_t blocks = detail::round_up((M + rows - 1) / rows, 2 * threads);
        rows = std::max((M + blocks - 1) / blocks, im2col_two_colour_min_rows(s));
    }
    return std::min(rows, M);
}

/// Block size (output positions) for the forward pass, whose blocks are independent: as many
/// patch rows as fit `budget_bytes`, in whole MR-row panels of the GEMM tile where the budget
/// allows (a block of 49 rows costs as many tiles as one of 60), and, with several threads, a
/// multiple of `threads` blocks of nearly equal panel counts.
template <typename T>
index_t im2col_forward_block_rows(const ConvShape& s, index_t budget_bytes, int threads = 1) {
    constexpr index_t MR = GemmTile<T>::MR;
    const index_t M = s.output_positions();
    index_t rows = std::max<index_t>(1, budget_bytes / (s.patch_length() * static_cast<index_t>(sizeof(T))));
    if (rows >= MR) rows = rows / MR * MR;
    if (threads > 1) {
        const index_t blocks = detail::round_up((M + rows - 1) / rows, threads);
        const index_t panels = (M + MR - 1) / MR;
        rows = std::min(rows, (panels + blocks - 1) / blocks * MR);
    }
    return std::min(rows, M);
}

/// Elements of the packed weights: W as (Fh*Fw*D1) x K for forward or W^T as K x (Fh*Fw*D1) for
/// backward-data, columns rounded up to whole NR panels.
template <typename T>
index_t packed_weight_elements(const ConvShape& s) {
    constexpr index_t NR = GemmTile<T>::NR;
    const index_t L = s.patch_length();
    return std::max(checked_mul(L, detail::round_up(s.k, NR), "packed weights"),
                    checked_mul(s.k, detail::round_up(L, NR), "packed weights"));
}

/// True when backward-data gives each thread beyond the first a private dX accumulator.
template <typename T>
bool private_dx(const ConvShape& s, int threads, bool skip_im2col) {
    const index_t bytes = s.input().size() * static_cast<index_t>(sizeof(T));
    return threads > 1 && !skip_im2col && bytes <= tuning<T>().private_dx_bytes;
}

/// Elements of `pass`'s threads - 1 private accumulators: dW's (private_dw()) for
/// backward-weights, dX's (private_dx()) for backward-data, none for the forward.
template <typename T>
index_t private_acc_elements(const ConvShape& s, ConvPass pass, int threads, bool skip_im2col) {
    index_t per_thread = 0;
    if (pass == ConvPass::backward_weights && private_dw<T>(s, threads)) per_thread = s.patch_length() * s.k;
    if (pass == ConvPass::backward_data && private_dx<T>(s, threads, skip_im2col)) per_thread = s.input().size();
    return checked_mul(std::max(threads - 1, 0), per_thread, "im2col workspace");
}

/// Elements of workspace im2col_conv_forward(), _backward_data() or _backward_weights() needs for
/// `pass` (see the layout above). Without `packed_weights`, every forward or backward-data call
/// must pass `prepacked` weights.
template <typename T>
index_t im2col_workspace_elements(const ConvShape& s, ConvPass pass, index_t block_rows, int threads = 1,
                                  bool skip_im2col = false, bool packed_weights = true) {
    const index_t patch_rows = skip_im2col ? 0 : block_rows;
    const index_t per_thread = checked_add(checked_mul(patch_rows, s.patch_length(), "im2col workspace"),
                                           detail::packing_elements<T>(s, pass), "im2col workspace");
    const index_t packed = packed_weights && pass != ConvPass::backward_weights ? packed_weight_elements<T>(s) : 0;
    return checked_add(checked_add(packed, private_acc_elements<T>(s, pass, threads, skip_im2col), "im2col workspace"),
                       checked_mul(per_thread, threads, "im2col workspace"), "im2col workspace");
}

/// Elements of a workspace that serves every pass (the largest of the three).
template <typename T>
index_t im2col_workspace_elements(const ConvShape& s, index_t block_rows, int threads = 1, bool skip_im2col = false,
                                  bool packed_weights = true) {
    index_t most = 0;
    for (ConvPass pass : kAllConvPasses)
        most = std::max(most, im2col_workspace_elements<T>(s, pass, block_rows, threads, skip_im2col, packed_weights));
    return most;
}

namespace detail {
// The three parts of the workspace.
template <typename T>
struct Im2colWorkspace {
    T* private_acc;  // threads - 1 dW or dX accumulators (private_acc_elements())
    T* patches;  // threads x block_rows x L, contiguous
    T* packing;  // threads x packing_elements
    index_t packing_per_thread;
    T* packed_w;  // last: absent from a workspace sized without it

    Im2colWorkspace(const ConvShape& s, ConvPass pass, T* ws, index_t block_rows, int threads, bool skip_im2col)
        : private_acc(ws),
          patches(private_acc + private_acc_elements<T>(s, pass, threads, skip_im2col)),
          packing(patches + (skip_im2col ? 0 : threads * block_rows * s.patch_length())),
          packing_per_thread(packing_elements<T>(s, pass)),
          packed_w(packing + threads * packing_per_thread) {
        if (skip_im2col && !s.im2col_is_identity())
            throw std::invalid_argument("convlayer: im2col can be skipped only for a 1x1 kernel, stride 1, no padding; got " +
                                        s.to_string());
    }
    T* packing_of(int thread) const { return packing + thread * packing_per_thread; }
    // The B sub-block of a thread's packing space, after the space for A's edge panel.
    T* packed_b_of(const ConvShape& s, int thread) const {
        return packing_of(thread) + edge_elements<T>(s);
    }
    // The patch rows [m0, m0 + rows) for thread `thread`: x itself when im2col is skipped,
    // otherwise im2col'd into the thread's patch block.
    const T* block_patches(const ConvShape& s, const T* x, index_t m0, index_t rows, index_t block_rows, int thread,
                           bool skip_im2col) const {
        const index_t L = s.patch_length();
        if (skip_im2col) return x + m0 * L;
        T* dst = patches + thread * block_rows * L;
        im2col(s, x, m0, m0 + rows, dst);
        return dst;
    }
};

// acc (dW^T, K x L row-major) += dY_rows^T * P_rows over `rows` patch rows, for the patch columns
// [l0, l1); with `overwrite`, the first depth block overwrites acc instead of adding to it. With
// `db_acc`, each depth block's dY rows are added to it too, while the GEMM has them in cache.
template <typename T>
void accumulate_dw(const ConvShape& s, const T* patches, const T* dy_rows, index_t rows, index_t l0, index_t l1,
                   index_t depth_block, T* acc, bool overwrite, T* edge, T* packed_b, T* db_acc = nullptr) {
    const index_t L = s.patch_length();
    for (index_t k0 = 0; k0 < rows; k0 += depth_block) {  // depth: output positions
        const index_t kc = std::min(depth_block, rows - k0);
        for (index_t j0 = l0; j0 < l1; j0 += tuning<T>().dw_columns) {
            const index_t jc = std::min(tuning<T>().dw_columns, l1 - j0);
            pack_b_panels_rowmajor(patches + k0 * L + j0, L, kc, jc, packed_b);
            // A = dY^T: element (filter i, position k) at dy[k*K + i], in tiles of the fewest
            // filters (see implicit_gemm_conv_backward_weights()).
            gemm_block<T, GemmTile<T>::kMinMR>(dy_rows + k0 * s.k, s.k, false, s.k, kc, packed_b, jc, acc + j0, L,
                                               !(overwrite && k0 == 0), static_cast<const T*>(nullptr), edge);
        }
        if (db_acc) add_rows(dy_rows, s.k, k0, k0 + kc, s.k, db_acc);
    }
}
}  // namespace detail

/// Packs W ((Fh*Fw*D1) x K, column-major) as im2col_conv_forward() multiplies it: NR-column
/// panels, one depth block after another (packed_weight_elements() values).
template <typename T>
void im2col_pack_forward_weights(const ConvShape& s, const T* w, T* packed, int threads = 1) {
    const index_t L = s.patch_length(), Kp = detail::round_up(s.k, GemmTile<T>::NR), KC = detail::depth_block<T>(L);
    parallel_for((L + KC - 1) / KC, threads, [&](index_t kb, int) {
        const index_t k0 = kb * KC;
        pack_b_panels_colmajor(w + k0, L, std::min(KC, L - k0), s.k, packed + k0 * Kp);
    });
}

/// Packs W^T (K x (Fh*Fw*D1), row-major: OHWI) as im2col_conv_backward_data() multiplies it.
template <typename T>
void im2col_pack_backward_data_weights(const ConvShape& s, const T* w, T* packed, int threads = 1) {
    const index_t L = s.patch_length(), Lp = detail::round_up(L, GemmTile<T>::NR), KC = detail::depth_block<T>(s.k);
    parallel_for((s.k + KC - 1) / KC, threads, [&](index_t kb, int) {
        const index_t k0 = kb * KC;
        pack_b_panels_rowmajor(w + k0 * L, L, std::min(KC, s.k - k0), L, packed + k0 * Lp);
    });
}

/// The patch columns [begin, end) that can be non-zero for output positions [m0, m0 + rows):
/// from the first to the last kernel row whose input row lies inside the image for one of them.
/// (Patches are in (ky, kx, d) order, so a kernel row is F_w*D1 contiguous columns.) Near the top
/// and bottom edges the rest are zero padding, which the GEMM can skip.
inline std::pair<index_t, index_t> live_patch_columns(const ConvShape& s, index_t m0, index_t rows) {
    const index_t W2 = s.x.out, H2 = s.y.out;
    const index_t first = m0 / W2, last = (m0 + rows - 1) / W2;  // output rows over the whole batch
    if (last - first + 1 >= H2) return {0, s.patch_length()};
    index_t lo = s.y.kernel, hi = 0;
    for (index_t r = first; r <= last; ++r)
        for (index_t ky = 0; ky < s.y.kernel; ++ky) {
            const index_t iy = s.y.input_coord(r % H2, ky);
            if (iy >= 0 && iy < s.y.in) {
                lo = std::min(lo, ky);
                hi = std::max(hi, ky + 1);
            }
        }
    const index_t segment = s.x.kernel * s.d1;
    return lo < hi ? std::pair<index_t, index_t>{lo * segment, hi * segment} : std::pair<index_t, index_t>{0, 0};
}

namespace detail {
// How the rows of one GEMM are cut: tiles of `mr` rows (best_tile_rows()), multiplied
// `block` rows (whole tiles, at most kGemmRowBlock) at a time, the tiles split evenly over the
// blocks (196 rows: 5 + 5 + 4 tiles of 14, not 96 + 96 + 4 rows, whose last block reads every
// panel of B for one third-full tile).
struct RowBlocking {
    int mr;
    index_t block;
};
template <typename T>
RowBlocking row_blocking(index_t rows) {
    const int mr = best_tile_rows<T>(rows);
    const index_t tiles = (rows + mr - 1) / mr, tiles_per_block = std::max<index_t>(1, kGemmRowBlock / mr);
    const index_t blocks = (tiles + tiles_per_block - 1) / tiles_per_block;
    return {mr, (tiles + blocks - 1) / blocks * mr};
}

// Calls f(i0, i1, live) for runs [i0, i1) of the `rows` patch rows from m0, in whole `mr`-row
// panels (the last may be partial), whose panels share the same live_patch_columns().
template <typename F>
void for_each_live_run(const ConvShape& s, index_t m0, index_t rows, index_t mr, F&& f) {
    auto live_of = [&](index_t i) { return live_patch_columns(s, m0 + i, std::min(mr, rows - i)); };
    for (index_t i0 = 0, i1; i0 < rows; i0 = i1) {
        const auto live = live_of(i0);
        for (i1 = i0 + mr; i1 < rows && live_of(i1) == live;) i1 += mr;
        i1 = std::min(i1, rows);
        f(i0, i1, live);
    }
}
}  // namespace detail

/// y = conv(x, w) + b. `b` may be null. `workspace` holds im2col_workspace_elements() elements.
/// With `prepacked` (from im2col_pack_forward_weights()) w is not read and not packed again.
template <typename T>
void im2col_conv_forward(const ConvShape& s, const T* x, const T* w, const T* b, T* y, T* workspace,
                         index_t block_rows, int threads = 1, bool skip_im2col = false,
                         const T* prepacked = nullptr) {
    const index_t M = s.output_positions(), L = s.patch_length(), Kp = detail::round_up(s.k, GemmTile<T>::NR);
    const detail::Im2colWorkspace<T> ws(s, ConvPass::forward, workspace, block_rows, threads, skip_im2col);
    const index_t KC = detail::depth_block<T>(L);
    if (!prepacked) im2col_pack_forward_weights(s, w, ws.packed_w, threads);
    const T* packed_w = prepacked ? prepacked : ws.packed_w;
    // Few output positions (a small batch of small images) split unevenly into row panels; then
    // each thread takes every row for its share of the filters instead (im2col done per thread).
    const index_t row_blocks = (M + block_rows - 1) / block_rows, k_panels = Kp / GemmTile<T>::NR;
    const index_t col_groups = forward_splits_filters<T>(s, threads) ? threads : 1;
    const bool restride_a = rows_share_l1_sets(L * static_cast<index_t>(sizeof(T)));
    parallel_for(row_blocks * col_groups, threads, [&](index_t task, int t) {
        const index_t blk = task % row_blocks, group = task / row_blocks;
        const auto [p0, p1] = detail::split_range(k_panels, col_groups, group);
        const index_t c0 = p0 * GemmTile<T>::NR, c1 = std::min(s.k, p1 * GemmTile<T>::NR);
        const index_t m0 = blk * block_rows, rows = std::min(block_rows, M - m0);
        T* edge = ws.packing_of(t);
        const T* patches = ws.block_patches(s, x, m0, rows, block_rows, t, skip_im2col);
        const auto blocking = detail::row_blocking<T>(rows);
        for (index_t r0 = 0; r0 < rows; r0 += blocking.block) {
            const index_t mc = std::min(blocking.block, rows - r0);
            // The depth outside each run's live columns is zero padding: not multiplied.
            detail::for_each_live_run(s, m0 + r0, mc, blocking.mr, [&](index_t i0, index_t i1, std::pair<index_t, index_t> live) {
                bool written = false;
                for (index_t k0 = 0; k0 < L; k0 += KC) {
                    const index_t kc = std::min(KC, L - k0);
                    const index_t d0 = std::max(k0, live.first), d1 = std::min(k0 + kc, live.second);
                    if (d0 >= d1 && (written || k0 + kc < L)) continue;
                    // Columns [c0, c1): the packed panels of a depth block are kc x NR each; depth
                    // [d0, d1) of it (none at all writes the bias alone).
                    const index_t depth = std::max<index_t>(d1 - d0, 0);
                    const T* a = patches + (r0 + i0) * L + d0;
                    const T* bp = packed_w + k0 * Kp + c0 * kc + (d0 - k0) * GemmTile<T>::NR;
                    T* c = y + (m0 + r0 + i0) * s.k + c0;
                    const index_t lda = restride_a ? detail::unaliased_stride<T>(depth) : L;
                    if (restride_a) {
                        T* copy = edge + detail::edge_panel_elements<T>();
                        for (index_t i = 0; i < i1 - i0; ++i) std::copy_n(a + i * L, depth, copy + i * lda);
                        a = copy;
                    }
                    with_tile_rows<T>(blocking.mr, [&](auto mr) {
                        gemm_block<T, mr>(a, lda, true, i1 - i0, depth, bp, c1 - c0, c, s.k, written, b ? b + c0 : b,
                                          edge, GemmTile<T>::NR * kc);
                    });
                    written = true;
                }
            });
        }
    });
}

/// dw = sum over blocks of P_blk^T dY_blk (overwritten; dW^T row-major is dW column-major).
/// With `db`, also the bias gradient (overwritten), summed from each block of dY's rows while the
/// GEMM has it in cache; `db_scratch` then holds conv_bias_gradient_scratch_elements(K, threads).
template <typename T>
void im2col_conv_backward_weights(const ConvShape& s, const T* x, const T* dy, T* dw, T* workspace,
                                  index_t block_rows, int threads = 1, bool skip_im2col = false, T* db = nullptr,
                                  T* db_scratch = nullptr) {
    const index_t M = s.output_positions(), L = s.patch_length(), shared_rows = block_rows * threads;
    const detail::Im2colWorkspace<T> ws(s, ConvPass::backward_weights, workspace, block_rows, threads, skip_im2col);
    if (private_dw<T>(s, threads)) {
        // Each thread accumulates dW^T (and db) over its own blocks (thread 0 straight into dw and
        // db), then the accumulators are summed.
        const index_t size = L * s.k;
        detail::clear_with_accumulators(dw, ws.private_acc, size, threads, threads);
        if (db) detail::clear_with_accumulators(db, db_scratch, s.k, threads, threads);
        const index_t KC = detail::depth_block<T>(std::min(block_rows, M));
        parallel_for((M + block_rows - 1) / block_rows, threads, [&](index_t blk, int t) {
            const index_t m0 = blk * block_rows, rows = std::min(block_rows, M - m0);
            T* acc = t == 0 ? dw : ws.private_acc + (t - 1) * size;
            T* db_acc = !db ? nullptr : t == 0 ? db : db_scratch + (t - 1) * s.k;
            const T* patches = ws.block_patches(s, x, m0, rows, block_rows, t, skip_im2col);
            detail::accumulate_dw(s, patches, dy + m0 * s.k, rows, 0, L, KC, acc, false, ws.packing_of(t),
                                  ws.packed_b_of(s, t), db_acc);
        });
        detail::add_private_accumulators(dw, ws.private_acc, size, threads);
        if (db) add_bias_gradient_parts(db, static_cast<const T*>(db_scratch), s.k, threads);
        return;
    }
    // Without im2col there is no patch buffer to bound: every row in one pass over dW.
    const index_t pass_rows = skip_im2col ? M : shared_rows;
    const index_t KC = detail::depth_block<T>(std::min(pass_rows, M));
    const index_t panels = (L + GemmTile<T>::NR - 1) / GemmTile<T>::NR;
    if (db) std::fill_n(db, s.k, T(0));
    for (index_t m0 = 0; m0 < M; m0 += pass_rows) {
        const index_t rows = std::min(pass_rows, M - m0);
        const T* patches = x + m0 * L;
        if (!skip_im2col) {
            parallel_for(threads, threads, [&](index_t part, int) {
                const auto [r0, r1] = detail::split_range(rows, threads, part);
                im2col(s, x, m0 + r0, m0 + r1, ws.patches + r0 * L);
            });
            patches = ws.patches;
        }
        // Each thread its whole NR panels of dW's columns over every row; the first also sums db.
        parallel_for(threads, threads, [&](index_t part, int t) {
            const auto [p0, p1] = detail::split_range(panels, threads, part);
            const index_t l0 = p0 * GemmTile<T>::NR, l1 = std::min(L, p1 * GemmTile<T>::NR);
            detail::accumulate_dw(s, patches, dy + m0 * s.k, rows, l0, l1, KC, dw, m0 == 0, ws.packing_of(t),
                                  ws.packed_b_of(s, t), part == 0 ? db : nullptr);
        });
    }
}

namespace detail {
// How backward-data spreads its blocks over the threads. Blocks scatter (col2im) into
// overlapping input rows, so one of three schedules:
// - gemm1x1 (no im2col): block i writes dX rows of block i only, one colour; with few positions
//   the threads split dX's columns instead (as forward_splits_filters()), each over every row
//   in one block (no patch buffer to bound; 196 rows in 4 blocks of 49 would end each in a tile
//   11/12 idle);
// - a small dX (private_dx()): accumulated per thread in free blocks, one colour, summed after;
// - otherwise two colours of blocks at least im2col_two_colour_min_rows() apart; smaller blocks
//   run on one thread.
struct BackwardDataSchedule {
    index_t block_rows, blocks, colours, col_groups;
    int threads;
    bool private_acc;

    template <typename T>
    static BackwardDataSchedule make(const ConvShape& s, index_t block_rows, index_t free_block_rows, int threads,
                                     bool skip_im2col) {
        BackwardDataSchedule d{};
        const index_t M = s.output_positions();
        d.private_acc = private_dx<T>(s, threads, skip_im2col);
        d.block_rows = d.private_acc && free_block_rows > 0 ? free_block_rows : block_rows;
        d.colours = skip_im2col || d.private_acc ? 1 : 2;
        d.threads = threads;
        if (d.colours == 2 && d.block_rows < im2col_two_colour_min_rows(s) && d.block_rows < M) d.threads = 1;
        d.col_groups = skip_im2col && threads_split_columns<T>(M, s.patch_length(), threads) ? threads : 1;
        if (d.col_groups > 1) d.block_rows = M;
        d.blocks = (M + d.block_rows - 1) / d.block_rows;
        return d;
    }
};

// dP rows [m0, m0 + rows), patch columns [c0, c1): dY_rows W^T into `dpatches` (leading
// dimension L). Columns outside each run's live_patch_columns() are not computed; col2im skips
// them.
template <typename T>
void backward_data_patch_gradients(const ConvShape& s, const T* dy, const T* packed_w, index_t m0, index_t rows,
                                   index_t c0, index_t c1, T* dpatches, T* edge) {
    constexpr index_t NR = GemmTile<T>::NR;
    const index_t L = s.patch_length(), Lp = round_up(L, NR), KC = depth_block<T>(s.k);
    const auto blocking = row_blocking<T>(rows);
    for (index_t r0 = 0; r0 < rows; r0 += blocking.block) {
        const index_t mc = std::min(blocking.block, rows - r0);
        for_each_live_run(s, m0 + r0, mc, blocking.mr, [&](index_t i0, index_t i1, std::pair<index_t, index_t> live) {
            // Whole NR panels of [c0, c1) that meet the live columns.
            const index_t l0 = std::max(c0, live.first / NR * NR), l1 = std::min(c1, live.second);
            if (l0 >= l1) return;
            for (index_t k0 = 0; k0 < s.k; k0 += KC) {
                const index_t kc = std::min(KC, s.k - k0);
                with_tile_rows<T>(blocking.mr, [&](auto mr) {
                    gemm_block<T, mr>(dy + (m0 + r0 + i0) * s.k + k0, s.k, true, i1 - i0, kc,
                                      packed_w + k0 * Lp + l0 * kc, l1 - l0, dpatches + (r0 + i0) * L + l0, L, k0 > 0,
                                      static_cast<const T*>(nullptr), edge);
                });
            }
        });
    }
}
}  // namespace detail

/// dx = sum over blocks of col2im(dY_blk W^T) (overwritten), scheduled as
/// detail::BackwardDataSchedule describes. With `prepacked` (from
/// im2col_pack_backward_data_weights()) w is not read. When private_dx(), blocks have
/// `free_block_rows` rows (0: block_rows), as they need no colouring.
template <typename T>
void im2col_conv_backward_data(const ConvShape& s, const T* dy, const T* w, T* dx, T* workspace, index_t block_rows,
                               int threads = 1, bool skip_im2col = false, const T* prepacked = nullptr,
                               index_t free_block_rows = 0) {
    constexpr index_t NR = GemmTile<T>::NR;
    const auto d = detail::BackwardDataSchedule::make<T>(s, block_rows, free_block_rows, threads, skip_im2col);
    const index_t M = s.output_positions(), L = s.patch_length(), size = s.input().size();
    // Laid out for the caller's thread count (without im2col there are no patch rows to size).
    const detail::Im2colWorkspace<T> ws(s, ConvPass::backward_data, workspace, d.block_rows, threads, skip_im2col);
    if (!prepacked) im2col_pack_backward_data_weights(s, w, ws.packed_w, threads);
    const T* packed_w = prepacked ? prepacked : ws.packed_w;
    if (!skip_im2col)  // col2im adds into dX (and the private accumulators)
        detail::clear_with_accumulators(dx, ws.private_acc, size, d.private_acc ? threads : 1, threads);
    const index_t l_panels = detail::round_up(L, NR) / NR;
    for (index_t colour = 0; colour < d.colours; ++colour) {
        const index_t colour_blocks = (d.blocks - colour + d.colours - 1) / d.colours;
        parallel_for(colour_blocks * d.col_groups, d.threads, [&](index_t task, int t) {
            const index_t i = task % colour_blocks, group = task / colour_blocks;
            const auto [p0, p1] = detail::split_range(l_panels, d.col_groups, group);
            const index_t m0 = (d.colours * i + colour) * d.block_rows, rows = std::min(d.block_rows, M - m0);
            T* dpatches = skip_im2col ? dx + m0 * L : ws.patches + t * d.block_rows * L;
            detail::backward_data_patch_gradients(s, dy, packed_w, m0, rows, p0 * NR, std::min(L, p1 * NR), dpatches,
                                                  ws.packing_of(t));
            if (!skip_im2col)
                col2im_add(s, dpatches, m0, m0 + rows, d.private_acc && t > 0 ? ws.private_acc + (t - 1) * size : dx);
        });
    }
    if (d.private_acc) detail::add_private_accumulators(dx, ws.private_acc, size, threads);
}

/// Gradients of conv: dx (may be null: not needed), dw and db (may be null) are overwritten.
/// `workspace` holds im2col_workspace_elements() elements.
/// `prepacked` and `free_block_rows`: see im2col_conv_backward_data() (the workspace must hold
/// the larger of block_rows and free_block_rows). (dW keeps block_rows: its blocks need no
/// colouring, but larger ones measured slower with 2 threads, 272 vs 343 GFLOP/s on ResNet's
/// 1x1 at N = 1.)
template <typename T>
void im2col_conv_backward(const ConvShape& s, const T* x, const T* dy, const T* w, T* dx, T* dw, T* db,
                          T* workspace, index_t block_rows, int threads = 1, bool skip_im2col = false,
                          const T* prepacked = nullptr, index_t free_block_rows = 0) {
    if (db) conv_bias_gradient(dy, s.output_positions(), s.k, db, static_cast<T*>(nullptr), 1);
    if (dw) im2col_conv_backward_weights(s, x, dy, dw, workspace, block_rows, threads, skip_im2col);
    if (dx)
        im2col_conv_backward_data(s, dy, w, dx, workspace, block_rows, threads, skip_im2col, prepacked,
                                  free_block_rows);
}

// Plans (see conv_plan.hpp). kSkipIm2col: ConvAlgorithm::gemm1x1, the same kernels reading x and
// writing dx as the patch matrix itself; otherwise ConvAlgorithm::im2col, which runs anything.

namespace detail {
template <bool kSkipIm2col>
struct Im2colRule {
    static std::string refusal(const ConvShape& s) {
        return !kSkipIm2col || s.im2col_is_identity() ? std::string()
                                                      : "it needs a 1x1 kernel, stride 1 and no padding";
    }
    // gemm1x1 wherever it applies; im2col is the fallback of every pass.
    static bool pays_off(const ConvShape& s, int) { return !kSkipIm2col || s.im2col_is_identity(); }
};
}  // namespace detail

/// ConvAlgorithm::im2col (or gemm1x1), forward.
template <typename T, bool kSkipIm2col = false>
struct Im2colForward final : ConvPlan<T>, detail::Im2colRule<kSkipIm2col> {
    /// The element type (make_plan() reads it).
    using Scalar = T;
    /// The problem the plan was made for.
    ConvShape s;
    /// Threads the pass runs on.
    int threads;
    /// Output positions (patch rows) per block, from im2col_forward_block_rows().
    index_t block_rows;
    /// Sizes the blocks for `c`'s shape, threads and per-thread workspace budget.
    explicit Im2colForward(const ConvPlanContext& c)
        : s(c.shape), threads(c.threads), block_rows(im2col_forward_block_rows<T>(s, c.budget_bytes, threads)) {}
    index_t workspace_elements() const override {
        return im2col_workspace_elements<T>(s, ConvPass::forward, block_rows, threads, kSkipIm2col, false);
    }
    index_t packed_weight_elements() const override { return kernels::packed_weight_elements<T>(s); }
    void pack_weights(const T* w, T* packed, T*) const override { im2col_pack_forward_weights(s, w, packed, threads); }
    void run(const ConvOperands<T>& io, T* workspace) const override {
        im2col_conv_forward(s, io.x, io.weights, io.bias, io.y, workspace, block_rows, threads, kSkipIm2col, io.packed);
        if (!kSkipIm2col) repair_forward_border(s, io.x, io.weights, io.bias, io.y);
    }
};

/// ConvAlgorithm::im2col (or gemm1x1), backward-data.
template <typename T, bool kSkipIm2col = false>
struct Im2colBackwardData final : ConvPlan<T>, detail::Im2colRule<kSkipIm2col> {
    /// The element type (make_plan() reads it).
    using Scalar = T;
    /// The problem the plan was made for.
    ConvShape s;
    /// Threads the pass runs on.
    int threads;
    /// \var block_rows
    /// Output positions per block of the two-colour dX schedule, from im2col_block_rows().
    /// \var free_block_rows
    /// Output positions per block when dX is accumulated per thread and blocks need no colouring,
    /// from im2col_forward_block_rows().
    index_t block_rows, free_block_rows;  // blocks in two colours, blocks that need none
    /// Sizes the blocks for `c`'s shape, threads and per-thread workspace budget.
    explicit Im2colBackwardData(const ConvPlanContext& c)
        : s(c.shape),
          threads(c.threads),
          block_rows(im2col_block_rows(s, c.budget_bytes, sizeof(T), threads)),
          free_block_rows(im2col_forward_block_rows<T>(s, c.budget_bytes, threads)) {}
    index_t workspace_elements() const override {
        return im2col_workspace_elements<T>(s, ConvPass::backward_data, std::max(block_rows, free_block_rows), threads,
                                            kSkipIm2col, false);
    }
    index_t packed_weight_elements() const override { return kernels::packed_weight_elements<T>(s); }
    void pack_weights(const T* w, T* packed, T*) const override {
        im2col_pack_backward_data_weights(s, w, packed, threads);
    }
    void run(const ConvOperands<T>& io, T* workspace) const override {
        im2col_conv_backward_data(s, io.dy, io.weights, io.dx, workspace, block_rows, threads, kSkipIm2col, io.packed,
                                  free_block_rows);
    }
};

/// ConvAlgorithm::im2col (or gemm1x1), backward-weights and db.
template <typename T, bool kSkipIm2col = false>
struct Im2colBackwardWeights final : ConvPlan<T>, detail::Im2colRule<kSkipIm2col> {
    /// The element type (make_plan() reads it).
    using Scalar = T;
    /// The problem the plan was made for.
    ConvShape s;
    /// Threads the pass runs on.
    int threads;
    /// Output positions (patch rows) per block, from im2col_block_rows().
    index_t block_rows;
    /// Sizes the blocks for `c`'s shape, threads and per-thread workspace budget.
    explicit Im2colBackwardWeights(const ConvPlanContext& c)
        : s(c.shape), threads(c.threads), block_rows(im2col_block_rows(s, c.budget_bytes, sizeof(T), threads)) {}
    index_t workspace_elements() const override {
        return layout().elements(
            im2col_workspace_elements<T>(s, ConvPass::backward_weights, block_rows, threads, kSkipIm2col, false));
    }
    void run(const ConvOperands<T>& io, T* workspace) const override {
        im2col_conv_backward_weights(s, io.x, io.dy, io.dw, layout().kernel_part(workspace), block_rows, threads,
                                     kSkipIm2col, io.db, workspace);
        if (!kSkipIm2col) repair_weight_gradient_if_nonfinite(s, io.x, io.dy, io.dw, io.db);
    }

private:
    BiasGradientThenKernel<T> layout() const { return {s.k, threads}; }
};

/// ConvAlgorithm::gemm1x1: the im2col plans with the NHWC input as the patch matrix.
template <typename T>
using Gemm1x1Forward = Im2colForward<T, true>;
/// ConvAlgorithm::gemm1x1, backward-data: writes dx as the patch matrix itself.
template <typename T>
using Gemm1x1BackwardData = Im2colBackwardData<T, true>;
/// ConvAlgorithm::gemm1x1, backward-weights and db: reads x as the patch matrix itself.
template <typename T>
using Gemm1x1BackwardWeights = Im2colBackwardWeights<T, true>;

}  // namespace convlayer::kernels
