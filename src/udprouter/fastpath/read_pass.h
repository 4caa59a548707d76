/* A read pass's common case in one C call (FastIngest.read, fast_ingest.py).
 *
 * Why: at one order per datagram every pass ran about 40 Python calls between the socket and the
 * ring (the recvmmsg wrapper, the ingest run and its bookkeeping, each touched session told to the
 * router log, the write-ahead hook's chain, the offer and the wake), for work that is all C. When
 * the router log is in its common state (durability os, nothing buffered or unsent: the caller
 * passes its fd, else -1), this reads the socket (again while a read fills the batch, up to max_reads
 * recvmmsg calls), applies every datagram through udr_fp_ingest_run, and if all of them took the fast path, writes the write-ahead record of the sessions they moved
 * (write_ahead.h, the same bytes RouterLog.before_offer writes) and only then offers the batch to
 * the ring and wakes the engine: a command still reaches the engine only once its inbound
 * progress is in the log. Anything else (a datagram the fast path does not take, a full batch, a
 * failed write, more sessions than the record's room) returns with what was done so far, and the
 * Python path goes on from there exactly as after udr_fp_ingest_run.
 */
#ifndef UDPROUTER_READ_PASS_H
#define UDPROUTER_READ_PASS_H

#include <stdint.h>

#include "fast_egress.h"
#include "fast_ingest.h"
#include "fast_io.h"
#include "write_ahead.h"

/* What stays the same from pass to pass: the socket's buffers (DatagramSocket), the fast path's
 * tables and OrderEntry's batch (FastIngest), the router log's record buffers (RouterLog) and the
 * routing position the record carries (OrderEntry's udr_fp_route_state). */
typedef struct udr_rp_context {
    int sock_fd;
    unsigned char *arena;
    uint32_t *lens;
    uint64_t *keys;
    const udr_fp_addr_table *addresses;
    const udr_fp_limits *limits;
    udr_fp_batch *batch;
    uint64_t *touched;              /* max_reads * UDR_IO_MAX_BATCH source keys */
    const udr_fp_route_state *route;
    unsigned char *record;          /* UDR_WA_FIXED_MAX + session_room * UDR_WA_SESSION_MAX bytes */
    udr_fp_session **sessions;      /* session_room entries */
    uint32_t session_room;
    uint32_t max_reads;             /* recvmmsg calls in one pass, each after a full one */
} udr_rp_context;

typedef struct udr_rp_result {
    uint32_t received;              /* datagrams read in all */
    uint32_t reads;                 /* recvmmsg calls made */
    uint32_t receive_errors;        /* a failed one ends the reads */
    uint32_t in_arena;              /* the last read's datagrams, still in the socket's buffers ... */
    uint32_t next;                  /* ... and the first of them not applied (in_arena when all were) */
    int32_t stopped;                /* udr_fp_ingest_run's outcome there */
    uint32_t applied;               /* datagrams applied */
    uint32_t touched_n;             /* their sessions' source keys in context.touched */
    uint32_t commands;              /* the batch's commands when the offer was made ... */
    uint32_t offered;               /* ... and those the ring took (0: the Python path offers them) */
    int64_t written;                /* the write-ahead record's length, -errno, or 0: not written */
    uint64_t command_through;       /* the record's command_through */
    uint64_t events_waiting;        /* the outbound ring's occupancy before the offer */
} udr_rp_result;

/* The distinct sessions of the touched source keys into c->sessions; their count, or UINT32_MAX
 * when they do not fit (the Python path writes the record then). */
static uint32_t udr_rp_sessions(const udr_rp_context *c, uint32_t touched_n)
{
    uint32_t n = 0;
    for (uint32_t t = 0; t < touched_n; t++) {
        udr_fp_session *s = udr_fp_addr_find(c->addresses, c->touched[t]);
        uint32_t k = 0;
        while (k < n && c->sessions[k] != s) k++;
        if (k < n) continue;
        if (n == c->session_room) return UINT32_MAX;
        c->sessions[n++] = s;
    }
    return n;
}

/* One read pass (see the top). log_fd: the router log's fd in its common state, else -1 (then
 * nothing is written or offered here); command_through: the log's highest logged command_seq so far;
 * outbound: the ring whose occupancy the pass's answer wait looks at (NULL: none); engine_eventfd:
 * the engine's wake. */
static void udr_rp_run(const udr_rp_context *c, int64_t now_ns, int log_fd, uint64_t command_through,
                       const udr_ring *outbound, int engine_eventfd, udr_rp_result *r)
{
    udr_fp_batch *b = c->batch;
    r->received = r->reads = r->receive_errors = r->in_arena = 0;
    r->next = r->applied = r->touched_n = r->commands = r->offered = 0;
    r->stopped = UDR_FP_APPLIED;
    r->written = 0;
    r->events_waiting = 0;
    while (r->reads < c->max_reads) {
        int n = udr_io_recv_batch(c->sock_fd, c->arena, UDR_IO_MAX_BATCH, c->lens, c->keys);
        r->reads++;
        r->next = r->in_arena = 0;
        if (n < 0) {
            r->receive_errors++;
            break;
        }
        r->received += (uint32_t)n;
        r->in_arena = (uint32_t)n;
        int stopped = UDR_FP_APPLIED;
        r->next = udr_fp_ingest_run(c->arena, UDR_IO_SLOT_SIZE, c->lens, c->keys, 0, (uint32_t)n, c->addresses,
                                    c->limits, b, now_ns, &stopped, &r->applied, c->touched, &r->touched_n);
        r->stopped = stopped;
        if (r->next < (uint32_t)n) return;  /* the Python path goes on from next */
        if (n < UDR_IO_MAX_BATCH) break;
    }
    if (log_fd < 0 || b->n == 0 || b->ring == NULL || !b->available) return;
    uint32_t sessions = udr_rp_sessions(c, r->touched_n);
    if (sessions == UINT32_MAX || sessions == 0) return;
    uint64_t last = b->next_command_seq - 1;
    r->command_through = last > command_through ? last : command_through;
    r->events_waiting = outbound != NULL ? udr_ring_occupancy(outbound) : 0;
    const udr_fp_route_state *route = c->route;
    r->written = udr_wa_write(log_fd, c->record, r->command_through, route->done_through, route->partial_seq,
                              route->partial_n, c->sessions, sessions);
    if (r->written < 0) return;
    r->commands = b->n;
    r->offered = udr_ring_offer(b->ring, b->cmds, b->n);
    b->n = 0;
    if (udr_ring_producer_should_wake(b->ring)) udr_eventfd_signal(engine_eventfd);
}

#endif
