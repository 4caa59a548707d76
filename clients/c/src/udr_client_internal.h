/*
 * udr_client_internal.h - the client's state and the calls its three source files share (not installed).
 *
 * udr_client.c: lifecycle, the caller's API, the poll step and its timers; udr_client_send.c: every
 * datagram the client sends; udr_client_receive.c: the login and everything the server sends.
 */
#ifndef UDPROUTER_CLIENT_UDR_CLIENT_INTERNAL_H
#define UDPROUTER_CLIENT_UDR_CLIENT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "udprouter/client/udr_auth.h"
#include "udprouter/client/udr_client.h"
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
    udr_auth_mac_ctx *mac;          /* keyed by datagram_key once the session is established */
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

typedef struct udr_client_ctx {
    udr_client *client;
    uint64_t now_ns;
} udr_client_ctx;

/* udr_client.c */
void udr_client_set_error(udr_client *c, const char *text);
void udr_client_emit(udr_client *c, udr_event *event);
void udr_client_emit_simple(udr_client *c, udr_event_type type, uint8_t code, const char *reason);

/* udr_client_send.c */
uint64_t udr_wall_ns(void);
void udr_client_send_datagram(udr_client *c, uint8_t *buf, size_t len, size_t cap, uint64_t now_ns, int mac);
void udr_client_send_kept(udr_client *c, const udr_out_datagram *d, uint64_t now_ns);
void udr_client_send_heartbeat(udr_client *c, uint64_t now_ns);
void udr_client_send_request(udr_client *c, uint64_t now_ns, int mac);
void udr_client_send_retransmit_request(udr_client *c, uint64_t from, uint32_t count, uint64_t now_ns);
void udr_client_flush_batch(udr_client *c, uint64_t now_ns);

/* udr_client_receive.c */
int udr_client_start_negotiate(udr_client *c, uint64_t now_ns);
void udr_client_server_lost(udr_client *c, uint64_t now_ns);
void udr_client_on_datagram(udr_client *c, const uint8_t *buf, size_t len, uint64_t now_ns);
void udr_client_given_up(void *ctx, const udr_out_message *m);

#endif /* UDPROUTER_CLIENT_UDR_CLIENT_INTERNAL_H */
