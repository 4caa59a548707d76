// order_pool.h - fixed-capacity pool of Orders, sized at construction, prefaulted.
//
// acquire() pops a LIFO free list so the most recently freed (cache-warm) order is reused first;
// a full pool is a returned kNullIndex, never an allocation. The orders sit on huge pages where the
// kernel allows (a cancel reads a random order: 4 KB pages would add a TLB miss to most of them).
//
// Each order's queue position (where its pool index sits in its level's QueueSlab chunks) is kept
// in a separate 4-byte array rather than in the Order: compacting a level rewrites the position of
// every order it moves, and in a 4-byte array those writes land in a few hot lines instead of
// fetching each moved order's line from memory. A cancel reads the position and the order in
// parallel (both follow from the pool index alone).
#ifndef UDPROUTER_ENGINE_ORDER_POOL_H
#define UDPROUTER_ENGINE_ORDER_POOL_H

#include "udprouter/engine/huge_page_array.h"
#include "udprouter/engine/order.h"
#include "udprouter/engine/queue_slab.h"

#include <cstdint>

namespace udprouter::engine {

class OrderPool {
public:
    // price_levels (all sides of all books) tightens the level queues' capacity bound; without
    // it the bound assumes every order could sit on a level of its own.
    explicit OrderPool(uint32_t capacity, uint64_t price_levels = UINT64_MAX);

    // Index of a free order, or kNullIndex when the pool is exhausted.
    uint32_t acquire() {
        const uint32_t index = free_head_;
        if (index != kNullIndex) {
            free_head_ = orders_[index].next;
            ++in_use_;
        }
        return index;
    }

    void release(uint32_t index) {
        orders_[index].next = free_head_;
        free_head_ = index;
        --in_use_;
    }

    Order& operator[](uint32_t index) { return orders_[index]; }
    // Position of a resting order's entry in its level's queue.
    uint32_t& pos(uint32_t index) { return positions_[index]; }
    uint32_t pos(uint32_t index) const { return positions_[index]; }
    // The price levels' queues, sized from the pool's capacity so no append can fail.
    QueueSlab& queues() { return queues_; }
    const QueueSlab& queues() const { return queues_; }
    const Order& operator[](uint32_t index) const { return orders_[index]; }

    uint32_t capacity() const { return capacity_; }
    uint32_t in_use() const { return in_use_; }
    bool full() const { return free_head_ == kNullIndex; }

    // Returns every order and queue chunk to its free list (used before loading a snapshot).
    void clear();

private:
    HugePageArray<Order> orders_;
    HugePageArray<uint32_t> positions_;
    QueueSlab queues_;
    uint32_t capacity_;
    uint32_t free_head_ = kNullIndex;
    uint32_t in_use_ = 0;
};

} // namespace udprouter::engine

#endif
