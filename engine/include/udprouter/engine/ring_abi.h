/*
 * ring_abi.h - the shared-memory ABI between the router (Python, via cffi) and the engine (C++).
 *
 * This header is the single definition of the segment layout and of the 64-byte command and
 * event records. It is plain C so that the engine, the cffi module and the benchmarks include
 * the same bytes. It is an internal ABI, not the wire format (the SBE schemas in protocol/ are).
 *
 * Segment layout (one POSIX shm object, created by the router, attached by the engine):
 *
 *   [udr_segment_header  ] 256 bytes: magic, layout version, capacities, engine state
 *   [udr_ring_counters   ] inbound  (router -> engine) positions, cache-line padded
 *   [udr_ring_counters   ] outbound (engine -> router) positions, cache-line padded
 *   [udr_command x inbound_capacity ]
 *   [udr_event   x outbound_capacity]
 *
 * Each ring is single-producer single-consumer. Positions are free-running uint64 record counts
 * (slot = position & (capacity - 1)); the producer publishes with a release store of
 * producer_position, the consumer frees slots with a release store of consumer_position.
 *
 * The text between the cffi-cdef markers must stay within what cffi's cdef() parses
 * (fixed-width integer types, plain structs, integer #defines): src/udprouter/_ffi_build.py
 * feeds it to cdef() verbatim, so the Python side can never drift from this file.
 */
#ifndef UDPROUTER_ENGINE_RING_ABI_H
#define UDPROUTER_ENGINE_RING_ABI_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* cffi-cdef-begin */
#define UDR_SEGMENT_MAGIC 0x474E495252504455   /* "UDPRRING" little-endian */
#define UDR_LAYOUT_VERSION 2
#define UDR_RECORD_SIZE 64
#define UDR_CACHE_LINE 64
#define UDR_SEGMENT_HEADER_SIZE 256
#define UDR_JOURNAL_LATENCY_BUCKETS 8

/* udr_command.kind */
#define UDR_CMD_NEW_ORDER 1      /* NewOrderSingle */
#define UDR_CMD_CANCEL 2         /* OrderCancelRequest */
#define UDR_CMD_REPLACE 3        /* OrderCancelReplaceRequest */
#define UDR_CMD_MASS_CANCEL 4    /* OrderMassActionRequest, cancel on disconnect, admin mass cancel */
#define UDR_CMD_ORDER_STATUS 5   /* OrderStatusRequest */
#define UDR_CMD_ACCOUNT_CONTROL 6 /* admin: a risk limit, the SMP mode or the kill switch of an account */
#define UDR_CMD_RESET_SESSION 7  /* router: session_id was released; cancel its orders, clear its ClOrdID
                                    mark, so the id can serve a new session (only kind and session_id read) */
#define UDR_CMD_TERMINATE 15     /* engine: finish the batch, snapshot if configured, exit 0 */

/* udr_event.kind: one ExecutionReport* / OrderCancelReject each */
#define UDR_EVT_ACCEPTED 1        /* ExecutionReportNew */
#define UDR_EVT_TRADE 2           /* ExecutionReportTrade, one per side per fill */
#define UDR_EVT_CANCELED 3        /* ExecutionReportCancel; reason = CancelReason */
#define UDR_EVT_REPLACED 4        /* ExecutionReportReplace */
#define UDR_EVT_REJECTED 5        /* ExecutionReportReject; reason = OrdRejReason */
#define UDR_EVT_CANCEL_REJECTED 6 /* OrderCancelReject; reason = CxlRejReason */
#define UDR_EVT_MASS_ACTION_REPORT 7 /* OrderMassActionReport; qty = TotalAffectedOrders,
                                        reason = MassActionRejectReason when flagged REFUSED */
#define UDR_EVT_ORDER_STATUS 8    /* ExecutionReportStatus; reason = OrdStatus; REFUSED: no live order */
#define UDR_EVT_ACCOUNT_UPDATED 9 /* ACCOUNT_CONTROL applied (REFUSED: not); orig_cl_ord_id = account,
                                     reason = AccountControl id, price = value, qty = orders canceled */
#define UDR_EVT_SESSION_RESET 10  /* answers RESET_SESSION (after a CANCELED per order it canceled);
                                     qty = orders canceled; never sent to a client */

/* udr_event.flags */
#define UDR_EVT_FLAG_LAST 1           /* last event produced by command_seq */
#define UDR_EVT_FLAG_AGGRESSOR 2      /* TRADE: this side was the incoming order */
#define UDR_EVT_FLAG_TO_REPLACE 4     /* CANCEL_REJECTED: answers a replace (else a cancel) */
#define UDR_EVT_FLAG_REFUSED 8        /* MASS_ACTION_REPORT, ACCOUNT_UPDATED: refused; ORDER_STATUS: unknown */

/* Commands other than NEW/CANCEL/REPLACE use the record's fields so (0 = any in a filter):
 *   MASS_CANCEL     session_id = the session whose orders go (0 = every session; the report goes to
 *                   it, 0 = the router itself), account (0 = any), security_id (0 = any), side (0 =
 *                   both), cl_ord_id = the request's ClOrdID (0 = none: no freshness check),
 *                   ord_type = the CancelReason every cancel carries.
 *   ORDER_STATUS    session_id, cl_ord_id = the order asked about, security_id.
 *   ACCOUNT_CONTROL account, ord_type = AccountControl id, price = the value, session_id = where the
 *                   ACCOUNT_UPDATED goes (0 = the router), cl_ord_id = request id (echoed). */

/* udr_segment_header.engine_state */
#define UDR_ENGINE_ABSENT 0
#define UDR_ENGINE_RECOVERING 1
#define UDR_ENGINE_READY 2
#define UDR_ENGINE_STOPPED 3
#define UDR_ENGINE_FAILED 4

/* Router -> engine. Self-contained: the journal stores it verbatim and replay needs nothing else.
 * Enum-valued fields carry the FIX numeric values of the wire schema (Side, OrdType, TimeInForce). */
typedef struct udr_command {
    uint64_t command_seq;      /*  0 router-assigned, strictly increasing for the life of the journal */
    uint64_t cl_ord_id;        /*  8 */
    uint64_t orig_cl_ord_id;   /* 16 CANCEL/REPLACE: the order to act on; NEW: 0 */
    int64_t  price;            /* 24 mantissa, exponent -9; MARKET: 0 */
    uint64_t recv_time_ns;     /* 32 router receive time (CLOCK_REALTIME ns); never used to match */
    uint32_t session_id;       /* 40 router's durable session number (reused only after RESET_SESSION) */
    uint32_t account;          /* 44 account of the session's key; self-match prevention */
    uint32_t order_qty;        /* 48 */
    int32_t  security_id;      /* 52 */
    uint8_t  kind;             /* 56 UDR_CMD_* */
    uint8_t  side;             /* 57 1 buy, 2 sell */
    uint8_t  ord_type;         /* 58 1 market, 2 limit */
    uint8_t  time_in_force;    /* 59 0 day, 3 IOC, 4 FOK */
    uint32_t reserved;         /* 60 zero */
} udr_command;

/* Engine -> router. Self-contained: the router encodes the report from this record alone. */
typedef struct udr_event {
    uint64_t command_seq;      /*  0 the command that produced this event */
    uint64_t cl_ord_id;        /*  8 recipient order's ClOrdID (after a replace: the new one) */
    uint64_t orig_cl_ord_id;   /* 16 CANCELED, REPLACED, CANCEL_REJECTED: the request's OrigClOrdID; else 0 */
    uint64_t order_id;         /* 24 engine OrderID = command_seq of the NEW that created it; 0 if none */
    int64_t  price;            /* 32 TRADE: LastPx; ACCEPTED, REPLACED, REJECTED: order price; else 0 */
    uint32_t session_id;       /* 40 recipient session */
    int32_t  security_id;      /* 44 */
    uint32_t qty;              /* 48 TRADE: LastQty; ACCEPTED, REPLACED, REJECTED: OrderQty; else 0 */
    uint32_t leaves_qty;       /* 52 */
    uint32_t cum_qty;          /* 56 */
    uint8_t  kind;             /* 60 UDR_EVT_* */
    uint8_t  side;             /* 61 */
    uint8_t  reason;           /* 62 OrdRejReason, CxlRejReason or CancelReason, by kind */
    uint8_t  flags;            /* 63 UDR_EVT_FLAG_* */
} udr_event;

typedef struct udr_segment_header {
    uint64_t magic;                   /* UDR_SEGMENT_MAGIC, written last by the creator */
    uint32_t layout_version;          /* UDR_LAYOUT_VERSION */
    uint32_t record_size;             /* UDR_RECORD_SIZE */
    uint32_t inbound_capacity;        /* records, power of two */
    uint32_t outbound_capacity;       /* records, power of two */
    uint32_t engine_state;            /* UDR_ENGINE_* (written by the engine) */
    int32_t  engine_pid;
    uint64_t journaled_through;       /* highest command_seq durably journaled (engine) */
    uint64_t events_through;          /* highest command_seq whose events are all published (engine) */
    uint64_t next_command_seq;        /* engine, at READY: the lowest command_seq it will accept */
    uint64_t commands_applied;        /* engine counter */
    uint64_t events_published;        /* engine counter */
    uint64_t router_logged_through;   /* router: highest command_seq whose reports are durably in its log;
                                         UINT64_MAX when the router keeps no log (the segment's initial value) */
    /* engine: journal latency per appended batch (append includes the fdatasync of durability fsync),
     * counts in buckets <= 2, 8, 32, 128, 512, 2048, 8192 us and above, plus the sum in ns */
    uint64_t journal_append_buckets[8];   /* UDR_JOURNAL_LATENCY_BUCKETS */
    uint64_t journal_append_sum_ns;
    uint64_t journal_fsync_buckets[8];    /* UDR_JOURNAL_LATENCY_BUCKETS */
    uint64_t journal_fsync_sum_ns;
    uint64_t low_rate_spin_ns;        /* engine counter: time spent spinning below the adaptive wait's low_rate */
    /* engine counters, the short spin between batches (hybrid; adaptive at or above low_rate): spins
     * that caught a batch, spins that ran out, and waits that slept at once after misses in a row */
    uint64_t short_spins_caught;
    uint64_t short_spins_missed;
    uint64_t short_spins_skipped;
} udr_segment_header;

typedef struct udr_ring_counters {
    uint64_t producer_position;       /* written by the producer only */
    uint8_t  pad0[56];
    uint64_t consumer_position;       /* written by the consumer only */
    uint8_t  pad1[56];
    uint32_t consumer_sleeping;       /* consumer sets 1 before blocking; producer wakes it */
    uint32_t pad2a;
    uint64_t full_events;             /* producer counter: offers refused because the ring was full */
    uint8_t  pad2[48];
} udr_ring_counters;
/* cffi-cdef-end */

#ifdef __cplusplus
} /* extern "C" */
static_assert(sizeof(udr_command) == UDR_RECORD_SIZE, "udr_command must be one cache line");
static_assert(sizeof(udr_event) == UDR_RECORD_SIZE, "udr_event must be one cache line");
static_assert(sizeof(udr_segment_header) == UDR_SEGMENT_HEADER_SIZE, "segment header size");
static_assert(sizeof(udr_ring_counters) == 3 * UDR_CACHE_LINE, "ring counters are three cache lines");
#else
_Static_assert(sizeof(udr_command) == UDR_RECORD_SIZE, "udr_command must be one cache line");
_Static_assert(sizeof(udr_event) == UDR_RECORD_SIZE, "udr_event must be one cache line");
_Static_assert(sizeof(udr_segment_header) == UDR_SEGMENT_HEADER_SIZE, "segment header size");
_Static_assert(sizeof(udr_ring_counters) == 3 * UDR_CACHE_LINE, "ring counters are three cache lines");
#endif

#endif /* UDPROUTER_ENGINE_RING_ABI_H */
