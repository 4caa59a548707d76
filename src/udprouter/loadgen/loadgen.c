/*
 * loadgen.c - the load generator's send/receive loop, compiled into udprouter.loadgen._loadgen_cffi.
 *
 * One call runs a whole measurement: it sends prebuilt datagrams (sendmmsg) either on a fixed
 * schedule of intended send times or as fast as a window of unanswered orders allows, drains the
 * answers (recvmmsg) in the same thread, and records for every order the monotonic time of its
 * first answer. Python builds the plan before the call and computes latencies after it, so no
 * Python runs while the clock matters.
 *
 * An answer's time is the kernel's receive stamp (SO_TIMESTAMPNS), taken when the answer reached
 * the socket, not when this loop got round to reading it: a client spinning on a core of its own
 * reads it then, while this loop sleeps between sends and shares the machine's vCPUs with the
 * server, so its own wake-up would count as the server's latency. The read time is kept beside it.
 *
 * Matching answers to orders: order i of the plan carries ClOrdID cl_ord_id_base + i. Every
 * udprouter report (templates 201-206) starts with ClOrdID, so its order is found in O(1);
 * BusinessMessageReject (207, RefSeqNum) and NotApplied (18, FromSeqNo/Count) name client sequence
 * numbers, which map to orders through the per-socket table seq_orders.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#include "datagram_mac.h"
#include "loadgen.h"

#define LG_BATCH 64
#define LG_RECV_SIZE 2048
#define LG_CONTROL_SIZE 64 /* room for one SCM_TIMESTAMPNS control message */
#define LG_MAX_FDS 64
#define LG_SCHEMA_ORDERS 101
#define LG_SCHEMA_FIXP 2748
#define LG_TEMPLATE_NOT_APPLIED 18
#define LG_TEMPLATE_BUSINESS_REJECT 207
/* Steps of the streaming p90 estimate of a timer wake-up's lateness: up 9 for every 1 down, so it
 * settles where one wake-up in ten is later than the estimate. */
#define LG_LATE_STEP_DOWN_NS 200
#define LG_LATE_STEP_UP_NS (9 * LG_LATE_STEP_DOWN_NS)

/* The calling thread's CPU time so far, user and system. */
static int64_t lg_thread_cpu_ns(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_THREAD, &ru) != 0)
        return 0;
    return ((int64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000LL +
           ((int64_t)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000LL;
}

static int64_t lg_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t lg_monotonic_ns(void) { return lg_now_ns(); }

static uint32_t lg_be32(const uint8_t *p) { return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3]; }
static uint16_t lg_le16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t lg_le32(const uint8_t *p) { return (uint32_t)lg_le16(p) | ((uint32_t)lg_le16(p + 2) << 16); }
static uint64_t lg_le64(const uint8_t *p) { return (uint64_t)lg_le32(p) | ((uint64_t)lg_le32(p + 4) << 32); }

typedef struct lg_run_state {
    const lg_plan *plan;
    lg_result *res;
    int64_t t0;
    uint32_t expire_cursor; /* datagrams before it were sent over loss_timeout_ns ago */
    int64_t wake_late_ns;   /* estimated p90 of how late ppoll() returns after its timeout */
} lg_run_state;

typedef struct lg_answer_time {
    int64_t arrived; /* the kernel's receive stamp, on the run's clock */
    int64_t read;    /* when recvmmsg returned it */
} lg_answer_time;

static void lg_mark(lg_run_state *st, uint64_t order, uint16_t template_id, lg_answer_time at)
{
    if (order >= st->plan->n_orders || st->res->answer_ns[order] >= 0)
        return;
    int64_t t = at.arrived;
    st->res->answer_ns[order] = t;
    if (st->res->answer_read_ns != NULL)
        st->res->answer_read_ns[order] = at.read;
    st->res->answer_template[order] = template_id;
    st->res->answered_orders++;
    st->res->last_answer_ns = t;
    if (order < st->plan->first_order[st->expire_cursor])
        st->res->expired_orders--; /* a late answer: it was counted as lost */
}

/* Windowed mode: a lost datagram or answer must not shrink the window for ever, so orders that
 * stay unanswered for loss_timeout_ns stop counting as in flight. */
static void lg_expire(lg_run_state *st, uint32_t next, int64_t t)
{
    const lg_plan *p = st->plan;
    while (st->expire_cursor < next && st->res->sent_ns[st->expire_cursor] + p->loss_timeout_ns < t) {
        uint32_t d = st->expire_cursor++;
        for (uint32_t i = p->first_order[d]; i < p->first_order[d + 1]; i++)
            if (st->res->answer_ns[i] < 0)
                st->res->expired_orders++;
    }
}

static void lg_mark_seq(lg_run_state *st, uint32_t fd_index, uint64_t seq, uint16_t template_id,
                        lg_answer_time t)
{
    const lg_plan *p = st->plan;
    if (seq < p->seq_start[fd_index])
        return;
    uint64_t k = seq - p->seq_start[fd_index];
    if (k >= p->seq_orders_len[fd_index])
        return;
    lg_mark(st, (uint64_t)p->seq_orders[p->seq_orders_off[fd_index] + k], template_id, t);
}

/* Walks the SOFH frames of one answer datagram; a frame that does not parse ends the walk. */
static void lg_scan_answer(lg_run_state *st, uint32_t fd_index, const uint8_t *d, uint32_t len,
                           lg_answer_time t)
{
    uint32_t off = 0;
    while (off + 14 <= len) {
        uint32_t flen = lg_be32(d + off);
        if (flen < 14 || flen > len - off)
            return;
        const uint8_t *body = d + off + 14;
        uint32_t body_len = flen - 14;
        uint16_t template_id = lg_le16(d + off + 8);
        uint16_t schema = lg_le16(d + off + 10);
        st->res->recv_frames++;
        if (schema == LG_SCHEMA_ORDERS && template_id >= 201 && template_id <= 206 && body_len >= 8) {
            uint64_t cl = lg_le64(body);
            if (cl >= st->plan->cl_ord_id_base)
                lg_mark(st, cl - st->plan->cl_ord_id_base, template_id, t);
        } else if (schema == LG_SCHEMA_ORDERS && template_id == LG_TEMPLATE_BUSINESS_REJECT && body_len >= 8) {
            lg_mark_seq(st, fd_index, lg_le64(body), template_id, t);
        } else if (schema == LG_SCHEMA_FIXP && template_id == LG_TEMPLATE_NOT_APPLIED && body_len >= 12) {
            uint64_t from = lg_le64(body);
            uint32_t count = lg_le32(body + 8);
            for (uint32_t i = 0; i < count && i < st->plan->n_orders; i++)
                lg_mark_seq(st, fd_index, from + i, template_id, t);
        }
        off += flen;
    }
}

/* When the answer in msg reached its socket, on the run's clock: its SCM_TIMESTAMPNS stamp (the
 * realtime clock) moved onto the monotonic one by realtime_ahead_ns, sampled at the read. A missing
 * stamp, or one that cannot be an answer's to this run (before its start, after the read, or a second
 * before the read: the realtime clock was stepped), gives the read time. */
static int64_t lg_arrival(lg_run_state *st, struct msghdr *msg, int64_t read, int64_t realtime_ahead_ns)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c != NULL; c = CMSG_NXTHDR(msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_TIMESTAMPNS)
            continue;
        struct timespec ts;
        memcpy(&ts, CMSG_DATA(c), sizeof ts);
        int64_t at = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec - realtime_ahead_ns - st->t0;
        if (at >= 0 && at <= read && at > read - 1000000000LL)
            return at;
        break;
    }
    st->res->unstamped_answers++;
    return read;
}

/* How far CLOCK_REALTIME is ahead of CLOCK_MONOTONIC now. */
static int64_t lg_realtime_ahead_ns(void)
{
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    return (int64_t)rt.tv_sec * 1000000000LL + rt.tv_nsec - lg_now_ns();
}

/* Drains every socket without blocking; returns how many datagrams arrived. */
static uint32_t lg_drain(lg_run_state *st, struct mmsghdr *msgs, uint8_t *bufs, uint8_t *control)
{
    uint32_t got = 0;
    for (uint32_t f = 0; f < st->plan->n_fds; f++) {
        for (;;) {
            for (int i = 0; i < LG_BATCH; i++) {
                msgs[i].msg_hdr.msg_flags = 0;
                msgs[i].msg_hdr.msg_control = control + (size_t)i * LG_CONTROL_SIZE;
                msgs[i].msg_hdr.msg_controllen = LG_CONTROL_SIZE;
            }
            int n = recvmmsg(st->plan->fds[f], msgs, LG_BATCH, MSG_DONTWAIT, NULL);
            if (n <= 0)
                break;
            int64_t read = lg_now_ns() - st->t0;
            int64_t realtime_ahead_ns = lg_realtime_ahead_ns();
            for (int i = 0; i < n; i++) {
                lg_answer_time t = {lg_arrival(st, &msgs[i].msg_hdr, read, realtime_ahead_ns), read};
                lg_scan_answer(st, f, bufs + (size_t)i * LG_RECV_SIZE, msgs[i].msg_len, t);
            }
            st->res->recv_datagrams += (uint64_t)n;
            got += (uint32_t)n;
            if (n < LG_BATCH)
                break;
        }
    }
    return got;
}

/* How many datagrams from `next` may leave now: due on the schedule (or, without a schedule, inside
 * the window of unanswered orders; a datagram always leaves when nothing is in flight), all on the
 * same socket, at most LG_BATCH. */
static uint32_t lg_due(const lg_run_state *st, uint32_t next, int64_t t)
{
    const lg_plan *p = st->plan;
    uint64_t answered = st->res->answered_orders + st->res->expired_orders;
    uint32_t k = 0;
    while (next + k < p->n_datagrams && k < LG_BATCH && p->fd_index[next + k] == p->fd_index[next]) {
        uint32_t i = next + k;
        if (p->intended_ns != NULL) {
            if (p->intended_ns[i] > t)
                break;
        } else if (p->first_order[i + 1] - answered > p->window_orders && p->first_order[i] > answered) {
            break;
        }
        k++;
    }
    return k;
}

static uint32_t lg_send(lg_run_state *st, struct mmsghdr *msgs, struct iovec *iov, uint32_t next, uint32_t k)
{
    const lg_plan *p = st->plan;
    for (uint32_t j = 0; j < k; j++) {
        iov[j].iov_base = (void *)(p->data + p->offsets[next + j]);
        iov[j].iov_len = p->offsets[next + j + 1] - p->offsets[next + j];
        memset(&msgs[j].msg_hdr, 0, sizeof msgs[j].msg_hdr);
        msgs[j].msg_hdr.msg_iov = &iov[j];
        msgs[j].msg_hdr.msg_iovlen = 1;
    }
    int64_t t = lg_now_ns() - st->t0;
    int n = sendmmsg(p->fds[p->fd_index[next]], msgs, k, MSG_DONTWAIT);
    if (n <= 0) {
        st->res->send_errors++;
        return 0;
    }
    for (int j = 0; j < n; j++)
        st->res->sent_ns[next + j] = t;
    st->res->sent_datagrams += (uint64_t)n;
    st->res->sent_orders += p->first_order[next + n] - p->first_order[next];
    return (uint32_t)n;
}

/* How long before the next send to stop sleeping: spin_ns, plus the measured lateness of this
 * process's own timer wake-ups. On a virtual machine whose vCPUs idle, a ppoll() timeout returned
 * 50-80 us late at p90, and every one of those microseconds counted as the server's latency (it runs
 * from the intended send time). Capped at a quarter of the gap between two sends, so that at high
 * rates the load generator still sleeps most of the time and leaves the CPU to the server. */
static int64_t lg_lead(const lg_run_state *st, uint32_t next)
{
    const lg_plan *p = st->plan;
    int64_t lead = p->spin_ns + st->wake_late_ns;
    int64_t cap = p->spin_ns + p->max_lead_ns;
    if (next > 0 && next < p->n_datagrams) {
        int64_t gap_quarter = (p->intended_ns[next] - p->intended_ns[next - 1]) / 4;
        if (gap_quarter < cap)
            cap = gap_quarter;
    }
    if (cap < p->spin_ns)
        cap = p->spin_ns;
    return lead < cap ? lead : cap;
}

/* Sleeps in poll() when the next event is far enough away that spinning would only burn the CPU
 * the system under test needs; returns at once otherwise. */
static void lg_idle(lg_run_state *st, uint32_t next, int64_t t)
{
    const lg_plan *p = st->plan;
    int64_t wait = 1000000;
    int64_t lead = p->spin_ns;
    if (next < p->n_datagrams && p->intended_ns != NULL) {
        wait = p->intended_ns[next] - t;
        lead = lg_lead(st, next);
    }
    if (wait <= lead) {
        if (wait > p->spin_ns)
            sched_yield(); /* early: let a server process waiting for this CPU run first */
        return;
    }
    wait -= lead;
    if (wait > 1000000)
        wait = 1000000;
    struct pollfd pfd[LG_MAX_FDS];
    for (uint32_t f = 0; f < p->n_fds; f++) {
        pfd[f].fd = p->fds[f];
        pfd[f].events = POLLIN;
        pfd[f].revents = 0;
    }
    struct timespec ts = {0, (long)wait};
    int64_t due = lg_now_ns() + wait;
    if (ppoll(pfd, p->n_fds, &ts, NULL) != 0)
        return; /* an answer (or an error) woke it: says nothing about the timer */
    int64_t late = lg_now_ns() - due;
    st->res->timer_wakes++;
    if (late > st->wake_late_ns)
        st->wake_late_ns += LG_LATE_STEP_UP_NS;
    else if (st->wake_late_ns >= LG_LATE_STEP_DOWN_NS)
        st->wake_late_ns -= LG_LATE_STEP_DOWN_NS;
    if (st->wake_late_ns > p->max_lead_ns)
        st->wake_late_ns = p->max_lead_ns;
}

int lg_run(const lg_plan *plan, lg_result *res)
{
    if (plan->n_fds == 0 || plan->n_fds > LG_MAX_FDS)
        return -1;
    struct mmsghdr *msgs = calloc(LG_BATCH, sizeof *msgs);
    struct iovec *iov = calloc(LG_BATCH, sizeof *iov);
    uint8_t *bufs = malloc((size_t)LG_BATCH * LG_RECV_SIZE);
    uint8_t *control = calloc(LG_BATCH, LG_CONTROL_SIZE);
    if (!msgs || !iov || !bufs || !control) {
        free(msgs); free(iov); free(bufs); free(control);
        return -2;
    }
    int on = 1;
    for (uint32_t f = 0; f < plan->n_fds; f++) /* refused: the answers are timed by their read */
        setsockopt(plan->fds[f], SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);
    for (uint32_t i = 0; i < plan->n_orders; i++)
        res->answer_ns[i] = -1;
    for (uint32_t i = 0; i < plan->n_datagrams; i++)
        res->sent_ns[i] = -1;
    /* ppoll() would otherwise wake up to 50 us late (default timer slack): longer than the gap
     * between two sends at 50k datagrams/s. */
    prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
    int64_t cpu0 = lg_thread_cpu_ns();
    lg_run_state st = {plan, res, lg_now_ns(), 0, 0};
    uint32_t next = 0;
    int64_t last_send = 0;
    for (;;) {
        int64_t t = lg_now_ns() - st.t0;
        if (t > plan->timeout_ns || res->answered_orders >= plan->n_orders)
            break;
        if (next >= plan->n_datagrams && t - last_send > plan->drain_ns)
            break;
        uint32_t sent = 0;
        if (plan->intended_ns == NULL)
            lg_expire(&st, next, t);
        if (next < plan->n_datagrams) {
            uint32_t k = lg_due(&st, next, t);
            if (k > 0)
                sent = lg_send(&st, msgs, iov, next, k);
            if (sent > 0) {
                next += sent;
                last_send = t;
            }
        }
        for (uint32_t i = 0; i < LG_BATCH; i++) {
            iov[i].iov_base = bufs + (size_t)i * LG_RECV_SIZE;
            iov[i].iov_len = LG_RECV_SIZE;
            memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        uint32_t got = lg_drain(&st, msgs, bufs, control);
        if (sent == 0 && got == 0)
            lg_idle(&st, next, lg_now_ns() - st.t0);
    }
    res->elapsed_ns = lg_now_ns() - st.t0;
    res->wake_late_ns = st.wake_late_ns;
    res->cpu_ns = lg_thread_cpu_ns() - cpu0;
    free(msgs); free(iov); free(bufs); free(control);
    return 0;
}

void lg_sign_datagrams(const uint8_t *data, const uint32_t *offsets, const uint32_t *fd_index, uint32_t n,
                       const uint8_t *keys, uint32_t n_fds, uint8_t *out, uint32_t *out_offsets)
{
    udr_mac_key mac[LG_MAX_FDS];
    for (uint32_t f = 0; f < n_fds && f < LG_MAX_FDS; f++)
        udr_mac_key_init(&mac[f], keys + (size_t)f * UDR_MAC_KEY_SIZE);
    out_offsets[0] = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t len = offsets[i + 1] - offsets[i];
        memcpy(out + out_offsets[i], data + offsets[i], len);
        out_offsets[i + 1] = out_offsets[i] + udr_mac_sign(&mac[fd_index[i] % LG_MAX_FDS], out + out_offsets[i], len);
    }
}
