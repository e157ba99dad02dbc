// libFuzzer target over read_pnm (and so parse_pnm): a read either throws PnmError /
// std::length_error or returns an image whose pixels match its size, which encode_pnm and
// parse_pnm return unchanged in both encodings.
#include <convlayer/io/pnm.hpp>

#include "readers/reader_fuzz.hpp"

using namespace convlayer;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const convlayer::fuzz::InputFile file(data, size, ".pnm");
    io::Image image;
    try {
        image = io::read_pnm(file.path(), index_t{64} << 20);
    } catch (const io::PnmError&) {
        return 0;
    } catch (const std::length_error&) {
        return 0;
    }
    if ((image.channels != 1 && image.channels != 3) || image.width < 1 || image.height < 1 ||
        static_cast<index_t>(image.pixels.size()) != image.width * image.height * image.channels)
        convlayer::fuzz::finding("pnm_fuzz", "the image does not match its size");
    for (io::PnmEncoding e : {io::PnmEncoding::binary, io::PnmEncoding::ascii}) {
        const io::Image back = io::parse_pnm(io::encode_pnm(image, e));
        if (back.width != image.width || back.height != image.height || back.pixels != image.pixels)
            convlayer::fuzz::finding("pnm_fuzz", "encode/parse differs");
    }
    return 0;
}
