/* The router's C fast path for engine events: routing and report encoding.
 *
 * udr_fp_route does what OrderEntry._route does per event (skip events already routed, track the
 * command whose LAST is pending, count an order done on the session's open orders) and groups the
 * kept events by recipient session in first-appearance order, as _route's dict does.
 * udr_fp_encode_reports writes the SOFH-framed ExecutionReport* / OrderCancelReject frames of one
 * session's events back to back, numbered from the session's next server sequence number
 * (ExecID = session_id << 40 | that number; TransactTime = the caller's clock), exactly as
 * reports.encode_event packs them; Python slices the frames and keeps them as it always did
 * (ServerSession.pending / flush: the one place that records a sent message).
 */
#ifndef UDPROUTER_FAST_EGRESS_H
#define UDPROUTER_FAST_EGRESS_H

#include <stdint.h>
#include <string.h>

#include "fast_ingest.h"
#include "udprouter/engine/ring_abi.h"
#include "udprouter/generated/sbe_messages.h"

#define UDR_FP_EXEC_ID_SEQ_BITS 40
#define UDR_FP_MAX_REPORT_FRAME 80 /* the largest report frame (Replace: 14 + 65) fits */
#define UDR_FP_NULL_U8 0xff
#define UDR_FP_NULL_SECURITY_ID INT32_MIN
#define UDR_FP_ORD_STATUS_REJECTED 8
#define UDR_FP_ROUTE_SLOTS 8192    /* session hash slots per call: > any drain's event count */

typedef struct udr_fp_route_state {
    uint64_t done_through;   /* highest command_seq whose LAST event was routed */
    uint64_t partial_seq;    /* command whose LAST is pending, and its events routed so far */
    uint64_t partial_n;
    uint64_t skip_seq;       /* after an engine restart: events of that command already routed */
    uint64_t skip_left;
} udr_fp_route_state;

typedef struct udr_fp_group {
    uint32_t session_id;
    uint32_t start;          /* into order[] */
    uint32_t count;
    uint32_t reserved;
} udr_fp_group;

static inline int udr_fp_ends_order(const udr_event *e)
{
    return e->kind == UDR_EVT_CANCELED || e->kind == UDR_EVT_REJECTED ||
           (e->kind == UDR_EVT_TRADE && e->leaves_qty == 0);
}

/* events[0:n] (n <= UDR_FP_ROUTE_SLOTS / 2); sessions[sid] (sid < session_cap) is the session's
 * struct or NULL; scratch holds n entries. Fills order[] with the kept events' indices grouped by
 * session and groups[] with one entry per session; returns the number of groups. */
static uint32_t udr_fp_route(const udr_event *events, uint32_t n, udr_fp_route_state *st,
                             udr_fp_session *const *sessions, uint32_t session_cap,
                             uint32_t *order, udr_fp_group *groups, uint32_t *scratch)
{
    uint32_t slot_sid[UDR_FP_ROUTE_SLOTS], slot_group[UDR_FP_ROUTE_SLOTS];
    uint8_t used[UDR_FP_ROUTE_SLOTS];
    memset(used, 0, sizeof used);
    uint32_t ngroups = 0, kept = 0;
    uint64_t done = st->done_through, pseq = st->partial_seq, pn = st->partial_n;
    uint64_t sseq = st->skip_seq, sleft = st->skip_left;
    for (uint32_t i = 0; i < n; i++) {
        const udr_event *e = &events[i];
        uint64_t seq = e->command_seq;
        if (seq <= done) { scratch[i] = UINT32_MAX; continue; }
        if (sleft && seq == sseq) { sleft--; scratch[i] = UINT32_MAX; continue; }
        if (e->flags & UDR_EVT_FLAG_LAST) { done = seq; pseq = 0; pn = 0; }
        else if (seq == pseq) pn++;
        else { pseq = seq; pn = 1; }
        uint32_t sid = e->session_id;
        if (udr_fp_ends_order(e) && sid < session_cap && sessions[sid] != NULL && sessions[sid]->open_orders > 0)
            sessions[sid]->open_orders--;
        uint32_t h = (sid * 2654435761u) & (UDR_FP_ROUTE_SLOTS - 1);
        while (used[h] && slot_sid[h] != sid) h = (h + 1) & (UDR_FP_ROUTE_SLOTS - 1);
        if (!used[h]) {
            used[h] = 1;
            slot_sid[h] = sid;
            slot_group[h] = ngroups;
            groups[ngroups].session_id = sid;
            groups[ngroups].count = 0;
            groups[ngroups].reserved = 0;
            ngroups++;
        }
        scratch[i] = slot_group[h];
        groups[slot_group[h]].count++;
        kept++;
    }
    uint32_t at = 0;
    for (uint32_t g = 0; g < ngroups; g++) {
        groups[g].start = at;
        at += groups[g].count;
        groups[g].count = 0;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (scratch[i] == UINT32_MAX) continue;
        udr_fp_group *g = &groups[scratch[i]];
        order[g->start + g->count++] = i;
    }
    (void)kept;
    st->done_through = done; st->partial_seq = pseq; st->partial_n = pn;
    st->skip_seq = sseq; st->skip_left = sleft;
    return ngroups;
}

static inline unsigned char *udr_fp_prefix(unsigned char *out, uint16_t block_length, uint16_t template_id)
{
    uint32_t length = UDR_FP_FRAME_PREFIX + block_length;
    out[0] = (unsigned char)(length >> 24); out[1] = (unsigned char)(length >> 16);
    out[2] = (unsigned char)(length >> 8); out[3] = (unsigned char)length;
    out[4] = (unsigned char)(UDR_SBE_ENCODING_TYPE >> 8); out[5] = (unsigned char)(UDR_SBE_ENCODING_TYPE & 0xff);
    udr_sbe_message_header h = {block_length, template_id, UDR_SBE_UDPROUTER_SCHEMA_ID, UDR_SBE_UDPROUTER_SCHEMA_VERSION};
    memcpy(out + 6, &h, sizeof h);
    return out + UDR_FP_FRAME_PREFIX;
}

/* One report frame for e at out; returns its length. */
static uint32_t udr_fp_encode_report(const udr_event *e, uint64_t exec_id, uint64_t now, unsigned char *out)
{
    switch (e->kind) {
    case UDR_EVT_ACCEPTED: {
        udr_sbe_execution_report_new r = {e->cl_ord_id, e->order_id, exec_id, now, e->price, e->qty,
                                          e->security_id, e->side};
        memcpy(udr_fp_prefix(out, sizeof r, UDR_SBE_EXECUTION_REPORT_NEW_TEMPLATE_ID), &r, sizeof r);
        return UDR_FP_FRAME_PREFIX + sizeof r;
    }
    case UDR_EVT_TRADE: {
        udr_sbe_execution_report_trade r = {e->cl_ord_id, e->order_id, exec_id, now, e->price, e->qty,
                                            e->leaves_qty, e->cum_qty, e->security_id, e->side,
                                            (e->flags & UDR_EVT_FLAG_AGGRESSOR) ? 1 : 0};
        memcpy(udr_fp_prefix(out, sizeof r, UDR_SBE_EXECUTION_REPORT_TRADE_TEMPLATE_ID), &r, sizeof r);
        return UDR_FP_FRAME_PREFIX + sizeof r;
    }
    case UDR_EVT_CANCELED: {
        udr_sbe_execution_report_cancel r = {e->cl_ord_id, e->orig_cl_ord_id, e->order_id, exec_id, now,
                                             e->cum_qty, e->security_id, e->side, e->reason};
        memcpy(udr_fp_prefix(out, sizeof r, UDR_SBE_EXECUTION_REPORT_CANCEL_TEMPLATE_ID), &r, sizeof r);
        return UDR_FP_FRAME_PREFIX + sizeof r;
    }
    case UDR_EVT_REPLACED: {
        udr_sbe_execution_report_replace r = {e->cl_ord_id, e->orig_cl_ord_id, e->order_id, exec_id, now,
                                              e->price, e->qty, e->leaves_qty, e->cum_qty, e->security_id,
                                              e->side};
        memcpy(udr_fp_prefix(out, sizeof r, UDR_SBE_EXECUTION_REPORT_REPLACE_TEMPLATE_ID), &r, sizeof r);
        return UDR_FP_FRAME_PREFIX + sizeof r;
    }
    case UDR_EVT_REJECTED: {
        udr_sbe_execution_report_reject r = {e->cl_ord_id, exec_id, now, e->price, e->qty, e->security_id,
                                             e->side, e->reason};
        memcpy(udr_fp_prefix(out, sizeof r, UDR_SBE_EXECUTION_REPORT_REJECT_TEMPLATE_ID), &r, sizeof r);
        return UDR_FP_FRAME_PREFIX + sizeof r;
    }
    case UDR_EVT_MASS_ACTION_REPORT: {
        /* MassActionType 3 (cancel); scope 1 (by SecurityID) or 7 (all); SecurityID 0 and Side 0 mean "any" */
        int refused = (e->flags & UDR_EVT_FLAG_REFUSED) != 0;
        udr_sbe_order_mass_action_report r = {e->cl_ord_id, now, e->qty,
                                              e->security_id ? e->security_id : UDR_FP_NULL_SECURITY_ID, 3,
                                              e->security_id ? 1 : 7, refused ? 0 : 1,
                                              refused ? e->reason : UDR_FP_NULL_U8,
                                              e->side ? e->side : UDR_FP_NULL_U8};
        memcpy(udr_fp_prefix(out, sizeof r, UDR_SBE_ORDER_MASS_ACTION_REPORT_TEMPLATE_ID), &r, sizeof r);
        return UDR_FP_FRAME_PREFIX + sizeof r;
    }
    case UDR_EVT_ORDER_STATUS: {
        int unknown = (e->flags & UDR_EVT_FLAG_REFUSED) != 0;
        udr_sbe_execution_report_status r = {e->cl_ord_id, e->order_id, exec_id, now, e->price, e->leaves_qty,
                                             e->cum_qty, e->security_id,
                                             unknown ? UDR_FP_ORD_STATUS_REJECTED : e->reason,
                                             unknown ? UDR_FP_NULL_U8 : e->side};
        memcpy(udr_fp_prefix(out, sizeof r, UDR_SBE_EXECUTION_REPORT_STATUS_TEMPLATE_ID), &r, sizeof r);
        return UDR_FP_FRAME_PREFIX + sizeof r;
    }
    default: { /* CANCEL_REJECTED, and any newer kind: a cancel reject with reason Other (99) */
        udr_sbe_order_cancel_reject r = {e->cl_ord_id, e->orig_cl_ord_id, e->order_id, now, e->security_id,
                                         (e->flags & UDR_EVT_FLAG_TO_REPLACE) ? 2 : 1,
                                         e->kind == UDR_EVT_CANCEL_REJECTED ? e->reason : 99};
        memcpy(udr_fp_prefix(out, sizeof r, UDR_SBE_ORDER_CANCEL_REJECT_TEMPLATE_ID), &r, sizeof r);
        return UDR_FP_FRAME_PREFIX + sizeof r;
    }
    }
}

/* Frames for events[order[0:count]] numbered first_seq.. into out (count * UDR_FP_MAX_REPORT_FRAME
 * bytes); ends[k] = end offset of frame k. Returns the bytes written. */
static uint32_t udr_fp_encode_reports(const udr_event *events, const uint32_t *order, uint32_t count,
                                      uint64_t first_seq, int64_t now_ns, char *out, uint32_t *ends)
{
    uint32_t at = 0;
    for (uint32_t k = 0; k < count; k++) {
        const udr_event *e = &events[order[k]];
        uint64_t exec_id = ((uint64_t)e->session_id << UDR_FP_EXEC_ID_SEQ_BITS) | (first_seq + k);
        at += udr_fp_encode_report(e, exec_id, (uint64_t)now_ns, (unsigned char *)out + at);
        ends[k] = at;
    }
    return at;
}

#endif
