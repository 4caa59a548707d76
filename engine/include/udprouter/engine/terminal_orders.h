// terminal_orders.h - the final state of the orders that left the book, for OrderStatusRequest.
//
// An order that is filled in full or canceled (by its session, a mass cancel, cancel on disconnect,
// the kill switch, self-match prevention, or an IOC/FOK/market remainder) leaves the pool; its last
// state is recorded here so an order status request still answers Filled or Canceled with its
// OrderID, Side, Price and CumQty. The table is a ring of a fixed capacity, allocated and prefaulted
// at construction: recording never allocates, and once the ring is full each record evicts the
// oldest (the evicted order then answers unknown). Capacity 0 keeps nothing.
//
// Records are keyed like the live orders, (session_id, ClOrdID), in the engine's OrderIndex itself
// (order_index.h: a value with kTerminalBit is a ring position). An order leaving the book turns its
// live entry into its terminal one in place, so recording costs no index line the removal did not
// load; the evicted record's entry is found from a 4-byte tag array read in sequence (not from the
// record), and its line is loaded a few records ahead. The record is written with streaming stores:
// the ring is read back only by a status request or a snapshot, so it need not pass through the
// cache the books work in.
//
// A key is in the table at most once: a session's ClOrdIDs never repeat, and a session reset (its id
// given to a new session, whose ClOrdIDs start again) drops the session's records (drop_session: a
// scan of the ring, on that cold command only). A dropped record keeps its place in the ring, so
// eviction stays the same whether the engine ran straight or restarted from a snapshot. Everything
// here is a pure function of the command sequence, like the rest of the engine state.
#ifndef UDPROUTER_ENGINE_TERMINAL_ORDERS_H
#define UDPROUTER_ENGINE_TERMINAL_ORDERS_H

#include "udprouter/engine/errors.h"
#include "udprouter/engine/huge_page_array.h"
#include "udprouter/engine/order.h"
#include "udprouter/engine/order_index.h"

#include <cstdint>
#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace udprouter::engine {

class TerminalOrders {
public:
    static constexpr uint8_t kDropped = 0xFF;

    // index: the engine's order index, sized for the live orders plus `capacity` (only stored here:
    // it may be constructed after this table, which gives it ring()).
    TerminalOrders(uint32_t capacity, OrderIndex& index)
        : ring_(capacity == 0 ? 1 : capacity), tags_(capacity == 0 ? 1 : capacity), index_(index),
          capacity_(capacity) {}
    TerminalOrders(const TerminalOrders&) = delete;
    TerminalOrders& operator=(const TerminalOrders&) = delete;

    const TerminalOrder* ring() const { return ring_.data(); }

    // A live order leaves the book with status Filled or Canceled: its index entry at `slot` becomes
    // its terminal record's (or is erased when the table keeps none).
    void record_at(uint32_t slot, const Order& o, OrdStatus status) {
        if (capacity_ == 0) {
            index_.erase_at(slot);
            return;
        }
        const uint32_t pos = take_position();
        store(ring_[pos], make(o, status));
        tags_[pos] = index_.tag_at(slot);
        index_.set_value(slot, kTerminalBit | pos);
    }
    // The same for pool order `order` indexed under key (its slot found by its value).
    void record_indexed(OrderIndex::Prepared key, uint32_t order, const Order& o, OrdStatus status) {
        record_at(index_.slot_of(key, order), o, status);
    }
    // An order that was never in the index (an IOC/FOK/market order, a Day order filled on arrival).
    void record_new(OrderIndex::Prepared key, const Order& o, OrdStatus status) {
        if (capacity_ != 0) {
            const uint32_t pos = take_position();
            store(ring_[pos], make(o, status));
            tags_[pos] = key.tag;
            index_.insert(key, kTerminalBit | pos);
        }
    }
    // Filled when it filled in full, else Canceled (self-match prevention canceled its remainder).
    static OrdStatus done(const Order& o) { return o.cum_qty == o.order_qty ? OrdStatus::Filled : OrdStatus::Canceled; }

    // The record an index value names (a value with kTerminalBit).
    const TerminalOrder& at(uint32_t value) const { return ring_[value & ~kTerminalBit]; }

    // Drops every record of the session (a session reset); returns how many.
    uint32_t drop_session(uint32_t session_id);

    // Appends a record as it stands, dropped or not (a snapshot load, oldest first, into an index
    // holding the live orders).
    void append(const TerminalOrder& record);

    // Every record, oldest first, dropped ones included (the snapshot).
    template <class Fn>
    void for_each(Fn&& fn) const {
        const uint32_t first = size_ == capacity_ ? head_ : 0;
        for (uint32_t i = 0; i < size_; ++i) {
            const uint32_t pos = first + i < capacity_ ? first + i : first + i - capacity_;
            fn(ring_[pos]);
        }
    }

    uint32_t capacity() const { return capacity_; }
    uint32_t size() const { return size_; } // records in the ring, dropped ones included
    // Empties the ring; the caller clears the index (a snapshot load clears both).
    void clear() {
        head_ = 0;
        size_ = 0;
    }

private:
    // How far ahead of the write position the evicted keys' index lines are loaded.
    static constexpr uint32_t kEvictAhead = 8;

    static TerminalOrder make(const Order& o, OrdStatus status) {
        return TerminalOrder{.cl_ord_id = o.cl_ord_id, .order_id = o.order_id, .price = o.price,
                             .session_id = o.session_id, .security_id = o.security_id, .cum_qty = o.cum_qty,
                             .side = o.side, .status = static_cast<uint8_t>(status), .reserved = 0};
    }

    // The next ring position, its old record's entry (if any: none once dropped) erased when full.
    uint32_t take_position() {
        const uint32_t pos = head_;
        head_ = pos + 1 == capacity_ ? 0 : pos + 1;
        if (size_ < capacity_) {
            ++size_;
            return pos;
        }
        index_.erase_if_present(OrderIndex::Prepared{tags_[pos]}, kTerminalBit | pos);
        const uint32_t ahead = head_ + kEvictAhead < capacity_ ? head_ + kEvictAhead : head_ + kEvictAhead - capacity_;
        if (ahead < capacity_) {
            index_.prefetch(OrderIndex::Prepared{tags_[ahead]});
        }
        return pos;
    }

    // A record written around the cache (five 8-byte streaming stores; the engine is one thread,
    // which sees its own streaming stores in order).
    static void store(TerminalOrder& to, const TerminalOrder& from) {
#if defined(__x86_64__)
        long long words[5];
        std::memcpy(words, &from, sizeof words);
        long long* out = reinterpret_cast<long long*>(&to);
        for (int i = 0; i < 5; ++i) {
            _mm_stream_si64(out + i, words[i]);
        }
#else
        to = from;
#endif
    }

    HugePageArray<TerminalOrder> ring_;
    HugePageArray<uint32_t> tags_; // index tag of each ring position's key
    OrderIndex& index_;
    uint32_t capacity_;
    uint32_t head_ = 0; // where the next record goes (the oldest one once the ring is full)
    uint32_t size_ = 0;
};

} // namespace udprouter::engine

#endif
