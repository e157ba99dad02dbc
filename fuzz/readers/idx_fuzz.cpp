// libFuzzer target over read_idx: the input as a plain IDX file, and (idx_gzip_fuzz, with
// CONVLAYER_FUZZ_GZIP) gzip-compressed first, so that small inputs explore the IDX structure
// inside a compressed stream and long runs of bytes compress into bombs. A read must either
// throw IdxError / std::length_error or return exactly what the header declares, which the
// writer writes back to the same bytes.
#include <convlayer/io/idx.hpp>

#include <zlib.h>

#include <vector>

#include "readers/reader_fuzz.hpp"

using namespace convlayer;

namespace {
#ifdef CONVLAYER_FUZZ_GZIP
constexpr const char* kTarget = "idx_gzip_fuzz";
#else
constexpr const char* kTarget = "idx_fuzz";
#endif

std::vector<std::uint8_t> file_bytes(const std::uint8_t* data, std::size_t size) {
#ifdef CONVLAYER_FUZZ_GZIP
    uLongf packed = compressBound(static_cast<uLong>(size)) + 32;
    std::vector<std::uint8_t> out(packed);
    z_stream z{};
    if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) convlayer::fuzz::finding(kTarget, "deflateInit2");
    z.next_in = const_cast<Bytef*>(data);
    z.avail_in = static_cast<uInt>(size);
    z.next_out = out.data();
    z.avail_out = static_cast<uInt>(out.size());
    if (deflate(&z, Z_FINISH) != Z_STREAM_END) convlayer::fuzz::finding(kTarget, "deflate");
    out.resize(z.total_out);
    deflateEnd(&z);
    return out;
#else
    return std::vector<std::uint8_t>(data, data + size);
#endif
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::vector<std::uint8_t> bytes = file_bytes(data, size);
    const convlayer::fuzz::InputFile file(bytes.data(), bytes.size(), ".idx");
    io::IdxArray a;
    try {
        a = io::read_idx(file.path());
    } catch (const io::IdxError&) {
        return 0;
    } catch (const std::length_error&) {
        return 0;
    }
    index_t count = 1;
    for (index_t d : a.dims) count *= d;
    if (static_cast<index_t>(a.bytes.size()) != count * io::idx_type_size(a.type))
        convlayer::fuzz::finding(kTarget, "the values do not match the dimensions");
    // Read back what the writer writes: the same array.
    const std::string again = file.path() + ".written";
    io::write_idx(again, a);
    const io::IdxArray b = io::read_idx(again);
    std::remove(again.c_str());
    if (b.type != a.type || b.dims != a.dims || b.bytes != a.bytes) convlayer::fuzz::finding(kTarget, "write/read differs");
    return 0;
}
