// libFuzzer target over read_png: a read either throws PngError / std::length_error or returns
// an 8-bit gray or RGB image whose pixels match its size, which write_png and read_png return
// unchanged. libpng's limits and the deflate bound keep small inputs from allocating much.
#include <convlayer/io/png.hpp>

#include "readers/reader_fuzz.hpp"

using namespace convlayer;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const convlayer::fuzz::InputFile file(data, size, ".png");
    io::Image image;
    try {
        image = io::read_png(file.path(), index_t{64} << 20);
    } catch (const io::PngError&) {
        return 0;
    } catch (const std::length_error&) {
        return 0;
    }
    if ((image.channels != 1 && image.channels != 3) || image.width < 1 || image.height < 1 ||
        static_cast<index_t>(image.pixels.size()) != image.width * image.height * image.channels)
        convlayer::fuzz::finding("png_fuzz", "the image does not match its size");
    const std::string again = file.path() + ".written.png";
    io::write_png(again, image);
    const io::Image back = io::read_png(again);
    std::remove(again.c_str());
    if (back.width != image.width || back.height != image.height || back.pixels != image.pixels)
        convlayer::fuzz::finding("png_fuzz", "write/read differs");
    return 0;
}
