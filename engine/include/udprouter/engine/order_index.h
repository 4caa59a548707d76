// order_index.h - O(1) lookup of a live order by (session_id, cl_ord_id).
//
// Open addressing with linear probing, pre-sized at construction to at least twice the order
// pool (load factor <= 0.5), and backward-shift deletion so no tombstones accumulate: the table
// never grows, never rehashes and never allocates after construction.
#ifndef UDPROUTER_ENGINE_ORDER_INDEX_H
#define UDPROUTER_ENGINE_ORDER_INDEX_H

#include "udprouter/engine/order.h"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace udprouter::engine {

class OrderIndex {
public:
    explicit OrderIndex(uint32_t max_orders);

    // Pool index of the live order, or kNullIndex.
    uint32_t find(uint32_t session_id, uint64_t cl_ord_id) const {
        uint64_t slot = home(session_id, cl_ord_id);
        for (;;) {
            const Slot& s = slots_[slot];
            if (s.order == kNullIndex) {
                return kNullIndex;
            }
            if (s.cl_ord_id == cl_ord_id && s.session_id == session_id) {
                return s.order;
            }
            slot = (slot + 1) & mask_;
        }
    }

    // The key must be absent (ClOrdIDs are unique per session: the engine checks first).
    void insert(uint32_t session_id, uint64_t cl_ord_id, uint32_t order) {
        uint64_t slot = home(session_id, cl_ord_id);
        while (slots_[slot].order != kNullIndex) {
            slot = (slot + 1) & mask_;
        }
        slots_[slot] = Slot{cl_ord_id, session_id, order};
        ++size_;
    }

    // Removes the key if present; returns whether it was.
    bool erase(uint32_t session_id, uint64_t cl_ord_id);

    uint32_t size() const { return size_; }
    void clear();

private:
    struct Slot {
        uint64_t cl_ord_id;
        uint32_t session_id;
        uint32_t order; // kNullIndex marks an empty slot
    };

    uint64_t home(uint32_t session_id, uint64_t cl_ord_id) const {
        // Fibonacci hashing: sequential ClOrdIDs spread over the whole table.
        const uint64_t key = cl_ord_id ^ (static_cast<uint64_t>(session_id) * 0xC2B2AE3D27D4EB4FULL);
        return (key * 0x9E3779B97F4A7C15ULL) >> shift_;
    }

    std::vector<Slot> slots_;
    uint64_t mask_;
    unsigned shift_;
    uint32_t size_ = 0;
};

} // namespace udprouter::engine

#endif
