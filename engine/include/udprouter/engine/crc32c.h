// crc32c.h - CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), software slice-by-8.
//
// The journal checksums every record with it. Software rather than the SSE4.2 crc32 instruction
// so the journal format does not depend on the build host; slice-by-8 costs about a cycle per byte,
// small next to a 64-byte record's write. Tables are built at compile time.
#ifndef UDPROUTER_ENGINE_CRC32C_H
#define UDPROUTER_ENGINE_CRC32C_H

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace udprouter::engine {

namespace crc32c_detail {

inline constexpr uint32_t kPolynomial = 0x82F63B78u;

constexpr std::array<std::array<uint32_t, 256>, 8> make_tables()
{
    std::array<std::array<uint32_t, 256>, 8> t{};
    for (uint32_t i = 0; i < 256; ++i) {
        uint32_t c = i;
        for (int k = 0; k < 8; ++k) c = (c & 1u) ? (c >> 1) ^ kPolynomial : c >> 1;
        t[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; ++i)
        for (std::size_t s = 1; s < 8; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xFFu];
    return t;
}

inline constexpr auto kTables = make_tables();

} // namespace crc32c_detail

// Extends `crc` (0 for a fresh checksum) over `size` bytes.
inline uint32_t crc32c_extend(uint32_t crc, const void *data, std::size_t size)
{
    const auto &t = crc32c_detail::kTables;
    const auto *p = static_cast<const unsigned char *>(data);
    uint32_t c = ~crc;
    while (size >= 8) {
        uint32_t lo, hi;
        std::memcpy(&lo, p, 4);
        std::memcpy(&hi, p + 4, 4);
        lo ^= c; // little-endian host: the journal is only read where it was written
        c = t[7][lo & 0xFF] ^ t[6][(lo >> 8) & 0xFF] ^ t[5][(lo >> 16) & 0xFF] ^ t[4][lo >> 24] ^
            t[3][hi & 0xFF] ^ t[2][(hi >> 8) & 0xFF] ^ t[1][(hi >> 16) & 0xFF] ^ t[0][hi >> 24];
        p += 8;
        size -= 8;
    }
    while (size-- > 0) c = t[0][(c ^ *p++) & 0xFFu] ^ (c >> 8);
    return ~c;
}

inline uint32_t crc32c(const void *data, std::size_t size) { return crc32c_extend(0, data, size); }

} // namespace udprouter::engine

#endif // UDPROUTER_ENGINE_CRC32C_H
