// Line plots and the bitmap font: geometry, where points land, text boxes, bad specs.
#include "convlayer/io/plot.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

using namespace convlayer;
using namespace convlayer::io;

namespace {

const Rgb white{255, 255, 255};
const Rgb red{200, 0, 0};
const Rgb green{0, 150, 0};

Rgb pixel(const Image& im, index_t x, index_t y) { return {im.at(x, y, 0), im.at(x, y, 1), im.at(x, y, 2)}; }

PlotSpec spec_with(std::vector<Series> series) {
    PlotSpec s;
    s.title = "Fashion-MNIST training";
    s.x_label = "epoch";
    s.series = std::move(series);
    return s;
}

// Columns inside the frame (rows top+1..bottom-1) holding colour c, as [first, last].
std::pair<index_t, index_t> columns_with(const Image& im, const PlotLayout& L, Rgb c) {
    index_t first = im.width, last = -1;
    for (index_t y = L.top + 1; y < L.bottom; ++y)
        for (index_t x = L.left + 1; x < L.right; ++x)
            if (pixel(im, x, y) == c) first = std::min(first, x), last = std::max(last, x);
    return {first, last};
}

}  // namespace

TEST(Font, TextStaysInsideItsBox) {
    for (index_t scale : {1, 2}) {
        Image im = Image::blank(450, 40, 3, 255);
        const std::string text = "Loss: -0.25% Test acc gjpqy AZ az 09";
        const index_t x = 3, y = 5;
        draw_text(im, x, y, text, {0, 0, 0}, scale);
        const index_t w = text_width(text, scale), h = text_height(scale);
        EXPECT_EQ(w, (static_cast<index_t>(text.size()) * 6 - 1) * scale);
        index_t ink = 0, below_baseline = 0;
        for (index_t py = 0; py < im.height; ++py)
            for (index_t px = 0; px < im.width; ++px) {
                if (pixel(im, px, py) == white) continue;
                ++ink;
                EXPECT_TRUE(px >= x && px < x + w && py >= y && py < y + h) << "ink at " << px << "," << py;
                if (py >= y + 7 * scale) ++below_baseline;
            }
        EXPECT_GT(ink, 100 * scale * scale);
        EXPECT_GT(below_baseline, 0) << "descenders of g, j, p, q, y";
        // Every character but the space leaves ink in its own 5-pixel-wide cell.
        for (std::size_t i = 0; i < text.size(); ++i) {
            if (text[i] == ' ') continue;
            bool any = false;
            for (index_t py = y; py < y + h; ++py)
                for (index_t px = x + index_t(i) * 6 * scale; px < x + (index_t(i) * 6 + 5) * scale; ++px)
                    any = any || pixel(im, px, py) != white;
            EXPECT_TRUE(any) << "character '" << text[i] << "'";
        }
    }
}

TEST(Font, UnknownCharactersDrawAQuestionMarkAndClip) {
    Image a = Image::blank(10, 10, 3, 255), b = a;
    draw_text(a, 1, 1, "\x01", {0, 0, 0});
    draw_text(b, 1, 1, "?", {0, 0, 0});
    EXPECT_EQ(a.pixels, b.pixels);
    Image gray = Image::blank(8, 8, 1, 255);
    draw_text(gray, -3, -4, "W%", {90, 90, 90});  // partly outside: clipped, no crash
    EXPECT_NE(gray.pixels, std::vector<std::uint8_t>(64, 255));
    EXPECT_EQ(text_width(""), 0);
}

TEST(LinePlot, SizeAndBackground) {
    const Image im = line_plot(spec_with({{"loss", {0.9, 0.5, 0.4}, red}}));
    EXPECT_EQ(im.width, 640);
    EXPECT_EQ(im.height, 400);
    EXPECT_EQ(im.channels, 3);
    EXPECT_EQ(pixel(im, 0, 0), white);
    EXPECT_EQ(pixel(im, 639, 399), white);
    EXPECT_EQ(pixel(im, 639, 0), white);

    PlotSpec small = spec_with({{"loss", {1, 2}, red}});
    small.width = 300;
    small.height = 200;
    const Image s = line_plot(small);
    EXPECT_EQ(s.width, 300);
    EXPECT_EQ(s.height, 200);
}

TEST(LinePlot, PointsLandAtTheirColumnsAndRows) {
    // Different shapes so that no two markers overlap.
    const std::vector<double> loss = {5, 3, 2, 1.5, 1.2};
    const std::vector<double> acc = {0.6, 0.7, 0.8, 0.85, 0.88};
    const PlotSpec spec = spec_with({{"loss", loss, red}, {"accuracy", acc, green, true}});
    const Image im = line_plot(spec);
    const PlotLayout L = plot_layout(spec);
    ASSERT_TRUE(L.has_left && L.has_right);
    ASSERT_EQ(L.points, 5);

    // Epochs 1..5 evenly spread between the frame's insets.
    EXPECT_EQ(L.x_pixel(1), L.left + PlotLayout::inset);
    EXPECT_EQ(L.x_pixel(5), L.right - PlotLayout::inset);
    const double gap = double(L.x_pixel(5) - L.x_pixel(1)) / 4;
    for (int e = 1; e <= 5; ++e) EXPECT_NEAR(L.x_pixel(e), L.x_pixel(1) + (e - 1) * gap, 0.5);

    // Axes are round numbers covering the data, ends at the insets.
    EXPECT_LE(L.y_left.lo, 1.2);
    EXPECT_GE(L.y_left.hi, 5);
    EXPECT_LE(L.y_right.lo, 0.6);
    EXPECT_GE(L.y_right.hi, 0.88);
    EXPECT_EQ(L.y_pixel(L.y_left.lo, false), L.bottom - PlotLayout::inset);
    EXPECT_EQ(L.y_pixel(L.y_left.hi, false), L.top + PlotLayout::inset);
    EXPECT_EQ(L.y_pixel(L.y_right.hi, true), L.top + PlotLayout::inset);
    EXPECT_EQ(L.y_left.ticks.front(), L.y_left.lo);
    EXPECT_EQ(L.y_left.ticks.back(), L.y_left.hi);
    EXPECT_EQ(L.y_left.ticks.size(), L.y_left.labels.size());

    for (int i = 0; i < 5; ++i) {
        const index_t x = L.x_pixel(i + 1);
        EXPECT_EQ(pixel(im, x, L.y_pixel(loss[i], false)), red) << "loss point " << i;
        EXPECT_EQ(pixel(im, x, L.y_pixel(acc[i], true)), green) << "accuracy point " << i;
        if (i > 0) {
            EXPECT_GT(L.y_pixel(loss[i], false), L.y_pixel(loss[i - 1], false)) << "smaller values are lower down";
            EXPECT_LT(L.y_pixel(acc[i], true), L.y_pixel(acc[i - 1], true)) << "larger values are higher up";
        }
    }
    // Markers (radius 3) bound the series: nothing of its colour outside first-3 .. last+3.
    const auto [first, last] = columns_with(im, L, red);
    EXPECT_EQ(first, L.x_pixel(1) - 3);
    EXPECT_EQ(last, L.x_pixel(5) + 3);

    // A tick mark under every x tick, in the frame colour, and labels 1..5.
    EXPECT_EQ(L.x.labels, (std::vector<std::string>{"1", "2", "3", "4", "5"}));
    for (double t : L.x.ticks) EXPECT_NE(pixel(im, L.x_pixel(t), L.bottom + 2), white);
}

TEST(LinePlot, TickLabelsAreRoundNumbers) {
    const PlotLayout L = plot_layout(spec_with({{"loss", {0.83, 0.41, 0.36, 0.33}, red}}));
    ASSERT_FALSE(L.has_right);
    EXPECT_NEAR(L.y_left.lo, 0.3, 1e-12);
    EXPECT_NEAR(L.y_left.hi, 0.9, 1e-12);
    EXPECT_EQ(L.y_left.labels.front(), "0.3");
    EXPECT_EQ(L.y_left.labels.back(), "0.9");
    const PlotLayout big = plot_layout(spec_with({{"n", {-1500, 2500}, red}}));
    EXPECT_EQ(big.y_left.labels.front(), "-2000");
    EXPECT_EQ(big.y_left.labels.back(), "3000");
}

TEST(LinePlot, SinglePointSitsInTheMiddle) {
    const PlotSpec spec = spec_with({{"loss", {0.5}, red}});
    const Image im = line_plot(spec);
    const PlotLayout L = plot_layout(spec);
    const index_t cx = (L.left + L.right) / 2;
    EXPECT_EQ(L.x_pixel(1), cx);
    EXPECT_EQ(L.x.labels, (std::vector<std::string>{"1"}));
    EXPECT_LT(L.y_left.lo, 0.5);
    EXPECT_GT(L.y_left.hi, 0.5);
    const index_t cy = L.y_pixel(0.5, false);
    EXPECT_NEAR(cy, (L.top + L.bottom) / 2, 1);
    EXPECT_EQ(pixel(im, cx, cy), red);
    const auto [first, last] = columns_with(im, L, red);
    EXPECT_EQ(first, cx - 3);
    EXPECT_EQ(last, cx + 3);
}

TEST(LinePlot, FiftyPointsGetSparseTicksAndEveryMarker) {
    std::vector<double> loss;
    for (int i = 0; i < 50; ++i) loss.push_back(1.0 / (1 + i));
    const PlotSpec spec = spec_with({{"loss", loss, red}});
    const Image im = line_plot(spec);
    const PlotLayout L = plot_layout(spec);
    ASSERT_GE(L.x.ticks.size(), 5u);
    ASSERT_LE(L.x.ticks.size(), 25u);
    EXPECT_EQ(L.x.labels.back(), "50");
    for (std::size_t i = 1; i < L.x.ticks.size(); ++i)
        EXPECT_GE(L.x_pixel(L.x.ticks[i]) - L.x_pixel(L.x.ticks[i - 1]), text_width("50") + 4) << "labels do not touch";
    for (int i = 0; i < 50; ++i) EXPECT_EQ(pixel(im, L.x_pixel(i + 1), L.y_pixel(loss[i], false)), red) << i;
}

TEST(LinePlot, MissingValuesBreakTheLine) {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const PlotSpec spec = spec_with({{"loss", {1, nan, 1}, red}});
    const Image im = line_plot(spec);
    const PlotLayout L = plot_layout(spec);
    const index_t y = L.y_pixel(1, false);
    EXPECT_EQ(pixel(im, L.x_pixel(1), y), red);
    EXPECT_EQ(pixel(im, L.x_pixel(3), y), red);
    EXPECT_NE(pixel(im, L.x_pixel(2), y), red);
}

TEST(LinePlot, TitleAndLegendAreDrawn) {
    const PlotSpec spec = spec_with({{"loss", {1, 2}, red}, {"accuracy", {3, 4}, green, true}});
    const Image im = line_plot(spec);
    const PlotLayout L = plot_layout(spec);
    index_t title_ink = 0, legend_red = 0, legend_green = 0;
    for (index_t y = 0; y < L.top; ++y)
        for (index_t x = 0; x < im.width; ++x) {
            const Rgb p = pixel(im, x, y);
            title_ink += (y < 30 && p != white);
            legend_red += (p == red);
            legend_green += (p == green);
        }
    EXPECT_GT(title_ink, 200);
    EXPECT_GT(legend_red, 20);
    EXPECT_GT(legend_green, 20);
}

TEST(LinePlot, BadSpecsThrow) {
    EXPECT_THROW(line_plot(PlotSpec{}), std::invalid_argument);
    PlotSpec tiny = spec_with({{"loss", {1}, red}});
    tiny.width = 50;
    EXPECT_THROW(line_plot(tiny), std::invalid_argument);
    // Series without data still give axes (0..1) rather than failing.
    const Image im = line_plot(spec_with({{"loss", {}, red}}));
    EXPECT_EQ(im.width, 640);
}
