// libFuzzer target over read_pnm (and so parse_pnm): a read either throws PnmError /
// std::length_error or returns an image whose pixels match its size, which encode_pnm and
// parse_pnm return unchanged in both encodings.
#include <convlayer/io/pnm.hpp>

#include "readers/image_checks.hpp"

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
    convlayer::fuzz::check_image("pnm_fuzz", image);
    for (io::PnmEncoding e : {io::PnmEncoding::binary, io::PnmEncoding::ascii})
        convlayer::fuzz::check_same_image("pnm_fuzz", image, io::parse_pnm(io::encode_pnm(image, e)));
    return 0;
}
