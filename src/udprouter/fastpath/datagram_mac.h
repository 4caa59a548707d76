/* Datagram MAC (SPEC.md 4.9): keyed BLAKE2b-128 (RFC 7693) over a datagram, checked against the
 * MessageAuthentication frame that ends it. Written from RFC 7693; tested against Python's hashlib.
 *
 * The key block of keyed BLAKE2b is the same for every datagram of a session, so a session keeps
 * the chaining value after it (udr_mac_key, set once when the key is derived) and each datagram
 * costs only its own blocks: one compression for up to 128 bytes, eight for 1 KB.
 * Shared by the router (fast_ingest.h) and the load generator (src/udprouter/loadgen/loadgen.c).
 */
#ifndef UDPROUTER_DATAGRAM_MAC_H
#define UDPROUTER_DATAGRAM_MAC_H

#include <stdint.h>
#include <string.h>

#define UDR_MAC_SIZE 16
#define UDR_MAC_KEY_SIZE 32
#define UDR_MAC_FRAME_SIZE 30 /* SOFH 6 + SBE header 8 + MAC 16 */
#define UDR_MAC_BLOCK 128

/* The chaining value after the session key's block (not the key itself). */
typedef struct udr_mac_key {
    uint64_t h[8];
} udr_mac_key;

static const uint64_t udr_mac_iv[8] = {
    0x6A09E667F3BCC908ULL, 0xBB67AE8584CAA73BULL, 0x3C6EF372FE94F82BULL, 0xA54FF53A5F1D36F1ULL,
    0x510E527FADE682D1ULL, 0x9B05688C2B3E6C1FULL, 0x1F83D9ABFB41BD6BULL, 0x5BE0CD19137E2179ULL,
};

static const uint8_t udr_mac_sigma[10][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
    {11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4},
    {7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8},
    {9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13},
    {2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9},
    {12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11},
    {13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10},
    {6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5},
    {10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0},
};

static inline uint64_t udr_mac_rotr(uint64_t x, int n) { return (x >> n) | (x << (64 - n)); }

static inline uint64_t udr_mac_load64(const unsigned char *p)
{
    uint64_t v; /* the wire and BLAKE2b are little-endian, as are the hosts the router runs on */
    memcpy(&v, p, sizeof v);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

#define UDR_MAC_G(a, b, c, d, x, y)                 \
    do {                                            \
        a = a + b + (x);                            \
        d = udr_mac_rotr(d ^ a, 32);                \
        c = c + d;                                  \
        b = udr_mac_rotr(b ^ c, 24);                \
        a = a + b + (y);                            \
        d = udr_mac_rotr(d ^ a, 16);                \
        c = c + d;                                  \
        b = udr_mac_rotr(b ^ c, 63);                \
    } while (0)

/* One round; r is a constant in each expansion, so the message schedule is resolved at compile
 * time and v stays in registers (a loop over r with table lookups ran about half as fast). */
#define UDR_MAC_ROUND(r)                                                               \
    do {                                                                               \
        const uint8_t *s = udr_mac_sigma[(r) % 10];                                    \
        UDR_MAC_G(v0, v4, v8, v12, m[s[0]], m[s[1]]);                                  \
        UDR_MAC_G(v1, v5, v9, v13, m[s[2]], m[s[3]]);                                  \
        UDR_MAC_G(v2, v6, v10, v14, m[s[4]], m[s[5]]);                                 \
        UDR_MAC_G(v3, v7, v11, v15, m[s[6]], m[s[7]]);                                 \
        UDR_MAC_G(v0, v5, v10, v15, m[s[8]], m[s[9]]);                                 \
        UDR_MAC_G(v1, v6, v11, v12, m[s[10]], m[s[11]]);                               \
        UDR_MAC_G(v2, v7, v8, v13, m[s[12]], m[s[13]]);                                \
        UDR_MAC_G(v3, v4, v9, v14, m[s[14]], m[s[15]]);                                \
    } while (0)

/* RFC 7693 3.2 F: one 128-byte block; t = bytes hashed so far including this block (< 2^64 here). */
static void udr_mac_compress(uint64_t h[8], const unsigned char block[UDR_MAC_BLOCK], uint64_t t, int last)
{
    uint64_t m[16];
    for (int i = 0; i < 16; i++) m[i] = udr_mac_load64(block + 8 * i);
    uint64_t v0 = h[0], v1 = h[1], v2 = h[2], v3 = h[3], v4 = h[4], v5 = h[5], v6 = h[6], v7 = h[7];
    uint64_t v8 = udr_mac_iv[0], v9 = udr_mac_iv[1], v10 = udr_mac_iv[2], v11 = udr_mac_iv[3];
    uint64_t v12 = udr_mac_iv[4] ^ t, v13 = udr_mac_iv[5], v14 = udr_mac_iv[6], v15 = udr_mac_iv[7];
    if (last) v14 = ~v14;
    UDR_MAC_ROUND(0); UDR_MAC_ROUND(1); UDR_MAC_ROUND(2); UDR_MAC_ROUND(3);
    UDR_MAC_ROUND(4); UDR_MAC_ROUND(5); UDR_MAC_ROUND(6); UDR_MAC_ROUND(7);
    UDR_MAC_ROUND(8); UDR_MAC_ROUND(9); UDR_MAC_ROUND(10); UDR_MAC_ROUND(11);
    h[0] ^= v0 ^ v8; h[1] ^= v1 ^ v9; h[2] ^= v2 ^ v10; h[3] ^= v3 ^ v11;
    h[4] ^= v4 ^ v12; h[5] ^= v5 ^ v13; h[6] ^= v6 ^ v14; h[7] ^= v7 ^ v15;
}

/* Parameter block word 0 for a 16-byte digest with a 32-byte key; then the key block, not last. */
static void udr_mac_key_init(udr_mac_key *k, const unsigned char key[UDR_MAC_KEY_SIZE])
{
    unsigned char block[UDR_MAC_BLOCK] = {0};
    memcpy(k->h, udr_mac_iv, sizeof k->h);
    k->h[0] ^= 0x01010000ULL ^ ((uint64_t)UDR_MAC_KEY_SIZE << 8) ^ (uint64_t)UDR_MAC_SIZE;
    memcpy(block, key, UDR_MAC_KEY_SIZE);
    udr_mac_compress(k->h, block, UDR_MAC_BLOCK, 0);
}

/* BLAKE2b-128 keyed by k over data[0..len) (len > 0: the key block is never the last one). */
static void udr_mac_compute(const udr_mac_key *k, const unsigned char *data, uint32_t len,
                            unsigned char out[UDR_MAC_SIZE])
{
    uint64_t h[8];
    unsigned char tail[UDR_MAC_BLOCK];
    memcpy(h, k->h, sizeof h);
    uint64_t t = UDR_MAC_BLOCK;
    while (len > UDR_MAC_BLOCK) {
        t += UDR_MAC_BLOCK;
        udr_mac_compress(h, data, t, 0);
        data += UDR_MAC_BLOCK;
        len -= UDR_MAC_BLOCK;
    }
    memset(tail, 0, sizeof tail);
    memcpy(tail, data, len);
    udr_mac_compress(h, tail, t + len, 1);
    for (int i = 0; i < UDR_MAC_SIZE; i++) out[i] = (unsigned char)(h[i / 8] >> (8 * (i % 8)));
}

/* The 14 bytes every MAC frame starts with: SOFH(30, 0xEB50) + header(16, 30, 2748, 0). */
static const unsigned char udr_mac_frame_prefix[14] = {0, 0, 0, UDR_MAC_FRAME_SIZE, 0xEB, 0x50, 16, 0, 30, 0,
                                                       0xBC, 0x0A, 0, 0};

/* 1 if data ends with a MAC frame and something precedes it. */
static inline int udr_mac_present(const unsigned char *data, uint32_t len)
{
    return len > UDR_MAC_FRAME_SIZE &&
           memcmp(data + len - UDR_MAC_FRAME_SIZE, udr_mac_frame_prefix, sizeof udr_mac_frame_prefix) == 0;
}

/* Writes the MAC frame of data[0..len) at data + len (room for UDR_MAC_FRAME_SIZE more bytes);
 * returns the signed datagram's length. */
static inline uint32_t udr_mac_sign(const udr_mac_key *k, unsigned char *data, uint32_t len)
{
    memcpy(data + len, udr_mac_frame_prefix, sizeof udr_mac_frame_prefix);
    udr_mac_compute(k, data, len, data + len + sizeof udr_mac_frame_prefix);
    return len + UDR_MAC_FRAME_SIZE;
}

/* The length before the MAC frame if data ends with one whose MAC is right, else -1.
 * The comparison takes the same time wherever the MACs differ. */
static inline int32_t udr_mac_verify(const udr_mac_key *k, const unsigned char *data, uint32_t len)
{
    if (!udr_mac_present(data, len)) return -1;
    uint32_t body = len - UDR_MAC_FRAME_SIZE;
    unsigned char mac[UDR_MAC_SIZE];
    udr_mac_compute(k, data, body, mac);
    const unsigned char *got = data + len - UDR_MAC_SIZE;
    unsigned char diff = 0;
    for (int i = 0; i < UDR_MAC_SIZE; i++) diff |= (unsigned char)(mac[i] ^ got[i]);
    return diff == 0 ? (int32_t)body : -1;
}

#endif
