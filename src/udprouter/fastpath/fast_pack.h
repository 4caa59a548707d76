/* Sequenced datagrams of one session's frames, packed in C.
 *
 * Why: ServerSession.flush packed its frames into datagrams in a Python loop (a few list and len
 * calls per frame), the largest single cost of the report path at 20 orders per datagram. Here the
 * frames arrive as one buffer (b"".join of the pending list) plus their lengths, and each datagram
 * is written as a Sequence frame naming its first frame's server sequence number followed by as
 * many whole frames as fit in max_bytes and max_messages (Sequence included), exactly as
 * server_session.pack_datagrams_reference does. A frame that fits no datagram on its own (no
 * schema message does) still gets one, so the loop always progresses.
 */
#ifndef UDPROUTER_FAST_PACK_H
#define UDPROUTER_FAST_PACK_H

#include <stdint.h>
#include <string.h>

#include "udprouter/generated/sbe_messages.h"

#define UDR_FP_SEQUENCE_FRAME_SIZE (UDR_SBE_FRAME_PREFIX_SIZE + UDR_SBE_SEQUENCE_BLOCK_LENGTH)

static inline void udr_fp_put_u16le(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

/* A Sequence frame (SOFH + header + NextSeqNo) at out; returns its size. */
static inline uint32_t udr_fp_write_sequence(unsigned char *out, uint64_t next_seq_no)
{
    const uint32_t size = UDR_FP_SEQUENCE_FRAME_SIZE;
    out[0] = (unsigned char)(size >> 24);
    out[1] = (unsigned char)(size >> 16);
    out[2] = (unsigned char)(size >> 8);
    out[3] = (unsigned char)size;
    out[4] = (unsigned char)(UDR_SBE_ENCODING_TYPE >> 8);
    out[5] = (unsigned char)(UDR_SBE_ENCODING_TYPE & 0xff);
    udr_fp_put_u16le(out + 6, UDR_SBE_SEQUENCE_BLOCK_LENGTH);
    udr_fp_put_u16le(out + 8, UDR_SBE_SEQUENCE_TEMPLATE_ID);
    udr_fp_put_u16le(out + 10, UDR_SBE_FIXP_SCHEMA_ID);
    udr_fp_put_u16le(out + 12, UDR_SBE_FIXP_SCHEMA_VERSION);
    for (int i = 0; i < 8; i++) out[14 + i] = (unsigned char)(next_seq_no >> (8 * i));
    return size;
}

/* Packs count frames (back to back in frames, lengths in lens), numbered from first_seq, into
 * datagrams at out (room for the frames plus one Sequence frame per frame is always enough);
 * ends[d] is the end offset of datagram d in out. Returns the number of datagrams. */
static uint32_t udr_fp_pack_datagrams(const unsigned char *frames, const uint32_t *lens, uint32_t count,
                                      uint64_t first_seq, uint32_t max_bytes, uint32_t max_messages,
                                      unsigned char *out, uint32_t *ends)
{
    uint32_t datagrams = 0, i = 0;
    size_t src = 0, pos = 0;
    while (i < count) {
        uint32_t size = udr_fp_write_sequence(out + pos, first_seq + i);
        uint32_t j = i;
        size_t bytes = 0;
        while (j < count && j - i + 1 < max_messages && size + lens[j] <= max_bytes) {
            size += lens[j];
            bytes += lens[j];
            j++;
        }
        if (j == i) { /* progress guarantee, as in the reference */
            bytes = lens[i];
            j = i + 1;
        }
        pos += UDR_FP_SEQUENCE_FRAME_SIZE;
        memcpy(out + pos, frames + src, bytes);
        pos += bytes;
        src += bytes;
        ends[datagrams++] = (uint32_t)pos;
        i = j;
    }
    return datagrams;
}

#endif
