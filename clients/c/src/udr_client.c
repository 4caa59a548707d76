#define _POSIX_C_SOURCE 200809L
#include "udprouter/client/udr_client.h"

#include <errno.h>
#include <stddef.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

#include <openssl/rand.h>

#include "udprouter/client/udr_auth.h"
#include "udprouter/client/udr_frame.h"
#include "udr_inbound.h"
#include "udr_outbound.h"

#define SILENCE_LAPSE 3            /* keepalive intervals of server silence before re-establishing */
#define HEARTBEATS_PER_INTERVAL 2
#define RECV_PER_POLL 64
#define TERMINATE_TRIES 2
#define ANSWER_GRACE_KEEPALIVES 4 /* after the last resend, how long answers may still come */
#define SOCKET_BUFFER_BYTES (4 << 20)
#define MAX_CREDENTIALS 320

struct udr_client {
    udr_client_config config;
    char key_id[256];
    char secret[256];
    int fd;
    udr_client_state state;
    int resume;                     /* this login re-establishes a session that was established */
    int ever_established;
    uint8_t session_id[16];
    uint8_t datagram_key[UDR_AUTH_KEY_SIZE];
    uint64_t establish_timestamp;   /* the Timestamp of the Establish being answered */
    uint64_t negotiate_timestamp;
    uint8_t request[512];           /* the login or Terminate request, resent as it was */
    size_t request_length;
    int request_tries;
    uint64_t request_deadline_ns;
    uint64_t reconnect_deadline_ns;
    uint64_t last_send_ns, last_recv_ns;
    uint64_t next_cl_ord_id;
    udr_outbound out;
    udr_inbound in;
    udr_client_stats stats;
    udr_event_handler handler;      /* set for the duration of a poll */
    void *clientd;
    int events;
    char error[256];
};

uint64_t udr_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t wall_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void udr_client_config_init(udr_client_config *config) {
    memset(config, 0, sizeof *config);
    config->host = "127.0.0.1";
    config->port = 9000;
    config->keepalive_ms = 1000;
    config->request_timeout_ns = 500000000ull;
    config->request_tries = 6;
    config->resend_timeout_ns = 500000000ull;
    config->max_resends = 5;
    config->resend_not_applied = 1;
    config->authenticate_datagrams = 1;
    config->next_seq_no = 1;
    config->reconnect_ns = 30000000000ull;
}

static void set_error(udr_client *c, const char *text) {
    snprintf(c->error, sizeof c->error, "%s", text);
}

static void emit(udr_client *c, udr_event *event) {
    c->events++;
    if (c->handler != NULL) {
        c->handler(c->clientd, event);
    }
}

static void emit_simple(udr_client *c, udr_event_type type, uint8_t code, const char *reason) {
    udr_event event;
    memset(&event, 0, sizeof event);
    event.type = type;
    event.code = code;
    event.reason = reason;
    emit(c, &event);
}

/* -- sending ------------------------------------------------------------------------------------ */

/* Sends buf[0..len); in an established session the MAC frame is appended first (buf has room). */
static void send_datagram(udr_client *c, uint8_t *buf, size_t len, size_t cap, uint64_t now_ns, int mac) {
    if (mac && c->config.authenticate_datagrams && udr_auth_append_mac(buf, cap, &len, c->datagram_key) != 0) {
        c->stats.send_errors++;
        set_error(c, "datagram MAC failed (libcrypto)");
        return;
    }
    c->last_send_ns = now_ns;
    if (send(c->fd, buf, len, 0) < 0) {
        /* EAGAIN/ENOBUFS or ICMP refusals: the datagram is lost, the resend timers recover it */
        c->stats.send_errors++;
        return;
    }
    c->stats.datagrams_sent++;
}

static size_t put_sequence(uint8_t *buf, size_t cap, uint64_t next_seq) {
    udr_sbe_sequence sequence = {.next_seq_no = next_seq};
    size_t used = 0;
    udr_frame_append(buf, cap, &used, UDR_SBE_SEQUENCE_TEMPLATE_ID, UDR_SBE_SEQUENCE_SCHEMA_ID, &sequence,
                     UDR_SBE_SEQUENCE_BLOCK_LENGTH, NULL, NULL, 0);
    return used;
}

static void send_kept(udr_client *c, const udr_out_datagram *d, uint64_t now_ns) {
    uint8_t buf[UDR_SBE_MAX_DATAGRAM_SIZE];
    size_t used = put_sequence(buf, sizeof buf, d->first_seq);
    for (unsigned i = 0; i < d->count; i++) {
        const udr_out_message *m = &d->messages[i];
        udr_frame_append(buf, sizeof buf, &used, m->template_id, UDR_SBE_UDPROUTER_SCHEMA_ID, m->block,
                         m->block_length, NULL, NULL, 0);
    }
    send_datagram(c, buf, used, sizeof buf, now_ns, 1);
}

static void send_heartbeat(udr_client *c, uint64_t now_ns) {
    uint8_t buf[64];
    send_datagram(c, buf, put_sequence(buf, sizeof buf, c->out.next_seq), sizeof buf, now_ns, 1);
}

static void send_request(udr_client *c, uint64_t now_ns, int mac) {
    uint8_t buf[sizeof c->request + UDR_AUTH_MAC_FRAME_SIZE];
    memcpy(buf, c->request, c->request_length);
    send_datagram(c, buf, c->request_length, sizeof buf, now_ns, mac);
    c->request_tries--;
    c->request_deadline_ns = now_ns + c->config.request_timeout_ns;
}

static void send_retransmit_request(udr_client *c, uint64_t from, uint32_t count, uint64_t now_ns) {
    udr_sbe_retransmit_request request;
    memcpy(request.session_id, c->session_id, 16);
    request.timestamp = wall_ns();
    request.from_seq_no = from;
    request.count = count;
    uint8_t buf[128];
    size_t used = 0;
    udr_frame_append(buf, sizeof buf, &used, UDR_SBE_RETRANSMIT_REQUEST_TEMPLATE_ID,
                     UDR_SBE_RETRANSMIT_REQUEST_SCHEMA_ID, &request, UDR_SBE_RETRANSMIT_REQUEST_BLOCK_LENGTH,
                     NULL, NULL, 0);
    c->stats.retransmit_requests++;
    send_datagram(c, buf, used, sizeof buf, now_ns, 1);
}

/* -- login -------------------------------------------------------------------------------------- */

static int build_login(udr_client *c, const char *name, uint16_t template_id, const void *block,
                       uint16_t block_length, uint64_t timestamp) {
    char credentials[MAX_CREDENTIALS];
    int n = udr_auth_credentials(credentials, sizeof credentials, c->secret, name, c->session_id, timestamp,
                                 c->key_id);
    if (n < 0) {
        set_error(c, "signing the credentials failed (libcrypto)");
        return -1;
    }
    const uint8_t *var[1] = {(const uint8_t *)credentials};
    uint16_t lengths[1] = {(uint16_t)n};
    c->request_length = 0;
    udr_frame_append(c->request, sizeof c->request, &c->request_length, template_id, UDR_SBE_FIXP_SCHEMA_ID,
                     block, block_length, var, lengths, 1);
    return 0;
}

static int start_negotiate(udr_client *c, uint64_t now_ns) {
    udr_sbe_negotiate negotiate;
    memcpy(negotiate.session_id, c->session_id, 16);
    negotiate.timestamp = c->negotiate_timestamp = wall_ns();
    negotiate.client_flow = UDR_SBE_FLOW_TYPE_IDEMPOTENT;
    if (build_login(c, "Negotiate", UDR_SBE_NEGOTIATE_TEMPLATE_ID, &negotiate, UDR_SBE_NEGOTIATE_BLOCK_LENGTH,
                    negotiate.timestamp) != 0) {
        return -1;
    }
    c->state = UDR_STATE_NEGOTIATING;
    c->request_tries = c->config.request_tries;
    send_request(c, now_ns, 0);
    return 0;
}

static void start_establish(udr_client *c, uint64_t now_ns) {
    udr_sbe_establish establish;
    memcpy(establish.session_id, c->session_id, 16);
    establish.timestamp = c->establish_timestamp = wall_ns();
    establish.keepalive_interval = c->config.keepalive_ms;
    establish.next_seq_no = c->resume ? udr_outbound_lowest_unanswered(&c->out) : c->out.next_seq;
    if (build_login(c, "Establish", UDR_SBE_ESTABLISH_TEMPLATE_ID, &establish, UDR_SBE_ESTABLISH_BLOCK_LENGTH,
                    establish.timestamp) != 0) {
        c->state = UDR_STATE_FAILED;
        emit_simple(c, UDR_EVENT_FAILED, 0, c->error);
        return;
    }
    c->state = UDR_STATE_ESTABLISHING;
    c->request_tries = c->config.request_tries;
    send_request(c, now_ns, 0);
}

/* The server lost the session (silence, NotAuthorized, Terminate other than Finished). */
static void server_lost(udr_client *c, uint64_t now_ns) {
    if (c->state != UDR_STATE_ESTABLISHED) {
        return;
    }
    c->resume = 1;
    c->reconnect_deadline_ns = now_ns + c->config.reconnect_ns;
    if (start_negotiate(c, now_ns) != 0) {
        c->state = UDR_STATE_FAILED;
        emit_simple(c, UDR_EVENT_FAILED, 0, c->error);
    }
}

static void on_established(udr_client *c, const udr_sbe_establishment_ack *ack, uint64_t now_ns) {
    if (udr_auth_datagram_key(c->datagram_key, c->secret, c->session_id, c->establish_timestamp, c->key_id) != 0) {
        c->state = UDR_STATE_FAILED;
        set_error(c, "deriving the datagram key failed (libcrypto)");
        emit_simple(c, UDR_EVENT_FAILED, 0, c->error);
        return;
    }
    uint64_t next = ack->next_seq_no == UINT64_MAX ? 1 : ack->next_seq_no;
    c->state = UDR_STATE_ESTABLISHED;
    c->last_recv_ns = now_ns;
    if (c->resume) {
        c->stats.reestablishments++;
        udr_inbound_announce(&c->in, next);
    } else if (!c->ever_established) {
        c->in.expected = c->in.highest = next;
    }
    c->ever_established = 1;
    emit_simple(c, UDR_EVENT_ESTABLISHED, 0, "");
    if (c->resume) {
        /* the server drops what it had applied and applies the rest */
        for (size_t i = 0; i < UDR_CLIENT_WINDOW; i++) {
            udr_out_datagram *d = &c->out.slots[i];
            if (d->in_use) {
                d->tries = 0;
                d->deadline_ns = now_ns + c->config.resend_timeout_ns;
                send_kept(c, d, now_ns);
            }
        }
    }
}

/* -- receiving ---------------------------------------------------------------------------------- */

typedef struct resend_ctx {
    udr_client *client;
    uint64_t now_ns;
} resend_ctx;

static void flush_batch(udr_client *c, uint64_t now_ns);

static void resend_not_applied(void *ctx, const udr_out_message *m) {
    resend_ctx *r = ctx;
    udr_client *c = r->client;
    udr_event event;
    memset(&event, 0, sizeof event);
    event.old_cl_ord_id = m->cl_ord_id;
    if (!c->config.resend_not_applied) {
        event.type = UDR_EVENT_GIVEN_UP;
        event.cl_ord_id = m->cl_ord_id;
        emit(c, &event);
        return;
    }
    uint8_t block[UDR_OUT_MAX_BLOCK];
    memcpy(block, m->block, m->block_length);
    uint64_t id = c->next_cl_ord_id++;
    memcpy(block, &id, sizeof id);
    if (c->out.batch_count == UDR_CLIENT_MAX_BATCH) {
        flush_batch(c, r->now_ns);
    }
    udr_outbound_add(&c->out, m->template_id, block, m->block_length);
    c->stats.not_applied_resent++;
    event.type = UDR_EVENT_RESENT;
    event.cl_ord_id = id;
    emit(c, &event);
}

static void given_up(void *ctx, const udr_out_message *m) {
    udr_event event;
    memset(&event, 0, sizeof event);
    event.type = UDR_EVENT_GIVEN_UP;
    event.cl_ord_id = m->cl_ord_id;
    emit(((resend_ctx *)ctx)->client, &event);
}

static void deliver(void *ctx, uint64_t seq, const udr_in_slot *m) {
    resend_ctx *r = ctx;
    udr_client *c = r->client;
    udr_event event;
    memset(&event, 0, sizeof event);
    event.type = UDR_EVENT_REPORT;
    event.schema_id = m->schema_id;
    event.template_id = m->template_id;
    event.seq_no = seq;
    memcpy(event.msg.bytes, m->block, m->block_length < sizeof event.msg.bytes ? m->block_length : sizeof event.msg.bytes);
    c->stats.reports_received++;
    if (m->schema_id == UDR_SBE_FIXP_SCHEMA_ID && m->template_id == UDR_SBE_NOT_APPLIED_TEMPLATE_ID) {
        c->stats.not_applied += event.msg.not_applied.count;
        udr_outbound_not_applied(&c->out, event.msg.not_applied.from_seq_no, event.msg.not_applied.count,
                                 resend_not_applied, r);
    } else if (m->template_id == UDR_SBE_BUSINESS_MESSAGE_REJECT_TEMPLATE_ID) {
        udr_outbound_answer_seq(&c->out, event.msg.business_message_reject.ref_seq_num);
    } else {
        uint64_t cl_ord_id;
        memcpy(&cl_ord_id, m->block, sizeof cl_ord_id); /* ClOrdID is at offset 0 of every report */
        udr_outbound_answer_cl_ord_id(&c->out, cl_ord_id);
    }
    emit(c, &event);
}

static void on_sequenced(udr_client *c, const uint8_t *buf, size_t len, size_t offset, uint64_t first_seq,
                         uint64_t now_ns) {
    udr_frame frame;
    uint64_t seq = first_seq;
    while (udr_frame_next(buf, len, &offset, &frame) == UDR_FRAME_OK) {
        udr_inbound_receive(&c->in, seq++, frame.schema_id, frame.template_id, frame.block, frame.block_length);
    }
    udr_inbound_heard(&c->in, seq);
    resend_ctx r = {c, now_ns};
    udr_inbound_drain(&c->in, deliver, &r);
    uint64_t from;
    uint32_t count;
    if (udr_inbound_gap(&c->in, now_ns, &from, &count)) {
        send_retransmit_request(c, from, count, now_ns);
    }
}

static const char *var_text(const udr_frame *frame, char *out, size_t cap) {
    const uint8_t *data;
    uint16_t n;
    out[0] = '\0';
    if (udr_frame_var_data(frame, &data, &n) == 0) {
        snprintf(out, cap, "%.*s", (int)n, (const char *)data);
    }
    return out;
}

/* Code sits at the same offset in both login rejects (checked below). */
#define REJECT_CODE_OFFSET offsetof(udr_sbe_negotiation_reject, code)
_Static_assert(offsetof(udr_sbe_establishment_reject, code) == REJECT_CODE_OFFSET, "reject code offsets");

/* The block lengths a session frame must have (a longer block is a later schema version). */
static uint16_t session_block_length(uint16_t template_id) {
    switch (template_id) {
    case UDR_SBE_NEGOTIATION_RESPONSE_TEMPLATE_ID: return UDR_SBE_NEGOTIATION_RESPONSE_BLOCK_LENGTH;
    case UDR_SBE_ESTABLISHMENT_ACK_TEMPLATE_ID: return UDR_SBE_ESTABLISHMENT_ACK_BLOCK_LENGTH;
    case UDR_SBE_NEGOTIATION_REJECT_TEMPLATE_ID: return UDR_SBE_NEGOTIATION_REJECT_BLOCK_LENGTH;
    case UDR_SBE_ESTABLISHMENT_REJECT_TEMPLATE_ID: return UDR_SBE_ESTABLISHMENT_REJECT_BLOCK_LENGTH;
    case UDR_SBE_TERMINATE_TEMPLATE_ID: return UDR_SBE_TERMINATE_BLOCK_LENGTH;
    case UDR_SBE_RETRANSMIT_REJECT_TEMPLATE_ID: return UDR_SBE_RETRANSMIT_REJECT_BLOCK_LENGTH;
    default: return 0; /* not one this client acts on */
    }
}

static int usable_session_frame(const udr_frame *f) {
    if (f->schema_id == UDR_SBE_UDPROUTER_SCHEMA_ID) {
        return f->template_id == UDR_SBE_BUSINESS_MESSAGE_REJECT_TEMPLATE_ID &&
               f->block_length >= UDR_SBE_BUSINESS_MESSAGE_REJECT_BLOCK_LENGTH;
    }
    uint16_t needed = session_block_length(f->template_id);
    return f->schema_id == UDR_SBE_FIXP_SCHEMA_ID && needed > 0 && f->block_length >= needed;
}

static void on_session_message(udr_client *c, const udr_frame *f, uint64_t now_ns) {
    char reason[256];
    udr_sbe_negotiation_response nr;
    udr_sbe_establishment_ack ack;
    udr_sbe_terminate term;
    udr_sbe_business_message_reject bmr;
    switch (f->template_id) {
    case UDR_SBE_NEGOTIATION_RESPONSE_TEMPLATE_ID:
        memcpy(&nr, f->block, sizeof nr);
        if (c->state == UDR_STATE_NEGOTIATING && nr.request_timestamp == c->negotiate_timestamp) {
            start_establish(c, now_ns);
        }
        return;
    case UDR_SBE_ESTABLISHMENT_ACK_TEMPLATE_ID:
        memcpy(&ack, f->block, sizeof ack);
        if (c->state == UDR_STATE_ESTABLISHING && ack.request_timestamp == c->establish_timestamp) {
            on_established(c, &ack, now_ns);
        }
        return;
    case UDR_SBE_NEGOTIATION_REJECT_TEMPLATE_ID:
    case UDR_SBE_ESTABLISHMENT_REJECT_TEMPLATE_ID:
        if (c->state == UDR_STATE_NEGOTIATING || c->state == UDR_STATE_ESTABLISHING) {
            c->state = UDR_STATE_FAILED;
            snprintf(c->error, sizeof c->error, "%s rejected: code %u %s",
                     f->template_id == UDR_SBE_NEGOTIATION_REJECT_TEMPLATE_ID ? "negotiation" : "establishment",
                     f->block[REJECT_CODE_OFFSET], var_text(f, reason, sizeof reason));
            emit_simple(c, UDR_EVENT_REJECTED, f->block[REJECT_CODE_OFFSET], c->error);
        }
        return;
    case UDR_SBE_TERMINATE_TEMPLATE_ID:
        memcpy(&term, f->block, sizeof term);
        if (memcmp(term.session_id, c->session_id, 16) != 0) {
            return;
        }
        if (c->state == UDR_STATE_TERMINATING || term.code == UDR_SBE_TERMINATION_CODE_FINISHED) {
            c->state = UDR_STATE_TERMINATED;
            emit_simple(c, UDR_EVENT_TERMINATED, term.code, var_text(f, reason, sizeof reason));
        } else {
            server_lost(c, now_ns); /* e.g. keepalive lapsed while we were stalled: establish again */
        }
        return;
    case UDR_SBE_RETRANSMIT_REJECT_TEMPLATE_ID: {
        if (c->state != UDR_STATE_ESTABLISHED && c->state != UDR_STATE_TERMINATING) {
            return;
        }
        udr_event event;
        memset(&event, 0, sizeof event);
        event.type = UDR_EVENT_RETRANSMIT_REJECTED;
        event.code = f->block[offsetof(udr_sbe_retransmit_reject, code)];
        udr_inbound_give_up(&c->in, &event.seq_no, &event.count);
        emit(c, &event);
        resend_ctx r = {c, now_ns};
        udr_inbound_drain(&c->in, deliver, &r);
        return;
    }
    case UDR_SBE_BUSINESS_MESSAGE_REJECT_TEMPLATE_ID:
        memcpy(&bmr, f->block, sizeof bmr);
        if (bmr.business_reject_reason == UDR_SBE_BUSINESS_REJECT_REASON_NOT_AUTHORIZED) {
            server_lost(c, now_ns); /* unsequenced: the server does not know this session */
        }
        return;
    default:
        return; /* Retransmission: the messages follow in sequenced datagrams */
    }
}

static void on_datagram(udr_client *c, const uint8_t *buf, size_t len, uint64_t now_ns) {
    size_t offset = 0;
    udr_frame frame;
    if (udr_frame_next(buf, len, &offset, &frame) != UDR_FRAME_OK) {
        c->stats.bad_datagrams++;
        return;
    }
    c->stats.datagrams_received++;
    c->last_recv_ns = now_ns;
    if (frame.template_id == UDR_SBE_SEQUENCE_TEMPLATE_ID && frame.schema_id == UDR_SBE_FIXP_SCHEMA_ID &&
        frame.block_length >= UDR_SBE_SEQUENCE_BLOCK_LENGTH) {
        if (c->ever_established) {
            udr_sbe_sequence sequence;
            memcpy(&sequence, frame.block, sizeof sequence);
            on_sequenced(c, buf, len, offset, sequence.next_seq_no, now_ns);
        }
        return;
    }
    do {
        if (usable_session_frame(&frame)) {
            on_session_message(c, &frame, now_ns);
        }
    } while (udr_frame_next(buf, len, &offset, &frame) == UDR_FRAME_OK);
}

/* -- the caller's loop -------------------------------------------------------------------------- */

static void flush_batch(udr_client *c, uint64_t now_ns) {
    udr_out_datagram *d = udr_outbound_take_batch(&c->out, now_ns + c->config.resend_timeout_ns);
    if (d != NULL) {
        c->stats.messages_sent += d->count;
        send_kept(c, d, now_ns);
    }
}

static void login_timer(udr_client *c, uint64_t now_ns) {
    if (now_ns < c->request_deadline_ns) {
        return;
    }
    if (c->request_tries > 0) {
        send_request(c, now_ns, c->state == UDR_STATE_TERMINATING);
        return;
    }
    if (c->state == UDR_STATE_TERMINATING) {
        c->state = UDR_STATE_TERMINATED;
        emit_simple(c, UDR_EVENT_TERMINATED, UDR_SBE_TERMINATION_CODE_FINISHED, "no answer to Terminate");
    } else if (c->resume && now_ns < c->reconnect_deadline_ns) {
        start_negotiate(c, now_ns); /* the router may be restarting: keep trying until reconnect_ns */
    } else {
        set_error(c, c->state == UDR_STATE_ESTABLISHING ? "no answer to Establish" : "no answer to Negotiate");
        c->state = UDR_STATE_FAILED;
        emit_simple(c, UDR_EVENT_FAILED, 0, c->error);
    }
}

static void session_timers(udr_client *c, uint64_t now_ns) {
    uint64_t keepalive_ns = (uint64_t)c->config.keepalive_ms * 1000000ull;
    if (now_ns - c->last_recv_ns > SILENCE_LAPSE * keepalive_ns) {
        server_lost(c, now_ns);
        return;
    }
    size_t cursor = 0;
    udr_out_datagram *d;
    resend_ctx r = {c, now_ns};
    while ((d = udr_outbound_next_due(&c->out, now_ns, &cursor)) != NULL) {
        if (d->tries > c->config.max_resends) {
            udr_outbound_release(&c->out, d, given_up, &r);
            continue;
        }
        if (d->tries == c->config.max_resends) {
            /* Resending more cannot help: the server drops numbers it has seen. Its answers may still
               come through retransmission (a lost last report shows up at its next heartbeat). */
            d->tries++;
            d->deadline_ns = now_ns + ANSWER_GRACE_KEEPALIVES * keepalive_ns;
            continue;
        }
        d->tries++;
        d->deadline_ns = now_ns + c->config.resend_timeout_ns;
        c->stats.resends++;
        send_kept(c, d, now_ns);
    }
    uint64_t from;
    uint32_t count;
    if (udr_inbound_gap(&c->in, now_ns, &from, &count)) {
        send_retransmit_request(c, from, count, now_ns);
    }
    if (now_ns - c->last_send_ns >= keepalive_ns / HEARTBEATS_PER_INTERVAL) {
        send_heartbeat(c, now_ns);
    }
}

int udr_client_poll(udr_client *c, uint64_t now_ns, udr_event_handler handler, void *clientd) {
    c->handler = handler;
    c->clientd = clientd;
    c->events = 0;
    uint8_t buf[65536];
    for (int i = 0; i < RECV_PER_POLL; i++) {
        ssize_t n = recv(c->fd, buf, sizeof buf, 0);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                c->stats.send_errors++; /* ICMP refusal of an earlier send, reported here */
                continue;
            }
            break;
        }
        on_datagram(c, buf, (size_t)n, now_ns);
    }
    if (c->state == UDR_STATE_NEGOTIATING || c->state == UDR_STATE_ESTABLISHING ||
        c->state == UDR_STATE_TERMINATING) {
        login_timer(c, now_ns);
    } else if (c->state == UDR_STATE_ESTABLISHED) {
        session_timers(c, now_ns);
        while (c->out.batch_count > 0 && c->out.in_flight < UDR_CLIENT_WINDOW) {
            flush_batch(c, now_ns);
        }
    }
    c->handler = NULL;
    return c->events;
}

uint64_t udr_client_timeout_ns(const udr_client *c, uint64_t now_ns) {
    uint64_t next = UINT64_MAX;
    if (c->state == UDR_STATE_NEGOTIATING || c->state == UDR_STATE_ESTABLISHING ||
        c->state == UDR_STATE_TERMINATING) {
        next = c->request_deadline_ns;
    } else if (c->state == UDR_STATE_ESTABLISHED) {
        uint64_t keepalive_ns = (uint64_t)c->config.keepalive_ms * 1000000ull;
        uint64_t candidates[4] = {c->last_send_ns + keepalive_ns / HEARTBEATS_PER_INTERVAL,
                                  c->last_recv_ns + SILENCE_LAPSE * keepalive_ns + 1,
                                  udr_outbound_next_deadline(&c->out), udr_inbound_next_deadline(&c->in)};
        for (int i = 0; i < 4; i++) {
            next = candidates[i] < next ? candidates[i] : next;
        }
        if (c->out.batch_count > 0) {
            next = now_ns;
        }
    }
    return next <= now_ns ? 0 : next - now_ns;
}

/* -- order entry -------------------------------------------------------------------------------- */

static udr_result add_message(udr_client *c, uint16_t template_id, void *block, uint8_t block_length,
                              uint64_t requested_id, uint64_t now_ns, uint64_t *cl_ord_id) {
    if (c->state != UDR_STATE_ESTABLISHED) {
        return c->state >= UDR_STATE_TERMINATING ? UDR_ERR_CLOSED : UDR_ERR_NOT_ESTABLISHED;
    }
    if (c->out.batch_count == UDR_CLIENT_MAX_BATCH) {
        if (c->out.in_flight >= UDR_CLIENT_WINDOW) {
            return UDR_BACK_PRESSURED;
        }
        flush_batch(c, now_ns);
    }
    uint64_t id = requested_id ? requested_id : c->next_cl_ord_id++;
    if (id >= c->next_cl_ord_id) {
        c->next_cl_ord_id = id + 1; /* NotApplied resends take numbers above every one used */
    }
    memcpy(block, &id, sizeof id);
    udr_outbound_add(&c->out, template_id, block, block_length);
    if (cl_ord_id != NULL) {
        *cl_ord_id = id;
    }
    if (c->out.batch_count == UDR_CLIENT_MAX_BATCH && c->out.in_flight < UDR_CLIENT_WINDOW) {
        flush_batch(c, now_ns);
    }
    return UDR_OK;
}

udr_result udr_client_new_order(udr_client *c, const udr_order *o, uint64_t now_ns, uint64_t *cl_ord_id) {
    if (o == NULL || (o->side != UDR_SBE_SIDE_BUY && o->side != UDR_SBE_SIDE_SELL)) {
        return UDR_ERR_ARGUMENT;
    }
    udr_sbe_new_order_single nos = {
        .transact_time = wall_ns(), .price = o->price, .order_qty = o->qty, .security_id = o->security_id,
        .side = o->side, .ord_type = o->ord_type ? o->ord_type : UDR_SBE_ORD_TYPE_LIMIT,
        .time_in_force = o->time_in_force};
    return add_message(c, UDR_SBE_NEW_ORDER_SINGLE_TEMPLATE_ID, &nos, UDR_SBE_NEW_ORDER_SINGLE_BLOCK_LENGTH,
                       o->cl_ord_id, now_ns, cl_ord_id);
}

udr_result udr_client_cancel(udr_client *c, uint64_t orig_cl_ord_id, int32_t security_id, uint8_t side,
                             uint64_t now_ns, uint64_t *cl_ord_id) {
    udr_sbe_order_cancel_request cancel = {.orig_cl_ord_id = orig_cl_ord_id, .transact_time = wall_ns(),
                                           .security_id = security_id, .side = side};
    return add_message(c, UDR_SBE_ORDER_CANCEL_REQUEST_TEMPLATE_ID, &cancel,
                       UDR_SBE_ORDER_CANCEL_REQUEST_BLOCK_LENGTH, 0, now_ns, cl_ord_id);
}

udr_result udr_client_replace(udr_client *c, uint64_t orig_cl_ord_id, int32_t security_id, uint8_t side,
                              int64_t price, uint32_t qty, uint64_t now_ns, uint64_t *cl_ord_id) {
    udr_sbe_order_cancel_replace_request replace = {
        .orig_cl_ord_id = orig_cl_ord_id, .transact_time = wall_ns(), .price = price, .order_qty = qty,
        .security_id = security_id, .side = side};
    return add_message(c, UDR_SBE_ORDER_CANCEL_REPLACE_REQUEST_TEMPLATE_ID, &replace,
                       UDR_SBE_ORDER_CANCEL_REPLACE_REQUEST_BLOCK_LENGTH, 0, now_ns, cl_ord_id);
}

udr_result udr_client_flush(udr_client *c, uint64_t now_ns) {
    if (c->state != UDR_STATE_ESTABLISHED) {
        return UDR_ERR_NOT_ESTABLISHED;
    }
    if (c->out.batch_count > 0 && c->out.in_flight >= UDR_CLIENT_WINDOW) {
        return UDR_BACK_PRESSURED;
    }
    flush_batch(c, now_ns);
    return UDR_OK;
}

udr_result udr_client_terminate(udr_client *c, uint64_t now_ns) {
    if (c->state != UDR_STATE_ESTABLISHED) {
        return UDR_ERR_NOT_ESTABLISHED;
    }
    udr_sbe_terminate term;
    memcpy(term.session_id, c->session_id, 16);
    term.code = UDR_SBE_TERMINATION_CODE_FINISHED;
    const uint8_t *var[1] = {(const uint8_t *)""};
    uint16_t lengths[1] = {0};
    c->request_length = 0;
    udr_frame_append(c->request, sizeof c->request, &c->request_length, UDR_SBE_TERMINATE_TEMPLATE_ID,
                     UDR_SBE_FIXP_SCHEMA_ID, &term, UDR_SBE_TERMINATE_BLOCK_LENGTH, var, lengths, 1);
    c->state = UDR_STATE_TERMINATING;
    c->request_tries = TERMINATE_TRIES;
    send_request(c, now_ns, 1);
    return UDR_OK;
}

/* -- lifecycle ---------------------------------------------------------------------------------- */

static udr_result open_socket(udr_client *c) {
    char port[8];
    snprintf(port, sizeof port, "%u", (unsigned)c->config.port);
    struct addrinfo hints = {.ai_socktype = SOCK_DGRAM, .ai_flags = AI_NUMERICSERV}, *res = NULL;
    int rc = getaddrinfo(c->config.host, port, &hints, &res);
    if (rc != 0) {
        snprintf(c->error, sizeof c->error, "host %s: %s", c->config.host, gai_strerror(rc));
        return UDR_ERR_ARGUMENT;
    }
    c->fd = socket(res->ai_family, SOCK_DGRAM, 0);
    if (c->fd < 0 || connect(c->fd, res->ai_addr, res->ai_addrlen) != 0) {
        snprintf(c->error, sizeof c->error, "socket to %s:%s: %s", c->config.host, port, strerror(errno));
        freeaddrinfo(res);
        return UDR_ERR_SOCKET;
    }
    freeaddrinfo(res);
    int size = SOCKET_BUFFER_BYTES;
    setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size); /* best effort */
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    return UDR_OK;
}

static udr_result check_config(const udr_client_config *config, char *error, size_t cap) {
    const char *bad = NULL;
    if (config->key_id == NULL || config->key_id[0] == '\0' || strlen(config->key_id) >= 256 ||
        strchr(config->key_id, ':') != NULL) {
        bad = "key_id: required, under 256 bytes, no ':'";
    } else if (config->secret == NULL || config->secret[0] == '\0' || strlen(config->secret) >= 256) {
        bad = "secret: required, under 256 bytes";
    } else if (config->host == NULL || config->port == 0) {
        bad = "host and port: required";
    } else if (config->keepalive_ms == 0 || config->request_tries <= 0 || config->request_timeout_ns == 0 ||
               config->resend_timeout_ns == 0 || config->next_seq_no == 0) {
        bad = "keepalive_ms, request_tries, request_timeout_ns, resend_timeout_ns, next_seq_no: must be > 0";
    }
    if (bad != NULL) {
        if (cap > 0) {
            snprintf(error, cap, "%s", bad);
        }
        return UDR_ERR_ARGUMENT;
    }
    return UDR_OK;
}

udr_result udr_client_open(udr_client **out, const udr_client_config *config, uint64_t now_ns, char *error,
                           size_t error_cap) {
    *out = NULL;
    udr_result rc = check_config(config, error, error_cap);
    if (rc != UDR_OK) {
        return rc;
    }
    udr_client *c = calloc(1, sizeof *c);
    if (c == NULL || udr_inbound_init(&c->in) != 0) {
        free(c);
        snprintf(error, error_cap, "out of memory");
        return UDR_ERR_NO_MEMORY;
    }
    c->config = *config;
    snprintf(c->key_id, sizeof c->key_id, "%s", config->key_id);
    snprintf(c->secret, sizeof c->secret, "%s", config->secret);
    c->config.key_id = c->key_id;
    c->config.secret = c->secret;
    c->fd = -1;
    udr_outbound_init(&c->out, config->next_seq_no);
    c->next_cl_ord_id = config->first_cl_ord_id ? config->first_cl_ord_id : wall_ns() / 1000;
    if (config->has_session_id) {
        memcpy(c->session_id, config->session_id, 16);
    } else if (RAND_bytes(c->session_id, 16) == 1) {
        c->session_id[6] = (uint8_t)((c->session_id[6] & 0x0f) | 0x40); /* RFC 4122 version 4 */
        c->session_id[8] = (uint8_t)((c->session_id[8] & 0x3f) | 0x80);
    } else {
        set_error(c, "no random session id (libcrypto RAND_bytes)");
        rc = UDR_ERR_CRYPTO;
    }
    if (rc == UDR_OK) {
        rc = open_socket(c);
    }
    if (rc == UDR_OK && start_negotiate(c, now_ns) != 0) {
        rc = UDR_ERR_CRYPTO;
    }
    if (rc != UDR_OK) {
        snprintf(error, error_cap, "%s", c->error);
        udr_client_close(c);
        return rc;
    }
    *out = c;
    return UDR_OK;
}

void udr_client_close(udr_client *c) {
    if (c == NULL) {
        return;
    }
    if (c->fd >= 0) {
        close(c->fd);
    }
    udr_inbound_free(&c->in);
    memset(c->secret, 0, sizeof c->secret);
    memset(c->datagram_key, 0, sizeof c->datagram_key);
    free(c);
}

int udr_client_fd(const udr_client *c) { return c->fd; }
udr_client_state udr_client_get_state(const udr_client *c) { return c->state; }
const uint8_t *udr_client_session_id(const udr_client *c) { return c->session_id; }
size_t udr_client_unanswered(const udr_client *c) { return c->out.unanswered + c->out.batch_count; }
uint64_t udr_client_next_report_seq(const udr_client *c) { return c->in.expected; }
const char *udr_client_error(const udr_client *c) { return c->error; }

void udr_client_get_stats(const udr_client *c, udr_client_stats *stats) {
    *stats = c->stats;
    stats->duplicates_dropped = c->in.duplicates;
}
