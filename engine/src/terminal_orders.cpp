#include "udprouter/engine/terminal_orders.h"

namespace udprouter::engine {

void TerminalOrders::append(const TerminalOrder& record) {
    if (capacity_ == 0) {
        return;
    }
    const OrderIndex::Prepared key = index_.prepare(record.session_id, record.cl_ord_id);
    const uint32_t pos = take_position();
    ring_[pos] = record;
    tags_[pos] = key.tag;
    if (record.status != kDropped) {
        index_.insert(key, kTerminalBit | pos);
    }
}

uint32_t TerminalOrders::drop_session(uint32_t session_id) {
    uint32_t dropped = 0;
    for (uint32_t pos = 0; pos < size_; ++pos) {
        TerminalOrder& r = ring_[pos];
        if (r.session_id == session_id && r.status != kDropped) {
            index_.erase(OrderIndex::Prepared{tags_[pos]}, kTerminalBit | pos);
            r.status = kDropped;
            ++dropped;
        }
    }
    return dropped;
}

} // namespace udprouter::engine
