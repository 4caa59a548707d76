#include "udprouter/engine/order_pool.h"

namespace udprouter::engine {

OrderPool::OrderPool(uint32_t capacity, uint64_t price_levels)
    : orders_(capacity == 0 ? 1 : capacity), positions_(capacity == 0 ? 1 : capacity), queues_(capacity, price_levels), capacity_(capacity) {
    clear();
}

void OrderPool::clear() {
    // Chain in ascending order so a fresh pool hands out indices 0, 1, 2, ... (sequential memory).
    for (uint32_t i = 0; i < capacity_; ++i) {
        orders_[i].next = (i + 1 < capacity_) ? i + 1 : kNullIndex;
    }
    free_head_ = capacity_ == 0 ? kNullIndex : 0;
    in_use_ = 0;
    queues_.clear();
}

} // namespace udprouter::engine
