// The SIMD packet of each scalar type: Eigen's widest packet on the instruction set the code is
// compiled for. Every vectorised kernel takes its packet and lane count from here.
#pragma once

#include <Eigen/Core>

namespace convlayer::kernels {

/// The SIMD packet of scalar T and its shape.
template <typename T>
struct Simd {
    /// Eigen's widest SIMD packet of T (e.g. 16 floats with AVX-512).
    using Packet = typename Eigen::internal::packet_traits<T>::type;
    /// Scalars per Packet.
    static constexpr int kLanes = Eigen::internal::unpacket_traits<Packet>::size;
    /// Vector registers of the instruction set: 32 with AVX-512, 16 otherwise.
#if defined(__AVX512F__)
    static constexpr int kRegisters = 32;
#else
    static constexpr int kRegisters = 16;
#endif
};

}  // namespace convlayer::kernels
