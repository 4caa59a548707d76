// terminal_orders.h - the final state of the orders that left the book, for OrderStatusRequest.
//
// An order that is filled in full or canceled (by its session, a mass cancel, cancel on disconnect,
// the kill switch, self-match prevention, or an IOC/FOK/market remainder) leaves the pool; its last
// state is recorded here so an order status request still answers Filled or Canceled with its
// OrderID, Side, Price and CumQty. The table is a ring of a fixed capacity, allocated and prefaulted
// at construction: recording never allocates, and once the ring is full each record evicts the
// oldest (the evicted order then answers unknown). Capacity 0 keeps nothing.
//
// Records are keyed like the live orders, (session_id, ClOrdID), in a KeyIndex over the ring
// positions. Recording is on the matching path, so it touches little: the record is written with
// streaming stores (the ring is read back only by a status request or a snapshot, so it need not
// pass through the cache the books work in), the evicted key's index entry is found from a 4-byte
// tag array read in sequence (not from the evicted record), and a batch of records (an aggressor's
// fills) is recorded at once, its index lines loaded together. A key is in the table at most once: a session's ClOrdIDs never repeat, and a session
// reset (its id given to a new session, whose ClOrdIDs start again) drops the session's records
// (drop_session: a scan of the ring, on that cold command only). A dropped record keeps its place in
// the ring, so eviction stays the same whether the engine ran straight or restarted from a snapshot.
// Everything here is a pure function of the command sequence, like the rest of the engine state.
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

struct TerminalOrder {
    uint64_t cl_ord_id;
    uint64_t order_id;
    int64_t price;
    uint32_t session_id;
    int32_t security_id;
    uint32_t cum_qty;
    uint8_t side;
    uint8_t status; // OrdStatus Filled or Canceled; kDropped after a session reset
    uint16_t reserved;
};
static_assert(sizeof(TerminalOrder) == 40, "a terminal order is 40 bytes");

class TerminalOrders {
public:
    static constexpr uint8_t kDropped = 0xFF;

    explicit TerminalOrders(uint32_t capacity)
        : ring_(capacity == 0 ? 1 : capacity), tags_(capacity == 0 ? 1 : capacity),
          index_(capacity, RingKeys{ring_.data()}), capacity_(capacity) {}
    TerminalOrders(const TerminalOrders&) = delete;
    TerminalOrders& operator=(const TerminalOrders&) = delete;

    // Records the order's final state (status Filled or Canceled), evicting the oldest when full.
    void record(const Order& o, OrdStatus status) {
        if (capacity_ != 0) {
            append(make(o, status), index_.prepare(o.session_id, o.cl_ord_id));
        }
    }
    // An order that left the book with leaves 0: Filled when it filled in full, else Canceled
    // (self-match prevention canceled its remainder).
    void record_done(const Order& o) {
        record(o, o.cum_qty == o.order_qty ? OrdStatus::Filled : OrdStatus::Canceled);
    }

    // Starts loading the index line a record of this key will go to (the tag is the live index's).
    void prefetch(OrderIndex::Prepared key) const {
        if (capacity_ != 0) {
            index_.prefetch(KeyIndex<RingKeys>::Prepared{key.tag});
        }
    }

    // The session's record under that ClOrdID, or nullptr.
    const TerminalOrder* find(uint32_t session_id, uint64_t cl_ord_id) const {
        const uint32_t slot = index_.find_slot(index_.prepare(session_id, cl_ord_id), session_id, cl_ord_id);
        return slot == kNullIndex ? nullptr : &ring_[index_.order_at(slot)];
    }

    // Drops every record of the session (a session reset); returns how many.
    uint32_t drop_session(uint32_t session_id);

    // Appends a record as it stands, dropped or not (a snapshot load, oldest first).
    void append(const TerminalOrder& record) {
        if (capacity_ != 0) {
            append(record, index_.prepare(record.session_id, record.cl_ord_id));
        }
    }

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
    void clear() {
        index_.clear();
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

    template <class Prepared>
    void append(const TerminalOrder& record, Prepared key) {
        const uint32_t pos = head_;
        if (size_ == capacity_) {
            // The oldest record's entry (none if it was dropped): found from its tag, the record
            // itself is not read.
            index_.erase_if_present(KeyIndex<RingKeys>::Prepared{tags_[pos]}, pos);
        } else {
            ++size_;
        }
        store(ring_[pos], record);
        tags_[pos] = key.tag;
        if (record.status != kDropped) {
            index_.insert(KeyIndex<RingKeys>::Prepared{key.tag}, pos);
        }
        head_ = pos + 1 == capacity_ ? 0 : pos + 1;
        if (size_ == capacity_) {
            const uint32_t ahead = head_ + kEvictAhead < capacity_ ? head_ + kEvictAhead : head_ + kEvictAhead - capacity_;
            if (ahead < capacity_) {
                index_.prefetch(KeyIndex<RingKeys>::Prepared{tags_[ahead]});
            }
        }
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

    struct RingKeys {
        const TerminalOrder* ring;
        bool matches(uint32_t pos, uint32_t session_id, uint64_t cl_ord_id) const {
            return ring[pos].cl_ord_id == cl_ord_id && ring[pos].session_id == session_id;
        }
    };

    HugePageArray<TerminalOrder> ring_;
    HugePageArray<uint32_t> tags_; // index tag of each ring position's key
    KeyIndex<RingKeys> index_;
    uint32_t capacity_;
    uint32_t head_ = 0; // where the next record goes (the oldest one once the ring is full)
    uint32_t size_ = 0;
};

} // namespace udprouter::engine

#endif
