// Image: an 8-bit raster, gray or RGB, shared by the PNG codec (png.hpp) and the plotter
// (plot.hpp). Needs nothing beyond the standard library.
#pragma once

#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "convlayer/core/checked_math.hpp"

namespace convlayer::io {

/// An 8-bit image: `channels` values per pixel (1 = gray, 3 = RGB), interleaved, rows top to
/// bottom. Value c of pixel (x, y) lives at pixels[(y*width + x)*channels + c].
struct Image {
    /// \var width
    /// Columns, in pixels.
    /// \var height
    /// Rows, in pixels.
    /// \var channels
    /// Values per pixel: 1 for gray, 3 for RGB.
    index_t width = 0, height = 0, channels = 0;
    /// The width*height*channels values, rows top to bottom, channels interleaved.
    std::vector<std::uint8_t> pixels;

    /// A width x height image with `channels` channels, every value `value`. Throws
    /// std::invalid_argument on a non-positive extent.
    static Image blank(index_t width, index_t height, index_t channels, std::uint8_t value = 0) {
        if (width <= 0 || height <= 0 || channels <= 0)
            throw std::invalid_argument("Image::blank: extents must be positive, got " + std::to_string(width) + " x " +
                                        std::to_string(height) + " x " + std::to_string(channels));
        Image im;
        im.width = width;
        im.height = height;
        im.channels = channels;
        im.pixels.assign(static_cast<std::size_t>(checked_product("image bytes", width, height, channels)), value);
        return im;
    }

    /// Value c of pixel (x, y); throws std::out_of_range naming the index.
    std::uint8_t& at(index_t x, index_t y, index_t c = 0) {
        check_index(x, y, c);
        return pixels[static_cast<std::size_t>((y * width + x) * channels + c)];
    }
    /// Value c of pixel (x, y), read-only; throws std::out_of_range naming the index.
    std::uint8_t at(index_t x, index_t y, index_t c = 0) const {
        check_index(x, y, c);
        return pixels[static_cast<std::size_t>((y * width + x) * channels + c)];
    }

private:
    void check_index(index_t x, index_t y, index_t c) const {
        if (x < 0 || x >= width || y < 0 || y >= height || c < 0 || c >= channels) {
            std::ostringstream os;
            os << "Image: index (x=" << x << ", y=" << y << ", c=" << c << ") is outside " << width << " x " << height
               << " x " << channels;
            throw std::out_of_range(os.str());
        }
    }
};

}  // namespace convlayer::io
