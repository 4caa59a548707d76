// order_index.h - O(1) lookup of a live order by (session_id, cl_ord_id).
//
// Open addressing with linear probing, pre-sized at construction to at least four times the
// order pool (load factor <= 0.25: blocks of consecutive ids make runs longer than random keys
// would, and deletion scans to the end of a run), and backward-shift deletion so no tombstones
// accumulate: the table never grows, never rehashes and never allocates after construction.
//
// A slot is 8 bytes: the pool index of the order and a 32-bit tag. The key itself is not stored:
// a tag match is confirmed against the order, which the caller reads next anyway. Small slots
// keep the table in cache, and the tag yields the slot's home for deletion without the order.
//
// ClOrdIDs rise within a session (the protocol requires it) and are usually consecutive, so the
// hash spreads blocks of 8 consecutive ClOrdIDs and keeps each block in one cache line: the tag
// is 29 bits of the block's hash plus the ClOrdID's offset in its block, and the home slot is
// the block's line plus that offset. A session sending consecutive ids touches a new index line
// once per 8 orders instead of once per order; any other pattern hashes as well as before.
// The slots sit on huge pages where the kernel allows (lookups land anywhere in several MB).
#ifndef UDPROUTER_ENGINE_ORDER_INDEX_H
#define UDPROUTER_ENGINE_ORDER_INDEX_H

#include "udprouter/engine/huge_page_array.h"
#include "udprouter/engine/order_pool.h"

#include <cstddef>
#include <cstdint>

namespace udprouter::engine {

class OrderIndex {
public:
    // pool is where candidate keys are confirmed; it must outlive the index.
    OrderIndex(uint32_t max_orders, const OrderPool& pool);

    // A key's hash, computed once per command and passed to every call below that needs it.
    struct Prepared {
        uint32_t tag;
    };
    Prepared prepare(uint32_t session_id, uint64_t cl_ord_id) const { return Prepared{tag_of(session_id, cl_ord_id)}; }

    // Starts loading the key's home line, for a find, insert or erase that follows other work.
    void prefetch(Prepared key) const { __builtin_prefetch(&slots_[home(key.tag)]); }

    // Slot holding the live order under the key, or kNullIndex; order_at(slot) is its pool index.
    // A caller that removes the order passes the slot to erase_at() and saves a second probe.
    uint32_t find_slot(Prepared key, uint32_t session_id, uint64_t cl_ord_id) const {
        for (uint32_t slot = home(key.tag);; slot = (slot + 1) & mask_) {
            const Slot s = slots_[slot];
            if (s.order == kNullIndex) {
                return kNullIndex;
            }
            if (s.tag == key.tag && matches(s.order, session_id, cl_ord_id)) {
                return slot;
            }
        }
    }
    uint32_t order_at(uint32_t slot) const { return slots_[slot].order; }

    // Pool index of the live order, or kNullIndex.
    uint32_t find(uint32_t session_id, uint64_t cl_ord_id) const {
        const uint32_t slot = find_slot(prepare(session_id, cl_ord_id), session_id, cl_ord_id);
        return slot == kNullIndex ? kNullIndex : slots_[slot].order;
    }

    // The key must be absent (ClOrdIDs are unique per session: the engine checks first).
    void insert(uint32_t session_id, uint64_t cl_ord_id, uint32_t order) {
        insert(prepare(session_id, cl_ord_id), order);
    }

    void insert(Prepared key, uint32_t order) {
        const uint32_t tag = key.tag;
        uint32_t slot = home(tag);
        while (slots_[slot].order != kNullIndex) {
            slot = (slot + 1) & mask_;
        }
        slots_[slot] = Slot{order, tag};
        ++size_;
    }

    // Removes the entry of pool order `order`, which must be indexed under key: its slot is the one
    // holding that pool index, so no order is read to confirm the key.
    void erase(Prepared key, uint32_t order) {
        uint32_t slot = home(key.tag);
        while (slots_[slot].order != order) {
            slot = (slot + 1) & mask_;
        }
        erase_at(slot);
    }

    // Empties a slot that find_slot() returned.
    void erase_at(uint32_t slot);

    // Removes the key if present; returns whether it was.
    bool erase(uint32_t session_id, uint64_t cl_ord_id);

    uint32_t size() const { return size_; }
    void clear();

private:
    struct Slot {
        uint32_t order; // kNullIndex marks an empty slot
        uint32_t tag;
    };
    static unsigned table_bits(uint32_t max_orders);

    static constexpr uint32_t kBlock = 8; // slots per 64-byte line

    static uint32_t tag_of(uint32_t session_id, uint64_t cl_ord_id) {
        // Fibonacci hashing of the block number: blocks spread over the whole table.
        const uint64_t key = (cl_ord_id / kBlock) ^ (static_cast<uint64_t>(session_id) * 0xC2B2AE3D27D4EB4FULL);
        const uint32_t hash = static_cast<uint32_t>((key * 0x9E3779B97F4A7C15ULL) >> 32);
        return (hash & ~(kBlock - 1)) | static_cast<uint32_t>(cl_ord_id % kBlock);
    }
    uint32_t home(uint32_t tag) const { return ((tag >> shift_) & ~(kBlock - 1)) | (tag & (kBlock - 1)); }
    bool matches(uint32_t order, uint32_t session_id, uint64_t cl_ord_id) const {
        const Order& o = pool_[order];
        return o.cl_ord_id == cl_ord_id && o.session_id == session_id;
    }

    HugePageArray<Slot> storage_; // page-aligned, so every 8-slot block is one cache line
    Slot* slots_;
    const OrderPool& pool_;
    uint32_t mask_;
    unsigned shift_;
    uint32_t size_ = 0;
};

} // namespace udprouter::engine

#endif
