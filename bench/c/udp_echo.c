/*
 * udp_echo.c - the in-run ceiling for the UDP benchmarks: a C UDP server that does no work but
 * answers the way the router would, so the load generator measures it with the same traffic and
 * the same matching.
 *
 * For every datagram it receives it sends one datagram back to the sender: a FIXP Sequence frame
 * followed by one ExecutionReportNew-sized frame per udprouter application frame in the request,
 * carrying the request's ClOrdID (the first field of NewOrderSingle, OrderCancelRequest and
 * OrderCancelReplaceRequest). Datagrams without application frames get no answer.
 *
 * Usage: udp_echo [--port N] [--spin] [--max-seconds S]
 *   --port 0 (the default) binds an ephemeral port on 127.0.0.1; the bound port is printed as
 *   "PORT <n>" on stdout. --spin busy-polls instead of blocking in recvmmsg. Exits 0 on SIGTERM or
 *   SIGINT, or after --max-seconds (default 600) so a forgotten server cannot run for ever.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define ECHO_BATCH 64
#define ECHO_BUF 2048
#define SOFH_SIZE 6
#define HEADER_SIZE 8
#define SEQUENCE_BLOCK 8
#define REPORT_BLOCK 49 /* ExecutionReportNew block length */
#define SCHEMA_ORDERS 101
#define SCHEMA_FIXP 2748

static volatile sig_atomic_t echo_stop = 0;

static void echo_on_signal(int sig) { (void)sig; echo_stop = 1; }

static void put_be32(uint8_t *p, uint32_t v) { p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v; }
static void put_le16(uint8_t *p, uint16_t v) { p[0] = v; p[1] = v >> 8; }
static void put_le64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = v >> (8 * i); }
static uint32_t get_be32(const uint8_t *p) { return ((uint32_t)p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3]; }
static uint16_t get_le16(const uint8_t *p) { return p[0] | (p[1] << 8); }

/* Writes SOFH + SBE header for a block of block_len bytes; returns the frame's block pointer. */
static uint8_t *echo_frame(uint8_t *out, uint16_t block_len, uint16_t template_id, uint16_t schema)
{
    put_be32(out, SOFH_SIZE + HEADER_SIZE + block_len);
    out[4] = 0xEB;
    out[5] = 0x50;
    put_le16(out + 6, block_len);
    put_le16(out + 8, template_id);
    put_le16(out + 10, schema);
    put_le16(out + 12, 0);
    memset(out + 14, 0, block_len);
    return out + 14;
}

/* Builds the answer to one request; returns its length (0 = no answer). */
static size_t echo_answer(const uint8_t *in, size_t len, uint8_t *out, uint64_t *next_seq)
{
    size_t off = 0, o = SOFH_SIZE + HEADER_SIZE + SEQUENCE_BLOCK;
    uint32_t reports = 0;
    while (off + SOFH_SIZE + HEADER_SIZE <= len && o + SOFH_SIZE + HEADER_SIZE + REPORT_BLOCK <= ECHO_BUF) {
        uint32_t flen = get_be32(in + off);
        if (flen < SOFH_SIZE + HEADER_SIZE || flen > len - off)
            break;
        uint16_t template_id = get_le16(in + off + 8);
        if (get_le16(in + off + 10) == SCHEMA_ORDERS && template_id >= 101 && template_id <= 103 &&
            flen >= SOFH_SIZE + HEADER_SIZE + 8) {
            uint8_t *block = echo_frame(out + o, REPORT_BLOCK, 201, SCHEMA_ORDERS);
            memcpy(block, in + off + SOFH_SIZE + HEADER_SIZE, 8); /* ClOrdID */
            o += SOFH_SIZE + HEADER_SIZE + REPORT_BLOCK;
            reports++;
        }
        off += flen;
    }
    if (reports == 0)
        return 0;
    put_le64(echo_frame(out, SEQUENCE_BLOCK, 8, SCHEMA_FIXP), *next_seq);
    *next_seq += reports;
    return o;
}

static int echo_bind(int port)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    int size = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    struct timeval wake = {1, 0}; /* a blocked receive wakes up to look at the deadline */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wake, sizeof wake);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0)
        return -1;
    socklen_t alen = sizeof addr;
    getsockname(fd, (struct sockaddr *)&addr, &alen);
    printf("PORT %d\n", ntohs(addr.sin_port));
    fflush(stdout);
    return fd;
}

static void echo_serve(int fd, int spin, time_t deadline)
{
    static uint8_t in[ECHO_BATCH][ECHO_BUF], out[ECHO_BATCH][ECHO_BUF];
    struct mmsghdr rmsg[ECHO_BATCH], smsg[ECHO_BATCH];
    struct iovec riov[ECHO_BATCH], siov[ECHO_BATCH];
    struct sockaddr_in from[ECHO_BATCH];
    uint64_t next_seq = 1;
    while (!echo_stop && time(NULL) < deadline) {
        for (int i = 0; i < ECHO_BATCH; i++) {
            riov[i] = (struct iovec){in[i], ECHO_BUF};
            rmsg[i].msg_hdr = (struct msghdr){.msg_name = &from[i], .msg_namelen = sizeof from[i],
                                              .msg_iov = &riov[i], .msg_iovlen = 1};
        }
        int n = recvmmsg(fd, rmsg, ECHO_BATCH, spin ? MSG_DONTWAIT : MSG_WAITFORONE, NULL);
        if (n <= 0)
            continue;
        int k = 0;
        for (int i = 0; i < n; i++) {
            size_t alen = echo_answer(in[i], rmsg[i].msg_len, out[k], &next_seq);
            if (alen == 0)
                continue;
            siov[k] = (struct iovec){out[k], alen};
            smsg[k].msg_hdr = (struct msghdr){.msg_name = &from[i], .msg_namelen = rmsg[i].msg_hdr.msg_namelen,
                                              .msg_iov = &siov[k], .msg_iovlen = 1};
            k++;
        }
        for (int sent = 0; sent < k;) {
            int m = sendmmsg(fd, smsg + sent, k - sent, 0);
            if (m <= 0)
                break;
            sent += m;
        }
    }
}

int main(int argc, char **argv)
{
    int port = 0, spin = 0, max_seconds = 600;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc)
            port = atoi(argv[++i]);
        else if (strcmp(argv[i], "--spin") == 0)
            spin = 1;
        else if (strcmp(argv[i], "--max-seconds") == 0 && i + 1 < argc)
            max_seconds = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: udp_echo [--port N] [--spin] [--max-seconds S]\n");
            return 2;
        }
    }
    struct sigaction sa = {.sa_handler = echo_on_signal}; /* no SA_RESTART: a blocked recvmmsg returns */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    int fd = echo_bind(port);
    if (fd < 0) {
        perror("udp_echo: bind");
        return 1;
    }
    echo_serve(fd, spin, time(NULL) + max_seconds);
    close(fd);
    return 0;
}
