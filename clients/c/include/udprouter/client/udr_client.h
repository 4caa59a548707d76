/*
 * udr_client.h - a FIXP-over-UDP order entry session to udprouter, driven by the caller's loop.
 *
 *     udr_client_config config;
 *     udr_client_config_init(&config);
 *     config.host = "127.0.0.1"; config.port = 9000; config.key_id = "demo"; config.secret = "demo-secret";
 *     udr_client *client;
 *     udr_client_open(&client, &config, udr_now_ns(), error, sizeof error);  // sends Negotiate
 *     for (;;) {
 *         poll(udr_client_fd(client), udr_client_timeout_ns(client, now) / 1000000);
 *         udr_client_poll(client, udr_now_ns(), on_event, app);  // receive, timers, send
 *         ... udr_client_new_order(client, &order, now, &cl_ord_id) once established ...
 *     }
 *     udr_client_terminate(client, now);  ... poll until UDR_EVENT_TERMINATED or a deadline ...
 *     udr_client_close(client);
 *
 * No threads and no blocking calls inside: one non-blocking connected UDP socket, timers computed
 * from the `now` the caller passes (CLOCK_MONOTONIC-like nanoseconds; wall-clock Timestamps for
 * the wire are read with clock_gettime(CLOCK_REALTIME)). Not thread-safe: one thread per client.
 *
 * Client -> server (Idempotent): application messages are batched (up to 20 per datagram, sent
 * when the batch is full, on udr_client_flush() or at the end of udr_client_poll()), each datagram
 * led by Sequence(NextSeqNo). A datagram none of whose messages has been answered within
 * resend_timeout is resent as it was (same numbers: the server drops duplicates). NotApplied: the
 * messages are resent under new numbers and new ClOrdIDs (UDR_EVENT_RESENT names old and new).
 * Server -> client (Recoverable): reports are delivered in server sequence order; a gap is asked
 * for with RetransmitRequest. Heartbeat: Sequence after keepalive/2 idle. When the server is silent
 * for 3 keepalive intervals, answers NotAuthorized, or terminates with a code other than Finished,
 * the client negotiates and establishes the same session again and resends what is unanswered.
 *
 * Drop copy (SPEC.md 4.12): open the client with a drop-copy key (the router's config says which
 * keys are); the login is the same. Each copy of another session's execution report arrives as
 * UDR_EVENT_COPY: the report in template_id/msg, the session and account it was sent to in copy,
 * numbered, kept in order and recovered (retransmission, re-establishment) like any report. A
 * drop-copy session is read-only: orders sent on it are refused (BusinessMessageReject,
 * DropCopySession) and apply nothing. examples/udr_drop_copy.c is a complete consumer.
 */
#ifndef UDPROUTER_CLIENT_UDR_CLIENT_H
#define UDPROUTER_CLIENT_UDR_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "udprouter/generated/sbe_messages.h"

#ifdef __cplusplus
extern "C" {
#endif

#define UDR_CLIENT_MAX_BATCH 20        /* application messages per datagram */
#define UDR_CLIENT_WINDOW 64           /* datagrams awaiting answers at once */

/* Results of calls; negative values are errors, UDR_BACK_PRESSURED is not one. */
typedef enum udr_result {
    UDR_OK = 0,
    UDR_BACK_PRESSURED = 1,        /* window full: poll (answers free it) and try again */
    UDR_ERR_ARGUMENT = -1,         /* a bad config value or argument (udr_client_error() says which) */
    UDR_ERR_NOT_ESTABLISHED = -2,  /* the session cannot send application messages now */
    UDR_ERR_SOCKET = -3,           /* socket(), connect() or a send failed hard (errno kept) */
    UDR_ERR_CRYPTO = -4,           /* libcrypto failed to sign or MAC */
    UDR_ERR_NO_MEMORY = -5,
    UDR_ERR_CLOSED = -6            /* the session is terminated or failed */
} udr_result;

typedef enum udr_client_state {
    UDR_STATE_NEGOTIATING = 0,
    UDR_STATE_ESTABLISHING = 1,
    UDR_STATE_ESTABLISHED = 2,
    UDR_STATE_TERMINATING = 3,     /* Terminate sent, waiting for the server's */
    UDR_STATE_TERMINATED = 4,
    UDR_STATE_FAILED = 5           /* login refused or no answer: see udr_client_error() */
} udr_client_state;

typedef struct udr_client_config {
    const char *host;               /* numeric IPv4/IPv6 address or name (resolved once at open) */
    uint16_t port;
    const char *key_id;
    const char *secret;             /* copied; never sent */
    uint8_t session_id[16];         /* used when has_session_id, else random (RFC 4122 v4) */
    int has_session_id;
    uint32_t keepalive_ms;          /* KeepaliveInterval asked in Establish; default 1000 */
    uint64_t request_timeout_ns;    /* Negotiate/Establish/Terminate resend; default 500 ms */
    int request_tries;              /* tries per login request before failing; default 6 */
    uint64_t resend_timeout_ns;     /* unanswered datagram resend; default 500 ms */
    int max_resends;                /* then 4 keepalive intervals more for answers (retransmitted
                                       reports), then it is given up (UDR_EVENT_GIVEN_UP); default 5 */
    int resend_not_applied;         /* 1: resend NotApplied messages under new numbers; default 1 */
    int authenticate_datagrams;     /* 1: end every datagram with MessageAuthentication; default 1 */
    uint64_t next_seq_no;           /* first client sequence number; default 1 */
    uint64_t first_cl_ord_id;       /* ClOrdIDs are assigned from here up; default 0 = time-based */
    uint64_t reconnect_ns;          /* how long to try re-establishing after server loss; default 30 s */
} udr_client_config;

typedef struct udr_order {
    int32_t security_id;
    uint8_t side;                   /* UDR_SBE_SIDE_BUY / _SELL */
    uint8_t ord_type;               /* UDR_SBE_ORD_TYPE_LIMIT (default when 0) / _MARKET */
    uint8_t time_in_force;          /* UDR_SBE_TIME_IN_FORCE_* */
    int64_t price;                  /* mantissa, exponent -9 (100.00 = 100000000000) */
    uint32_t qty;
    uint64_t cl_ord_id;             /* 0: assigned by the client */
} udr_order;

typedef enum udr_event_type {
    UDR_EVENT_ESTABLISHED = 1,      /* EstablishmentAck (again after a re-establishment) */
    UDR_EVENT_REPORT = 2,           /* an application message from the server, in order */
    UDR_EVENT_RESENT = 3,           /* NotApplied: old_cl_ord_id is resent as cl_ord_id */
    UDR_EVENT_GIVEN_UP = 4,         /* no answer after max_resends and a grace of 4 keepalive
                                       intervals, or NotApplied with resending off: the client stops
                                       waiting for cl_ord_id (a later report is still delivered) */
    UDR_EVENT_REJECTED = 5,         /* NegotiationReject / EstablishmentReject: state FAILED */
    UDR_EVENT_TERMINATED = 6,       /* the server's Terminate (Finished) or our Terminate answered */
    UDR_EVENT_RETRANSMIT_REJECTED = 7, /* reports from seq_no (count) are lost for good */
    UDR_EVENT_FAILED = 8,           /* no answer to the login: state FAILED */
    UDR_EVENT_COPY = 9              /* a drop-copy session's copy: the report (template_id, msg, seq_no)
                                       and copy, the session and account it was sent to */
} udr_event_type;

typedef struct udr_event {
    udr_event_type type;
    uint16_t schema_id;             /* REPORT: UDR_SBE_UDPROUTER_SCHEMA_ID, or UDR_SBE_FIXP_SCHEMA_ID (NotApplied) */
    uint16_t template_id;           /* REPORT: which member of msg (UDR_SBE_*_TEMPLATE_ID) */
    uint64_t seq_no;                /* REPORT: server sequence number; RETRANSMIT_REJECTED: first lost */
    uint32_t count;                 /* RETRANSMIT_REJECTED: how many */
    uint64_t cl_ord_id;             /* RESENT: new ClOrdID; GIVEN_UP: the ClOrdID */
    uint64_t old_cl_ord_id;         /* RESENT */
    uint8_t code;                   /* REJECTED / TERMINATED: the reject or termination code */
    const char *reason;             /* REJECTED / TERMINATED / FAILED: NUL-terminated, valid during the callback */
    union {
        udr_sbe_execution_report_new execution_report_new;
        udr_sbe_execution_report_trade execution_report_trade;
        udr_sbe_execution_report_cancel execution_report_cancel;
        udr_sbe_execution_report_replace execution_report_replace;
        udr_sbe_execution_report_reject execution_report_reject;
        udr_sbe_order_cancel_reject order_cancel_reject;
        udr_sbe_business_message_reject business_message_reject;
        udr_sbe_not_applied not_applied;
        uint8_t bytes[128];
    } msg;                          /* REPORT, COPY: the block (unknown templates: raw bytes, truncated) */
    udr_sbe_drop_copy copy;         /* COPY: session_number (the router's number of the session the
                                       report went to: ExecID >> 40) and account */
} udr_event;

typedef void (*udr_event_handler)(void *clientd, const udr_event *event);

typedef struct udr_client_stats {
    uint64_t datagrams_sent, datagrams_received, messages_sent, reports_received;
    uint64_t resends;               /* datagrams resent after resend_timeout */
    uint64_t not_applied;           /* client sequence numbers the server declared NotApplied */
    uint64_t not_applied_resent;    /* messages resent under new numbers */
    uint64_t retransmit_requests, duplicates_dropped, reestablishments, send_errors, bad_datagrams;
    uint64_t copies_received;       /* UDR_EVENT_COPY delivered (not counted in reports_received) */
} udr_client_stats;

typedef struct udr_client udr_client;

void udr_client_config_init(udr_client_config *config);

/*
 * Opens the socket and sends Negotiate. On failure *client is NULL, the result says what kind and
 * error (error_cap bytes, may be 0) says which key or call failed.
 */
udr_result udr_client_open(udr_client **client, const udr_client_config *config, uint64_t now_ns, char *error,
                           size_t error_cap);

/* Closes the socket and frees everything (no Terminate: call udr_client_terminate first). */
void udr_client_close(udr_client *client);

/* The socket: wait for it to be readable, or for udr_client_timeout_ns, then call udr_client_poll. */
int udr_client_fd(const udr_client *client);

/*
 * One step: receives what is waiting (bounded), delivers events to handler, runs the timers that
 * are due (login and datagram resends, retransmit requests, heartbeats, silence) and flushes the
 * batch. Returns the number of events delivered, or a negative udr_result.
 */
int udr_client_poll(udr_client *client, uint64_t now_ns, udr_event_handler handler, void *clientd);

/* Nanoseconds from now until the next timer is due (0 if one is due already). */
uint64_t udr_client_timeout_ns(const udr_client *client, uint64_t now_ns);

/*
 * Adds a NewOrderSingle to the batch (sent when full, on flush or at the end of poll). Writes its
 * ClOrdID to *cl_ord_id. UDR_BACK_PRESSURED: the window is full and nothing was added.
 */
udr_result udr_client_new_order(udr_client *client, const udr_order *order, uint64_t now_ns, uint64_t *cl_ord_id);
udr_result udr_client_cancel(udr_client *client, uint64_t orig_cl_ord_id, int32_t security_id, uint8_t side,
                             uint64_t now_ns, uint64_t *cl_ord_id);
udr_result udr_client_replace(udr_client *client, uint64_t orig_cl_ord_id, int32_t security_id, uint8_t side,
                              int64_t price, uint32_t qty, uint64_t now_ns, uint64_t *cl_ord_id);

/* Sends the batch now (if any). */
udr_result udr_client_flush(udr_client *client, uint64_t now_ns);

/* Sends Terminate(Finished); the server's Terminate arrives as UDR_EVENT_TERMINATED. */
udr_result udr_client_terminate(udr_client *client, uint64_t now_ns);

udr_client_state udr_client_get_state(const udr_client *client);
const uint8_t *udr_client_session_id(const udr_client *client);
/* Application messages sent and not yet answered (a report, a reject or NotApplied). */
size_t udr_client_unanswered(const udr_client *client);
/* The next server sequence number the client will deliver. */
uint64_t udr_client_next_report_seq(const udr_client *client);
void udr_client_get_stats(const udr_client *client, udr_client_stats *stats);
/* The last error or failure reason, or "" if none. */
const char *udr_client_error(const udr_client *client);

/* CLOCK_MONOTONIC in nanoseconds: a `now` for the calls above. */
uint64_t udr_now_ns(void);

#ifdef __cplusplus
}
#endif

#endif /* UDPROUTER_CLIENT_UDR_CLIENT_H */
