/*
 * loadgen.h - the C surface of udprouter.loadgen._loadgen_cffi. The text between the cffi-cdef markers
 * is fed to cffi's cdef() verbatim by _loadgen_build.py, so Python and C share one declaration.
 */
#ifndef UDPROUTER_LOADGEN_H
#define UDPROUTER_LOADGEN_H

#include <stdint.h>

/* cffi-cdef-begin */
/* What to send and how to recognise the answers. Arrays are owned by the caller. */
typedef struct lg_plan {
    const int *fds;                 /* connected UDP sockets, one per session */
    uint32_t n_fds;
    const uint8_t *data;            /* every datagram, back to back */
    const uint32_t *offsets;        /* n_datagrams + 1: datagram i is data[offsets[i]:offsets[i+1]] */
    const uint32_t *fd_index;       /* n_datagrams: socket of datagram i */
    const uint32_t *first_order;    /* n_datagrams + 1: orders of datagram i are first_order[i].. */
    const int64_t *intended_ns;     /* n_datagrams: send times after the start; NULL = windowed max rate */
    uint32_t n_datagrams;
    uint32_t n_orders;
    uint32_t window_orders;         /* windowed mode: most unanswered orders in flight */
    int64_t loss_timeout_ns;        /* windowed mode: an order unanswered this long no longer holds a slot */
    uint64_t cl_ord_id_base;        /* order i carries ClOrdID cl_ord_id_base + i */
    const uint64_t *seq_start;      /* n_fds: client sequence number of the socket's first order */
    const uint32_t *seq_orders;     /* per socket, in sequence order: the order index of each number */
    const uint32_t *seq_orders_off; /* n_fds: where the socket's part of seq_orders starts */
    const uint32_t *seq_orders_len; /* n_fds */
    int64_t timeout_ns;             /* the whole run never lasts longer */
    int64_t drain_ns;               /* after the last send, wait this long for outstanding answers */
    int64_t spin_ns;                /* busy-poll when the next send is closer than this, else ppoll */
    int64_t max_lead_ns;            /* paced: also wake this much earlier at most, by the loop's own measured
                                       timer lateness (loadgen.c, lg_lead); 0 = never */
} lg_plan;

/* What happened. Times are CLOCK_MONOTONIC ns after the run's start. */
typedef struct lg_result {
    int64_t *sent_ns;               /* n_datagrams: when sendmmsg was called for it; -1 = never sent */
    int64_t *answer_ns;             /* n_orders: when the first answer naming the order reached the socket
                                       (the kernel's receive stamp); -1 = none */
    int64_t *answer_read_ns;        /* n_orders: when the loop read that answer (NULL: not kept) */
    uint16_t *answer_template;      /* n_orders: template id of that first answer */
    uint64_t sent_datagrams;
    uint64_t sent_orders;
    uint64_t send_errors;           /* sendmmsg calls that sent nothing (buffer full) */
    uint64_t recv_datagrams;
    uint64_t recv_frames;
    uint64_t answered_orders;
    uint64_t expired_orders;        /* windowed mode: unanswered past loss_timeout_ns (may answer later) */
    int64_t last_answer_ns;
    int64_t elapsed_ns;
    uint64_t timer_wakes;           /* ppoll() calls that ended by their timeout */
    int64_t wake_late_ns;           /* at the end: the estimated p90 of how late such a wake-up came */
    int64_t cpu_ns;                 /* CPU time the loop's thread used in the run (user + system) */
    uint64_t unstamped_answers;     /* answer datagrams without a receive stamp: timed by their read */
} lg_result;

int lg_run(const lg_plan *plan, lg_result *res);
/* Datagram i of data/offsets (n of them) followed by its MAC frame (SPEC.md 4.9) under the datagram
 * key of its socket fd_index[i] (keys: 32 bytes per socket, n_fds of them), written to out, with
 * out_offsets (n + 1) like offsets; out has room for 30 more bytes per datagram. Computed in C
 * (src/udprouter/fastpath/datagram_mac.h), once per session after its Establish, before the clock runs. */
void lg_sign_datagrams(const uint8_t *data, const uint32_t *offsets, const uint32_t *fd_index, uint32_t n,
                       const uint8_t *keys, uint32_t n_fds, uint8_t *out, uint32_t *out_offsets);
int64_t lg_monotonic_ns(void);
/* cffi-cdef-end */

#endif
