/*
 * udr_drive: a scripted C client for the system tests. Logs in, sends --orders orders (batched by
 * the library, 20 per datagram), waits until every one is answered and --expect-reports reports
 * arrived; then, with --linger-ms, stays idle (heartbeats only) that long and sends --more-orders
 * (retrying while the session is being established again); waits for their answers, terminates. Prints one JSON line per event and a last line {"event": "stats", ...}.
 * Exit 0 when all of that happened before --timeout-s, else 1.
 *
 *     udr_drive --port P [--host H] [--key K --secret S] [--auth 0|1] [--orders N] [--side buy|sell]
 *               [--security N] [--price MANTISSA] [--qty N] [--expect-reports N] [--timeout-s S]
 *               [--keepalive-ms N] [--resend-timeout-ms N] [--linger-ms N --more-orders N] [--quiet]
 *               [--then cancel|replace]
 * --then: once the first orders are answered, cancel each of them (or replace it: same price, qty + 1;
 * the first 1,024 only) and wait for those answers too.
 * --quiet prints no report lines (for benchmarks); the stats line has orders_elapsed_ns, the time
 * from the first order queued to the last first answer of the first --orders.
 */
#define _POSIX_C_SOURCE 200809L
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "udprouter/client/udr_client.h"
#include "udprouter/client/udr_sbe_print.h"

typedef struct drive {
    int established, ended, quiet;
    uint64_t reports;
} drive;

static void on_event(void *clientd, const udr_event *e) {
    drive *d = clientd;
    switch (e->type) {
    case UDR_EVENT_ESTABLISHED:
        d->established = 1;
        printf("{\"event\": \"established\"}\n");
        break;
    case UDR_EVENT_REPORT:
        d->reports++;
        if (d->quiet) {
            break;
        }
        printf("{\"event\": \"report\", \"seq\": %" PRIu64 ", \"msg\": ", e->seq_no);
        udr_sbe_print_block(stdout, e->schema_id, e->template_id, e->msg.bytes);
        printf("}\n");
        break;
    case UDR_EVENT_COPY: /* a drop-copy key's session */
        printf("{\"event\": \"copy\", \"seq\": %" PRIu64 ", \"session_number\": %" PRIu32 ", \"account\": %" PRIu32
               ", \"msg\": ", e->seq_no, e->copy.session_number, e->copy.account);
        udr_sbe_print_block(stdout, e->schema_id, e->template_id, e->msg.bytes);
        printf("}\n");
        break;
    case UDR_EVENT_RESENT:
        printf("{\"event\": \"resent\", \"old\": %" PRIu64 ", \"new\": %" PRIu64 "}\n", e->old_cl_ord_id,
               e->cl_ord_id);
        break;
    case UDR_EVENT_GIVEN_UP:
        printf("{\"event\": \"given_up\", \"cl_ord_id\": %" PRIu64 "}\n", e->cl_ord_id);
        break;
    case UDR_EVENT_RETRANSMIT_REJECTED:
        printf("{\"event\": \"retransmit_rejected\", \"from\": %" PRIu64 ", \"count\": %u}\n", e->seq_no, e->count);
        break;
    default:
        printf("{\"event\": \"%s\", \"code\": %u, \"reason\": \"%s\"}\n",
               e->type == UDR_EVENT_TERMINATED ? "terminated" : e->type == UDR_EVENT_REJECTED ? "rejected" : "failed",
               e->code, e->reason);
        d->ended = 1;
        break;
    }
}

static void print_stats(const udr_client *client, uint64_t orders_sent, uint64_t orders_elapsed_ns) {
    udr_client_stats s;
    udr_client_get_stats(client, &s);
    printf("{\"event\": \"stats\", \"orders_sent\": %" PRIu64 ", \"unanswered\": %zu, \"datagrams_sent\": %" PRIu64
           ", \"datagrams_received\": %" PRIu64 ", \"messages_sent\": %" PRIu64 ", \"reports_received\": %" PRIu64
           ", \"resends\": %" PRIu64 ", \"not_applied\": %" PRIu64 ", \"not_applied_resent\": %" PRIu64
           ", \"retransmit_requests\": %" PRIu64 ", \"duplicates_dropped\": %" PRIu64 ", \"reestablishments\": %" PRIu64
           ", \"send_errors\": %" PRIu64 ", \"orders_elapsed_ns\": %" PRIu64 ", \"state\": %d, \"error\": \"%s\"}\n",
           orders_sent, udr_client_unanswered(client), s.datagrams_sent, s.datagrams_received, s.messages_sent,
           s.reports_received, s.resends, s.not_applied, s.not_applied_resent, s.retransmit_requests,
           s.duplicates_dropped, s.reestablishments, s.send_errors, orders_elapsed_ns, (int)udr_client_get_state(client),
           udr_client_error(client));
}

int main(int argc, char **argv) {
    udr_client_config config;
    udr_client_config_init(&config);
    config.key_id = "demo";
    config.secret = "demo-secret";
    udr_order order = {.security_id = 1, .side = UDR_SBE_SIDE_BUY, .price = 100000000000, .qty = 10};
    uint64_t orders = 1, expect_reports = 0, more_orders = 0, linger_ms = 0, first_sent_ns = 0, elapsed_ns = 0;
    int quiet = 0, then = 0, then_done = 0;
    static uint64_t ids[1024];
    size_t nids = 0;
    double timeout_s = 30;
    static struct option options[] = {
        {"host", required_argument, 0, 'h'}, {"port", required_argument, 0, 'p'},
        {"key", required_argument, 0, 'k'}, {"secret", required_argument, 0, 's'},
        {"auth", required_argument, 0, 'a'}, {"orders", required_argument, 0, 'n'},
        {"side", required_argument, 0, 'S'}, {"security", required_argument, 0, 'i'},
        {"price", required_argument, 0, 'P'}, {"qty", required_argument, 0, 'q'},
        {"expect-reports", required_argument, 0, 'r'}, {"timeout-s", required_argument, 0, 't'},
        {"keepalive-ms", required_argument, 0, 'K'}, {"resend-timeout-ms", required_argument, 0, 'R'},
        {"linger-ms", required_argument, 0, 'G'}, {"more-orders", required_argument, 0, 'm'},
        {"quiet", no_argument, 0, 'Q'}, {"then", required_argument, 0, 'T'},
        {0, 0, 0, 0}};
    int opt;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (opt) {
        case 'h': config.host = optarg; break;
        case 'p': config.port = (uint16_t)atoi(optarg); break;
        case 'k': config.key_id = optarg; break;
        case 's': config.secret = optarg; break;
        case 'a': config.authenticate_datagrams = atoi(optarg); break;
        case 'n': orders = strtoull(optarg, NULL, 10); break;
        case 'S': order.side = strcmp(optarg, "sell") == 0 ? UDR_SBE_SIDE_SELL : UDR_SBE_SIDE_BUY; break;
        case 'i': order.security_id = atoi(optarg); break;
        case 'P': order.price = strtoll(optarg, NULL, 10); break;
        case 'q': order.qty = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'r': expect_reports = strtoull(optarg, NULL, 10); break;
        case 't': timeout_s = atof(optarg); break;
        case 'K': config.keepalive_ms = (uint32_t)atoi(optarg); break;
        case 'R': config.resend_timeout_ns = strtoull(optarg, NULL, 10) * 1000000ull; break;
        case 'G': linger_ms = strtoull(optarg, NULL, 10); break;
        case 'm': more_orders = strtoull(optarg, NULL, 10); break;
        case 'Q': quiet = 1; break;
        case 'T': then = strcmp(optarg, "cancel") == 0 ? 'c' : strcmp(optarg, "replace") == 0 ? 'r' : '?'; break;
        default: return 2;
        }
    }
    if (then == '?') {
        fprintf(stderr, "udr_drive: --then takes cancel or replace\n");
        return 2;
    }
    udr_client *client;
    char error[256];
    if (udr_client_open(&client, &config, udr_now_ns(), error, sizeof error) != UDR_OK) {
        fprintf(stderr, "udr_drive: %s\n", error);
        return 2;
    }
    drive d = {.quiet = quiet};
    uint64_t sent = 0, deadline = udr_now_ns() + (uint64_t)(timeout_s * 1e9), linger_until = 0;
    uint64_t total = orders;
    int terminating = 0;
    while (!d.ended && udr_now_ns() < deadline) {
        struct pollfd pfd = {.fd = udr_client_fd(client), .events = POLLIN};
        poll(&pfd, 1, (int)(udr_client_timeout_ns(client, udr_now_ns()) / 1000000) + 1);
        udr_client_poll(client, udr_now_ns(), on_event, &d);
        while (d.established && sent < total && udr_now_ns() >= linger_until &&
               udr_client_new_order(client, &order, udr_now_ns(), &ids[nids < 1024 ? nids : 1023]) == UDR_OK) {
            first_sent_ns = first_sent_ns ? first_sent_ns : udr_now_ns();
            nids += nids < 1024;
            sent++;
        }
        int all_answered = sent == total && udr_client_unanswered(client) == 0 && d.reports >= expect_reports;
        if (all_answered && elapsed_ns == 0) {
            elapsed_ns = udr_now_ns() - first_sent_ns;
        }
        if (all_answered && then && !then_done) {
            for (size_t i = 0; i < nids; i++) {
                if (then == 'c') {
                    udr_client_cancel(client, ids[i], order.security_id, order.side, udr_now_ns(), NULL);
                } else {
                    udr_client_replace(client, ids[i], order.security_id, order.side, order.price, order.qty + 1,
                                       udr_now_ns(), NULL);
                }
            }
            udr_client_flush(client, udr_now_ns());
            then_done = 1;
            continue;
        }
        if (all_answered && more_orders > 0 && total == orders) {
            printf("{\"event\": \"lingering\"}\n");
            fflush(stdout);
            linger_until = udr_now_ns() + linger_ms * 1000000ull; /* idle: heartbeats only */
            total += more_orders;
            continue;
        }
        if (all_answered && d.established && !terminating && udr_now_ns() >= linger_until &&
            udr_client_get_state(client) == UDR_STATE_ESTABLISHED) {
            udr_client_terminate(client, udr_now_ns());
            terminating = 1;
        }
    }
    int ok = terminating && udr_client_get_state(client) == UDR_STATE_TERMINATED;
    print_stats(client, sent, elapsed_ns);
    udr_client_close(client);
    return ok ? 0 : 1;
}
