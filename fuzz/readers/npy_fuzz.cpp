// libFuzzer target over read_npy (float and double) and read_npy_volume: a read either throws
// NpyError / std::length_error or returns product(shape) values, which write_npy and read_npy
// return bit for bit.
#include <convlayer/io/npy.hpp>

#include <cstring>

#include "readers/reader_fuzz.hpp"

using namespace convlayer;

namespace {

template <typename T>
void read_and_round_trip(const std::string& path) {
    io::NpyArray<T> a;
    try {
        a = io::read_npy<T>(path);
    } catch (const io::NpyError&) {
        return;
    } catch (const std::length_error&) {
        return;
    }
    index_t count = 1;
    for (index_t d : a.dims) count *= d;
    if (static_cast<index_t>(a.values.size()) != count) convlayer::fuzz::finding("npy_fuzz", "values do not match the shape");
    const std::string again = path + ".written.npy";
    io::write_npy(again, a.values.data(), a.dims);
    const io::NpyArray<T> b = io::read_npy<T>(again);
    std::remove(again.c_str());
    // Byte-wise, so that NaN payloads count too (an empty array's data() may be null: no memcmp).
    const bool same_values = b.values.size() == a.values.size() &&
                             (a.values.empty() || std::memcmp(b.values.data(), a.values.data(), a.values.size() * sizeof(T)) == 0);
    if (b.dims != a.dims || !same_values)
        convlayer::fuzz::finding("npy_fuzz", "write/read differs");
    try {
        const Volume<T> v = io::read_npy_volume<T>(path);
        if (v.size() != count) convlayer::fuzz::finding("npy_fuzz", "volume size");
    } catch (const io::NpyError&) {
    } catch (const std::length_error&) {
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const convlayer::fuzz::InputFile file(data, size, ".npy");
    read_and_round_trip<float>(file.path());
    read_and_round_trip<double>(file.path());
    return 0;
}
