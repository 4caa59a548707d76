/* Counters over the engine's events, tallied once per drained batch for the metrics.
 *
 * Why: fills, volume and the engine's own rejects exist only in the event stream, and a Python
 * counter per event would cost the report path hundreds of ns each (DESIGN: record per batch).
 * One call per poll batch walks the events in C; the metrics collector reads the struct at scrape
 * time. Instruments are the configured ones, looked up by SecurityID in a small table (slot i =
 * instrument i); an event for any other SecurityID counts in the last slot ("other"), so the
 * label set stays the configuration's.
 */
#ifndef UDPROUTER_EVENT_STATS_H
#define UDPROUTER_EVENT_STATS_H

#include <stdint.h>

#include "udprouter/engine/ring_abi.h"

#define UDR_STATS_MAX_INSTRUMENTS 256
#define UDR_STATS_KINDS 8
#define UDR_STATS_REASONS 256

typedef struct udr_event_stats {
    uint64_t events_by_kind[UDR_STATS_KINDS];
    uint64_t order_rejects[UDR_STATS_REASONS];   /* REJECTED by OrdRejReason */
    uint64_t cancel_rejects[UDR_STATS_REASONS];  /* CANCEL_REJECTED of a cancel, by CxlRejReason */
    uint64_t replace_rejects[UDR_STATS_REASONS]; /* CANCEL_REJECTED of a replace, by CxlRejReason */
    int32_t security_ids[UDR_STATS_MAX_INSTRUMENTS];
    uint32_t instrument_count;                   /* slots in use; slot instrument_count = other */
    uint64_t fills[UDR_STATS_MAX_INSTRUMENTS + 1];  /* matches (the aggressor's TRADE event) */
    uint64_t volume[UDR_STATS_MAX_INSTRUMENTS + 1]; /* matched quantity */
} udr_event_stats;

static inline uint32_t udr_stats_slot(const udr_event_stats *s, int32_t security_id)
{
    for (uint32_t i = 0; i < s->instrument_count; ++i)
        if (s->security_ids[i] == security_id) return i;
    return s->instrument_count;
}

static void udr_stats_tally(udr_event_stats *s, const udr_event *events, uint32_t n)
{
    for (uint32_t i = 0; i < n; ++i) {
        const udr_event *e = &events[i];
        s->events_by_kind[e->kind & (UDR_STATS_KINDS - 1)]++;
        switch (e->kind) {
        case UDR_EVT_TRADE:
            if (e->flags & UDR_EVT_FLAG_AGGRESSOR) {
                const uint32_t slot = udr_stats_slot(s, e->security_id);
                s->fills[slot]++;
                s->volume[slot] += e->qty;
            }
            break;
        case UDR_EVT_REJECTED:
            s->order_rejects[e->reason]++;
            break;
        case UDR_EVT_CANCEL_REJECTED:
            if (e->flags & UDR_EVT_FLAG_TO_REPLACE)
                s->replace_rejects[e->reason]++;
            else
                s->cancel_rejects[e->reason]++;
            break;
        default:
            break;
        }
    }
}

#endif /* UDPROUTER_EVENT_STATS_H */
