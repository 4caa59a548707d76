/* Batched UDP syscalls for the router: recvmmsg into a caller-owned arena, sendmmsg from one.
 *
 * Why: at ~10 us per datagram the router spent a large share in one recvfrom/sendto and one event
 * loop callback per datagram; one recvmmsg drains up to UDR_IO_MAX_BATCH datagrams per call.
 * Addresses are IPv4 only, packed as a key (host-order address << 16 | port) so Python maps them
 * to its (host, port) tuples through a dict instead of building a sockaddr per datagram.
 * Outcomes are returned values: a count, or -errno.
 */
#ifndef UDPROUTER_FAST_IO_H
#define UDPROUTER_FAST_IO_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* recvmmsg/sendmmsg (Python.h defines it first inside the cffi module) */
#endif

#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#define UDR_IO_MAX_BATCH 64
#define UDR_IO_SLOT_SIZE 65536 /* any UDP payload fits whole, so the decoder sees what recvfrom saw */

static inline uint64_t udr_io_key(const struct sockaddr_in *sa)
{
    return ((uint64_t)ntohl(sa->sin_addr.s_addr) << 16) | ntohs(sa->sin_port);
}

static inline void udr_io_sockaddr(struct sockaddr_in *sa, uint64_t key)
{
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_addr.s_addr = htonl((uint32_t)(key >> 16));
    sa->sin_port = htons((uint16_t)(key & 0xffff));
}

/* Up to max (<= UDR_IO_MAX_BATCH) datagrams into arena slots of UDR_IO_SLOT_SIZE bytes; lens and
 * keys get one entry each. Returns the count (0 when nothing waits) or -errno. */
static int udr_io_recv_batch(int fd, unsigned char *arena, uint32_t max, uint32_t *lens, uint64_t *keys)
{
    struct mmsghdr msgs[UDR_IO_MAX_BATCH];
    struct iovec iov[UDR_IO_MAX_BATCH];
    struct sockaddr_in names[UDR_IO_MAX_BATCH];
    if (max > UDR_IO_MAX_BATCH) max = UDR_IO_MAX_BATCH;
    for (uint32_t i = 0; i < max; i++) {
        iov[i].iov_base = arena + (size_t)i * UDR_IO_SLOT_SIZE;
        iov[i].iov_len = UDR_IO_SLOT_SIZE;
        memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
        msgs[i].msg_hdr.msg_name = &names[i];
        msgs[i].msg_hdr.msg_namelen = sizeof names[i];
    }
    int n = recvmmsg(fd, msgs, max, MSG_DONTWAIT, NULL);
    if (n < 0) return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -errno;
    for (int i = 0; i < n; i++) {
        lens[i] = msgs[i].msg_len;
        keys[i] = names[i].sin_family == AF_INET ? udr_io_key(&names[i]) : 0;
    }
    return n;
}

/* Sends count datagrams laid back to back in data (lengths in lens) to the addresses in keys.
 * A datagram the kernel refuses is skipped and counted in *errors, so one bad destination cannot
 * hold back the rest. Returns the number sent. */
static uint32_t udr_io_send_batch(int fd, const unsigned char *data, const uint32_t *lens,
                                  const uint64_t *keys, uint32_t count, uint32_t *errors)
{
    struct mmsghdr msgs[UDR_IO_MAX_BATCH];
    struct iovec iov[UDR_IO_MAX_BATCH];
    struct sockaddr_in names[UDR_IO_MAX_BATCH];
    uint32_t sent = 0, done = 0;
    size_t offset = 0;
    while (done < count) {
        uint32_t n = count - done < UDR_IO_MAX_BATCH ? count - done : UDR_IO_MAX_BATCH;
        size_t at = offset;
        for (uint32_t i = 0; i < n; i++) {
            iov[i].iov_base = (void *)(data + at);
            iov[i].iov_len = lens[done + i];
            at += lens[done + i];
            udr_io_sockaddr(&names[i], keys[done + i]);
            memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
            msgs[i].msg_hdr.msg_name = &names[i];
            msgs[i].msg_hdr.msg_namelen = sizeof names[i];
        }
        int r = sendmmsg(fd, msgs, n, MSG_DONTWAIT);
        if (r < 0) {
            if (errno == EINTR) continue;
            r = 0; /* the first one failed: skip it below */
        }
        for (int i = 0; i < r; i++) offset += lens[done + (uint32_t)i];
        sent += (uint32_t)r;
        done += (uint32_t)r;
        if ((uint32_t)r < n) { /* datagram done failed: count it and move past it */
            offset += lens[done];
            done++;
            (*errors)++;
        }
    }
    return sent;
}

#endif
