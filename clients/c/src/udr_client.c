#define _POSIX_C_SOURCE 200809L
#include "udprouter/client/udr_client.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "udr_client_internal.h"

uint64_t udr_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
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

void udr_client_set_error(udr_client *c, const char *text) {
    snprintf(c->error, sizeof c->error, "%s", text);
}

void udr_client_emit(udr_client *c, udr_event *event) {
    c->events++;
    if (c->handler != NULL) {
        c->handler(c->clientd, event);
    }
}

void udr_client_emit_simple(udr_client *c, udr_event_type type, uint8_t code, const char *reason) {
    udr_event event;
    memset(&event, 0, sizeof event);
    event.type = type;
    event.code = code;
    event.reason = reason;
    udr_client_emit(c, &event);
}

/* -- the caller's loop -------------------------------------------------------------------------- */


static void login_timer(udr_client *c, uint64_t now_ns) {
    if (now_ns < c->request_deadline_ns) {
        return;
    }
    if (c->request_tries > 0) {
        udr_client_send_request(c, now_ns, c->state == UDR_STATE_TERMINATING);
        return;
    }
    if (c->state == UDR_STATE_TERMINATING) {
        c->state = UDR_STATE_TERMINATED;
        udr_client_emit_simple(c, UDR_EVENT_TERMINATED, UDR_SBE_TERMINATION_CODE_FINISHED, "no answer to Terminate");
    } else if (c->resume && now_ns < c->reconnect_deadline_ns) {
        udr_client_start_negotiate(c, now_ns); /* the router may be restarting: keep trying until reconnect_ns */
    } else {
        udr_client_set_error(c, c->state == UDR_STATE_ESTABLISHING ? "no answer to Establish" : "no answer to Negotiate");
        c->state = UDR_STATE_FAILED;
        udr_client_emit_simple(c, UDR_EVENT_FAILED, 0, c->error);
    }
}

static void session_timers(udr_client *c, uint64_t now_ns) {
    uint64_t keepalive_ns = (uint64_t)c->config.keepalive_ms * 1000000ull;
    if (now_ns - c->last_recv_ns > SILENCE_LAPSE * keepalive_ns) {
        udr_client_server_lost(c, now_ns);
        return;
    }
    size_t cursor = 0;
    udr_out_datagram *d;
    udr_client_ctx r = {c, now_ns};
    while ((d = udr_outbound_next_due(&c->out, now_ns, &cursor)) != NULL) {
        if (d->tries > c->config.max_resends) {
            udr_outbound_release(&c->out, d, udr_client_given_up, &r);
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
        udr_client_send_kept(c, d, now_ns);
    }
    uint64_t from;
    uint32_t count;
    if (udr_inbound_gap(&c->in, now_ns, &from, &count)) {
        udr_client_send_retransmit_request(c, from, count, now_ns);
    }
    if (now_ns - c->last_send_ns >= keepalive_ns / HEARTBEATS_PER_INTERVAL) {
        udr_client_send_heartbeat(c, now_ns);
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
        udr_client_on_datagram(c, buf, (size_t)n, now_ns);
    }
    if (c->state == UDR_STATE_NEGOTIATING || c->state == UDR_STATE_ESTABLISHING ||
        c->state == UDR_STATE_TERMINATING) {
        login_timer(c, now_ns);
    } else if (c->state == UDR_STATE_ESTABLISHED) {
        session_timers(c, now_ns);
        while (c->out.batch_count > 0 && c->out.in_flight < UDR_CLIENT_WINDOW) {
            udr_client_flush_batch(c, now_ns);
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
        udr_client_flush_batch(c, now_ns);
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
        udr_client_flush_batch(c, now_ns);
    }
    return UDR_OK;
}

udr_result udr_client_new_order(udr_client *c, const udr_order *o, uint64_t now_ns, uint64_t *cl_ord_id) {
    if (o == NULL || (o->side != UDR_SBE_SIDE_BUY && o->side != UDR_SBE_SIDE_SELL)) {
        return UDR_ERR_ARGUMENT;
    }
    udr_sbe_new_order_single nos = {
        .transact_time = udr_wall_ns(), .price = o->price, .order_qty = o->qty, .security_id = o->security_id,
        .side = o->side, .ord_type = o->ord_type ? o->ord_type : UDR_SBE_ORD_TYPE_LIMIT,
        .time_in_force = o->time_in_force};
    return add_message(c, UDR_SBE_NEW_ORDER_SINGLE_TEMPLATE_ID, &nos, UDR_SBE_NEW_ORDER_SINGLE_BLOCK_LENGTH,
                       o->cl_ord_id, now_ns, cl_ord_id);
}

udr_result udr_client_cancel(udr_client *c, uint64_t orig_cl_ord_id, int32_t security_id, uint8_t side,
                             uint64_t now_ns, uint64_t *cl_ord_id) {
    udr_sbe_order_cancel_request cancel = {.orig_cl_ord_id = orig_cl_ord_id, .transact_time = udr_wall_ns(),
                                           .security_id = security_id, .side = side};
    return add_message(c, UDR_SBE_ORDER_CANCEL_REQUEST_TEMPLATE_ID, &cancel,
                       UDR_SBE_ORDER_CANCEL_REQUEST_BLOCK_LENGTH, 0, now_ns, cl_ord_id);
}

udr_result udr_client_replace(udr_client *c, uint64_t orig_cl_ord_id, int32_t security_id, uint8_t side,
                              int64_t price, uint32_t qty, uint64_t now_ns, uint64_t *cl_ord_id) {
    udr_sbe_order_cancel_replace_request replace = {
        .orig_cl_ord_id = orig_cl_ord_id, .transact_time = udr_wall_ns(), .price = price, .order_qty = qty,
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
    udr_client_flush_batch(c, now_ns);
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
    udr_client_send_request(c, now_ns, 1);
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
    c->next_cl_ord_id = config->first_cl_ord_id ? config->first_cl_ord_id : udr_wall_ns() / 1000;
    if (config->has_session_id) {
        memcpy(c->session_id, config->session_id, 16);
    } else if (RAND_bytes(c->session_id, 16) == 1) {
        c->session_id[6] = (uint8_t)((c->session_id[6] & 0x0f) | 0x40); /* RFC 4122 version 4 */
        c->session_id[8] = (uint8_t)((c->session_id[8] & 0x3f) | 0x80);
    } else {
        udr_client_set_error(c, "no random session id (libcrypto RAND_bytes)");
        rc = UDR_ERR_CRYPTO;
    }
    if (rc == UDR_OK) {
        rc = open_socket(c);
    }
    if (rc == UDR_OK && udr_client_start_negotiate(c, now_ns) != 0) {
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
    udr_auth_mac_free(c->mac);
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
    stats->duplicates_dropped = c->in.duplicates;}
