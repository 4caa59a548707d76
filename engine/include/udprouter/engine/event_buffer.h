// event_buffer.h - collects the events of one command and hands them to the caller's sink.
//
// Matching writes events into a fixed array; when it fills, the events so far go to the sink (a
// further event is coming, so none of them is the last). finish() flags the final event
// UDR_EVT_FLAG_LAST and hands over the rest. The sink is reached through one function pointer
// per flush, not per event, and nothing is allocated.
#ifndef UDPROUTER_ENGINE_EVENT_BUFFER_H
#define UDPROUTER_ENGINE_EVENT_BUFFER_H

#include "udprouter/engine/ring_abi.h"

#include <cstdint>

namespace udprouter::engine {

class EventBuffer {
public:
    using FlushFn = void (*)(void* context, const udr_event* events, uint32_t count);
    static constexpr uint32_t kCapacity = 128;

    void bind(FlushFn flush, void* context) {
        flush_ = flush;
        context_ = context;
        count_ = 0;
    }

    // Takes the event by value and stores it straight into the next slot (no staging copy).
    void push(udr_event event) {
        if (count_ == kCapacity) {
            flush_(context_, events_, count_);
            count_ = 0;
        }
        events_[count_++] = event;
    }

    // Every command produces at least one event, so there is always a last one to flag.
    void finish() {
        events_[count_ - 1].flags |= UDR_EVT_FLAG_LAST;
        flush_(context_, events_, count_);
        count_ = 0;
    }

private:
    udr_event events_[kCapacity];
    FlushFn flush_ = nullptr;
    void* context_ = nullptr;
    uint32_t count_ = 0;
};

} // namespace udprouter::engine

#endif
