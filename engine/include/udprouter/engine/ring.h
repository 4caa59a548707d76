/*
 * ring.h - the operations on the shared-memory segment described by ring_abi.h, written once.
 *
 * Compiled into the engine (C++20), the benchmarks and the cffi module udprouter._ring_cffi (C11),
 * so the router and the engine run the same instructions on the same bytes. Everything is static
 * inline over __atomic builtins; nothing here allocates, locks or makes a system call except the
 * eventfd helpers of the wake protocol.
 *
 * Ordering: a producer copies records into free slots, then publishes them with a release store of
 * producer_position; a consumer reads producer_position with acquire, copies the records out, then
 * frees the slots with a release store of consumer_position. Each side caches the other side's
 * position and re-reads it only when the cache says the ring is full (producer) or empty (consumer).
 *
 * Wake protocol (idle costs no CPU): a consumer that found nothing for a while calls
 * udr_ring_consumer_prepare_sleep(): it sets consumer_sleeping = 1, issues a full fence and re-checks
 * the ring; only if the ring is still empty does it block on its eventfd. A producer, after
 * publishing, calls udr_ring_producer_should_wake(): a full fence, then it takes consumer_sleeping
 * back to 0 and, if it was 1, writes the consumer's eventfd. The two fences make it impossible for
 * both sides to miss each other (the classic store-load (Dekker) pattern).
 */
#ifndef UDPROUTER_ENGINE_RING_H
#define UDPROUTER_ENGINE_RING_H

#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "udprouter/engine/ring_abi.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Outcome of udr_segment_check(): each mismatch is a distinct value (stable numbers). */
#define UDR_SEGMENT_OK 0
#define UDR_SEGMENT_TOO_SMALL 1            /* mapping smaller than the fixed header + counters */
#define UDR_SEGMENT_BAD_MAGIC 2            /* not a udprouter segment, or not initialised yet */
#define UDR_SEGMENT_BAD_LAYOUT_VERSION 3   /* built from another ring_abi.h */
#define UDR_SEGMENT_BAD_RECORD_SIZE 4
#define UDR_SEGMENT_BAD_CAPACITY 5         /* a capacity is zero, not a power of two, or too large */
#define UDR_SEGMENT_SIZE_MISMATCH 6        /* mapping size differs from what the capacities imply */

#define UDR_RING_MAX_CAPACITY (1u << 24)
#define UDR_RING_COUNTERS_OFFSET UDR_SEGMENT_HEADER_SIZE
#define UDR_RING_RECORDS_OFFSET (UDR_SEGMENT_HEADER_SIZE + 2 * sizeof(udr_ring_counters))

/* One direction of the segment, as seen by one process. The cached positions are private to that
 * process: the producer uses cached_consumer, the consumer cached_producer, so one view may serve
 * both sides in a single-process test. */
typedef struct udr_ring {
    udr_ring_counters *counters;
    unsigned char *slots;
    uint64_t capacity;
    uint64_t cached_consumer;
    uint64_t cached_producer;
} udr_ring;

typedef struct udr_segment {
    void *base;
    size_t size;
    udr_segment_header *header;
    udr_ring inbound;   /* udr_command records, router -> engine */
    udr_ring outbound;  /* udr_event records, engine -> router */
} udr_segment;

static inline int udr_ring_is_valid_capacity(uint64_t capacity)
{
    return capacity != 0 && capacity <= UDR_RING_MAX_CAPACITY && (capacity & (capacity - 1)) == 0;
}

static inline size_t udr_segment_size(uint32_t inbound_capacity, uint32_t outbound_capacity)
{
    return UDR_RING_RECORDS_OFFSET + ((size_t)inbound_capacity + outbound_capacity) * UDR_RECORD_SIZE;
}

static inline const char *udr_segment_check_message(int code)
{
    switch (code) {
    case UDR_SEGMENT_OK: return "ok";
    case UDR_SEGMENT_TOO_SMALL: return "segment is smaller than the ring header";
    case UDR_SEGMENT_BAD_MAGIC: return "segment magic is not UDPRRING (not a udprouter ring, or not initialised)";
    case UDR_SEGMENT_BAD_LAYOUT_VERSION: return "segment layout version differs from this build's ring_abi.h";
    case UDR_SEGMENT_BAD_RECORD_SIZE: return "segment record size differs from this build's 64-byte records";
    case UDR_SEGMENT_BAD_CAPACITY: return "segment ring capacity is zero, not a power of two or too large";
    case UDR_SEGMENT_SIZE_MISMATCH: return "segment size differs from the size its capacities imply";
    default: return "unknown segment check code";
    }
}

/* Validates a mapped segment before anything else reads it. */
static inline int udr_segment_check(const void *base, size_t mapped_size)
{
    const udr_segment_header *h = (const udr_segment_header *)base;
    if (mapped_size < UDR_RING_RECORDS_OFFSET) return UDR_SEGMENT_TOO_SMALL;
    if (__atomic_load_n(&h->magic, __ATOMIC_ACQUIRE) != UDR_SEGMENT_MAGIC) return UDR_SEGMENT_BAD_MAGIC;
    if (h->layout_version != UDR_LAYOUT_VERSION) return UDR_SEGMENT_BAD_LAYOUT_VERSION;
    if (h->record_size != UDR_RECORD_SIZE) return UDR_SEGMENT_BAD_RECORD_SIZE;
    if (!udr_ring_is_valid_capacity(h->inbound_capacity) || !udr_ring_is_valid_capacity(h->outbound_capacity))
        return UDR_SEGMENT_BAD_CAPACITY;
    if (udr_segment_size(h->inbound_capacity, h->outbound_capacity) != mapped_size) return UDR_SEGMENT_SIZE_MISMATCH;
    return UDR_SEGMENT_OK;
}

/* Fills the process-local view of a checked segment. */
static inline void udr_segment_view(udr_segment *seg, void *base, size_t size)
{
    unsigned char *b = (unsigned char *)base;
    udr_segment_header *h = (udr_segment_header *)base;
    memset(seg, 0, sizeof(*seg));
    seg->base = base;
    seg->size = size;
    seg->header = h;
    seg->inbound.counters = (udr_ring_counters *)(b + UDR_RING_COUNTERS_OFFSET);
    seg->inbound.slots = b + UDR_RING_RECORDS_OFFSET;
    seg->inbound.capacity = h->inbound_capacity;
    seg->outbound.counters = seg->inbound.counters + 1;
    seg->outbound.slots = seg->inbound.slots + (size_t)h->inbound_capacity * UDR_RECORD_SIZE;
    seg->outbound.capacity = h->outbound_capacity;
    seg->inbound.cached_consumer = __atomic_load_n(&seg->inbound.counters->consumer_position, __ATOMIC_ACQUIRE);
    seg->inbound.cached_producer = __atomic_load_n(&seg->inbound.counters->producer_position, __ATOMIC_ACQUIRE);
    seg->outbound.cached_consumer = __atomic_load_n(&seg->outbound.counters->consumer_position, __ATOMIC_ACQUIRE);
    seg->outbound.cached_producer = __atomic_load_n(&seg->outbound.counters->producer_position, __ATOMIC_ACQUIRE);
}

/* Initialises a zero-filled or reused mapping of udr_segment_size() bytes. The magic is stored
 * last, with release, so an attacher that sees the magic sees a complete header. */
static inline int udr_segment_init(void *base, size_t size, uint32_t inbound_capacity, uint32_t outbound_capacity)
{
    udr_segment_header *h = (udr_segment_header *)base;
    if (!udr_ring_is_valid_capacity(inbound_capacity) || !udr_ring_is_valid_capacity(outbound_capacity))
        return UDR_SEGMENT_BAD_CAPACITY;
    if (size != udr_segment_size(inbound_capacity, outbound_capacity)) return UDR_SEGMENT_SIZE_MISMATCH;
    memset(base, 0, UDR_RING_RECORDS_OFFSET);
    h->layout_version = UDR_LAYOUT_VERSION;
    h->record_size = UDR_RECORD_SIZE;
    h->inbound_capacity = inbound_capacity;
    h->outbound_capacity = outbound_capacity;
    h->engine_state = UDR_ENGINE_ABSENT;
    h->router_logged_through = UINT64_MAX; /* no router log known: the engine keeps its ring-window retention */
    __atomic_store_n(&h->magic, (uint64_t)UDR_SEGMENT_MAGIC, __ATOMIC_RELEASE);
    return UDR_SEGMENT_OK;
}

/* Records currently in the ring (either side may ask; a snapshot, stale by the time it returns). */
static inline uint64_t udr_ring_occupancy(const udr_ring *ring)
{
    uint64_t consumer = __atomic_load_n(&ring->counters->consumer_position, __ATOMIC_ACQUIRE);
    uint64_t producer = __atomic_load_n(&ring->counters->producer_position, __ATOMIC_ACQUIRE);
    return producer - consumer;
}

/* Copies `count` records between a linear buffer and the ring's slots starting at `position`,
 * splitting the copy where the ring wraps. */
static inline void udr_ring_copy_in(udr_ring *ring, uint64_t position, const void *records, uint32_t count)
{
    uint64_t slot = position & (ring->capacity - 1);
    uint64_t first = ring->capacity - slot < count ? ring->capacity - slot : count;
    memcpy(ring->slots + slot * UDR_RECORD_SIZE, records, first * UDR_RECORD_SIZE);
    memcpy(ring->slots, (const unsigned char *)records + first * UDR_RECORD_SIZE, (count - first) * UDR_RECORD_SIZE);
}

static inline void udr_ring_copy_out(const udr_ring *ring, uint64_t position, void *records, uint32_t count)
{
    uint64_t slot = position & (ring->capacity - 1);
    uint64_t first = ring->capacity - slot < count ? ring->capacity - slot : count;
    memcpy(records, ring->slots + slot * UDR_RECORD_SIZE, first * UDR_RECORD_SIZE);
    memcpy((unsigned char *)records + first * UDR_RECORD_SIZE, ring->slots, (count - first) * UDR_RECORD_SIZE);
}

/* Producer: publishes up to `count` records; returns how many were accepted. A full (or partly
 * full) ring is not an error: the shortfall is the caller's back pressure, and full_events counts
 * the offers that could not place everything. */
static inline uint32_t udr_ring_offer(udr_ring *ring, const void *records, uint32_t count)
{
    udr_ring_counters *c = ring->counters;
    uint64_t producer = __atomic_load_n(&c->producer_position, __ATOMIC_RELAXED);
    uint64_t free_slots = ring->capacity - (producer - ring->cached_consumer);
    uint32_t accepted;
    if (free_slots < count) {
        ring->cached_consumer = __atomic_load_n(&c->consumer_position, __ATOMIC_ACQUIRE);
        free_slots = ring->capacity - (producer - ring->cached_consumer);
    }
    accepted = free_slots < count ? (uint32_t)free_slots : count;
    if (accepted < count)
        __atomic_store_n(&c->full_events, __atomic_load_n(&c->full_events, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
    if (accepted == 0) return 0;
    udr_ring_copy_in(ring, producer, records, accepted);
    __atomic_store_n(&c->producer_position, producer + accepted, __ATOMIC_RELEASE);
    return accepted;
}

/* Consumer: how many records are ready, refreshing the cached producer position only when the
 * cache shows fewer than `wanted`. */
static inline uint64_t udr_ring_available(udr_ring *ring, uint32_t wanted)
{
    uint64_t consumer = __atomic_load_n(&ring->counters->consumer_position, __ATOMIC_RELAXED);
    if (ring->cached_producer - consumer < wanted)
        ring->cached_producer = __atomic_load_n(&ring->counters->producer_position, __ATOMIC_ACQUIRE);
    return ring->cached_producer - consumer;
}

/* Consumer, zero copy: points *first at the oldest unreleased record and returns how many
 * records (at most max) follow it contiguously, without wrapping. Release them when done. */
static inline uint32_t udr_ring_peek(udr_ring *ring, uint32_t max, const void **first)
{
    uint64_t consumer = __atomic_load_n(&ring->counters->consumer_position, __ATOMIC_RELAXED);
    uint64_t ready = udr_ring_available(ring, max);
    uint64_t slot = consumer & (ring->capacity - 1);
    uint64_t contiguous = ring->capacity - slot;
    uint64_t n = ready < max ? ready : max;
    if (n > contiguous) n = contiguous;
    *first = ring->slots + slot * UDR_RECORD_SIZE;
    return (uint32_t)n;
}

/* Consumer: frees `count` records returned by udr_ring_peek() for the producer to reuse. */
static inline void udr_ring_release(udr_ring *ring, uint32_t count)
{
    uint64_t consumer = __atomic_load_n(&ring->counters->consumer_position, __ATOMIC_RELAXED);
    __atomic_store_n(&ring->counters->consumer_position, consumer + count, __ATOMIC_RELEASE);
}

/* Consumer: copies out up to `max` records (across the wrap) and releases them at once. */
static inline uint32_t udr_ring_poll(udr_ring *ring, void *records, uint32_t max)
{
    uint64_t consumer = __atomic_load_n(&ring->counters->consumer_position, __ATOMIC_RELAXED);
    uint64_t ready = udr_ring_available(ring, max);
    uint32_t n = ready < max ? (uint32_t)ready : max;
    if (n == 0) return 0;
    udr_ring_copy_out(ring, consumer, records, n);
    __atomic_store_n(&ring->counters->consumer_position, consumer + n, __ATOMIC_RELEASE);
    return n;
}

/* Consumer, before blocking: announces the sleep, fences, and re-checks. Returns 1 if the ring is
 * still empty (the caller may block on its eventfd), 0 if records arrived meanwhile (the flag is
 * withdrawn and the caller goes on consuming). */
static inline int udr_ring_consumer_prepare_sleep(udr_ring *ring)
{
    __atomic_store_n(&ring->counters->consumer_sleeping, 1u, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (udr_ring_available(ring, 1) == 0) return 1;
    __atomic_store_n(&ring->counters->consumer_sleeping, 0u, __ATOMIC_RELAXED);
    return 0;
}

/* Consumer, after waking (or giving up on blocking). */
static inline void udr_ring_consumer_awake(udr_ring *ring)
{
    __atomic_store_n(&ring->counters->consumer_sleeping, 0u, __ATOMIC_RELAXED);
}

/* Producer, after publishing: returns 1 if the consumer announced a sleep (and clears it), in
 * which case the caller must write the consumer's eventfd. */
static inline int udr_ring_producer_should_wake(udr_ring *ring)
{
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (__atomic_load_n(&ring->counters->consumer_sleeping, __ATOMIC_RELAXED) == 0) return 0;
    return __atomic_exchange_n(&ring->counters->consumer_sleeping, 0u, __ATOMIC_RELAXED) != 0;
}

/* Eventfd helpers for the wake protocol. Return 0 on success, else errno. */
static inline int udr_eventfd_signal(int fd)
{
    uint64_t one = 1;
    if (write(fd, &one, sizeof(one)) == (ssize_t)sizeof(one)) return 0;
    return errno == EAGAIN ? 0 : errno; /* EAGAIN: counter saturated, the consumer will wake anyway */
}

/* Resets the eventfd counter; returns the count read (0 if nothing was pending). */
static inline uint64_t udr_eventfd_drain(int fd)
{
    uint64_t value = 0;
    if (read(fd, &value, sizeof(value)) != (ssize_t)sizeof(value)) return 0;
    return value;
}

/* Blocks until the eventfd is signalled or timeout_ms passes (or a signal arrives); returns 1 if
 * it was signalled (and drains it), 0 otherwise. The timeout bounds every sleep so a stop request
 * is always noticed. */
static inline int udr_eventfd_wait(int fd, int timeout_ms)
{
    struct pollfd p;
    p.fd = fd;
    p.events = POLLIN;
    p.revents = 0;
    if (poll(&p, 1, timeout_ms) <= 0) return 0;
    return udr_eventfd_drain(fd) != 0;
}

/* After a consumer crash-free restart of the producer: the outbound tail tells exactly which
 * events were published. Looks at the last published record of `ring` (an event ring) and reports
 * its command_seq, whether it was flagged LAST, and how many consecutive records at the tail belong
 * to that command (capped at the capacity). Returns 0 if nothing was ever published. */
static inline int udr_ring_published_tail(const udr_ring *ring, uint64_t *command_seq, int *last, uint32_t *count)
{
    uint64_t producer = __atomic_load_n(&ring->counters->producer_position, __ATOMIC_ACQUIRE);
    uint64_t lowest = producer > ring->capacity ? producer - ring->capacity : 0;
    const udr_event *slots = (const udr_event *)ring->slots;
    uint64_t mask = ring->capacity - 1, p;
    const udr_event *tail;
    if (producer == 0) return 0;
    tail = &slots[(producer - 1) & mask];
    *command_seq = tail->command_seq;
    *last = (tail->flags & UDR_EVT_FLAG_LAST) != 0;
    for (p = producer; p > lowest && slots[(p - 1) & mask].command_seq == tail->command_seq; --p) {
    }
    *count = (uint32_t)(producer - p);
    return 1;
}

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* UDPROUTER_ENGINE_RING_H */
