/* Sequenced datagrams of one session's frames, packed in C.
 *
 * Why: ServerSession.flush packed its frames into datagrams in a Python loop (a few list and len
 * calls per frame), the largest single cost of the report path at 20 orders per datagram. Here the
 * frames arrive as one buffer (b"".join of the pending list), each message's length read from its
 * SOFH here (handing C a list of lengths cost more than the packing), and each datagram
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

/* The whole SOFH frame at p (n bytes left): its length, or 0 when the bytes are not one. */
static inline uint32_t udr_fp_frame_length(const unsigned char *p, size_t n)
{
    if (n < UDR_SBE_FRAME_PREFIX_SIZE) return 0;
    uint32_t len = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    return len >= UDR_SBE_FRAME_PREFIX_SIZE && len <= n ? len : 0;
}

/* A DropCopy frame (templateId and schemaId at frame bytes 8..11). */
static inline int udr_fp_is_drop_copy(const unsigned char *frame)
{
    return frame[8] == (UDR_SBE_DROP_COPY_TEMPLATE_ID & 0xff) && frame[9] == (UDR_SBE_DROP_COPY_TEMPLATE_ID >> 8) &&
           frame[10] == (UDR_SBE_DROP_COPY_SCHEMA_ID & 0xff) && frame[11] == (UDR_SBE_DROP_COPY_SCHEMA_ID >> 8);
}

/* The message at p: one frame, or a DropCopy frame and the report after it (one message, one
 * server sequence number: SPEC 4.12); 0 when the bytes are not that. */
static inline uint32_t udr_fp_message_length(const unsigned char *p, size_t n)
{
    uint32_t len = udr_fp_frame_length(p, n);
    if (len == 0 || !udr_fp_is_drop_copy(p)) return len;
    uint32_t report = udr_fp_frame_length(p + len, n - len);
    return report ? len + report : 0;
}

/* Packs the messages back to back in frames[0..length) (each read from its SOFH), numbered from
 * first_seq, into datagrams at out (room for the frames plus one Sequence frame per message is
 * always enough); ends[d] is the end offset of datagram d in out. Returns the number of datagrams;
 * *messages is how many messages they hold (fewer than the caller's when bytes that are not a
 * frame stopped it). */
static uint32_t udr_fp_pack_datagrams(const unsigned char *frames, size_t length, uint64_t first_seq,
                                      uint32_t max_bytes, uint32_t max_messages, unsigned char *out,
                                      uint32_t *ends, uint32_t *messages)
{
    uint32_t datagrams = 0;
    uint64_t seq = first_seq;
    size_t src = 0, pos = 0;
    while (src < length) {
        uint32_t size = UDR_FP_SEQUENCE_FRAME_SIZE, k = 0, m = 0;
        size_t bytes = 0;
        while (src + bytes < length && k + 1 < max_messages &&
               (m = udr_fp_message_length(frames + src + bytes, length - src - bytes)) != 0 && size + m <= max_bytes) {
            size += m;
            bytes += m;
            k++;
        }
        if (k == 0) { /* progress guarantee, as in the reference: a message bigger than a datagram */
            m = udr_fp_message_length(frames + src, length - src);
            if (m == 0) break;
            bytes = m;
            k = 1;
        }
        udr_fp_write_sequence(out + pos, seq);
        pos += UDR_FP_SEQUENCE_FRAME_SIZE;
        memcpy(out + pos, frames + src, bytes);
        pos += bytes;
        src += bytes;
        ends[datagrams++] = (uint32_t)pos;
        seq += k;
    }
    *messages = (uint32_t)(seq - first_seq);
    return datagrams;
}

#endif
