#include "udprouter/engine/order_index.h"

#include <cstdint>

namespace udprouter::engine {

unsigned OrderIndex::table_bits(uint32_t max_orders) {
    unsigned bits = 4;
    while ((uint64_t{1} << bits) < uint64_t{4} * max_orders) {
        ++bits;
    }
    return bits;
}

OrderIndex::OrderIndex(uint32_t max_orders, const OrderPool& pool)
    : storage_(size_t{1} << table_bits(max_orders)), slots_(storage_.data()), pool_(pool) {
    const unsigned bits = table_bits(max_orders);
    mask_ = static_cast<uint32_t>((uint64_t{1} << bits) - 1);
    shift_ = 32 - bits;
    clear();
}

bool OrderIndex::erase(uint32_t session_id, uint64_t cl_ord_id) {
    const uint32_t slot = find_slot(prepare(session_id, cl_ord_id), session_id, cl_ord_id);
    if (slot == kNullIndex) {
        return false;
    }
    erase_at(slot);
    return true;
}

void OrderIndex::erase_at(uint32_t slot) {
    // Backward shift: move later members of the probe run into the hole when their home slot
    // does not lie cyclically in (hole, candidate], so every key stays reachable from its home.
    uint32_t hole = slot;
    uint32_t next = (hole + 1) & mask_;
    while (slots_[next].order != kNullIndex) {
        const uint32_t want = home(slots_[next].tag);
        if (((next - want) & mask_) >= ((next - hole) & mask_)) {
            slots_[hole] = slots_[next];
            hole = next;
        }
        next = (next + 1) & mask_;
    }
    slots_[hole].order = kNullIndex;
    --size_;
}

void OrderIndex::clear() {
    for (size_t i = 0; i < storage_.size(); ++i) {
        storage_[i] = Slot{kNullIndex, 0};
    }
    size_ = 0;
}

} // namespace udprouter::engine
