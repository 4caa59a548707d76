#include "udprouter/engine/order_index.h"

namespace udprouter::engine {

OrderIndex::OrderIndex(uint32_t max_orders) {
    unsigned bits = 4;
    while ((uint64_t{1} << bits) < uint64_t{2} * max_orders) {
        ++bits;
    }
    slots_.assign(size_t{1} << bits, Slot{0, 0, kNullIndex});
    mask_ = (uint64_t{1} << bits) - 1;
    shift_ = 64 - bits;
}

bool OrderIndex::erase(uint32_t session_id, uint64_t cl_ord_id) {
    uint64_t slot = home(session_id, cl_ord_id);
    for (;;) {
        const Slot& s = slots_[slot];
        if (s.order == kNullIndex) {
            return false;
        }
        if (s.cl_ord_id == cl_ord_id && s.session_id == session_id) {
            break;
        }
        slot = (slot + 1) & mask_;
    }
    // Backward shift: move later members of the probe run into the hole when their home slot
    // does not lie cyclically in (hole, candidate], so every key stays reachable from its home.
    uint64_t hole = slot;
    uint64_t next = (hole + 1) & mask_;
    while (slots_[next].order != kNullIndex) {
        const uint64_t want = home(slots_[next].session_id, slots_[next].cl_ord_id);
        if (((next - want) & mask_) >= ((next - hole) & mask_)) {
            slots_[hole] = slots_[next];
            hole = next;
        }
        next = (next + 1) & mask_;
    }
    slots_[hole].order = kNullIndex;
    --size_;
    return true;
}

void OrderIndex::clear() {
    slots_.assign(slots_.size(), Slot{0, 0, kNullIndex});
    size_ = 0;
}

} // namespace udprouter::engine
