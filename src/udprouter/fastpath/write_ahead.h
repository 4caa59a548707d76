/* The router log's write-ahead record of a common pass, encoded and written in one C call.
 *
 * Driven by RouterLog.before_offer (durability/router_log.py) when the pass's inbound progress is all
 * in C session structs and nothing else waits to be logged: the record is
 *     PassRecord(before_offer=True, command_through, done_through, partial_seq, partial_n,
 *                inbound=[(session_id, next_inbound, cl_ord_hwm, open_orders), ...], sent=[])
 * byte for byte as msgspec encodes it there (an array-like Struct tagged "P": a MessagePack array
 * of the tag and the seven fields, every integer in its shortest form), behind RECORD_HEADER
 * (payload length, zlib CRC-32 of the payload; little-endian u32 each). PassRecord stays the one
 * definition: a unit test compares these bytes with msgspec's for random records.
 */
#ifndef UDPROUTER_WRITE_AHEAD_H
#define UDPROUTER_WRITE_AHEAD_H

#include <errno.h>
#include <stdint.h>
#include <unistd.h>
#include <zlib.h>

#include "fast_ingest.h"

#define UDR_WA_HEADER_SIZE 8
#define UDR_WA_FIXED_MAX 64      /* header, array, tag, flag, four integers, two array headers */
#define UDR_WA_SESSION_MAX 29    /* one inbound entry: fixarray and four integers at their widest */

static inline unsigned char *udr_wa_be(unsigned char *p, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--) *p++ = (unsigned char)(v >> (8 * i));
    return p;
}

static inline unsigned char *udr_wa_uint(unsigned char *p, uint64_t v)
{
    if (v < 0x80) { *p++ = (unsigned char)v; return p; }
    if (v <= 0xff) { *p++ = 0xcc; return udr_wa_be(p, v, 1); }
    if (v <= 0xffff) { *p++ = 0xcd; return udr_wa_be(p, v, 2); }
    if (v <= 0xffffffffu) { *p++ = 0xce; return udr_wa_be(p, v, 4); }
    *p++ = 0xcf;
    return udr_wa_be(p, v, 8);
}

static inline unsigned char *udr_wa_array(unsigned char *p, uint32_t n)
{
    if (n < 16) { *p++ = (unsigned char)(0x90 | n); return p; }
    if (n <= 0xffff) { *p++ = 0xdc; return udr_wa_be(p, n, 2); }
    *p++ = 0xdd;
    return udr_wa_be(p, n, 4);
}

/* The record whose payload runs from out + UDR_WA_HEADER_SIZE to end gets its RECORD_HEADER
 * (payload length, CRC-32 of the payload); returns the record's length, header included. */
static inline uint32_t udr_wa_seal(unsigned char *out, const unsigned char *end)
{
    const unsigned char *payload = out + UDR_WA_HEADER_SIZE;
    uint32_t length = (uint32_t)(end - payload);
    uint32_t crc = (uint32_t)crc32(0L, payload, length);
    for (int i = 0; i < 4; i++) {
        out[i] = (unsigned char)(length >> (8 * i));
        out[4 + i] = (unsigned char)(crc >> (8 * i));
    }
    return length + UDR_WA_HEADER_SIZE;
}

/* The record for the n sessions into out (room: UDR_WA_FIXED_MAX + n * UDR_WA_SESSION_MAX);
 * returns its length, header included. */
static uint32_t udr_wa_encode(unsigned char *out, uint64_t command_through, uint64_t done_through,
                              uint64_t partial_seq, uint64_t partial_n,
                              udr_fp_session *const *sessions, uint32_t n)
{
    unsigned char *payload = out + UDR_WA_HEADER_SIZE, *p = payload;
    *p++ = 0x98;                      /* array of 8: the tag and PassRecord's seven fields */
    *p++ = 0xa1; *p++ = 'P';          /* the tag */
    *p++ = 0xc3;                      /* before_offer: true */
    p = udr_wa_uint(p, command_through);
    p = udr_wa_uint(p, done_through);
    p = udr_wa_uint(p, partial_seq);
    p = udr_wa_uint(p, partial_n);
    p = udr_wa_array(p, n);
    for (uint32_t i = 0; i < n; i++) {
        const udr_fp_session *s = sessions[i];
        *p++ = 0x94;
        p = udr_wa_uint(p, s->session_id);
        p = udr_wa_uint(p, s->next_inbound);
        p = udr_wa_uint(p, s->cl_ord_hwm);
        p = udr_wa_uint(p, s->open_orders);
    }
    *p++ = 0x90;                      /* sent: [] */
    return udr_wa_seal(out, p);
}

/* Appends length bytes of out to fd (O_APPEND) with write(2), again after a short write. Returns
 * length once all of it is written, else -errno (the file may hold a torn part of it: the caller
 * cuts the file back to its last whole record). */
static int64_t udr_wa_append(int fd, const unsigned char *out, uint32_t length)
{
    uint32_t done = 0;
    while (done < length) {
        ssize_t w = write(fd, out + done, length - done);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -(int64_t)errno;
        }
        if (w == 0) return -(int64_t)EIO;
        done += (uint32_t)w;
    }
    return length;
}

/* Encodes the record into out and appends it to fd (udr_wa_append): its length, or -errno. */
static int64_t udr_wa_write(int fd, unsigned char *out, uint64_t command_through, uint64_t done_through,
                            uint64_t partial_seq, uint64_t partial_n,
                            udr_fp_session *const *sessions, uint32_t n)
{
    return udr_wa_append(fd, out, udr_wa_encode(out, command_through, done_through, partial_seq, partial_n,
                                                 sessions, n));
}

#endif
