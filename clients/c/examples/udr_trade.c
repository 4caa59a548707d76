/*
 * udr_trade: log in, buy and sell on one instrument, print every report, log out.
 *
 *     udr_trade [HOST PORT KEY_ID SECRET]      (defaults: 127.0.0.1 9000 demo demo-secret)
 *
 * The two orders would cross each other at 100.00, but both are the same account's: self-match
 * prevention (on by default) cancels one instead, and the reports show that ExecutionReportCancel
 * (CancelReason SelfMatchPrevention). Against a second key's resting order they would trade. An
 * example of driving the client from your own poll() loop: wait on its fd for at most its timeout,
 * then poll it.
 */
#define _POSIX_C_SOURCE 200809L
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>

#include "udprouter/client/udr_client.h"
#include "udprouter/client/udr_sbe_print.h"

typedef struct app {
    int established, answered_all, done;
} app;

static void on_event(void *clientd, const udr_event *event) {
    app *a = clientd;
    switch (event->type) {
    case UDR_EVENT_ESTABLISHED:
        a->established = 1;
        printf("established\n");
        break;
    case UDR_EVENT_REPORT:
        printf("report %llu: ", (unsigned long long)event->seq_no);
        udr_sbe_print_block(stdout, event->schema_id, event->template_id, event->msg.bytes);
        printf("\n");
        break;
    case UDR_EVENT_RESENT:
        printf("resent ClOrdID %llu as %llu\n", (unsigned long long)event->old_cl_ord_id,
               (unsigned long long)event->cl_ord_id);
        break;
    case UDR_EVENT_TERMINATED:
    case UDR_EVENT_REJECTED:
    case UDR_EVENT_FAILED:
        printf("session ended: %s\n", event->reason);
        a->done = 1;
        break;
    default:
        break;
    }
}

int main(int argc, char **argv) {
    udr_client_config config;
    udr_client_config_init(&config);
    if (argc == 5) {
        config.host = argv[1];
        config.port = (uint16_t)atoi(argv[2]);
        config.key_id = argv[3];
        config.secret = argv[4];
    } else if (argc == 1) {
        config.key_id = "demo";
        config.secret = "demo-secret";
    } else {
        fprintf(stderr, "usage: udr_trade [HOST PORT KEY_ID SECRET]\n");
        return 2;
    }
    config.authenticate_datagrams = getenv("UDR_NO_DATAGRAM_AUTH") == NULL;
    udr_client *client;
    char error[256];
    if (udr_client_open(&client, &config, udr_now_ns(), error, sizeof error) != UDR_OK) {
        fprintf(stderr, "udr_trade: %s\n", error);
        return 1;
    }
    app a = {0};
    int sent = 0, terminating = 0;
    uint64_t deadline = udr_now_ns() + 10000000000ull;
    while (!a.done && udr_now_ns() < deadline) {
        struct pollfd pfd = {.fd = udr_client_fd(client), .events = POLLIN};
        uint64_t now = udr_now_ns();
        poll(&pfd, 1, (int)(udr_client_timeout_ns(client, now) / 1000000) + 1);
        udr_client_poll(client, udr_now_ns(), on_event, &a);
        if (a.established && !sent) {
            udr_order buy = {.security_id = 1, .side = UDR_SBE_SIDE_BUY, .price = 100000000000, .qty = 10};
            udr_order sell = {.security_id = 1, .side = UDR_SBE_SIDE_SELL, .price = 100000000000, .qty = 10};
            uint64_t id;
            udr_client_new_order(client, &buy, udr_now_ns(), &id);
            udr_client_new_order(client, &sell, udr_now_ns(), &id);
            udr_client_flush(client, udr_now_ns());
            sent = 1;
        } else if (sent && !terminating && udr_client_unanswered(client) == 0) {
            udr_client_terminate(client, udr_now_ns());
            terminating = 1;
        }
    }
    int ok = a.done && udr_client_get_state(client) == UDR_STATE_TERMINATED;
    udr_client_close(client);
    return ok ? 0 : 1;
}
