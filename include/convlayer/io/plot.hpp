// Line plots of per-epoch series (training loss, test accuracy, ...) rendered to an RGB Image,
// with a tiny built-in bitmap font. No dependencies beyond image.hpp: write the result with
// write_png (png.hpp).
//
//   Series loss{"train loss", losses, {31, 119, 180}};
//   Series acc{"test accuracy", accuracies, {214, 39, 40}, /*right_axis=*/true};
//   write_png("training.png", line_plot({"Fashion-MNIST", "epoch", {loss, acc}}));
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "convlayer/io/image.hpp"

namespace convlayer::io {

/// An RGB colour, 8 bits per channel.
using Rgb = std::array<std::uint8_t, 3>;

// ---------------------------------------------------------------------------------------------
// Bitmap font: 5 x 7 glyphs (cap height 7, lower-case x-height 5) in a 6 x 9 cell (1 column of
// spacing, 2 rows for descenders). Each glyph is up to 9 rows of 5 pixels, '#' = ink, rows
// separated by one space; rows left out are blank. Printable ASCII; anything else draws '?'.

namespace detail {
// clang-format off
inline constexpr const char* font_glyphs[95] = {
    "",                                               // ' '
    "..#.. ..#.. ..#.. ..#.. ..#.. ..... ..#..",      // !
    ".#.#. .#.#.",                                    // "
    ".#.#. .#.#. ##### .#.#. ##### .#.#. .#.#.",      // #
    "..#.. .#### #.#.. .###. ..#.# ####. ..#..",      // $
    "##... ##..# ...#. ..#.. .#... #..## ...##",      // %
    ".##.. #..#. #.#.. .#... #.#.# #..#. .##.#",      // &
    "..#.. ..#.. .#...",                              // '
    "...#. ..#.. .#... .#... .#... ..#.. ...#.",      // (
    ".#... ..#.. ...#. ...#. ...#. ..#.. .#...",      // )
    "..... ..#.. #.#.# .###. #.#.# ..#..",            // *
    "..... ..#.. ..#.. ##### ..#.. ..#..",            // +
    "..... ..... ..... ..... ..... ..##. ..##. ...#. ..#..",  // ,
    "..... ..... ..... #####",                        // -
    "..... ..... ..... ..... ..... .##.. .##..",      // .
    "....# ....# ...#. ..#.. .#... #.... #....",      // /
    ".###. #...# #..## #.#.# ##..# #...# .###.",      // 0
    "..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###.",      // 1
    ".###. #...# ....# ...#. ..#.. .#... #####",      // 2
    "##### ...#. ..#.. ...#. ....# #...# .###.",      // 3
    "...#. ..##. .#.#. #..#. ##### ...#. ...#.",      // 4
    "##### #.... ####. ....# ....# #...# .###.",      // 5
    "..##. .#... #.... ####. #...# #...# .###.",      // 6
    "##### ....# ...#. ..#.. .#... .#... .#...",      // 7
    ".###. #...# #...# .###. #...# #...# .###.",      // 8
    ".###. #...# #...# .#### ....# ...#. .##..",      // 9
    "..... .##.. .##.. ..... .##.. .##..",            // :
    "..... .##.. .##.. ..... .##.. .##.. ..#.. .#...",  // ;
    "...#. ..#.. .#... #.... .#... ..#.. ...#.",      // <
    "..... ..... ##### ..... #####",                  // =
    ".#... ..#.. ...#. ....# ...#. ..#.. .#...",      // >
    ".###. #...# ....# ...#. ..#.. ..... ..#..",      // ?
    ".###. #...# ....# .##.# #.#.# #.#.# .###.",      // @
    ".###. #...# #...# ##### #...# #...# #...#",      // A
    "####. #...# #...# ####. #...# #...# ####.",      // B
    ".###. #...# #.... #.... #.... #...# .###.",      // C
    "###.. #..#. #...# #...# #...# #..#. ###..",      // D
    "##### #.... #.... ####. #.... #.... #####",      // E
    "##### #.... #.... ####. #.... #.... #....",      // F
    ".###. #...# #.... #.### #...# #...# .####",      // G
    "#...# #...# #...# ##### #...# #...# #...#",      // H
    ".###. ..#.. ..#.. ..#.. ..#.. ..#.. .###.",      // I
    "..### ...#. ...#. ...#. ...#. #..#. .##..",      // J
    "#...# #..#. #.#.. ##... #.#.. #..#. #...#",      // K
    "#.... #.... #.... #.... #.... #.... #####",      // L
    "#...# ##.## #.#.# #.#.# #...# #...# #...#",      // M
    "#...# #...# ##..# #.#.# #..## #...# #...#",      // N
    ".###. #...# #...# #...# #...# #...# .###.",      // O
    "####. #...# #...# ####. #.... #.... #....",      // P
    ".###. #...# #...# #...# #.#.# #..#. .##.#",      // Q
    "####. #...# #...# ####. #.#.. #..#. #...#",      // R
    ".#### #.... #.... .###. ....# ....# ####.",      // S
    "##### ..#.. ..#.. ..#.. ..#.. ..#.. ..#..",      // T
    "#...# #...# #...# #...# #...# #...# .###.",      // U
    "#...# #...# #...# #...# #...# .#.#. ..#..",      // V
    "#...# #...# #...# #.#.# #.#.# #.#.# .#.#.",      // W
    "#...# #...# .#.#. ..#.. .#.#. #...# #...#",      // X
    "#...# #...# .#.#. ..#.. ..#.. ..#.. ..#..",      // Y
    "##### ....# ...#. ..#.. .#... #.... #####",      // Z
    ".###. .#... .#... .#... .#... .#... .###.",      // [
    "#.... #.... .#... ..#.. ...#. ....# ....#",      // backslash
    ".###. ...#. ...#. ...#. ...#. ...#. .###.",      // ]
    "..#.. .#.#. #...#",                              // ^
    "..... ..... ..... ..... ..... ..... ..... #####",  // _
    ".#... ..#.. ...#.",                              // `
    "..... ..... .###. ....# .#### #...# .####",      // a
    "#.... #.... ####. #...# #...# #...# ####.",      // b
    "..... ..... .###. #.... #.... #...# .###.",      // c
    "....# ....# .#### #...# #...# #...# .####",      // d
    "..... ..... .###. #...# ##### #.... .###.",      // e
    "..##. .#..# .#... ###.. .#... .#... .#...",      // f
    "..... ..... .#### #...# #...# #...# .#### ....# .###.",  // g
    "#.... #.... #.##. ##..# #...# #...# #...#",      // h
    "..#.. ..... .##.. ..#.. ..#.. ..#.. .###.",      // i
    "...#. ..... ..##. ...#. ...#. ...#. ...#. #..#. .##..",  // j
    "#.... #.... #..#. #.#.. ##... #.#.. #..#.",      // k
    ".##.. ..#.. ..#.. ..#.. ..#.. ..#.. .###.",      // l
    "..... ..... ##.#. #.#.# #.#.# #.#.# #.#.#",      // m
    "..... ..... #.##. ##..# #...# #...# #...#",      // n
    "..... ..... .###. #...# #...# #...# .###.",      // o
    "..... ..... ####. #...# #...# #...# ####. #.... #....",  // p
    "..... ..... .#### #...# #...# #...# .#### ....# ....#",  // q
    "..... ..... #.##. ##..# #.... #.... #....",      // r
    "..... ..... .#### #.... .###. ....# ####.",      // s
    ".#... .#... ###.. .#... .#... .#..# ..##.",      // t
    "..... ..... #...# #...# #...# #..## .##.#",      // u
    "..... ..... #...# #...# #...# .#.#. ..#..",      // v
    "..... ..... #...# #...# #.#.# #.#.# .#.#.",      // w
    "..... ..... #...# .#.#. ..#.. .#.#. #...#",      // x
    "..... ..... #...# #...# #...# #...# .#### ....# .###.",  // y
    "..... ..... ##### ...#. ..#.. .#... #####",      // z
    "...## ..#.. ..#.. .#... ..#.. ..#.. ...##",      // {
    "..#.. ..#.. ..#.. ..#.. ..#.. ..#.. ..#..",      // |
    "##... ..#.. ..#.. ...#. ..#.. ..#.. ##...",      // }
    "..... ..... .#... #.#.# ...#.",                  // ~
};
// clang-format on

inline const char* glyph(char c) {
    const int i = static_cast<unsigned char>(c);
    return (i >= 32 && i <= 126) ? font_glyphs[i - 32] : font_glyphs['?' - 32];
}
}  // namespace detail

/// Width in pixels of `text` drawn at `scale`: 6 per character (5 + 1 spacing), less the
/// spacing after the last one.
inline index_t text_width(const std::string& text, index_t scale = 1) {
    return text.empty() ? 0 : (static_cast<index_t>(text.size()) * 6 - 1) * scale;
}
/// Height of a line of text at `scale`: 7 rows of capitals and 2 of descenders.
inline index_t text_height(index_t scale = 1) { return 9 * scale; }

/// Draws `text` with its top-left corner at (x, y), each font pixel a scale x scale block, in
/// `colour` (gray images get the mean of R, G, B). Pixels outside the image are skipped. All ink
/// lies in [x, x + text_width) x [y, y + text_height).
inline void draw_text(Image& image, index_t x, index_t y, const std::string& text, Rgb colour, index_t scale = 1) {
    if (scale < 1) throw std::invalid_argument("draw_text: scale must be >= 1, got " + std::to_string(scale));
    const index_t c = image.channels;
    const std::uint8_t gray = static_cast<std::uint8_t>((colour[0] + colour[1] + colour[2]) / 3);
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char* g = detail::glyph(text[i]);
        const index_t len = static_cast<index_t>(std::strlen(g));
        const index_t gx = x + static_cast<index_t>(i) * 6 * scale;
        for (index_t row = 0; row < 9; ++row)
            for (index_t col = 0; col < 5; ++col) {
                const index_t k = row * 6 + col;
                if (k >= len || g[k] != '#') continue;
                for (index_t sy = 0; sy < scale; ++sy)
                    for (index_t sx = 0; sx < scale; ++sx) {
                        const index_t px = gx + col * scale + sx, py = y + row * scale + sy;
                        if (px < 0 || py < 0 || px >= image.width || py >= image.height) continue;
                        std::uint8_t* p = image.pixels.data() + (py * image.width + px) * c;
                        if (c == 3)
                            std::copy(colour.begin(), colour.end(), p);
                        else
                            std::fill(p, p + c, gray);
                    }
            }
    }
}

// ---------------------------------------------------------------------------------------------
// Plots.

/// One line of a plot: y[i] is the value at x = i + 1 (epoch i + 1). Non-finite values are
/// skipped and break the line.
struct Series {
    std::string name;  ///< legend text; an empty name leaves the series out of the legend
    /// The values, one per epoch: y[i] is plotted at x = i + 1.
    std::vector<double> y;
    /// Colour of the line, its markers and its legend entry.
    Rgb colour{31, 119, 180};
    bool right_axis = false;  ///< scale against the right axis instead of the left
};

/// What line_plot draws: a title, the x axis label, the series, and the image size.
struct PlotSpec {
    /// \var title
    /// Drawn above the plot (twice the font size when it fits); empty for none.
    /// \var x_label
    /// Drawn under the x axis; empty for none.
    std::string title, x_label;
    /// The lines to plot, at least one; each is scaled against its own (left or right) axis.
    std::vector<Series> series;
    /// \var width
    /// Image width in pixels, at least 120.
    /// \var height
    /// Image height in pixels, at least 100.
    index_t width = 640, height = 400;
};

/// A linear axis: the range [lo, hi] shown and the tick values with their labels.
struct PlotAxis {
    /// \var lo
    /// Value at the low end of the axis (bottom, or left for x).
    /// \var hi
    /// Value at the high end of the axis (top, or right for x).
    double lo = 0, hi = 1;
    /// Values at which ticks and grid lines are drawn, ascending.
    std::vector<double> ticks;
    /// Text of each tick, parallel to `ticks`.
    std::vector<std::string> labels;
};

/// Where line_plot puts things. The frame spans columns left..right and rows top..bottom
/// (inclusive); data is drawn `inset` pixels inside it.
struct PlotLayout {
    /// Pixels between the frame and the outermost data points.
    static constexpr index_t inset = 8;
    /// \var left
    /// Leftmost column of the frame, in image pixels.
    /// \var top
    /// Top row of the frame.
    /// \var right
    /// Rightmost column of the frame (inclusive).
    /// \var bottom
    /// Bottom row of the frame (inclusive).
    index_t left = 0, top = 0, right = 0, bottom = 0;
    index_t points = 1;  ///< x runs over 1..points
    /// \var has_left
    /// True when some series is scaled against the left axis.
    /// \var has_right
    /// True when some series is scaled against the right axis.
    bool has_left = false, has_right = false;
    /// \var x
    /// The x axis: epochs 1..points.
    /// \var y_left
    /// The left value axis (series with right_axis == false).
    /// \var y_right
    /// The right value axis (series with right_axis == true).
    PlotAxis x, y_left, y_right;

    /// Column of x value `xv` (1..points); a single point sits in the middle.
    index_t x_pixel(double xv) const {
        if (points <= 1) return (left + right) / 2;
        const double span = double(right - left - 2 * inset);
        return left + inset + static_cast<index_t>(std::lround((xv - 1) / double(points - 1) * span));
    }
    /// Row of value `v` on the left or right axis.
    index_t y_pixel(double v, bool right_axis) const {
        const PlotAxis& a = right_axis ? y_right : y_left;
        const double span = double(bottom - top - 2 * inset);
        return bottom - inset - static_cast<index_t>(std::lround((v - a.lo) / (a.hi - a.lo) * span));
    }
};

namespace detail {

inline std::string format_tick(double v, int decimals) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    return buf;
}

/// An axis covering [lo, hi] with ticks at round numbers (1, 2 or 5 times a power of ten): the
/// finest such step that gives at most target + 1 ticks; the range is widened to whole ticks.
inline PlotAxis nice_axis(double lo, double hi, index_t target) {
    if (!(lo <= hi)) {  // no data
        lo = 0;
        hi = 1;
    }
    if (hi - lo <= 1e-12 * std::max(1.0, std::abs(hi))) {
        const double pad = lo == 0 ? 1.0 : std::abs(lo) * 0.1;
        lo -= pad;
        hi += pad;
    }
    const double raw = (hi - lo) / double(std::max<index_t>(target - 1, 1));
    const int e = static_cast<int>(std::floor(std::log10(raw)));
    const double p10 = std::pow(10.0, e);
    double mantissa = 10, step = 10 * p10;  // 10 * p10 >= raw always fits
    for (double m : {1.0, 2.0, 5.0}) {
        const double count = std::ceil(hi / (m * p10) - 1e-9) - std::floor(lo / (m * p10) + 1e-9) + 1;
        if (count <= double(target + 1)) {
            mantissa = m, step = m * p10;
            break;
        }
    }
    // Tick k is k * mantissa * 10^e, computed with one rounding (0.6, not 6 * 0.1).
    const double scale = std::pow(10.0, std::abs(e));
    auto tick = [&](double k) { return e < 0 ? k * mantissa / scale : k * mantissa * scale; };
    PlotAxis a;
    const double first = std::floor(lo / step + 1e-9), last = std::ceil(hi / step - 1e-9);
    a.lo = tick(first);
    a.hi = tick(last);
    const int decimals = std::clamp(-e - (mantissa == 10 ? 1 : 0), 0, 12);
    for (double k = first; k <= last + 0.5; k += 1) {
        a.ticks.push_back(tick(k) == 0 ? 0.0 : tick(k));  // no "-0"
        a.labels.push_back(format_tick(a.ticks.back(), decimals));
    }
    return a;
}

inline void fill_rect(Image& im, index_t x0, index_t y0, index_t x1, index_t y1, Rgb c) {  // [x0, x1) x [y0, y1)
    x0 = std::max<index_t>(x0, 0), y0 = std::max<index_t>(y0, 0);
    x1 = std::min(x1, im.width), y1 = std::min(y1, im.height);
    for (index_t y = y0; y < y1; ++y)
        for (index_t x = x0; x < x1; ++x) std::copy(c.begin(), c.end(), im.pixels.data() + (y * im.width + x) * 3);
}

/// Bresenham line, 2 pixels wide (a 2 x 2 brush at every step).
inline void draw_line(Image& im, index_t x0, index_t y0, index_t x1, index_t y1, Rgb c) {
    const index_t dx = std::abs(x1 - x0), dy = -std::abs(y1 - y0);
    const index_t sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
    index_t err = dx + dy;
    for (;;) {
        fill_rect(im, x0, y0, x0 + 2, y0 + 2, c);
        if (x0 == x1 && y0 == y1) break;
        const index_t e2 = 2 * err;
        if (e2 >= dy) err += dy, x0 += sx;
        if (e2 <= dx) err += dx, y0 += sy;
    }
}

/// Marker `shape` (0 disc, 1 square, 2 triangle, 3 diamond) of radius r centred on (cx, cy).
inline void draw_marker(Image& im, index_t cx, index_t cy, int shape, index_t r, Rgb c) {
    for (index_t dy = -r; dy <= r; ++dy)
        for (index_t dx = -r; dx <= r; ++dx) {
            bool in = false;
            switch (shape % 4) {
                case 0: in = dx * dx + dy * dy <= r * r + r / 2; break;
                case 1: in = true; break;
                case 2: in = 2 * std::abs(dx) <= dy + r; break;  // apex up, base on row cy + r
                default: in = std::abs(dx) + std::abs(dy) <= r + 1; break;
            }
            if (in) fill_rect(im, cx + dx, cy + dy, cx + dx + 1, cy + dy + 1, c);
        }
}

inline index_t widest(const std::vector<std::string>& labels) {
    index_t w = 0;
    for (const auto& s : labels) w = std::max(w, text_width(s));
    return w;
}

/// Legend rows: indices of named series, wrapped to fit `max_width`.
inline std::vector<std::vector<std::size_t>> legend_rows(const PlotSpec& spec, index_t max_width,
                                                         std::vector<index_t>* row_widths) {
    std::vector<std::vector<std::size_t>> rows;
    row_widths->clear();
    for (std::size_t i = 0; i < spec.series.size(); ++i) {
        if (spec.series[i].name.empty()) continue;
        const index_t w = 20 + 4 + text_width(spec.series[i].name);
        if (rows.empty() || row_widths->back() + 14 + w > max_width) {
            rows.emplace_back();
            row_widths->push_back(-14);
        }
        rows.back().push_back(i);
        row_widths->back() += 14 + w;
    }
    return rows;
}

constexpr index_t plot_margin = 10;
constexpr Rgb plot_ink{40, 40, 40}, plot_frame{90, 90, 90}, plot_grid{228, 228, 228};

}  // namespace detail

/// The layout line_plot uses for `spec`: frame position, axes and ticks. Throws
/// std::invalid_argument when there are no series or the image is too small for the labels.
inline PlotLayout plot_layout(const PlotSpec& spec) {
    using namespace detail;
    if (spec.series.empty()) throw std::invalid_argument("line_plot: no series to plot");
    if (spec.width < 120 || spec.height < 100)
        throw std::invalid_argument("line_plot: the image must be at least 120 x 100 pixels, got " +
                                    std::to_string(spec.width) + " x " + std::to_string(spec.height));
    PlotLayout L;
    double lo[2] = {HUGE_VAL, HUGE_VAL}, hi[2] = {-HUGE_VAL, -HUGE_VAL};
    for (const Series& s : spec.series) {
        L.points = std::max(L.points, static_cast<index_t>(s.y.size()));
        (s.right_axis ? L.has_right : L.has_left) = true;
        for (double v : s.y) {
            if (!std::isfinite(v)) continue;
            lo[s.right_axis] = std::min(lo[s.right_axis], v);
            hi[s.right_axis] = std::max(hi[s.right_axis], v);
        }
    }

    // Vertical: title, legend, frame, x tick labels, x label.
    index_t y = plot_margin;
    if (!spec.title.empty()) {
        const index_t scale = text_width(spec.title, 2) <= spec.width - 2 * plot_margin ? 2 : 1;
        y += text_height(scale) + 4;
    }
    std::vector<index_t> widths;
    y += static_cast<index_t>(legend_rows(spec, spec.width - 2 * plot_margin, &widths).size()) * 12 + 6;
    L.top = y;
    const index_t tick_label_y = spec.height - plot_margin - text_height() - (spec.x_label.empty() ? 0 : text_height() + 3);
    L.bottom = tick_label_y - 8;
    if (L.bottom - L.top < 2 * PlotLayout::inset + 20)
        throw std::invalid_argument("line_plot: " + std::to_string(spec.height) +
                                    " pixels are too few rows for the title, legend and axes");
    const index_t y_target = std::clamp<index_t>((L.bottom - L.top) / 50, 3, 8);
    L.y_left = nice_axis(lo[0], hi[0], y_target);
    L.y_right = nice_axis(lo[1], hi[1], y_target);

    // Horizontal: y tick labels on the axes in use.
    L.left = plot_margin + (L.has_left ? widest(L.y_left.labels) + 7 : 10);
    L.right = spec.width - 1 - plot_margin - (L.has_right ? widest(L.y_right.labels) + 7 : 10);
    if (L.right - L.left < 2 * PlotLayout::inset + 20)
        throw std::invalid_argument("line_plot: " + std::to_string(spec.width) + " pixels are too few columns for the axes");

    // x ticks: every 1, 2, 5, 10, 20, ... epochs, as many as fit with their labels.
    const index_t n = L.points;
    L.x.lo = 1;
    L.x.hi = static_cast<double>(n);
    const double px_per_point = n > 1 ? double(L.right - L.left - 2 * PlotLayout::inset) / double(n - 1) : 1e9;
    const double min_gap = double(text_width(std::to_string(n)) + 16);
    index_t step = 1;
    for (index_t m = 1;; m *= 10) {
        if (double(m) * px_per_point >= min_gap) { step = m; break; }
        if (double(2 * m) * px_per_point >= min_gap) { step = 2 * m; break; }
        if (double(5 * m) * px_per_point >= min_gap) { step = 5 * m; break; }
    }
    for (index_t t = step == 1 ? 1 : step; t <= n; t += step) {
        L.x.ticks.push_back(double(t));
        L.x.labels.push_back(std::to_string(t));
    }
    if (L.x.ticks.empty()) {
        L.x.ticks = {1.0};
        L.x.labels = {"1"};
    }
    return L;
}

namespace detail {
// line_plot()'s grid: light lines at the y ticks of the left axis (else the right) and at the x
// ticks.
inline void draw_plot_grid(Image& im, const PlotLayout& L) {
    const PlotAxis& grid_axis = L.has_left ? L.y_left : L.y_right;
    for (double t : grid_axis.ticks) {
        const index_t py = L.y_pixel(t, !L.has_left);
        fill_rect(im, L.left + 1, py, L.right, py + 1, plot_grid);
    }
    for (double t : L.x.ticks) {
        const index_t px = L.x_pixel(t);
        fill_rect(im, px, L.top + 1, px + 1, L.bottom, plot_grid);
    }
}

// line_plot()'s series: each a 2-pixel line broken at non-finite values, then the markers on top.
inline void draw_plot_series(Image& im, const PlotSpec& spec, const PlotLayout& L) {
    const double spacing = L.points > 1 ? double(L.right - L.left - 2 * PlotLayout::inset) / double(L.points - 1) : 1e9;
    const index_t r = spacing >= 8 ? 3 : spacing >= 5 ? 2 : 1;
    for (const Series& s : spec.series) {
        bool have_prev = false;
        index_t px0 = 0, py0 = 0;
        for (std::size_t i = 0; i < s.y.size(); ++i) {
            if (!std::isfinite(s.y[i])) {
                have_prev = false;
                continue;
            }
            const index_t px = L.x_pixel(double(i + 1)), py = L.y_pixel(s.y[i], s.right_axis);
            if (have_prev) draw_line(im, px0, py0, px, py, s.colour);
            px0 = px, py0 = py, have_prev = true;
        }
    }
    for (std::size_t k = 0; k < spec.series.size(); ++k) {
        const Series& s = spec.series[k];
        for (std::size_t i = 0; i < s.y.size(); ++i)
            if (std::isfinite(s.y[i]))
                draw_marker(im, L.x_pixel(double(i + 1)), L.y_pixel(s.y[i], s.right_axis), static_cast<int>(k), r, s.colour);
    }
}

// line_plot()'s frame, the x ticks and labels, and each y axis' ticks and labels (in the colour of
// its only series when both axes are used).
inline void draw_plot_frame(Image& im, const PlotSpec& spec, const PlotLayout& L) {
    fill_rect(im, L.left, L.top, L.right + 1, L.top + 1, plot_frame);
    fill_rect(im, L.left, L.bottom, L.right + 1, L.bottom + 1, plot_frame);
    fill_rect(im, L.left, L.top, L.left + 1, L.bottom + 1, plot_frame);
    fill_rect(im, L.right, L.top, L.right + 1, L.bottom + 1, plot_frame);
    for (std::size_t i = 0; i < L.x.ticks.size(); ++i) {
        const index_t px = L.x_pixel(L.x.ticks[i]);
        fill_rect(im, px, L.bottom + 1, px + 1, L.bottom + 5, plot_frame);
        draw_text(im, px - text_width(L.x.labels[i]) / 2, L.bottom + 8, L.x.labels[i], plot_ink);
    }
    auto axis_colour = [&](bool right) {
        if (!(L.has_left && L.has_right)) return plot_ink;
        const Series* only = nullptr;
        for (const Series& s : spec.series)
            if (s.right_axis == right) {
                if (only) return plot_ink;
                only = &s;
            }
        return only->colour;
    };
    for (int side = 0; side < 2; ++side) {
        const bool right = side == 1;
        if (!(right ? L.has_right : L.has_left)) continue;
        const PlotAxis& a = right ? L.y_right : L.y_left;
        const Rgb colour = axis_colour(right);
        for (std::size_t i = 0; i < a.ticks.size(); ++i) {
            const index_t py = L.y_pixel(a.ticks[i], right);
            const index_t tw = text_width(a.labels[i]);
            if (right) {
                fill_rect(im, L.right + 1, py, L.right + 5, py + 1, plot_frame);
                draw_text(im, L.right + 7, py - 3, a.labels[i], colour);
            } else {
                fill_rect(im, L.left - 4, py, L.left, py + 1, plot_frame);
                draw_text(im, L.left - 7 - tw, py - 3, a.labels[i], colour);
            }
        }
    }
}

// line_plot()'s title on top, the legend under it and x_label under the x axis.
inline void draw_plot_labels(Image& im, const PlotSpec& spec, const PlotLayout& L) {
    index_t y = plot_margin;
    if (!spec.title.empty()) {
        const index_t scale = text_width(spec.title, 2) <= spec.width - 2 * plot_margin ? 2 : 1;
        draw_text(im, (spec.width - text_width(spec.title, scale)) / 2, y, spec.title, plot_ink, scale);
        y += text_height(scale) + 4;
    }
    std::vector<index_t> widths;
    const auto rows = legend_rows(spec, spec.width - 2 * plot_margin, &widths);
    for (std::size_t row = 0; row < rows.size(); ++row, y += 12) {
        index_t x = (spec.width - widths[row]) / 2;
        for (std::size_t i : rows[row]) {
            const Series& s = spec.series[i];
            draw_line(im, x, y + 3, x + 18, y + 3, s.colour);
            draw_marker(im, x + 9, y + 3, static_cast<int>(i), 3, s.colour);
            draw_text(im, x + 24, y, s.name, plot_ink);
            x += 24 + text_width(s.name) + 14;
        }
    }
    if (!spec.x_label.empty())
        draw_text(im, (L.left + L.right - text_width(spec.x_label)) / 2, spec.height - plot_margin - text_height(),
                  spec.x_label, plot_ink);
}
}  // namespace detail

/// Renders the series of `spec` as an RGB image: white background, frame with ticks and
/// numeric tick labels (left axis for series with right_axis == false, right axis for the
/// others; when both are used and an axis carries one series, its labels take that series'
/// colour), light grid, each series as a 2-pixel line with a marker per point, the title on top,
/// a legend under it and x_label under the x axis. Throws std::invalid_argument when there are
/// no series or the image is too small (see plot_layout).
inline Image line_plot(const PlotSpec& spec) {
    const PlotLayout L = plot_layout(spec);
    Image im = Image::blank(spec.width, spec.height, 3, 255);
    detail::draw_plot_grid(im, L);
    detail::draw_plot_series(im, spec, L);
    detail::draw_plot_frame(im, spec, L);
    detail::draw_plot_labels(im, spec, L);
    return im;
}

}  // namespace convlayer::io
