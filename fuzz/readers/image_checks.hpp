// What png_fuzz and pnm_fuzz require of an image a reader returned.
#pragma once

#include <convlayer/io/image.hpp>

#include "readers/reader_fuzz.hpp"

namespace convlayer::fuzz {

/// An 8-bit gray or RGB image whose pixels match its size.
inline void check_image(const char* target, const io::Image& image) {
    if ((image.channels != 1 && image.channels != 3) || image.width < 1 || image.height < 1 ||
        static_cast<index_t>(image.pixels.size()) != image.width * image.height * image.channels)
        finding(target, "the image does not match its size");
}

/// `back`, the image written and read again, equals `image`.
inline void check_same_image(const char* target, const io::Image& image, const io::Image& back) {
    if (back.width != image.width || back.height != image.height || back.pixels != image.pixels)
        finding(target, "written and read again, the image differs");
}

}  // namespace convlayer::fuzz
