"""cffi build script (API mode): compiles udprouter._ring_cffi at install time.

The struct layouts come from engine/include/udprouter/engine/ring_abi.h, whose cffi-cdef section is
fed to cdef() verbatim: that header is the single source of truth for the ring ABI. The operations
are the static inline functions of ring.h and ring_shm.h, the same code the engine compiles, so the
router and the engine cannot disagree on ordering or layout.
"""

from pathlib import Path

from cffi import FFI

ROOT = Path(__file__).resolve().parents[2]
ENGINE_INCLUDE = ROOT / "engine" / "include"
RING_ABI_H = ENGINE_INCLUDE / "udprouter" / "engine" / "ring_abi.h"
ROUTER_C = Path(__file__).resolve().parent / "fastpath"  # the router's own C (fast path), same cffi module


def cdef_section(header: Path) -> str:
    text = header.read_text()
    start = text.index("/* cffi-cdef-begin */") + len("/* cffi-cdef-begin */")
    end = text.index("/* cffi-cdef-end */")
    return text[start:end]


# Declarations of ring.h / ring_shm.h as cffi sees them; API mode compiles calls against the real
# header, so a signature that drifts from it fails the build.
RING_CDEF = """
#define UDR_SEGMENT_OK 0
#define UDR_SEGMENT_TOO_SMALL 1
#define UDR_SEGMENT_BAD_MAGIC 2
#define UDR_SEGMENT_BAD_LAYOUT_VERSION 3
#define UDR_SEGMENT_BAD_RECORD_SIZE 4
#define UDR_SEGMENT_BAD_CAPACITY 5
#define UDR_SEGMENT_SIZE_MISMATCH 6
#define UDR_RING_MAX_CAPACITY ...

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
    udr_ring inbound;
    udr_ring outbound;
} udr_segment;

size_t udr_segment_size(uint32_t inbound_capacity, uint32_t outbound_capacity);
const char *udr_segment_check_message(int code);
int udr_segment_check(const void *base, size_t mapped_size);
void udr_segment_view(udr_segment *seg, void *base, size_t size);
int udr_segment_init(void *base, size_t size, uint32_t inbound_capacity, uint32_t outbound_capacity);
uint64_t udr_ring_occupancy(const udr_ring *ring);
uint32_t udr_ring_offer(udr_ring *ring, const void *records, uint32_t count);
uint32_t udr_ring_poll(udr_ring *ring, void *records, uint32_t max);
int udr_ring_consumer_prepare_sleep(udr_ring *ring);
void udr_ring_consumer_awake(udr_ring *ring);
int udr_ring_producer_should_wake(udr_ring *ring);
int udr_eventfd_signal(int fd);
uint64_t udr_eventfd_drain(int fd);
int udr_eventfd_wait(int fd, int timeout_ms);

void *udr_shm_create(const char *name, size_t size, int *err);
void *udr_shm_attach(const char *name, size_t *size, int *err);
int udr_shm_detach(void *base, size_t size);
int udr_shm_unlink(const char *name);
int udr_eventfd_create(void);

/* Batched fences and flags for Python: one cffi call instead of two. */
int udr_py_wake_if_sleeping(udr_ring *ring, int fd);
uint64_t udr_py_set_sleeping(udr_ring *ring, int sleeping);
uint64_t udr_py_await_events(udr_ring *ring, int64_t budget_ns, int input_fd);
#define UDR_PY_INPUT_ARRIVED ...
"""

# src/udprouter/fastpath/fast_io.h: batched UDP syscalls (recvmmsg/sendmmsg).
FAST_IO_CDEF = """
#define UDR_IO_MAX_BATCH 64
#define UDR_IO_SLOT_SIZE 65536
int udr_io_recv_batch(int fd, unsigned char *arena, uint32_t max, uint32_t *lens, uint64_t *keys);
uint32_t udr_io_send_batch(int fd, const unsigned char *data, const uint32_t *lens,
                           const uint64_t *keys, uint32_t count, uint32_t *errors);
"""

# src/udprouter/fastpath/datagram_mac.h: keyed BLAKE2b-128 of the datagram MAC (SPEC.md 4.9).
DATAGRAM_MAC_CDEF = """
#define UDR_MAC_SIZE 16
#define UDR_MAC_KEY_SIZE 32
#define UDR_MAC_FRAME_SIZE 30
typedef struct udr_mac_key { uint64_t h[8]; } udr_mac_key;
void udr_mac_key_init(udr_mac_key *k, const unsigned char key[32]);
void udr_mac_compute(const udr_mac_key *k, const unsigned char *data, uint32_t len, unsigned char out[16]);
uint32_t udr_mac_sign(const udr_mac_key *k, unsigned char *data, uint32_t len);
int32_t udr_mac_verify(const udr_mac_key *k, const unsigned char *data, uint32_t len);
"""

# src/udprouter/fastpath/fast_ingest.h: C decode, sequence/throttle/risk checks and ring fill of the
# common inbound datagram; the structs are shared with the Python session objects.
FAST_INGEST_CDEF = """
#define UDR_FP_APPLIED 0
#define UDR_FP_NOT_FAST_SHAPE 1
#define UDR_FP_SEQUENCE_MISMATCH 2
#define UDR_FP_THROTTLED 3
#define UDR_FP_RISK_REJECT 4
#define UDR_FP_NO_ROOM 5
#define UDR_FP_NO_SESSION 6
#define UDR_FP_UNAUTHENTICATED 7
#define UDR_FP_MAX_APP ...
#define UDR_FP_ESTABLISHED ...
typedef struct udr_fp_session {
    uint64_t next_inbound; uint64_t cl_ord_hwm; double tokens; int64_t refill_ns;
    uint32_t session_id; uint32_t account; uint32_t open_orders; uint32_t state; uint64_t addr_key;
    uint32_t authenticate; uint32_t replies_in_c; udr_mac_key mac_key; int64_t last_recv_ns;
    uint64_t next_outbound; int64_t last_send_ns;
} udr_fp_session;
typedef struct udr_fp_instrument {
    int64_t tick; int64_t min_price; int64_t max_price; int32_t security_id; uint32_t max_qty;
} udr_fp_instrument;
typedef struct udr_fp_limits {
    const udr_fp_instrument *instruments; uint32_t instrument_count; uint32_t max_open_orders;
    double throttle_per_s;
} udr_fp_limits;
typedef struct udr_fp_batch {
    udr_command *cmds; udr_ring *ring; uint32_t n; uint32_t room; uint32_t capacity; int32_t available;
    uint64_t next_command_seq;
} udr_fp_batch;
typedef struct udr_fp_message {
    uint64_t cl_ord_id; uint64_t orig_cl_ord_id; uint64_t transact_time; int64_t price; uint32_t order_qty;
    int32_t security_id; uint16_t template_id; uint8_t side; uint8_t ord_type; uint8_t time_in_force;
} udr_fp_message;
int udr_fp_decode(const char *data, uint32_t len, uint64_t *first_seq, udr_fp_message *out, uint32_t max);
int32_t udr_fp_authenticate(const char *data, uint32_t len, const udr_fp_session *s);
typedef struct udr_fp_addr_entry { uint64_t key; udr_fp_session *session; } udr_fp_addr_entry;
typedef struct udr_fp_addr_table { udr_fp_addr_entry *slots; uint32_t mask; } udr_fp_addr_table;
void udr_fp_addr_set(udr_fp_addr_table *t, uint64_t key, udr_fp_session *session);
udr_fp_session *udr_fp_addr_find(const udr_fp_addr_table *t, uint64_t key);
uint32_t udr_fp_ingest_run(const unsigned char *arena, uint32_t slot_size, const uint32_t *lens,
                           const uint64_t *keys, uint32_t start, uint32_t n, const udr_fp_addr_table *table,
                           const udr_fp_limits *lim, udr_fp_batch *b, int64_t now_ns, int *stopped,
                           uint32_t *applied, uint64_t *touched, uint32_t *touched_n);
"""

# src/udprouter/fastpath/fast_egress.h: event routing and report encoding for the drained events.
FAST_EGRESS_CDEF = """
#define UDR_FP_MAX_REPORT_FRAME ...
#define UDR_FP_ROUTE_SLOTS ...
typedef struct udr_fp_route_state {
    uint64_t done_through; uint64_t partial_seq; uint64_t partial_n; uint64_t skip_seq; uint64_t skip_left;
} udr_fp_route_state;
typedef struct udr_fp_group {
    uint32_t session_id; uint32_t start; uint32_t count; uint32_t reserved;
} udr_fp_group;
uint32_t udr_fp_route(const udr_event *events, uint32_t n, udr_fp_route_state *st,
                      udr_fp_session *const *sessions, uint32_t session_cap,
                      uint32_t *order, udr_fp_group *groups, uint32_t *scratch);
uint32_t udr_fp_encode_reports(const udr_event *events, const uint32_t *order, uint32_t count,
                               uint64_t first_seq, int64_t now_ns, char *out, uint32_t *ends);
"""

# src/udprouter/fastpath/fast_pack.h: a session's frames packed into Sequence-led datagrams.
FAST_PACK_CDEF = """
#define UDR_FP_SEQUENCE_FRAME_SIZE ...
uint32_t udr_fp_pack_datagrams(const unsigned char *frames, size_t length, uint64_t first_seq,
                               uint32_t max_bytes, uint32_t max_messages, unsigned char *out,
                               uint32_t *ends, uint32_t *messages);
"""

# src/udprouter/fastpath/fast_reply.h: a drained batch's replies encoded and packed in one call.
FAST_REPLY_CDEF = """
#define UDR_FR_PACK_MISMATCH ...
typedef struct udr_fr_target { uint64_t first_seq; uint64_t key; } udr_fr_target;
uint32_t udr_fr_build(const udr_event *events, const uint32_t *order, const udr_fp_group *groups,
                      uint32_t ngroups, const udr_fr_target *targets, int64_t now_ns,
                      uint32_t max_bytes, uint32_t max_messages, char *frames, uint32_t *frame_ends,
                      unsigned char *datagrams, uint32_t *datagram_lens, uint64_t *datagram_keys,
                      uint32_t *scratch);
#define UDR_FR_RECORD_FIXED ...
#define UDR_FR_RECORD_GROUP ...
#define UDR_FR_RECORD_BIN ...
uint32_t udr_fr_record(unsigned char *out, uint64_t command_through, uint64_t done_through,
                       uint64_t partial_seq, uint64_t partial_n, const udr_fp_group *groups,
                       uint32_t ngroups, const udr_fr_target *targets, const char *frames,
                       const uint32_t *frame_ends);
int64_t udr_fr_log(int fd, unsigned char *out, uint64_t command_through, uint64_t done_through,
                   uint64_t partial_seq, uint64_t partial_n, const udr_fp_group *groups,
                   uint32_t ngroups, const udr_fr_target *targets, const char *frames,
                   const uint32_t *frame_ends);
"""

# src/udprouter/fastpath/write_ahead.h: the router log's write-ahead record of a common pass, encoded
# (as msgspec encodes PassRecord) and written in one call.
WRITE_AHEAD_CDEF = """
#define UDR_WA_FIXED_MAX ...
#define UDR_WA_SESSION_MAX ...
uint32_t udr_wa_encode(unsigned char *out, uint64_t command_through, uint64_t done_through,
                       uint64_t partial_seq, uint64_t partial_n, udr_fp_session *const *sessions, uint32_t n);
int64_t udr_wa_write(int fd, unsigned char *out, uint64_t command_through, uint64_t done_through,
                     uint64_t partial_seq, uint64_t partial_n, udr_fp_session *const *sessions, uint32_t n);
"""

# src/udprouter/fastpath/drop_copy.h: a session's execution reports as drop copies (SPEC 4.12).
DROP_COPY_CDEF = """
#define UDR_DC_MARK_SIZE ...
uint32_t udr_dc_copy_reports(const unsigned char *frames, size_t length, uint32_t session_number,
                             uint32_t account, unsigned char *out, uint32_t *ends, size_t *walked);
"""

# src/udprouter/fastpath/event_stats.h: fills, volume and engine rejects tallied per drained batch.
EVENT_STATS_CDEF = """
#define UDR_STATS_MAX_INSTRUMENTS 256
#define UDR_STATS_KINDS 8
#define UDR_STATS_REASONS 256
typedef struct udr_event_stats {
    uint64_t events_by_kind[8]; uint64_t order_rejects[256]; uint64_t cancel_rejects[256];
    uint64_t replace_rejects[256]; int32_t security_ids[256]; uint32_t instrument_count;
    uint64_t fills[257]; uint64_t volume[257];
} udr_event_stats;
void udr_stats_tally(udr_event_stats *s, const udr_event *events, uint32_t n);
"""

# src/udprouter/fastpath/packed_batch.h: gRPC SubmitOrdersPacked, a batch of NewOrderSingle frames in C.
PACKED_BATCH_CDEF = """
#define UDR_PK_SLOT ...
#define UDR_PK_TRUNCATED 1
#define UDR_PK_BAD_ENCODING 2
#define UDR_PK_NOT_NEW_ORDER 3
#define UDR_PK_BAD_LENGTH 4
#define UDR_PK_BAD_ENUM 5
#define UDR_PK_ZERO_CL_ORD_ID 6
#define UDR_PK_TOO_MANY 7
#define UDR_PK_BUSY 255
typedef struct udr_pk_call {
    unsigned char *slots; uint8_t *lens; uint32_t *cmd_index; uint32_t *reject_index; uint8_t *outcome;
    uint64_t first_command_seq; uint64_t next_server_seq; uint32_t count; uint32_t commands; uint32_t rejects;
    uint32_t busy; uint32_t answered; uint8_t busy_reason;
} udr_pk_call;
int32_t udr_pk_decode(const unsigned char *p, uint32_t len, udr_fp_message *out, uint32_t max,
                      uint32_t *bad_index);
uint8_t udr_pk_new_order_reason(const udr_fp_limits *lim, const udr_fp_message *m, udr_fp_session *s);
uint32_t udr_pk_apply(udr_pk_call *c, const udr_fp_message *msgs, uint32_t start, udr_fp_session *s,
                      const udr_fp_limits *lim, udr_fp_batch *b, int64_t now_ns);
uint32_t udr_pk_answer(udr_pk_call *c, const udr_event *events, const uint32_t *order, uint32_t count,
                       const unsigned char *frames, const uint32_t *ends);
uint32_t udr_pk_gather(udr_pk_call *c);
"""

# src/udprouter/fastpath/read_pass.h: a read pass's common case, socket to ring, in one call.
READ_PASS_CDEF = """
typedef struct udr_rp_context {
    int sock_fd; unsigned char *arena; uint32_t *lens; uint64_t *keys; const udr_fp_addr_table *addresses;
    const udr_fp_limits *limits; udr_fp_batch *batch; uint64_t *touched; const udr_fp_route_state *route;
    unsigned char *record; udr_fp_session **sessions; uint32_t session_room; uint32_t max_reads;
} udr_rp_context;
typedef struct udr_rp_result {
    uint32_t received; uint32_t reads; uint32_t receive_errors; uint32_t in_arena; uint32_t next;
    int32_t stopped; uint32_t applied; uint32_t touched_n; uint32_t commands;
    uint32_t offered; int64_t written; uint64_t command_through; uint64_t events_waiting;
} udr_rp_result;
void udr_rp_run(const udr_rp_context *c, int64_t now_ns, int log_fd, uint64_t command_through,
                const udr_ring *outbound, int engine_eventfd, udr_rp_result *r);
"""

# src/udprouter/fastpath/answer_pass.h: a drain step's common case, ring to socket, in one call.
ANSWER_PASS_CDEF = """
typedef struct udr_ap_context {
    udr_event *events; uint32_t capacity; udr_event_stats *stats; udr_fp_route_state *route; uint32_t *order;
    udr_fp_group *groups; uint32_t *scratch; udr_fr_target *targets; char *frames; uint32_t *frame_ends;
    unsigned char *datagrams; uint32_t *datagram_lens; uint64_t *datagram_keys; uint32_t *pack_scratch;
    unsigned char *record; int sock_fd; uint32_t max_bytes; uint32_t max_messages;
} udr_ap_context;
typedef struct udr_ap_result {
    uint32_t polled; uint32_t groups; uint32_t answered; uint32_t datagrams; int64_t written; uint32_t sent;
    uint32_t send_errors;
} udr_ap_result;
void udr_ap_run(const udr_ap_context *c, udr_ring *outbound, udr_fp_session *const *sessions,
                uint32_t session_cap, int64_t now_ns, int answer, int log_fd, uint64_t command_through,
                udr_ap_result *r);
"""

# RING_SOURCE's helpers that combine the headers above (declared after all of them).
COMBINED_CDEF = """
uint32_t udr_py_drain_route(udr_ring *ring, udr_event *events, uint32_t max, udr_event_stats *stats,
                            udr_fp_route_state *st, udr_fp_session *const *sessions, uint32_t session_cap,
                            uint32_t *order, udr_fp_group *groups, uint32_t *scratch, uint32_t *polled);
"""

RING_SOURCE = """
#include <sched.h>
#include <time.h>
#include "udprouter/engine/ring_abi.h"
#include "udprouter/engine/ring.h"
#include "udprouter/engine/ring_shm.h"
#include "fast_io.h"
#include "fast_ingest.h"
#include "fast_egress.h"
#include "fast_pack.h"
#include "fast_reply.h"
#include "drop_copy.h"
#include "event_stats.h"
#include "packed_batch.h"
#include "write_ahead.h"
#include "read_pass.h"
#include "answer_pass.h"

/* Producer side of the wake protocol: 1 if the consumer was asleep and got its eventfd written. */
static int udr_py_wake_if_sleeping(udr_ring *ring, int fd)
{
    if (!udr_ring_producer_should_wake(ring)) return 0;
    udr_eventfd_signal(fd);
    return 1;
}

/* Consumer side: announce (1) or withdraw (0) a sleep; returns the occupancy seen after the fence,
 * so 0 means the caller may block on its eventfd. */
static uint64_t udr_py_set_sleeping(udr_ring *ring, int sleeping)
{
    if (!sleeping) {
        udr_ring_consumer_awake(ring);
        return udr_ring_occupancy(ring);
    }
    if (udr_ring_consumer_prepare_sleep(ring)) return 0;
    return udr_ring_occupancy(ring);
}

#define UDR_PY_INPUT_ARRIVED UINT64_MAX

/* One step of OrderEntry.drain on the fast path: up to max events polled from the outbound ring,
 * tallied (event_stats.h) and routed (fast_egress.h), three cffi calls made one. *polled: the events
 * read; returns udr_fp_route's group count (0 when none were read). */
static uint32_t udr_py_drain_route(udr_ring *ring, udr_event *events, uint32_t max, udr_event_stats *stats,
                                   udr_fp_route_state *st, udr_fp_session *const *sessions,
                                   uint32_t session_cap, uint32_t *order, udr_fp_group *groups,
                                   uint32_t *scratch, uint32_t *polled)
{
    uint32_t n = udr_ring_poll(ring, events, max);
    *polled = n;
    if (n == 0) return 0;
    udr_stats_tally(stats, events, n);
    return udr_fp_route(events, n, st, sessions, session_cap, order, groups, scratch);
}

/* Looks between two sched_yield()s in udr_py_await_events (a look with its poll() takes about 1 us).
 * Each yield moves the caller's scheduler deadline a whole slice later (EEVDF), so a router that
 * yielded at every look lost its CPU for hundreds of microseconds to a spinning engine or its
 * client on the same vCPU; yielding every 8 looks took the 1k/s p50 from 193 to 160 us and from 178
 * to 168 us in two interleaved runs (README "The router's spin yields less often"). */
#define UDR_PY_LOOKS_PER_YIELD 8

/* Consumer: withdraws its sleep (the producer then writes no eventfd) and waits up to budget_ns for
 * events, yielding the CPU every few looks (on 2 vCPUs the engine may be queued on this very core);
 * returns the occupancy it saw, 0 if the budget ran out, or UDR_PY_INPUT_ARRIVED if input_fd (when
 * >= 0) became readable first: new input does not wait for old answers. */
static uint64_t udr_py_await_events(udr_ring *ring, int64_t budget_ns, int input_fd)
{
    udr_ring_consumer_awake(ring);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    const int64_t deadline = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec + budget_ns;
    struct pollfd input = {.fd = input_fd, .events = POLLIN, .revents = 0};
    for (uint32_t look = 1;; ++look) {
        uint64_t n = udr_ring_occupancy(ring);
        if (n != 0) return n;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        if ((int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec >= deadline) return 0;
        if (input_fd >= 0 && poll(&input, 1, 0) > 0) return UDR_PY_INPUT_ARRIVED;
        if (look % UDR_PY_LOOKS_PER_YIELD == 0) sched_yield();
    }
}
"""

ffibuilder = FFI()
ffibuilder.cdef(cdef_section(RING_ABI_H) + RING_CDEF + FAST_IO_CDEF + DATAGRAM_MAC_CDEF + FAST_INGEST_CDEF
               + FAST_EGRESS_CDEF + FAST_PACK_CDEF + FAST_REPLY_CDEF + DROP_COPY_CDEF + EVENT_STATS_CDEF
               + PACKED_BATCH_CDEF + WRITE_AHEAD_CDEF + READ_PASS_CDEF + ANSWER_PASS_CDEF
               + COMBINED_CDEF)
ffibuilder.set_source(
    "udprouter._ring_cffi",
    RING_SOURCE,
    include_dirs=[str(ENGINE_INCLUDE), str(ROUTER_C)],
    depends=[str(p) for p in sorted(ROUTER_C.glob("*.[ch]"))],
    extra_compile_args=["-O2", "-std=gnu11"],
    libraries=["z"],  # zlib's crc32 (write_ahead.h): the CRC the router log's Python side computes
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
