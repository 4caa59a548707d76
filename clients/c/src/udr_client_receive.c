#define _POSIX_C_SOURCE 200809L
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "udr_client_internal.h"

/* -- login -------------------------------------------------------------------------------------- */

static int build_login(udr_client *c, const char *name, uint16_t template_id, const void *block,
                       uint16_t block_length, uint64_t timestamp) {
    char credentials[MAX_CREDENTIALS];
    int n = udr_auth_credentials(credentials, sizeof credentials, c->secret, name, c->session_id, timestamp,
                                 c->key_id);
    if (n < 0) {
        udr_client_set_error(c, "signing the credentials failed (libcrypto)");
        return -1;
    }
    const uint8_t *var[1] = {(const uint8_t *)credentials};
    uint16_t lengths[1] = {(uint16_t)n};
    c->request_length = 0;
    udr_frame_append(c->request, sizeof c->request, &c->request_length, template_id, UDR_SBE_FIXP_SCHEMA_ID,
                     block, block_length, var, lengths, 1);
    return 0;
}

int udr_client_start_negotiate(udr_client *c, uint64_t now_ns) {
    udr_sbe_negotiate negotiate;
    memcpy(negotiate.session_id, c->session_id, 16);
    negotiate.timestamp = c->negotiate_timestamp = udr_wall_ns();
    negotiate.client_flow = UDR_SBE_FLOW_TYPE_IDEMPOTENT;
    if (build_login(c, "Negotiate", UDR_SBE_NEGOTIATE_TEMPLATE_ID, &negotiate, UDR_SBE_NEGOTIATE_BLOCK_LENGTH,
                    negotiate.timestamp) != 0) {
        return -1;
    }
    c->state = UDR_STATE_NEGOTIATING;
    c->request_tries = c->config.request_tries;
    udr_client_send_request(c, now_ns, 0);
    return 0;
}

static void start_establish(udr_client *c, uint64_t now_ns) {
    udr_sbe_establish establish;
    memset(&establish, 0, sizeof establish); /* CancelOnDisconnectType 0 (none), CODTimeoutWindow 0 */
    memcpy(establish.session_id, c->session_id, 16);
    establish.timestamp = c->establish_timestamp = udr_wall_ns();
    establish.keepalive_interval = c->config.keepalive_ms;
    establish.next_seq_no = c->resume ? udr_outbound_lowest_unanswered(&c->out) : c->out.next_seq;
    if (build_login(c, "Establish", UDR_SBE_ESTABLISH_TEMPLATE_ID, &establish, UDR_SBE_ESTABLISH_BLOCK_LENGTH,
                    establish.timestamp) != 0) {
        c->state = UDR_STATE_FAILED;
        udr_client_emit_simple(c, UDR_EVENT_FAILED, 0, c->error);
        return;
    }
    c->state = UDR_STATE_ESTABLISHING;
    c->request_tries = c->config.request_tries;
    udr_client_send_request(c, now_ns, 0);
}

/* The server lost the session (silence, NotAuthorized, Terminate other than Finished). */
void udr_client_server_lost(udr_client *c, uint64_t now_ns) {
    if (c->state != UDR_STATE_ESTABLISHED) {
        return;
    }
    c->resume = 1;
    c->reconnect_deadline_ns = now_ns + c->config.reconnect_ns;
    if (udr_client_start_negotiate(c, now_ns) != 0) {
        c->state = UDR_STATE_FAILED;
        udr_client_emit_simple(c, UDR_EVENT_FAILED, 0, c->error);
    }
}

static void on_established(udr_client *c, const udr_sbe_establishment_ack *ack, uint64_t now_ns) {
    udr_auth_mac_free(c->mac);
    c->mac = NULL;
    if (udr_auth_datagram_key(c->datagram_key, c->secret, c->session_id, c->establish_timestamp, c->key_id) != 0 ||
        (c->config.authenticate_datagrams && (c->mac = udr_auth_mac_new(c->datagram_key)) == NULL)) {
        c->state = UDR_STATE_FAILED;
        udr_client_set_error(c, "deriving the datagram key or its MAC failed (libcrypto)");
        udr_client_emit_simple(c, UDR_EVENT_FAILED, 0, c->error);
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
    udr_client_emit_simple(c, UDR_EVENT_ESTABLISHED, 0, "");
    if (c->resume) {
        /* the server drops what it had applied and applies the rest */
        for (size_t i = 0; i < UDR_CLIENT_WINDOW; i++) {
            udr_out_datagram *d = &c->out.slots[i];
            if (d->in_use) {
                d->tries = 0;
                d->deadline_ns = now_ns + c->config.resend_timeout_ns;
                udr_client_send_kept(c, d, now_ns);
            }
        }
    }
}

/* -- receiving ---------------------------------------------------------------------------------- */

static void resend_not_applied(void *ctx, const udr_out_message *m) {
    udr_client_ctx *r = ctx;
    udr_client *c = r->client;
    udr_event event;
    memset(&event, 0, sizeof event);
    event.old_cl_ord_id = m->cl_ord_id;
    if (!c->config.resend_not_applied) {
        event.type = UDR_EVENT_GIVEN_UP;
        event.cl_ord_id = m->cl_ord_id;
        udr_client_emit(c, &event);
        return;
    }
    uint8_t block[UDR_OUT_MAX_BLOCK];
    memcpy(block, m->block, m->block_length);
    uint64_t id = c->next_cl_ord_id++;
    memcpy(block, &id, sizeof id);
    if (c->out.batch_count == UDR_CLIENT_MAX_BATCH) {
        udr_client_flush_batch(c, r->now_ns);
    }
    if (udr_outbound_add(&c->out, m->template_id, block, m->block_length) != 0) {
        /* batch full and no window slot free: say so rather than lose it silently */
        event.type = UDR_EVENT_GIVEN_UP;
        event.cl_ord_id = m->cl_ord_id;
        udr_client_emit(c, &event);
        return;
    }
    c->stats.not_applied_resent++;
    event.type = UDR_EVENT_RESENT;
    event.cl_ord_id = id;
    udr_client_emit(c, &event);
}

void udr_client_given_up(void *ctx, const udr_out_message *m) {
    udr_event event;
    memset(&event, 0, sizeof event);
    event.type = UDR_EVENT_GIVEN_UP;
    event.cl_ord_id = m->cl_ord_id;
    udr_client_emit(((udr_client_ctx *)ctx)->client, &event);
}

static void deliver(void *ctx, uint64_t seq, const udr_in_slot *m) {
    udr_client_ctx *r = ctx;
    udr_client *c = r->client;
    udr_event event;
    memset(&event, 0, sizeof event);
    event.type = UDR_EVENT_REPORT;
    event.schema_id = m->schema_id;
    event.template_id = m->template_id;
    event.seq_no = seq;
    memcpy(event.msg.bytes, m->block, m->block_length < sizeof event.msg.bytes ? m->block_length : sizeof event.msg.bytes);
    if (m->copied) {
        /* another session's report: it answers nothing of ours */
        event.type = UDR_EVENT_COPY;
        event.copy = m->copy;
        c->stats.copies_received++;
        udr_client_emit(c, &event);
        return;
    }
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
    udr_client_emit(c, &event);
}

static int is_drop_copy(const udr_frame *f) {
    return f->schema_id == UDR_SBE_DROP_COPY_SCHEMA_ID && f->template_id == UDR_SBE_DROP_COPY_TEMPLATE_ID &&
           f->block_length >= UDR_SBE_DROP_COPY_BLOCK_LENGTH;
}

static void on_sequenced(udr_client *c, const uint8_t *buf, size_t len, size_t offset, uint64_t first_seq,
                         uint64_t now_ns) {
    udr_frame frame;
    uint64_t seq = first_seq;
    while (udr_frame_next(buf, len, &offset, &frame) == UDR_FRAME_OK) {
        udr_sbe_drop_copy mark;
        const udr_sbe_drop_copy *copy = NULL;
        if (is_drop_copy(&frame)) {
            /* the mark and the report after it are one message, one number (SPEC 4.12) */
            memcpy(&mark, frame.block, sizeof mark);
            if (udr_frame_next(buf, len, &offset, &frame) != UDR_FRAME_OK) {
                c->stats.bad_datagrams++; /* a mark without its report: the server never sends one */
                break;
            }
            copy = &mark;
        }
        udr_inbound_receive(&c->in, seq++, copy, frame.schema_id, frame.template_id, frame.block, frame.block_length);
    }
    udr_inbound_heard(&c->in, seq);
    udr_client_ctx r = {c, now_ns};
    udr_inbound_drain(&c->in, deliver, &r);
    uint64_t from;
    uint32_t count;
    if (udr_inbound_gap(&c->in, now_ns, &from, &count)) {
        udr_client_send_retransmit_request(c, from, count, now_ns);
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
            udr_client_emit_simple(c, UDR_EVENT_REJECTED, f->block[REJECT_CODE_OFFSET], c->error);
        }
        return;
    case UDR_SBE_TERMINATE_TEMPLATE_ID:
        memcpy(&term, f->block, sizeof term);
        if (memcmp(term.session_id, c->session_id, 16) != 0) {
            return;
        }
        if (c->state == UDR_STATE_TERMINATING || term.code == UDR_SBE_TERMINATION_CODE_FINISHED) {
            c->state = UDR_STATE_TERMINATED;
            udr_client_emit_simple(c, UDR_EVENT_TERMINATED, term.code, var_text(f, reason, sizeof reason));
        } else {
            udr_client_server_lost(c, now_ns); /* e.g. keepalive lapsed while we were stalled: establish again */
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
        udr_client_emit(c, &event);
        udr_client_ctx r = {c, now_ns};
        udr_inbound_drain(&c->in, deliver, &r);
        return;
    }
    case UDR_SBE_BUSINESS_MESSAGE_REJECT_TEMPLATE_ID:
        memcpy(&bmr, f->block, sizeof bmr);
        if (bmr.business_reject_reason == UDR_SBE_BUSINESS_REJECT_REASON_NOT_AUTHORIZED) {
            udr_client_server_lost(c, now_ns); /* unsequenced: the server does not know this session */
        }
        return;
    default:
        return; /* Retransmission: the messages follow in sequenced datagrams */
    }
}

void udr_client_on_datagram(udr_client *c, const uint8_t *buf, size_t len, uint64_t now_ns) {
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
