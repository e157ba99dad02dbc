// libFuzzer target over read_png: a read either throws PngError / std::length_error or returns
// an 8-bit gray or RGB image whose pixels match its size, which write_png and read_png return
// unchanged. libpng's limits and the deflate bound keep small inputs from allocating much.
#include <convlayer/io/png.hpp>

#include "readers/image_checks.hpp"

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
    convlayer::fuzz::check_image("png_fuzz", image);
    const std::string again = file.path() + ".written.png";
    io::write_png(again, image);
    const io::Image back = io::read_png(again);
    std::remove(again.c_str());
    convlayer::fuzz::check_same_image("png_fuzz", image, back);
    return 0;
}
