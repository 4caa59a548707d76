// price_level.h - one price level of one side: an intrusive FIFO of pooled orders.
//
// total_qty is the sum of leaves_qty over the level's orders, kept so that a FillOrKill
// pre-check reads one number per level instead of walking the orders.
#ifndef UDPROUTER_ENGINE_PRICE_LEVEL_H
#define UDPROUTER_ENGINE_PRICE_LEVEL_H

#include "udprouter/engine/order_pool.h"

#include <cstdint>

namespace udprouter::engine {

struct PriceLevel {
    uint32_t head = kNullIndex;
    uint32_t tail = kNullIndex;
    uint64_t total_qty = 0;

    bool empty() const { return head == kNullIndex; }

    // Appends at the back: the order takes the last time priority at this price.
    void append(OrderPool& pool, uint32_t index) {
        Order& order = pool[index];
        order.next = kNullIndex;
        order.prev = tail;
        if (tail == kNullIndex) {
            head = index;
        } else {
            pool[tail].next = index;
        }
        tail = index;
        total_qty += order.leaves_qty;
    }

    void unlink(OrderPool& pool, uint32_t index) {
        const Order& order = pool[index];
        if (order.prev == kNullIndex) {
            head = order.next;
        } else {
            pool[order.prev].next = order.next;
        }
        if (order.next == kNullIndex) {
            tail = order.prev;
        } else {
            pool[order.next].prev = order.prev;
        }
        total_qty -= order.leaves_qty;
    }
};

static_assert(sizeof(PriceLevel) == 16, "four price levels per cache line");

} // namespace udprouter::engine

#endif
