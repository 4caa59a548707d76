// price_level.h - one price level of one side: a FIFO of pooled orders in QueueSlab chunks.
//
// head is the position of the oldest live order (tombstones before it are always skipped at
// once, so matching never reads one); tail is the position of the newest entry. A cancel in the
// middle leaves a tombstone; when tombstones outnumber live orders (and exceed a small slack)
// the level compacts, rewriting OrderPool::pos only for the orders that move. There is no running
// quantity total: keeping one cost a second cache line per level on every add, cancel and fill,
// while the FillOrKill pre-check that read it reads the orders it is about to fill anyway.
#ifndef UDPROUTER_ENGINE_PRICE_LEVEL_H
#define UDPROUTER_ENGINE_PRICE_LEVEL_H

#include "udprouter/engine/order_pool.h"

#include <cstdint>

namespace udprouter::engine {

struct PriceLevel {
    static constexpr uint32_t kMaxSlackTombs = 8; // below this, compaction would cost more than it saves

    uint32_t head = kNullIndex;
    uint32_t tail = kNullIndex;
    uint32_t live = 0;
    uint32_t tombs = 0;
    uint32_t first = kNullIndex; // pool index of the oldest order (the entry at head), kNullIndex when empty

    bool empty() const { return live == 0; }

    // Pool index of the oldest order, kNullIndex when the level is empty. Kept beside head so a
    // sweep reaching a level (or looking ahead at the next ones) loads the order without first
    // loading the level's queue chunk: most levels a sweep reaches hold one or two orders, and
    // the chunk then was a second dependent miss per level.
    uint32_t front() const { return first; }

    // Pool index of the order after the oldest, or kNullIndex when it is a tombstone or unknown
    // without a chunk hop (a prefetch hint only).
    uint32_t second(const OrderPool& pool) const {
        if (head == tail || QueueSlab::last_in_chunk(head)) {
            return kNullIndex;
        }
        return pool.queues().entry(head + 1);
    }

    // Appends at the back: the order takes the last time priority at this price.
    void append(OrderPool& pool, uint32_t index) {
        QueueSlab& q = pool.queues();
        uint32_t pos = 0;
        if (tail == kNullIndex) {
            pos = q.acquire_chunk();
            head = pos;
            first = index;
        } else if (!QueueSlab::last_in_chunk(tail)) {
            pos = tail + 1;
        } else {
            pos = q.acquire_chunk();
            q.link(tail, pos);
        }
        q.entry(pos) = index;
        tail = pos;
        ++live;
        pool.pos(index) = pos;
    }

    void unlink(OrderPool& pool, uint32_t index) {
        --live;
        if (live == 0) {
            release_all(pool.queues());
            return;
        }
        const uint32_t pos = pool.pos(index);
        if (pos == head) {
            advance_head(pool.queues());
        } else {
            pool.queues().entry(pos) = QueueSlab::kTombstone;
            ++tombs;
        }
        compact_if_due(pool);
    }

    // unlink() of the oldest order (matching removes only those), without reading its position.
    void unlink_front(OrderPool& pool) {
        --live;
        if (live == 0) {
            release_all(pool.queues());
            return;
        }
        advance_head(pool.queues());
        compact_if_due(pool);
    }

    // Calls f(pool index) for each order, oldest first.
    template <class F>
    void for_each(const OrderPool& pool, F&& f) const {
        if (live == 0) {
            return;
        }
        const QueueSlab& q = pool.queues();
        for (uint32_t pos = head;; pos = q.next(pos)) {
            const uint32_t index = q.entry(pos);
            if (index != QueueSlab::kTombstone) {
                f(index);
            }
            if (pos == tail) {
                return;
            }
        }
    }

private:
    // After any removal (a head removal lowers live too), so the slab's capacity bound holds.
    void compact_if_due(OrderPool& pool) {
        if (tombs > live && tombs > kMaxSlackTombs) {
            compact(pool);
        }
    }

    // Steps past the head entry and any tombstones after it, freeing chunks left behind.
    void advance_head(QueueSlab& q) {
        uint32_t pos = head;
        do {
            const uint32_t next = q.next(pos);
            if (QueueSlab::last_in_chunk(pos)) {
                q.release_chunk(pos);
            }
            pos = next;
            first = q.entry(pos);
        } while (first == QueueSlab::kTombstone && (--tombs, true));
        head = pos;
    }

    void release_all(QueueSlab& q) {
        for (uint32_t pos = head;;) {
            const bool last = QueueSlab::chunk_of(pos) == QueueSlab::chunk_of(tail);
            const uint32_t next = last ? 0 : q.next_chunk(pos);
            q.release_chunk(pos);
            if (last) {
                break;
            }
            pos = next;
        }
        head = tail = kNullIndex;
        first = kNullIndex;
        tombs = 0;
    }

    // Moves the live entries forward over the tombstones and frees the chunks emptied at the end.
    void compact(OrderPool& pool) {
        QueueSlab& q = pool.queues();
        uint32_t write = head;
        uint32_t last = head;
        for (uint32_t read = head;; read = q.next(read)) {
            const uint32_t index = q.entry(read);
            if (index != QueueSlab::kTombstone) {
                if (write != read) {
                    q.entry(write) = index;
                    pool.pos(index) = write;
                }
                last = write;
                if (read != tail) {
                    write = q.next(write);
                }
            }
            if (read == tail) {
                break;
            }
        }
        const uint32_t last_chunk = QueueSlab::chunk_of(last);
        if (last_chunk != QueueSlab::chunk_of(tail)) {
            uint32_t pos = q.next_chunk(last);
            for (;;) {
                const bool end = QueueSlab::chunk_of(pos) == QueueSlab::chunk_of(tail);
                const uint32_t next = end ? 0 : q.next_chunk(pos);
                q.release_chunk(pos);
                if (end) {
                    break;
                }
                pos = next;
            }
        }
        tail = last;
        tombs = 0;
    }
};

static_assert(QueueSlab::kTombstone == kNullIndex, "second() returns a tombstone as kNullIndex");
static_assert(sizeof(PriceLevel) == 20, "five 32-bit fields, no padding");

} // namespace udprouter::engine

#endif
