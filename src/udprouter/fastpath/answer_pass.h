/* A drain step's common case in one C call (LoopPass.drain_step, loop_pass.py).
 *
 * Why: after read_pass.h the other half of a pass's Python was its way out: for every drained batch
 * the sessions looked up and checked, their targets filled, the replies built (fast_reply.h), the
 * router log's record written, the datagrams sent, each a call with its wrapper. This polls the
 * engine's events, tallies and routes them (udr_fp_route), and when every group goes to a session
 * whose replies may be built in C (udr_fp_session.replies_in_c: a UDP session of the dispatcher,
 * established, bound to an address), builds the replies numbered from each session's
 * next_outbound, writes the router log's record of them (when log_fd >= 0: the log in its common
 * state) and only then sends the datagrams: a frame still leaves only once logged. The sessions'
 * next_outbound moves past the frames whether the write succeeded or not (they are sequenced: a
 * failed write holds the datagrams in Python until a later write succeeds, as fast_reply.h's
 * caller did). Anything else leaves the routed groups to Python (LoopPass._reply_in_c or the sinks).
 */
#ifndef UDPROUTER_ANSWER_PASS_H
#define UDPROUTER_ANSWER_PASS_H

#include <stdint.h>

#include "event_stats.h"
#include "fast_egress.h"
#include "fast_io.h"
#include "fast_reply.h"

/* The buffers, the same for every step: OrderEntry's drain (events, route state, groups), LoopPass's
 * replies (targets, frames, datagrams), the router log's record and the socket. */
typedef struct udr_ap_context {
    udr_event *events;
    uint32_t capacity;              /* events per step */
    udr_event_stats *stats;
    udr_fp_route_state *route;
    uint32_t *order;
    udr_fp_group *groups;
    uint32_t *scratch;
    udr_fr_target *targets;
    char *frames;
    uint32_t *frame_ends;
    unsigned char *datagrams;
    uint32_t *datagram_lens;
    uint64_t *datagram_keys;
    uint32_t *pack_scratch;
    unsigned char *record;          /* NULL: no router log */
    int sock_fd;
    uint32_t max_bytes;
    uint32_t max_messages;
} udr_ap_context;

typedef struct udr_ap_result {
    uint32_t polled;                /* events read (0: none waited) */
    uint32_t groups;                /* udr_fp_route's groups */
    uint32_t answered;              /* events answered here (0: the groups are Python's) */
    uint32_t datagrams;             /* built (and sent once logged) */
    int64_t written;                /* the record's length, -errno (nothing sent), 0: no log */
    uint32_t sent;
    uint32_t send_errors;
} udr_ap_result;

/* One step (see the top). answer: 0 only routes (as udr_py_drain_route); log_fd: the router log in its
 * common state, -1 with no log at all; command_through: the log's. */
static void udr_ap_run(const udr_ap_context *c, udr_ring *outbound, udr_fp_session *const *sessions,
                       uint32_t session_cap, int64_t now_ns, int answer, int log_fd, uint64_t command_through,
                       udr_ap_result *r)
{
    r->groups = r->answered = r->datagrams = r->sent = r->send_errors = 0;
    r->written = 0;
    uint32_t n = udr_ring_poll(outbound, c->events, c->capacity);
    r->polled = n;
    if (n == 0) return;
    udr_stats_tally(c->stats, c->events, n);
    uint32_t ngroups = udr_fp_route(c->events, n, c->route, sessions, session_cap, c->order, c->groups, c->scratch);
    r->groups = ngroups;
    if (!answer || ngroups == 0) return;
    uint32_t answered = 0;
    for (uint32_t g = 0; g < ngroups; g++) {
        uint32_t id = c->groups[g].session_id;
        udr_fp_session *s = id < session_cap ? sessions[id] : NULL;
        if (s == NULL || !s->replies_in_c || s->state != UDR_FP_ESTABLISHED || s->addr_key == 0) return;
        c->targets[g].first_seq = s->next_outbound;
        c->targets[g].key = s->addr_key;
        answered += c->groups[g].count;
    }
    uint32_t datagrams = udr_fr_build(c->events, c->order, c->groups, ngroups, c->targets, now_ns, c->max_bytes,
                                      c->max_messages, c->frames, c->frame_ends, c->datagrams, c->datagram_lens,
                                      c->datagram_keys, c->pack_scratch);
    if (datagrams == UDR_FR_PACK_MISMATCH) return;
    for (uint32_t g = 0; g < ngroups; g++) {
        udr_fp_session *s = sessions[c->groups[g].session_id];
        s->next_outbound += c->groups[g].count;
        s->last_send_ns = now_ns;
    }
    r->answered = answered;
    r->datagrams = datagrams;
    if (log_fd >= 0) {
        const udr_fp_route_state *route = c->route;
        r->written = udr_fr_log(log_fd, c->record, command_through, route->done_through, route->partial_seq,
                                route->partial_n, c->groups, ngroups, c->targets, c->frames, c->frame_ends);
        if (r->written < 0) return;
    }
    r->sent = udr_io_send_batch(c->sock_fd, c->datagrams, c->datagram_lens, c->datagram_keys, datagrams,
                                &r->send_errors);
}

#endif
