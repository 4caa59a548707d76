// order_index.h - O(1) lookup of a live order by (session_id, cl_ord_id).
//
// A hash table of 64-byte lines of 8 slots, pre-sized at construction to at least twice the order
// pool (load <= 0.5; at 0.25 the table took twice the cache for few fewer overflows): it never
// grows, never rehashes and never allocates after construction. A key
// belongs to its home line and sits in any free slot there; only when the home line is full does
// it go on to the next line, and each line counts the keys that went past it (overflow_). A
// lookup reads the home line and goes on only while that count is non-zero, so a present key costs
// one line. Slots never move: an erase empties the slot (and lowers the counts the key raised)
// without the backward-shift scan of linear probing, which read the next line whenever the hole
// was a line's last slot.
//
// A slot is 8 bytes: the pool index of the order and a 32-bit tag. The key itself is not stored:
// a tag match is confirmed against the order, which the caller reads next anyway. Small slots
// keep the table in cache, and the tag yields the key's home line without the order.
//
// ClOrdIDs rise within a session (the protocol requires it) and are usually consecutive, so the
// hash spreads blocks of 8 consecutive ClOrdIDs and keeps each block in one line: the tag is 29
// bits of the block's hash plus the ClOrdID's offset in its block, the home line comes from the
// block's hash and the offset is the key's first-choice slot there. A session sending consecutive
// ids touches a new index line once per 8 orders instead of once per order; any other pattern
// hashes as well as before. The slots sit on huge pages where the kernel allows (lookups land
// anywhere in several MB).
//
// KeyIndex is the table over any store of keyed records (Keys::matches confirms a stored value
// against a key); OrderIndex is it over the order pool. The orders that left the book have their
// own (terminal_orders.h), so this one stays the size of the pool's.
#ifndef UDPROUTER_ENGINE_ORDER_INDEX_H
#define UDPROUTER_ENGINE_ORDER_INDEX_H

#include "udprouter/engine/huge_page_array.h"
#include "udprouter/engine/order_pool.h"

#include <cstddef>
#include <cstdint>

namespace udprouter::engine {

// Keys: bool matches(uint32_t value, uint32_t session_id, uint64_t cl_ord_id) const, for a value
// (a record's position) the table holds; it must stay valid as long as the index.
template <class Keys>
class KeyIndex {
public:
    // Sized for up to max_records keys at once.
    KeyIndex(uint32_t max_records, Keys keys)
        : storage_(size_t{1} << table_bits(max_records)), slots_(storage_.data()),
          overflow_(storage_.size() / kBlock), keys_(keys) {
        const unsigned line_bits = table_bits(max_records) - 3; // kBlock = 8 slots a line
        line_mask_ = static_cast<uint32_t>((uint64_t{1} << line_bits) - 1);
        shift_ = 32 - line_bits;
        clear();
    }

    // A key's hash, computed once per command and passed to every call below that needs it.
    struct Prepared {
        uint32_t tag;
    };
    Prepared prepare(uint32_t session_id, uint64_t cl_ord_id) const { return Prepared{tag_of(session_id, cl_ord_id)}; }

    // Starts loading the key's home line, for a find, insert or erase that follows other work.
    void prefetch(Prepared key) const { __builtin_prefetch(&slots_[size_t{line_of(key.tag)} * kBlock]); }

    // Slot holding the live order under the key, or kNullIndex; order_at(slot) is its pool index.
    // A caller that removes the order passes the slot to erase_at() and saves a second lookup.
    uint32_t find_slot(Prepared key, uint32_t session_id, uint64_t cl_ord_id) const {
        const uint32_t first = key.tag & (kBlock - 1);
        for (uint32_t line = line_of(key.tag);; line = (line + 1) & line_mask_) {
            const uint32_t base = line * kBlock;
            // The first choice, where the key sits unless another block took that slot first.
            if (holds(base + first, key.tag, session_id, cl_ord_id)) {
                return base + first;
            }
            for (uint32_t i = 0; i < kBlock; ++i) {
                if (i != first && holds(base + i, key.tag, session_id, cl_ord_id)) {
                    return base + i;
                }
            }
            if (overflow_[line] == 0) {
                return kNullIndex;
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
        const uint32_t first = key.tag & (kBlock - 1);
        // The table holds at least 2 slots per order, so some line always has room.
        for (uint32_t line = line_of(key.tag);; line = (line + 1) & line_mask_) {
            const uint32_t base = line * kBlock;
            if (slots_[base + first].order == kNullIndex) {
                slots_[base + first] = Slot{order, key.tag};
                ++size_;
                return;
            }
            for (uint32_t i = 0; i < kBlock; ++i) {
                if (slots_[base + i].order == kNullIndex) {
                    slots_[base + i] = Slot{order, key.tag};
                    ++size_;
                    return;
                }
            }
            ++overflow_[line];
        }
    }

    // The slot of value `order`, which must be indexed under key: the slot holding that value, so
    // no record is read to confirm the key.
    uint32_t slot_of(Prepared key, uint32_t order) const {
        const uint32_t first = key.tag & (kBlock - 1);
        for (uint32_t line = line_of(key.tag);; line = (line + 1) & line_mask_) {
            const uint32_t base = line * kBlock;
            if (slots_[base + first].order == order) {
                return base + first;
            }
            for (uint32_t i = 0; i < kBlock; ++i) {
                if (slots_[base + i].order == order) {
                    return base + i;
                }
            }
        }
    }

    // Removes the entry of value `order`, which must be indexed under key.
    void erase(Prepared key, uint32_t order) { erase_at(slot_of(key, order)); }

    // Removes the entry of `value` under key if there is one (a lookup's bound: no key went past the
    // line where it stops); returns whether there was.
    bool erase_if_present(Prepared key, uint32_t value) {
        const uint32_t first = key.tag & (kBlock - 1);
        for (uint32_t line = line_of(key.tag);; line = (line + 1) & line_mask_) {
            const uint32_t base = line * kBlock;
            if (slots_[base + first].order == value) {
                erase_at(base + first);
                return true;
            }
            for (uint32_t i = 0; i < kBlock; ++i) {
                if (slots_[base + i].order == value) {
                    erase_at(base + i);
                    return true;
                }
            }
            if (overflow_[line] == 0) {
                return false;
            }
        }
    }

    // Empties a slot that find_slot() returned.
    void erase_at(uint32_t slot) {
        const uint32_t line = slot / kBlock;
        // A key stored past its home line raised the count of every line it went past.
        for (uint32_t passed = line_of(slots_[slot].tag); passed != line; passed = (passed + 1) & line_mask_) {
            --overflow_[passed];
        }
        slots_[slot].order = kNullIndex;
        --size_;
    }

    // Removes the key if present; returns whether it was.
    bool erase(uint32_t session_id, uint64_t cl_ord_id) {
        const uint32_t slot = find_slot(prepare(session_id, cl_ord_id), session_id, cl_ord_id);
        if (slot == kNullIndex) {
            return false;
        }
        erase_at(slot);
        return true;
    }

    uint32_t size() const { return size_; }
    void clear() {
        for (size_t i = 0; i < storage_.size(); ++i) {
            storage_[i] = Slot{kNullIndex, 0};
        }
        for (size_t i = 0; i < overflow_.size(); ++i) {
            overflow_[i] = 0;
        }
        size_ = 0;
    }

private:
    struct Slot {
        uint32_t order; // kNullIndex marks an empty slot
        uint32_t tag;
    };
    static unsigned table_bits(uint32_t max_records) {
        unsigned bits = 4;
        while ((uint64_t{1} << bits) < uint64_t{2} * max_records) {
            ++bits;
        }
        return bits;
    }

    static constexpr uint32_t kBlock = 8; // slots per 64-byte line

    static uint32_t tag_of(uint32_t session_id, uint64_t cl_ord_id) {
        // Fibonacci hashing of the block number: blocks spread over the whole table.
        const uint64_t key = (cl_ord_id / kBlock) ^ (static_cast<uint64_t>(session_id) * 0xC2B2AE3D27D4EB4FULL);
        const uint32_t hash = static_cast<uint32_t>((key * 0x9E3779B97F4A7C15ULL) >> 32);
        return (hash & ~(kBlock - 1)) | static_cast<uint32_t>(cl_ord_id % kBlock);
    }
    uint32_t line_of(uint32_t tag) const { return tag >> shift_; }
    bool holds(uint32_t slot, uint32_t tag, uint32_t session_id, uint64_t cl_ord_id) const {
        const Slot s = slots_[slot];
        return s.tag == tag && s.order != kNullIndex && keys_.matches(s.order, session_id, cl_ord_id);
    }

    HugePageArray<Slot> storage_; // page-aligned, so every 8-slot line is one cache line
    Slot* slots_;
    HugePageArray<uint32_t> overflow_; // per line: keys stored past it (read only when a lookup misses)
    Keys keys_;
    uint32_t line_mask_;
    unsigned shift_;
    uint32_t size_ = 0;
};

// A live order's key is in the order, in the pool.
struct OrderKeys {
    const OrderPool* pool;
    bool matches(uint32_t order, uint32_t session_id, uint64_t cl_ord_id) const {
        const Order& o = (*pool)[order];
        return o.cl_ord_id == cl_ord_id && o.session_id == session_id;
    }
};

// Every live order by (session_id, cl_ord_id), as its pool index.
class OrderIndex : public KeyIndex<OrderKeys> {
public:
    // pool is where candidate keys are confirmed; it must outlive the index.
    OrderIndex(uint32_t max_orders, const OrderPool& pool) : KeyIndex<OrderKeys>(max_orders, OrderKeys{&pool}) {}
};

} // namespace udprouter::engine

#endif
