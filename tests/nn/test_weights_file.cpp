// Weights files: round trip, and every broken or mismatching file is refused with a clear
// message while the network keeps its parameters.
#include "convlayer/nn/weights_file.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/temp_file.hpp"

#include <fstream>
#include <iterator>

#include "convlayer/layers/conv_layer.hpp"
#include "convlayer/layers/dense_layer.hpp"
#include "convlayer/layers/relu_layer.hpp"
#include "convlayer/nn/initializers.hpp"
#include "convlayer/nn/sequential.hpp"

using namespace convlayer;
using ::testing::HasSubstr;

namespace {

std::string temp_path(const std::string& name) { return support::temp_path("weights", name); }

template <typename T>
Sequential<T> net(index_t filters = 4) {
    Sequential<T> s({2, 6, 6, 1});
    s.template emplace<ConvLayer<T>>(1, filters, 3);
    s.template emplace<ReluLayer<T>>();
    s.template emplace<DenseLayer<T>>(4 * 4 * filters, 3);
    return s;
}

template <typename T>
std::vector<T> values(Layer<T>& layer) {
    std::vector<T> v;
    for (const auto& p : layer.parameters()) v.insert(v.end(), p.value, p.value + p.size);
    return v;
}

std::vector<char> read_bytes(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}
void write_bytes(const std::string& path, const std::vector<char>& bytes) {
    std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Expects load_weights to throw a WeightsFileError containing `message` and leave `target` as it was.
template <typename T>
void expect_refused(Sequential<T>& target, const std::string& path, const std::string& message) {
    const std::vector<T> before = values(target);
    try {
        load_weights(target, path);
        ADD_FAILURE() << "expected WeightsFileError containing '" << message << "'";
    } catch (const WeightsFileError& e) {
        EXPECT_THAT(e.what(), HasSubstr(message));
    }
    EXPECT_EQ(values(target), before) << "the network changed although loading failed";
}

}  // namespace

TEST(WeightsFile, RoundTripIsExact) {
    auto a = net<float>();
    initialize(a, Init::he_normal, 1);
    const std::string path = temp_path("round_trip.bin");
    save_weights(a, path);
    auto b = net<float>();
    load_weights(b, path);
    EXPECT_EQ(values(a), values(b));
    Volume<float> x(2, 6, 6, 1);
    x.fill_random(2);
    EXPECT_EQ(a.forward(x).flat(), b.forward(x).flat());

    auto d = net<double>();
    initialize(d, Init::xavier_normal, 3);
    save_weights(d, temp_path("double.bin"));
    auto e = net<double>();
    load_weights(e, temp_path("double.bin"));
    EXPECT_EQ(values(d), values(e));
}

TEST(WeightsFile, LayoutIsLittleEndianWithHeaderAndChecksum) {
    DenseLayer<float> dense(1, 1);
    dense.weights()(0, 0) = 1.0f;  // 0x3f800000
    save_weights(dense, temp_path("layout.bin"));
    const auto bytes = read_bytes(temp_path("layout.bin"));
    // magic 8 + version 4 + count 4 + ("weights": 4+7+1+1+16+4) + ("bias": 4+4+1+1+8+4) + checksum 8
    ASSERT_EQ(bytes.size(), 8u + 4 + 4 + 33 + 22 + 8);
    EXPECT_EQ(std::string(bytes.data(), 8), "CNVLAYER");
    EXPECT_EQ(bytes[8], 1);
    EXPECT_EQ(bytes[12], 2);
    EXPECT_EQ(std::string(bytes.data() + 20, 7), "weights");
    EXPECT_EQ(bytes[27], 1) << "dtype float32";
    EXPECT_EQ(bytes[28], 2) << "rank";
    EXPECT_EQ(static_cast<unsigned char>(bytes[48]), 0x3f);  // last byte of 1.0f, little-endian
}

TEST(WeightsFile, RefusesBrokenAndMismatchingFiles) {
    auto source = net<float>();
    initialize(source, Init::he_uniform, 4);
    const std::string good = temp_path("good.bin");
    save_weights(source, good);
    const auto bytes = read_bytes(good);
    auto target = net<float>();
    initialize(target, Init::he_uniform, 5);

    expect_refused(target, temp_path("does_not_exist.bin"), "cannot open");
    expect_refused(target, ::testing::TempDir(), ::testing::TempDir() + ": is a directory, not a file");
    write_bytes(temp_path("magic.bin"), {'P', 'K', 3, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
    expect_refused(target, temp_path("magic.bin"), "bad magic number");
    write_bytes(temp_path("truncated.bin"), std::vector<char>(bytes.begin(), bytes.begin() + static_cast<long>(bytes.size() / 2)));
    expect_refused(target, temp_path("truncated.bin"), "checksum mismatch");
    write_bytes(temp_path("tiny.bin"), std::vector<char>(bytes.begin(), bytes.begin() + 10));
    expect_refused(target, temp_path("tiny.bin"), "truncated");
    auto flipped = bytes;
    flipped[flipped.size() / 2] ^= 0x10;
    write_bytes(temp_path("corrupt.bin"), flipped);
    expect_refused(target, temp_path("corrupt.bin"), "checksum mismatch");

    auto wider = net<float>(5);
    expect_refused(wider, good, "does not match parameter '0.ConvLayer.weights' (5, 3, 3, 1)");
    Sequential<float> shorter({2, 6, 6, 1});
    shorter.emplace<ConvLayer<float>>(1, 4, 3);
    expect_refused(shorter, good, "holds 4 tensors but the Sequential of 1 layers has 2 parameters");

    auto as_double = net<double>();
    const std::vector<double> before = values(as_double);
    try {
        load_weights(as_double, good);
        ADD_FAILURE();
    } catch (const WeightsFileError& e) {
        EXPECT_THAT(e.what(), HasSubstr("is float32 but the network is float64"));
    }
    EXPECT_EQ(values(as_double), before);

    auto target_ok = net<float>();
    EXPECT_NO_THROW(load_weights(target_ok, good));
    EXPECT_THROW(save_weights(source, "/nonexistent-dir/x.bin"), WeightsFileError);
}

namespace {
// A layer whose one parameter has 256 dimensions of extent 1: more than the format's u8 rank.
class HighRankLayer : public Layer<float> {
public:
    Shape output_shape(const Shape& input) const override { return input; }
    std::vector<Parameter<float>> parameters() override {
        return {{"w", std::vector<index_t>(256, 1), &value_, &gradient_, 1}};
    }
    std::string name() const override { return "HighRankLayer"; }
    std::string describe() const override { return name(); }

protected:
    void do_forward(const Volume<float>& x, Volume<float>& y) override { y.copy_from(x.data(), x.size()); }
    void do_backward(const Volume<float>&, const Volume<float>&, Volume<float>*) override {}

private:
    float value_ = 1, gradient_ = 0;
};
}  // namespace

TEST(WeightsFile, RefusesToWriteWhatTheFormatCannotHold) {
    HighRankLayer layer;
    EXPECT_THROW(save_weights(layer, temp_path("rank.bin")), WeightsFileError);
}
