// libFuzzer target over load_weights into a small network: a load either throws
// WeightsFileError and leaves every parameter bit-identical to before, or succeeds on a file
// that save_weights writes back byte for byte (the format has one spelling per network).
#include <convlayer/convlayer.hpp>

#include <cstring>
#include <fstream>
#include <iterator>
#include <vector>

#include "readers/reader_fuzz.hpp"
#include "readers/weights_network.hpp"

using namespace convlayer;

namespace {

Sequential<float>& network() {
    static Sequential<float> net = convlayer::fuzz::weights_network(1);
    return net;
}

std::vector<std::uint8_t> parameter_bytes(Sequential<float>& net) {
    std::vector<std::uint8_t> out;
    for (const Parameter<float>& p : net.parameters()) {
        const auto* b = reinterpret_cast<const std::uint8_t*>(p.value);
        out.insert(out.end(), b, b + p.size * static_cast<index_t>(sizeof(float)));
    }
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const convlayer::fuzz::InputFile file(data, size, ".weights");
    Sequential<float>& net = network();
    const std::vector<std::uint8_t> before = parameter_bytes(net);
    try {
        load_weights(net, file.path());
    } catch (const WeightsFileError&) {
        if (parameter_bytes(net) != before) convlayer::fuzz::finding("weights_fuzz", "a failed load changed parameters");
        return 0;
    }
    const std::string again = file.path() + ".written";
    save_weights(net, again);
    std::ifstream in(again, std::ios::binary);
    const std::vector<std::uint8_t> written((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::remove(again.c_str());
    if (written != std::vector<std::uint8_t>(data, data + size))
        convlayer::fuzz::finding("weights_fuzz", "a file that loads is not what save_weights writes");
    return 0;
}
