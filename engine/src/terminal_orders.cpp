#include "udprouter/engine/terminal_orders.h"

namespace udprouter::engine {

uint64_t TerminalOrders::catch_up(uint64_t budget) {
    if (capacity_ == 0) {
        return 0;
    }
    // Records overwritten before they were indexed are skipped: their positions hold newer ones.
    if (written_ - indexed_ > capacity_) {
        indexed_ = written_ - capacity_;
    }
    const uint64_t end = written_ - indexed_ > budget ? indexed_ + budget : written_;
    for (uint64_t n = indexed_; n < end; ++n) {
        const auto pos = static_cast<uint32_t>(n % capacity_);
        // The entry the position was last indexed under (if it is still there), then the record now
        // there. tags_ is only read back for a position indexed before, so its first value is moot.
        if (n >= capacity_) {
            index_.erase_if_present(decltype(index_)::Prepared{tags_[pos]}, pos);
        }
        const TerminalOrder& t = ring_[pos];
        const auto key = index_.prepare(t.session_id, t.cl_ord_id);
        tags_[pos] = key.tag;
        if (t.status != kDropped) {
            index_.insert(key, pos);
        }
    }
    indexed_ = end;
    return written_ - indexed_;
}

uint32_t TerminalOrders::drop_session(uint32_t session_id) {
    uint32_t dropped = 0;
    for (uint32_t pos = 0; pos < size_; ++pos) {
        TerminalOrder& r = ring_[pos];
        if (r.session_id == session_id && r.status != kDropped) {
            r.status = kDropped; // its index entry, if any, now matches no lookup
            ++dropped;
        }
    }
    return dropped;
}

} // namespace udprouter::engine
