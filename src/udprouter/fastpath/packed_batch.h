/* The gRPC SubmitOrdersPacked path: a batch of NewOrderSingle frames applied in C, as a UDP
 * datagram's frames are (fast_ingest.h), but with an answer per order instead of all-or-nothing.
 *
 * udr_pk_decode checks the whole batch first (a malformed frame refuses the call, nothing applied)
 * with fast_ingest.h's frame reader. udr_pk_apply then takes each order as OrderEntry.submit does:
 * room in the batch/ring, then risk.py's checks in risk.py's order (udr_pk_new_order_reason), then a
 * udr_command in OrderEntry's batch; a risk reject gets its ExecutionReportReject frame (it takes the
 * session's next server sequence number) and a refused order a BusinessMessageReject frame.
 * udr_pk_answer copies the first report of each applied command (encoded by fast_egress.h for the
 * session's stream) into the call's answer, and udr_pk_gather joins the answers in request order.
 */
#ifndef UDPROUTER_PACKED_BATCH_H
#define UDPROUTER_PACKED_BATCH_H

#include <stdint.h>
#include <string.h>

#include "fast_ingest.h"
#include "fast_egress.h"

#define UDR_PK_SLOT UDR_FP_MAX_REPORT_FRAME /* one answer frame per order fits */
#define UDR_PK_NEW_ORDER_FRAME (UDR_FP_FRAME_PREFIX + UDR_SBE_NEW_ORDER_SINGLE_BLOCK_LENGTH)

/* Why udr_pk_decode refused a batch (returned negated, the frame's index in *bad_index). */
#define UDR_PK_TRUNCATED 1      /* fewer bytes left than a frame header, or a SOFH length beyond them */
#define UDR_PK_BAD_ENCODING 2   /* SOFH encoding type is not 0xEB50 */
#define UDR_PK_NOT_NEW_ORDER 3  /* template, schema id or version is not NewOrderSingle's */
#define UDR_PK_BAD_LENGTH 4     /* block length or SOFH length is not NewOrderSingle's */
#define UDR_PK_BAD_ENUM 5       /* side, ord_type or time_in_force outside the schema */
#define UDR_PK_ZERO_CL_ORD_ID 6
#define UDR_PK_TOO_MANY 7       /* more than max frames */

#define UDR_PK_BUSY 255         /* outcome of an order refused for room (BusinessMessageReject) */

/* One call's state: filled by udr_pk_apply, answered by udr_pk_answer (arrays of count entries). */
typedef struct udr_pk_call {
    unsigned char *slots;      /* count * UDR_PK_SLOT bytes: each order's answer frame */
    uint8_t *lens;             /* its length; 0 while the engine has not answered */
    uint32_t *cmd_index;       /* the order index of the k-th command applied */
    uint32_t *reject_index;    /* the orders refused by a risk check, in order */
    uint8_t *outcome;          /* per order: 0 applied, an OrdRejReason, or UDR_PK_BUSY */
    uint64_t first_command_seq;
    uint64_t next_server_seq;  /* the session's next server sequence number (rejects take it) */
    uint32_t count;
    uint32_t commands;         /* orders applied: command_seq first_command_seq .. + commands - 1 */
    uint32_t rejects;
    uint32_t busy;
    uint32_t answered;         /* commands whose first report arrived */
    uint8_t busy_reason;       /* BusinessRejectReason for a refused order */
} udr_pk_call;

/* Decodes frames into out; returns their count, or -(UDR_PK_* reason) with the frame's index in
 * *bad_index. Every frame must be a canonical NewOrderSingle with a nonzero ClOrdID. */
static int32_t udr_pk_decode(const unsigned char *p, uint32_t len, udr_fp_message *out, uint32_t max,
                             uint32_t *bad_index)
{
    uint32_t pos = 0, n = 0;
    while (pos < len) {
        *bad_index = n;
        if (n == max) return -UDR_PK_TOO_MANY;
        if (len - pos < UDR_FP_FRAME_PREFIX) return -UDR_PK_TRUNCATED;
        uint32_t frame_length = udr_fp_be32(p + pos);
        if (frame_length < 6 || frame_length > len - pos) return -UDR_PK_TRUNCATED;
        if ((uint16_t)((p[pos + 4] << 8) | p[pos + 5]) != UDR_SBE_ENCODING_TYPE) return -UDR_PK_BAD_ENCODING;
        uint16_t block_length = udr_fp_le16(p + pos + 6), template_id = udr_fp_le16(p + pos + 8);
        if (template_id != UDR_SBE_NEW_ORDER_SINGLE_TEMPLATE_ID || udr_fp_le16(p + pos + 10) != UDR_SBE_UDPROUTER_SCHEMA_ID ||
            udr_fp_le16(p + pos + 12) != UDR_SBE_UDPROUTER_SCHEMA_VERSION)
            return -UDR_PK_NOT_NEW_ORDER;
        if (block_length != UDR_SBE_NEW_ORDER_SINGLE_BLOCK_LENGTH || frame_length != UDR_PK_NEW_ORDER_FRAME)
            return -UDR_PK_BAD_LENGTH;
        if (!udr_fp_read_app(p + pos + UDR_FP_FRAME_PREFIX, template_id, block_length, &out[n])) return -UDR_PK_BAD_ENUM;
        if (out[n].cl_ord_id == 0) return -UDR_PK_ZERO_CL_ORD_ID;
        n++;
        pos += frame_length;
    }
    return (int32_t)n;
}

/* risk.py's Risk._new_reason, check for check and in its order: 0 when the order passes, else the
 * OrdRejReason. Like risk.py it raises the session's ClOrdID mark once the order is not a duplicate. */
static uint8_t udr_pk_new_order_reason(const udr_fp_limits *lim, const udr_fp_message *m, udr_fp_session *s)
{
    if (m->cl_ord_id <= s->cl_ord_hwm) return UDR_SBE_ORD_REJ_REASON_DUPLICATE_ORDER;
    s->cl_ord_hwm = m->cl_ord_id;
    const udr_fp_instrument *inst = udr_fp_find(lim, m->security_id);
    if (inst == NULL) return UDR_SBE_ORD_REJ_REASON_UNKNOWN_SYMBOL;
    if (m->ord_type == UDR_SBE_ORD_TYPE_MARKET && m->time_in_force == UDR_SBE_TIME_IN_FORCE_DAY)
        return UDR_SBE_ORD_REJ_REASON_UNSUPPORTED_ORDER_CHARACTERISTIC;
    if (m->order_qty == 0 || m->order_qty > inst->max_qty) return UDR_SBE_ORD_REJ_REASON_INCORRECT_QUANTITY;
    if (m->ord_type == UDR_SBE_ORD_TYPE_LIMIT) {
        if (m->price % inst->tick) return UDR_SBE_ORD_REJ_REASON_INVALID_PRICE_INCREMENT;
        if (m->price < inst->min_price || m->price > inst->max_price)
            return UDR_SBE_ORD_REJ_REASON_PRICE_EXCEEDS_CURRENT_PRICE_BAND;
    }
    if (s->open_orders >= lim->max_open_orders) return UDR_SBE_ORD_REJ_REASON_ORDER_EXCEEDS_LIMIT;
    return 0;
}

static void udr_pk_reject_frame(udr_pk_call *c, uint32_t i, const udr_fp_message *m, const udr_fp_session *s,
                                uint8_t reason, int64_t now_ns)
{
    uint64_t exec_id = ((uint64_t)s->session_id << UDR_FP_EXEC_ID_SEQ_BITS) | c->next_server_seq++;
    udr_sbe_execution_report_reject r = {m->cl_ord_id, exec_id, (uint64_t)now_ns, m->price, m->order_qty,
                                         m->security_id, m->side, reason};
    unsigned char *out = c->slots + (size_t)i * UDR_PK_SLOT;
    memcpy(udr_fp_prefix(out, sizeof r, UDR_SBE_EXECUTION_REPORT_REJECT_TEMPLATE_ID), &r, sizeof r);
    c->lens[i] = (uint8_t)(UDR_FP_FRAME_PREFIX + sizeof r);
}

static void udr_pk_busy_frame(udr_pk_call *c, uint32_t i, int64_t now_ns)
{
    udr_sbe_business_message_reject r = {(uint64_t)i + 1, (uint64_t)now_ns, UDR_SBE_NEW_ORDER_SINGLE_TEMPLATE_ID,
                                         c->busy_reason};
    unsigned char *out = c->slots + (size_t)i * UDR_PK_SLOT;
    memcpy(udr_fp_prefix(out, sizeof r, UDR_SBE_BUSINESS_MESSAGE_REJECT_TEMPLATE_ID), &r, sizeof r);
    c->lens[i] = (uint8_t)(UDR_FP_FRAME_PREFIX + sizeof r);
}

/* Orders msgs[start..c->count-1] as OrderEntry.submit takes them; returns the index of the first
 * order not taken because the batch array is full (c->count when all were): the caller offers the
 * batch to the ring (OrderEntry.flush) and calls again from there. */
static uint32_t udr_pk_apply(udr_pk_call *c, const udr_fp_message *msgs, uint32_t start, udr_fp_session *s,
                             const udr_fp_limits *lim, udr_fp_batch *b, int64_t now_ns)
{
    for (uint32_t i = start; i < c->count; i++) {
        if (b->n == 0) {
            uint64_t free_slots = 0;
            if (b->ring != NULL && b->available) free_slots = b->ring->capacity - udr_ring_occupancy(b->ring);
            b->room = free_slots < b->capacity ? (uint32_t)free_slots : b->capacity;
        }
        if (b->n >= b->room) {
            /* a full array, not a full ring: the caller flushes and goes on (unless nothing can) */
            if (b->n == b->capacity && b->ring != NULL && b->available) return i;
            udr_pk_busy_frame(c, i, now_ns);
            c->outcome[i] = UDR_PK_BUSY;
            c->busy++;
            continue;
        }
        const udr_fp_message *m = &msgs[i];
        uint8_t reason = udr_pk_new_order_reason(lim, m, s);
        c->outcome[i] = reason;
        if (reason) {
            udr_pk_reject_frame(c, i, m, s, reason, now_ns);
            c->reject_index[c->rejects++] = i;
            continue;
        }
        s->open_orders++;
        if (c->commands == 0) c->first_command_seq = b->next_command_seq;
        udr_fp_fill(&b->cmds[b->n], m, s, b->next_command_seq, now_ns);
        c->cmd_index[c->commands++] = i;
        b->n++;
        b->next_command_seq++;
    }
    return c->count;
}

/* The first report of each of c's commands among events[order[0:count]], whose frames are
 * frames[ends[k-1]..ends[k]] (udr_fp_encode_reports' output), copied into c's answers; returns the
 * commands newly answered. */
static uint32_t udr_pk_answer(udr_pk_call *c, const udr_event *events, const uint32_t *order, uint32_t count,
                              const unsigned char *frames, const uint32_t *ends)
{
    uint32_t answered = 0;
    for (uint32_t k = 0; k < count; k++) {
        uint64_t j = events[order[k]].command_seq - c->first_command_seq; /* wraps for older commands */
        if (j >= c->commands) continue;
        uint32_t i = c->cmd_index[j];
        if (c->lens[i]) continue; /* a later report of the same command (trades): on the stream only */
        uint32_t from = k ? ends[k - 1] : 0, len = ends[k] - from;
        if (len > UDR_PK_SLOT) continue;
        memcpy(c->slots + (size_t)i * UDR_PK_SLOT, frames + from, len);
        c->lens[i] = (uint8_t)len;
        answered++;
    }
    c->answered += answered;
    return answered;
}

/* The answers in request order, back to back, moved to the front of c->slots (each moves down
 * or stays: memmove); returns their bytes. The slots are no longer per order afterwards. */
static uint32_t udr_pk_gather(udr_pk_call *c)
{
    uint32_t at = 0;
    for (uint32_t i = 0; i < c->count; i++) {
        memmove(c->slots + at, c->slots + (size_t)i * UDR_PK_SLOT, c->lens[i]);
        at += c->lens[i];
    }
    return at;
}

#endif
