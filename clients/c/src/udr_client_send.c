#define _POSIX_C_SOURCE 200809L
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "udr_client_internal.h"

uint64_t udr_wall_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* -- sending ------------------------------------------------------------------------------------ */

/* Sends buf[0..len); in an established session the MAC frame is appended first (buf has room). */
void udr_client_send_datagram(udr_client *c, uint8_t *buf, size_t len, size_t cap, uint64_t now_ns, int mac) {
    if (mac && c->config.authenticate_datagrams && udr_auth_append_mac(buf, cap, &len, c->mac) != 0) {
        c->stats.send_errors++;
        udr_client_set_error(c, "datagram MAC failed (libcrypto)");
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

void udr_client_send_kept(udr_client *c, const udr_out_datagram *d, uint64_t now_ns) {
    uint8_t buf[UDR_SBE_MAX_DATAGRAM_SIZE];
    size_t used = put_sequence(buf, sizeof buf, d->first_seq);
    for (unsigned i = 0; i < d->count; i++) {
        const udr_out_message *m = &d->messages[i];
        udr_frame_append(buf, sizeof buf, &used, m->template_id, UDR_SBE_UDPROUTER_SCHEMA_ID, m->block,
                         m->block_length, NULL, NULL, 0);
    }
    udr_client_send_datagram(c, buf, used, sizeof buf, now_ns, 1);
}

void udr_client_send_heartbeat(udr_client *c, uint64_t now_ns) {
    uint8_t buf[64];
    udr_client_send_datagram(c, buf, put_sequence(buf, sizeof buf, c->out.next_seq), sizeof buf, now_ns, 1);
}

void udr_client_send_request(udr_client *c, uint64_t now_ns, int mac) {
    uint8_t buf[sizeof c->request + UDR_AUTH_MAC_FRAME_SIZE];
    memcpy(buf, c->request, c->request_length);
    udr_client_send_datagram(c, buf, c->request_length, sizeof buf, now_ns, mac);
    c->request_tries--;
    c->request_deadline_ns = now_ns + c->config.request_timeout_ns;
}

void udr_client_send_retransmit_request(udr_client *c, uint64_t from, uint32_t count, uint64_t now_ns) {
    udr_sbe_retransmit_request request;
    memcpy(request.session_id, c->session_id, 16);
    request.timestamp = udr_wall_ns();
    request.from_seq_no = from;
    request.count = count;
    uint8_t buf[128];
    size_t used = 0;
    udr_frame_append(buf, sizeof buf, &used, UDR_SBE_RETRANSMIT_REQUEST_TEMPLATE_ID,
                     UDR_SBE_RETRANSMIT_REQUEST_SCHEMA_ID, &request, UDR_SBE_RETRANSMIT_REQUEST_BLOCK_LENGTH,
                     NULL, NULL, 0);
    c->stats.retransmit_requests++;
    udr_client_send_datagram(c, buf, used, sizeof buf, now_ns, 1);
}
void udr_client_flush_batch(udr_client *c, uint64_t now_ns) {
    udr_out_datagram *d = udr_outbound_take_batch(&c->out, now_ns + c->config.resend_timeout_ns);
    if (d != NULL) {
        c->stats.messages_sent += d->count;
        udr_client_send_kept(c, d, now_ns);
    }
}
