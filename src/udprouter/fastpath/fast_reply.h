/* The replies of one drained batch built in one C call (LoopPass._reply_in_c, loop_pass.py).
 *
 * Why: at one order per datagram the router's pass spent most of its Python on the way out: a sink
 * call per session slicing the C-encoded reports into its pending list, then the session's flush,
 * the packer, the outbox and the socket's queue, one layer each. When every routed group of a drained
 * batch goes to a UDP session and nothing else waits to be logged or sent, this builds the whole
 * answer at once: each group's reports encoded (udr_fp_encode_reports) and numbered from the
 * session's next server sequence number, then packed into Sequence-led datagrams
 * (udr_fp_pack_datagrams) addressed to the session. Nothing is numbered or sent here: Python
 * hands the frames to the session (its retransmission buffer and the router log), commits the log,
 * and only then sends the datagrams (udr_io_send_batch), so a frame still leaves only once logged.
 * In the router log's common state (RouterLog.takes_c_record) answer_pass.h does all of it in one call: udr_fr_log
 * encodes the pass's record from the same frames and appends it (write_ahead.h), and the Python
 * bookkeeping of frames and counters runs after the datagrams have left.
 */
#ifndef UDPROUTER_FAST_REPLY_H
#define UDPROUTER_FAST_REPLY_H

#include <stdint.h>

#include "fast_egress.h"
#include "fast_pack.h"
#include "write_ahead.h"

#define UDR_FR_PACK_MISMATCH UINT32_MAX /* a group's frames did not pack whole: nothing to use */

/* Where a group's replies go: its session's next server sequence number and address key. */
typedef struct udr_fr_target {
    uint64_t first_seq;
    uint64_t key;
} udr_fr_target;

/* Builds the replies of ngroups groups (udr_fp_route's, in its order): every frame back to back in
 * frames (frame_ends[i]: the end of frame i, from the start of frames), every datagram back to back
 * in datagrams with its length and destination key. Returns the datagram count, or
 * UDR_FR_PACK_MISMATCH. Room: frames count * UDR_FP_MAX_REPORT_FRAME bytes in frames, count *
 * (UDR_FP_MAX_REPORT_FRAME + UDR_FP_SEQUENCE_FRAME_SIZE) in datagrams, count entries in the arrays. */
static uint32_t udr_fr_build(const udr_event *events, const uint32_t *order, const udr_fp_group *groups,
                             uint32_t ngroups, const udr_fr_target *targets, int64_t now_ns,
                             uint32_t max_bytes, uint32_t max_messages, char *frames, uint32_t *frame_ends,
                             unsigned char *datagrams, uint32_t *datagram_lens, uint64_t *datagram_keys,
                             uint32_t *scratch)
{
    uint32_t frame_at = 0, nframes = 0, datagram_at = 0, ndatagrams = 0;
    for (uint32_t g = 0; g < ngroups; g++) {
        const udr_fp_group *group = &groups[g];
        uint32_t size = udr_fp_encode_reports(events, order + group->start, group->count, targets[g].first_seq,
                                              now_ns, frames + frame_at, frame_ends + nframes);
        for (uint32_t k = 0; k < group->count; k++) frame_ends[nframes + k] += frame_at;
        uint32_t messages = 0;
        uint32_t n = udr_fp_pack_datagrams((const unsigned char *)frames + frame_at, size, targets[g].first_seq,
                                           max_bytes, max_messages, datagrams + datagram_at, scratch, &messages);
        if (messages != group->count) return UDR_FR_PACK_MISMATCH;
        uint32_t previous = 0;
        for (uint32_t d = 0; d < n; d++) {
            datagram_lens[ndatagrams + d] = scratch[d] - previous;
            datagram_keys[ndatagrams + d] = targets[g].key;
            previous = scratch[d];
        }
        datagram_at += previous;
        ndatagrams += n;
        frame_at += size;
        nframes += group->count;
    }
    return ndatagrams;
}

/* Room for udr_fr_record: UDR_FR_RECORD_FIXED + groups * UDR_FR_RECORD_GROUP + the frames' bytes +
 * frames * UDR_FR_RECORD_BIN. */
#define UDR_FR_RECORD_FIXED 64  /* header, array, tag, flag, four integers, two array headers */
#define UDR_FR_RECORD_GROUP 24  /* a group's array, session_id and first_seq, its frames' array */
#define UDR_FR_RECORD_BIN 5     /* one frame's MessagePack bin header at its widest */

static inline unsigned char *udr_fr_bin(unsigned char *p, uint32_t n)
{
    if (n <= 0xff) { *p++ = 0xc4; *p++ = (unsigned char)n; return p; }
    if (n <= 0xffff) { *p++ = 0xc5; return udr_wa_be(p, n, 2); }
    *p++ = 0xc6;
    return udr_wa_be(p, n, 4);
}

/* The router log's record of udr_fr_build's frames into out:
 *     PassRecord(before_offer=False, command_through, done_through, partial_seq, partial_n,
 *                inbound=[], sent=[(session_id, first_seq, [frame, ...]) per group, in order])
 * byte for byte as msgspec encodes it (a frame as MessagePack bin), behind RECORD_HEADER, as
 * write_ahead.h's record is. Returns its length. */
static uint32_t udr_fr_record(unsigned char *out, uint64_t command_through, uint64_t done_through,
                              uint64_t partial_seq, uint64_t partial_n, const udr_fp_group *groups,
                              uint32_t ngroups, const udr_fr_target *targets, const char *frames,
                              const uint32_t *frame_ends)
{
    unsigned char *p = out + UDR_WA_HEADER_SIZE;
    *p++ = 0x98;                      /* array of 8: the tag and PassRecord's seven fields */
    *p++ = 0xa1; *p++ = 'P';          /* the tag */
    *p++ = 0xc2;                      /* before_offer: false */
    p = udr_wa_uint(p, command_through);
    p = udr_wa_uint(p, done_through);
    p = udr_wa_uint(p, partial_seq);
    p = udr_wa_uint(p, partial_n);
    *p++ = 0x90;                      /* inbound: [] */
    p = udr_wa_array(p, ngroups);
    uint32_t frame = 0, start = 0;
    for (uint32_t g = 0; g < ngroups; g++) {
        *p++ = 0x93;
        p = udr_wa_uint(p, groups[g].session_id);
        p = udr_wa_uint(p, targets[g].first_seq);
        p = udr_wa_array(p, groups[g].count);
        for (uint32_t k = 0; k < groups[g].count; k++) {
            uint32_t end = frame_ends[frame++];
            p = udr_fr_bin(p, end - start);
            memcpy(p, frames + start, end - start);
            p += end - start;
            start = end;
        }
    }
    return udr_wa_seal(out, p);
}

/* udr_fr_record appended to the router log's fd (udr_wa_append): its length, or -errno (the
 * record stays in out; the file may hold a torn part of it, which the caller cuts back). */
static int64_t udr_fr_log(int fd, unsigned char *out, uint64_t command_through, uint64_t done_through,
                          uint64_t partial_seq, uint64_t partial_n, const udr_fp_group *groups,
                          uint32_t ngroups, const udr_fr_target *targets, const char *frames,
                          const uint32_t *frame_ends)
{
    return udr_wa_append(fd, out, udr_fr_record(out, command_through, done_through, partial_seq, partial_n,
                                                groups, ngroups, targets, frames, frame_ends));
}

#endif
