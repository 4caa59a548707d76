#include "udprouter/engine/order_index.h"

#include <cstdint>

namespace udprouter::engine {

unsigned OrderIndex::table_bits(uint32_t max_orders) {
    unsigned bits = 4;
    while ((uint64_t{1} << bits) < uint64_t{2} * max_orders) {
        ++bits;
    }
    return bits;
}

OrderIndex::OrderIndex(uint32_t max_orders, const OrderPool& pool)
    : storage_(size_t{1} << table_bits(max_orders)), slots_(storage_.data()),
      overflow_(storage_.size() / kBlock), pool_(pool) {
    const unsigned line_bits = table_bits(max_orders) - 3; // kBlock = 8 slots a line
    line_mask_ = static_cast<uint32_t>((uint64_t{1} << line_bits) - 1);
    shift_ = 32 - line_bits;
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

void OrderIndex::clear() {
    for (size_t i = 0; i < storage_.size(); ++i) {
        storage_[i] = Slot{kNullIndex, 0};
    }
    for (size_t i = 0; i < overflow_.size(); ++i) {
        overflow_[i] = 0;
    }
    size_ = 0;
}

} // namespace udprouter::engine
