/* The router's C fast path for the common inbound datagram: Sequence + application messages from
 * an established session, every one of them accepted.
 *
 * udr_fp_decode reads a datagram with the generated layouts (udprouter/generated/sbe_messages.h)
 * and accepts only the canonical shape: one Sequence, then NewOrderSingle / OrderCancelRequest /
 * OrderCancelReplaceRequest frames with exactly the known block length, valid enums, within the
 * datagram and message limits. udr_fp_ingest then checks the session's expected sequence number,
 * the throttle and the table-lookup risk checks over local copies, and only if every message
 * passes writes the udr_command records into the router's batch and commits the session fields.
 * Any other outcome changes nothing and is returned, so the caller hands the datagram to the
 * Python path, which stays the reference for every reply and reject (SPEC.md).
 *
 * The session fields live in udr_fp_session, allocated by cffi and owned by the Python session
 * objects: C and Python read and write the same memory.
 */
#ifndef UDPROUTER_FAST_INGEST_H
#define UDPROUTER_FAST_INGEST_H

#include <stdint.h>
#include <string.h>

#include "udprouter/engine/ring.h"
#include "udprouter/engine/ring_abi.h"
#include "udprouter/generated/sbe_messages.h"
#include "datagram_mac.h"

#define UDR_FP_APPLIED 0
#define UDR_FP_NOT_FAST_SHAPE 1   /* session message, decode error, extension, limit: Python decides */
#define UDR_FP_SEQUENCE_MISMATCH 2 /* duplicate or gap: Python skips or answers NotApplied */
#define UDR_FP_THROTTLED 3
#define UDR_FP_RISK_REJECT 4
#define UDR_FP_NO_ROOM 5           /* batch or ring full, or no engine: Python flushes or refuses */
#define UDR_FP_NO_SESSION 6        /* udr_fp_ingest_run: no established session bound to the source */
#define UDR_FP_UNAUTHENTICATED 7   /* no MAC frame last, or a wrong MAC: Python counts and drops it */

#define UDR_FP_FRAME_PREFIX 14    /* SOFH + message header */
#define UDR_FP_MAX_APP (UDR_SBE_MAX_MESSAGES_PER_DATAGRAM - 1)
#define UDR_FP_ESTABLISHED 2      /* udr_fp_session.state of an established session (SessionState) */

typedef struct udr_fp_session {
    uint64_t next_inbound;  /* the client sequence number expected next */
    uint64_t cl_ord_hwm;    /* highest ClOrdID the session sent */
    double tokens;          /* throttle bucket; negative = not yet started */
    int64_t refill_ns;
    uint32_t session_id;
    uint32_t account;
    uint32_t open_orders;   /* sent to the engine and not yet known done */
    uint32_t state;         /* ServerSession.state (SessionState): UDR_FP_ESTABLISHED while established */
    uint64_t addr_key;      /* the source address it is bound to (fast_io.h key; 0: none) */
    uint32_t authenticate;  /* 1: every datagram must end with a right MAC frame (datagram_mac.h) */
    uint32_t replies_in_c;  /* 1: a UDP session of the dispatcher, whose replies answer_pass.h may build */
    udr_mac_key mac_key;    /* the session's datagram key, set when its Establish is accepted */
    int64_t last_recv_ns;   /* when its last datagram was applied or accepted (keepalive lapse) */
    uint64_t next_outbound; /* the server sequence number its next frame takes */
    int64_t last_send_ns;   /* when it last sent a sequenced frame (heartbeat due) */
} udr_fp_session;

typedef struct udr_fp_instrument {
    int64_t tick;
    int64_t min_price;
    int64_t max_price;
    int32_t security_id;
    uint32_t max_qty;
} udr_fp_instrument;

typedef struct udr_fp_limits {
    const udr_fp_instrument *instruments; /* sorted by security_id */
    uint32_t instrument_count;
    uint32_t max_open_orders;
    double throttle_per_s;
} udr_fp_limits;

/* The router's command batch (OrderEntry's array): filled here, offered to the ring by Python. */
typedef struct udr_fp_batch {
    udr_command *cmds;
    udr_ring *ring;          /* NULL while no engine is attached */
    uint32_t n;              /* records filled */
    uint32_t room;           /* records that fit: counted when a batch starts, as OrderEntry does */
    uint32_t capacity;
    int32_t available;       /* 0 once the engine is given up on */
    uint64_t next_command_seq;
} udr_fp_batch;

/* One decoded application message (fields a message type lacks are 0). */
typedef struct udr_fp_message {
    uint64_t cl_ord_id;
    uint64_t orig_cl_ord_id;
    uint64_t transact_time;
    int64_t price;
    uint32_t order_qty;
    int32_t security_id;
    uint16_t template_id;
    uint8_t side;
    uint8_t ord_type;
    uint8_t time_in_force;
} udr_fp_message;

static inline uint32_t udr_fp_be32(const unsigned char *p) { return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3]; }
static inline uint16_t udr_fp_le16(const unsigned char *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

static inline int udr_fp_enums_ok(uint8_t side, int check_order, uint8_t ord_type, uint8_t tif)
{
    if (side != UDR_SBE_SIDE_BUY && side != UDR_SBE_SIDE_SELL) return 0;
    if (!check_order) return 1;
    if (ord_type != UDR_SBE_ORD_TYPE_MARKET && ord_type != UDR_SBE_ORD_TYPE_LIMIT) return 0;
    return tif == UDR_SBE_TIME_IN_FORCE_DAY || tif == UDR_SBE_TIME_IN_FORCE_IMMEDIATE_OR_CANCEL ||
           tif == UDR_SBE_TIME_IN_FORCE_FILL_OR_KILL;
}

/* The block of an application frame into m; 0 if the template or an enum is not the known one. */
static inline int udr_fp_read_app(const unsigned char *block, uint16_t template_id, uint16_t block_length,
                                  udr_fp_message *m)
{
    memset(m, 0, sizeof *m);
    m->template_id = template_id;
    if (template_id == UDR_SBE_NEW_ORDER_SINGLE_TEMPLATE_ID && block_length == UDR_SBE_NEW_ORDER_SINGLE_BLOCK_LENGTH) {
        udr_sbe_new_order_single b;
        memcpy(&b, block, sizeof b);
        m->cl_ord_id = b.cl_ord_id; m->transact_time = b.transact_time; m->price = b.price;
        m->order_qty = b.order_qty; m->security_id = b.security_id; m->side = b.side;
        m->ord_type = b.ord_type; m->time_in_force = b.time_in_force;
        return udr_fp_enums_ok(b.side, 1, b.ord_type, b.time_in_force);
    }
    if (template_id == UDR_SBE_ORDER_CANCEL_REQUEST_TEMPLATE_ID && block_length == UDR_SBE_ORDER_CANCEL_REQUEST_BLOCK_LENGTH) {
        udr_sbe_order_cancel_request b;
        memcpy(&b, block, sizeof b);
        m->cl_ord_id = b.cl_ord_id; m->orig_cl_ord_id = b.orig_cl_ord_id; m->transact_time = b.transact_time;
        m->security_id = b.security_id; m->side = b.side;
        return udr_fp_enums_ok(b.side, 0, 0, 0);
    }
    if (template_id == UDR_SBE_ORDER_CANCEL_REPLACE_REQUEST_TEMPLATE_ID &&
        block_length == UDR_SBE_ORDER_CANCEL_REPLACE_REQUEST_BLOCK_LENGTH) {
        udr_sbe_order_cancel_replace_request b;
        memcpy(&b, block, sizeof b);
        m->cl_ord_id = b.cl_ord_id; m->orig_cl_ord_id = b.orig_cl_ord_id; m->transact_time = b.transact_time;
        m->price = b.price; m->order_qty = b.order_qty; m->security_id = b.security_id; m->side = b.side;
        return udr_fp_enums_ok(b.side, 0, 0, 0);
    }
    return 0;
}

/* Decodes a canonical fast-path datagram: returns the number of application messages (written to
 * out, at most max) with the Sequence's NextSeqNo in *first_seq, or -1 for any other datagram. */
static int udr_fp_decode(const char *data, uint32_t len, uint64_t *first_seq, udr_fp_message *out, uint32_t max)
{
    const unsigned char *p = (const unsigned char *)data;
    if (len == 0 || len > UDR_SBE_MAX_DATAGRAM_SIZE) return -1;
    uint32_t pos = 0, frames = 0;
    while (pos < len) {
        if (len - pos < UDR_FP_FRAME_PREFIX || frames == UDR_SBE_MAX_MESSAGES_PER_DATAGRAM) return -1;
        uint32_t frame_length = udr_fp_be32(p + pos);
        uint16_t encoding = (uint16_t)((p[pos + 4] << 8) | p[pos + 5]);
        if (encoding != UDR_SBE_ENCODING_TYPE || frame_length < UDR_FP_FRAME_PREFIX || frame_length > len - pos)
            return -1;
        uint16_t block_length = udr_fp_le16(p + pos + 6), template_id = udr_fp_le16(p + pos + 8);
        uint16_t schema_id = udr_fp_le16(p + pos + 10), version = udr_fp_le16(p + pos + 12);
        if (frame_length != UDR_FP_FRAME_PREFIX + (uint32_t)block_length) return -1; /* no var data here */
        const unsigned char *block = p + pos + UDR_FP_FRAME_PREFIX;
        if (frames == 0) {
            if (template_id != UDR_SBE_SEQUENCE_TEMPLATE_ID || schema_id != UDR_SBE_FIXP_SCHEMA_ID ||
                version != UDR_SBE_FIXP_SCHEMA_VERSION || block_length != UDR_SBE_SEQUENCE_BLOCK_LENGTH)
                return -1;
            memcpy(first_seq, block, sizeof *first_seq);
        } else {
            if (schema_id != UDR_SBE_UDPROUTER_SCHEMA_ID || version != UDR_SBE_UDPROUTER_SCHEMA_VERSION ||
                frames > max || !udr_fp_read_app(block, template_id, block_length, &out[frames - 1]))
                return -1;
        }
        frames++;
        pos += frame_length;
    }
    return (int)frames - 1;
}

static inline const udr_fp_instrument *udr_fp_find(const udr_fp_limits *lim, int32_t security_id)
{
    uint32_t lo = 0, hi = lim->instrument_count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int32_t id = lim->instruments[mid].security_id;
        if (id == security_id) return &lim->instruments[mid];
        if (id < security_id) lo = mid + 1; else hi = mid;
    }
    return NULL;
}

static inline int udr_fp_price_ok(const udr_fp_instrument *inst, int64_t price)
{
    return price % inst->tick == 0 && price >= inst->min_price && price <= inst->max_price;
}

/* The risk checks of risk.py over local copies of the session's marks; 0 if any message fails. */
static int udr_fp_risk(const udr_fp_limits *lim, const udr_fp_message *msgs, int n, uint64_t *hwm, uint32_t *open)
{
    for (int i = 0; i < n; i++) {
        const udr_fp_message *m = &msgs[i];
        uint64_t sent_before = *hwm;
        if (m->cl_ord_id <= sent_before) return 0;
        *hwm = m->cl_ord_id;
        const udr_fp_instrument *inst = udr_fp_find(lim, m->security_id);
        if (inst == NULL) return 0;
        if (m->template_id == UDR_SBE_NEW_ORDER_SINGLE_TEMPLATE_ID) {
            if (m->ord_type == UDR_SBE_ORD_TYPE_MARKET && m->time_in_force == UDR_SBE_TIME_IN_FORCE_DAY) return 0;
            if (m->order_qty == 0 || m->order_qty > inst->max_qty) return 0;
            if (m->ord_type == UDR_SBE_ORD_TYPE_LIMIT && !udr_fp_price_ok(inst, m->price)) return 0;
            if (*open >= lim->max_open_orders) return 0;
            (*open)++;
            continue;
        }
        if (m->orig_cl_ord_id == 0 || m->orig_cl_ord_id > sent_before) return 0;
        if (m->template_id == UDR_SBE_ORDER_CANCEL_REPLACE_REQUEST_TEMPLATE_ID &&
            (m->order_qty == 0 || m->order_qty > inst->max_qty || !udr_fp_price_ok(inst, m->price)))
            return 0;
    }
    return 1;
}

static inline void udr_fp_fill(udr_command *c, const udr_fp_message *m, const udr_fp_session *s,
                               uint64_t seq, int64_t now_ns)
{
    memset(c, 0, sizeof *c);
    c->command_seq = seq;
    c->cl_ord_id = m->cl_ord_id;
    c->recv_time_ns = (uint64_t)now_ns;
    c->session_id = s->session_id;
    c->account = s->account;
    c->security_id = m->security_id;
    c->side = m->side;
    if (m->template_id == UDR_SBE_NEW_ORDER_SINGLE_TEMPLATE_ID) {
        c->kind = UDR_CMD_NEW_ORDER;
        c->price = m->ord_type == UDR_SBE_ORD_TYPE_LIMIT ? m->price : 0;
        c->order_qty = m->order_qty;
        c->ord_type = m->ord_type;
        c->time_in_force = m->time_in_force;
    } else if (m->template_id == UDR_SBE_ORDER_CANCEL_REQUEST_TEMPLATE_ID) {
        c->kind = UDR_CMD_CANCEL;
        c->orig_cl_ord_id = m->orig_cl_ord_id;
    } else {
        c->kind = UDR_CMD_REPLACE;
        c->orig_cl_ord_id = m->orig_cl_ord_id;
        c->price = m->price;
        c->order_qty = m->order_qty;
        c->ord_type = UDR_SBE_ORD_TYPE_LIMIT;
    }
}

/* The datagram's length before its MAC frame, or -1 when s authenticates and the MAC is missing or
 * wrong (checked before anything of it is read); with authentication off a MAC frame is ignored. */
static inline int32_t udr_fp_authenticate(const char *data, uint32_t len, const udr_fp_session *s)
{
    const unsigned char *p = (const unsigned char *)data;
    if (s->authenticate) return udr_mac_verify(&s->mac_key, p, len);
    return (int32_t)(udr_mac_present(p, len) ? len - UDR_MAC_FRAME_SIZE : len);
}

/* The whole common path for one datagram from session s; UDR_FP_APPLIED or why not (nothing changed). */
static int udr_fp_ingest(const char *data, uint32_t len, udr_fp_session *s, const udr_fp_limits *lim,
                         udr_fp_batch *b, int64_t now_ns)
{
    udr_fp_message msgs[UDR_FP_MAX_APP];
    uint64_t first_seq;
    if (len > UDR_SBE_MAX_DATAGRAM_SIZE) return UDR_FP_NOT_FAST_SHAPE; /* the limit counts the MAC frame too */
    int32_t body = udr_fp_authenticate(data, len, s);
    if (body < 0) return UDR_FP_UNAUTHENTICATED;
    int n = udr_fp_decode(data, (uint32_t)body, &first_seq, msgs, UDR_FP_MAX_APP);
    if (n < 0) return UDR_FP_NOT_FAST_SHAPE;
    if (first_seq != s->next_inbound) return UDR_FP_SEQUENCE_MISMATCH;
    if (first_seq > UINT64_MAX - (uint64_t)n) return UDR_FP_NOT_FAST_SHAPE; /* Python's ints do not wrap */
    /* Throttle exactly as Risk.admit computes it (same double operations in the same order). */
    double rate = lim->throttle_per_s, tokens = s->tokens;
    int64_t refill = s->refill_ns;
    if (tokens < 0) {
        tokens = rate;
        refill = now_ns;
    } else if (now_ns > refill) {
        double grown = tokens + (double)(now_ns - refill) * rate / 1e9;
        tokens = grown < rate ? grown : rate;
        refill = now_ns;
    }
    if ((int64_t)tokens < n) return UDR_FP_THROTTLED; /* tokens >= 0 here: the cast truncates like int() */
    uint64_t hwm = s->cl_ord_hwm;
    uint32_t open = s->open_orders;
    if (!udr_fp_risk(lim, msgs, n, &hwm, &open)) return UDR_FP_RISK_REJECT;
    if (n > 0) {
        if (b->ring == NULL || !b->available) return UDR_FP_NO_ROOM;
        if (b->n == 0) {
            uint64_t free_slots = b->ring->capacity - udr_ring_occupancy(b->ring);
            b->room = free_slots < b->capacity ? (uint32_t)free_slots : b->capacity;
        }
        if (b->n + (uint32_t)n > b->room) return UDR_FP_NO_ROOM;
        for (int i = 0; i < n; i++)
            udr_fp_fill(&b->cmds[b->n + (uint32_t)i], &msgs[i], s, b->next_command_seq + (uint64_t)i, now_ns);
        b->n += (uint32_t)n;
        b->next_command_seq += (uint64_t)n;
    }
    s->next_inbound = first_seq + (uint64_t)n;
    s->cl_ord_hwm = hwm;
    s->open_orders = open;
    s->tokens = tokens - n;
    s->refill_ns = refill;
    return UDR_FP_APPLIED;
}

/* Source address key -> its established session: open addressing, key 0 marks an empty slot (no
 * datagram comes from 0.0.0.0:0). Python fills it as sessions establish and keeps every session it
 * points to alive; an entry goes stale when its session terminates or moves, and the lookup then
 * misses, because the session's own state and addr_key are checked, not the entry. */
typedef struct udr_fp_addr_entry {
    uint64_t key;
    udr_fp_session *session;
} udr_fp_addr_entry;

typedef struct udr_fp_addr_table {
    udr_fp_addr_entry *slots; /* capacity a power of two, never more than half full */
    uint32_t mask;
} udr_fp_addr_table;

static inline uint32_t udr_fp_addr_home(const udr_fp_addr_table *t, uint64_t key)
{
    return (uint32_t)((key * 0x9E3779B97F4A7C15ULL) >> 32) & t->mask;
}

/* Binds key to session (replacing what key named before). */
static void udr_fp_addr_set(udr_fp_addr_table *t, uint64_t key, udr_fp_session *session)
{
    uint32_t i = udr_fp_addr_home(t, key);
    while (t->slots[i].key != 0 && t->slots[i].key != key) i = (i + 1) & t->mask;
    t->slots[i].key = key;
    t->slots[i].session = session;
}

static inline udr_fp_session *udr_fp_addr_find(const udr_fp_addr_table *t, uint64_t key)
{
    for (uint32_t i = udr_fp_addr_home(t, key);; i = (i + 1) & t->mask) {
        const udr_fp_addr_entry *e = &t->slots[i];
        if (e->key == key) {
            udr_fp_session *s = e->session;
            return s->state == UDR_FP_ESTABLISHED && s->addr_key == key ? s : NULL;
        }
        if (e->key == 0) return NULL;
    }
}

/* udr_fp_ingest over received datagrams start .. n-1 (recvmmsg slots of slot_size bytes), in arrival
 * order, while each one takes the fast path: the whole per-datagram work of the common case in one
 * call. Returns the index of the first datagram that did not (n when all did), with the reason in
 * *stopped (UDR_FP_NO_SESSION when no established session is bound to its source), so the caller
 * runs the Python path for it (or flushes a full batch) and calls again after it. *applied counts
 * the datagrams applied; touched[] gets the source keys of their sessions, consecutive repeats
 * folded (at most n - start entries). */
static uint32_t udr_fp_ingest_run(const unsigned char *arena, uint32_t slot_size, const uint32_t *lens,
                                  const uint64_t *keys, uint32_t start, uint32_t n, const udr_fp_addr_table *table,
                                  const udr_fp_limits *lim, udr_fp_batch *b, int64_t now_ns, int *stopped,
                                  uint32_t *applied, uint64_t *touched, uint32_t *touched_n)
{
    uint32_t i = start;
    *stopped = UDR_FP_APPLIED;
    for (; i < n; i++) {
        udr_fp_session *s = udr_fp_addr_find(table, keys[i]);
        if (s == NULL) {
            *stopped = UDR_FP_NO_SESSION;
            break;
        }
        int outcome = udr_fp_ingest((const char *)arena + (size_t)i * slot_size, lens[i], s, lim, b, now_ns);
        if (outcome != UDR_FP_APPLIED) {
            *stopped = outcome;
            break;
        }
        (*applied)++;
        s->last_recv_ns = now_ns;
        if (*touched_n == 0 || touched[*touched_n - 1] != keys[i]) touched[(*touched_n)++] = keys[i];
    }
    return i;
}

#endif
