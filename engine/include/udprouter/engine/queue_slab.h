// queue_slab.h - the storage of every price level's FIFO: 64-byte chunks of 16 order indices.
//
// A level's queue is a chain of chunks holding pool indices in time priority. Canceling an order
// writes a tombstone into its entry (found from OrderPool::pos) instead of relinking two neighbour
// orders, which were two random cache misses per cancel; a level's entries are contiguous, so
// matching and compaction read a few lines per level instead of one line per order.
//
// A chunk holds 15 entries and, in its last slot, the number of the next chunk (in a level's
// chain or in the free list), so stepping to the next chunk reads no other line.
//
// Capacity is fixed from the order pool so appends never fail. A level keeps its tombstones at
// most max(live, kMaxSlackTombs = 8) (PriceLevel compacts beyond that after every removal) and
// its chain starts anywhere within a chunk, so a level with n live orders spans at most
// max(2, ceil((14 + 2n) / 15)) <= 2 + 2n/15 chunks; with at most min(price levels, max_orders)
// non-empty levels, all of them together span at most 2 * min(levels, max_orders)
// + 2 * max_orders / 15 chunks. Huge-page backed like the pool.
#ifndef UDPROUTER_ENGINE_QUEUE_SLAB_H
#define UDPROUTER_ENGINE_QUEUE_SLAB_H

#include "udprouter/engine/huge_page_array.h"

#include <cstdint>
#include <new>

namespace udprouter::engine {

class QueueSlab {
public:
    static constexpr uint32_t kChunkEntries = 16; // one cache line of uint32_t
    static constexpr uint32_t kLinkSlot = kChunkEntries - 1; // the next chunk's number: no second line to read
    static constexpr uint32_t kTombstone = 0xFFFFFFFFu;

    // price_levels: every price level of every side of every book (the bound above).
    QueueSlab(uint32_t max_orders, uint64_t price_levels)
        : chunk_count_(chunks_for(max_orders, price_levels)), entries_(size_t{chunk_count_} * kChunkEntries) {
        clear();
    }

    uint32_t& entry(uint32_t pos) { return entries_[pos]; }
    uint32_t entry(uint32_t pos) const { return entries_[pos]; }
    // Where pos's entry lives (for a prefetch).
    const uint32_t* address(uint32_t pos) const { return &entries_[pos]; }

    // A fresh chunk's first position (the capacity bound above guarantees one is free).
    uint32_t acquire_chunk() {
        const uint32_t chunk = free_head_;
        free_head_ = entries_[chunk * kChunkEntries + kLinkSlot];
        return chunk * kChunkEntries;
    }

    // Returns the chunk holding pos to the free list; LIFO keeps a recently used line warm.
    void release_chunk(uint32_t pos) {
        const uint32_t chunk = pos / kChunkEntries;
        entries_[chunk * kChunkEntries + kLinkSlot] = free_head_;
        free_head_ = chunk;
    }

    // Chains a fresh chunk (its first position) after the chunk holding pos.
    void link(uint32_t pos, uint32_t next_chunk_pos) { entries_[pos | kLinkSlot] = next_chunk_pos / kChunkEntries; }

    static bool last_in_chunk(uint32_t pos) { return pos % kChunkEntries == kLinkSlot - 1; }

    // The position after pos in its chain; pos must not be its chain's last position.
    uint32_t next(uint32_t pos) const {
        return last_in_chunk(pos) ? entries_[pos + 1] * kChunkEntries : pos + 1;
    }

    // The first position of the chunk after the one holding pos (pos's chain must go on).
    uint32_t next_chunk(uint32_t pos) const { return entries_[pos | kLinkSlot] * kChunkEntries; }

    static uint32_t chunk_of(uint32_t pos) { return pos / kChunkEntries; }

    // Every chunk free (used before loading a snapshot).
    void clear() {
        for (uint32_t c = 0; c < chunk_count_; ++c) {
            entries_[c * kChunkEntries + kLinkSlot] = c + 1 < chunk_count_ ? c + 1 : kTombstone;
        }
        free_head_ = 0;
    }

private:
    static uint32_t chunks_for(uint32_t max_orders, uint64_t price_levels) {
        const uint64_t levels = price_levels < max_orders ? price_levels : max_orders;
        const uint64_t chunks = 2 * levels + 2 * uint64_t{max_orders} / kLinkSlot + 2;
        if (chunks >= (uint64_t{1} << 32) / kChunkEntries) {
            throw std::bad_alloc(); // positions are 32-bit, kTombstone excluded
        }
        return static_cast<uint32_t>(chunks);
    }

    uint32_t chunk_count_;
    HugePageArray<uint32_t> entries_; // page-aligned, so every chunk is one cache line
    uint32_t free_head_ = 0;
};

} // namespace udprouter::engine

#endif
