#include "udprouter/engine/terminal_orders.h"

namespace udprouter::engine {

uint32_t TerminalOrders::drop_session(uint32_t session_id) {
    uint32_t dropped = 0;
    for (uint32_t pos = 0; pos < size_; ++pos) {
        TerminalOrder& r = ring_[pos];
        if (r.session_id == session_id && r.status != kDropped) {
            index_.erase(index_.prepare(r.session_id, r.cl_ord_id), pos);
            r.status = kDropped;
            ++dropped;
        }
    }
    return dropped;
}

} // namespace udprouter::engine
