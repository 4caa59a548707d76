/*
 * udr_drop_copy: a drop-copy consumer. Logs in with a drop-copy key and prints every copied
 * execution report as one line of JSON, with the session and account it was sent to, until
 * COUNT copies arrived (0: until SIGINT or SIGTERM); then terminates the session.
 *
 *     udr_drop_copy HOST PORT KEY_ID SECRET [COUNT]
 *
 * Each line: {"seq": N, "session_number": S, "account": A, "report": {<the report, golden-vector
 * form>}}. Copies arrive in the drop-copy session's own sequence order, each once: the library asks
 * for lost datagrams again and establishes the session again after a router restart. Prints
 * "established" when logged in (again) and a last line with the library's counters.
 */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "udprouter/client/udr_client.h"
#include "udprouter/client/udr_sbe_print.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int signo) {
    (void)signo;
    stop_requested = 1;
}

typedef struct consumer {
    uint64_t copies;
    int ended;
} consumer;

static void on_event(void *clientd, const udr_event *event) {
    consumer *c = clientd;
    switch (event->type) {
    case UDR_EVENT_ESTABLISHED:
        printf("established\n");
        break;
    case UDR_EVENT_COPY:
        c->copies++;
        printf("{\"seq\": %" PRIu64 ", \"session_number\": %" PRIu32 ", \"account\": %" PRIu32 ", \"report\": ",
               event->seq_no, event->copy.session_number, event->copy.account);
        udr_sbe_print_block(stdout, event->schema_id, event->template_id, event->msg.bytes);
        printf("}\n");
        break;
    case UDR_EVENT_RETRANSMIT_REJECTED: /* older than the router keeps: read them from the event stream */
        fprintf(stderr, "udr_drop_copy: copies %" PRIu64 "..%" PRIu64 " are lost\n", event->seq_no,
                event->seq_no + event->count - 1);
        break;
    case UDR_EVENT_TERMINATED:
    case UDR_EVENT_REJECTED:
    case UDR_EVENT_FAILED:
        fprintf(stderr, "udr_drop_copy: session ended: %s\n", event->reason);
        c->ended = 1;
        break;
    default:
        break;
    }
    fflush(stdout);
}

int main(int argc, char **argv) {
    if (argc != 5 && argc != 6) {
        fprintf(stderr, "usage: udr_drop_copy HOST PORT KEY_ID SECRET [COUNT]\n");
        return 2;
    }
    udr_client_config config;
    udr_client_config_init(&config);
    config.host = argv[1];
    config.port = (uint16_t)atoi(argv[2]);
    config.key_id = argv[3];
    config.secret = argv[4];
    uint64_t count = argc == 6 ? strtoull(argv[5], NULL, 10) : 0;
    struct sigaction action = {.sa_handler = on_signal};
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);
    udr_client *client;
    char error[256];
    if (udr_client_open(&client, &config, udr_now_ns(), error, sizeof error) != UDR_OK) {
        fprintf(stderr, "udr_drop_copy: %s\n", error);
        return 1;
    }
    consumer c = {0};
    uint64_t terminate_deadline = 0;
    while (!c.ended) {
        uint64_t now = udr_now_ns();
        if (!terminate_deadline && (stop_requested || (count && c.copies >= count))) {
            udr_client_terminate(client, now);
            terminate_deadline = now + 5000000000ull; /* the router's answer, or give up waiting */
        }
        if (terminate_deadline && now >= terminate_deadline) {
            break;
        }
        struct pollfd pfd = {.fd = udr_client_fd(client), .events = POLLIN};
        poll(&pfd, 1, (int)(udr_client_timeout_ns(client, now) / 1000000) + 1);
        udr_client_poll(client, udr_now_ns(), on_event, &c);
    }
    udr_client_stats s;
    udr_client_get_stats(client, &s);
    printf("{\"copies\": %" PRIu64 ", \"retransmit_requests\": %" PRIu64 ", \"reestablishments\": %" PRIu64
           ", \"duplicates_dropped\": %" PRIu64 "}\n", s.copies_received, s.retransmit_requests, s.reestablishments,
           s.duplicates_dropped);
    int ok = udr_client_get_state(client) == UDR_STATE_TERMINATED;
    udr_client_close(client);
    return ok ? 0 : 1;
}
