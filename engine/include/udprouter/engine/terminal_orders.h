// terminal_orders.h - the final state of the orders that left the book, for OrderStatusRequest.
//
// An order that is filled in full or canceled (by its session, a mass cancel, cancel on disconnect,
// the kill switch, self-match prevention, or an IOC/FOK/market remainder) leaves the pool; its last
// state is recorded here so an order status request still answers Filled or Canceled with its
// OrderID, Side, Price and CumQty. The table is a ring of a fixed capacity, allocated and prefaulted
// at construction: recording never allocates, and once the ring is full each record evicts the
// oldest (the evicted order then answers unknown). Capacity 0 keeps nothing.
//
// Records are found by (session_id, ClOrdID) through an index of their own (a KeyIndex whose values
// are ring positions), apart from the engine's live-order index: sharing that one made it twice the
// size (out of the core's L2 at 100 symbols) and cost LOBFLOW1 about 15%. The terminal index is
// brought up to date lazily (kept up at every record, a miss for the insert and one for the
// eviction, it cost more than the shared one did): recording an order only writes its ring record.
// catch_up() indexes the records written since, each evicted record's entry erased first; a lookup
// catches up in full before it looks, and the engine process calls catch_up() with a small budget
// while its inbound ring is empty, so a status request rarely finds much to do (at most the whole
// ring, about 1 ms for 65,536 records, when the engine never idles).
//
// Records are staged 8 at a time (320 bytes, 5 cache lines) and go to the ring as whole lines of
// streaming stores: the ring is read back only by a status request's catch-up, a snapshot or a
// session reset, so it need not pass through the cache the books work in (plain stores cost
// LOBFLOW1 ~10%), and streaming one 40-byte record at a time left partial lines in the
// write-combining buffers, which stalled.
//
// A key is in the table at most once among the records not dropped: a session's ClOrdIDs never
// repeat, and a session reset (its id given to a new session, whose ClOrdIDs start again) drops
// the session's records (drop_session: a scan of the ring, on that cold command only). A dropped
// record keeps its place in the ring, so eviction stays the same whether the engine ran straight or
// restarted from a snapshot; its index entry (if any) stays until its position is reused, and
// never matches a lookup. The ring is a pure function of the command sequence, like the rest of
// the engine state; the index is not state (not in the snapshot or the digest), only a way in.
#ifndef UDPROUTER_ENGINE_TERMINAL_ORDERS_H
#define UDPROUTER_ENGINE_TERMINAL_ORDERS_H

#include "udprouter/engine/errors.h"
#include "udprouter/engine/huge_page_array.h"
#include "udprouter/engine/order.h"
#include "udprouter/engine/order_index.h"

#include <cstdint>
#include <utility>

namespace udprouter::engine {

class TerminalOrders {
public:
    static constexpr uint8_t kDropped = 0xFF;

    explicit TerminalOrders(uint32_t capacity)
        : ring_(capacity == 0 ? 1 : capacity), tags_(capacity == 0 ? 1 : capacity),
          index_(capacity == 0 ? 1 : capacity, Keys{this}), capacity_(capacity) {}
    TerminalOrders(const TerminalOrders&) = delete;
    TerminalOrders& operator=(const TerminalOrders&) = delete;

    // An order leaves the book (or never rested) with status Filled or Canceled.
    void record(const Order& o, OrdStatus status) {
        if (capacity_ != 0) {
            put(make(o, status));
        }
    }
    // Filled when it filled in full, else Canceled (self-match prevention canceled its remainder).
    static OrdStatus done(const Order& o) { return o.cum_qty == o.order_qty ? OrdStatus::Filled : OrdStatus::Canceled; }

    // The kept record of the key (not dropped), or nullptr. Catches the index up first.
    const TerminalOrder* find(uint32_t session_id, uint64_t cl_ord_id) {
        catch_up(capacity_);
        if (capacity_ == 0) {
            return nullptr;
        }
        const uint32_t pos = index_.find(session_id, cl_ord_id);
        return pos == kNullIndex ? nullptr : &at(pos);
    }

    // Indexes up to `budget` of the records written since the index last caught up; returns how
    // many are still left to index.
    uint64_t catch_up(uint64_t budget);

    // Drops every record of the session (a session reset); returns how many.
    uint32_t drop_session(uint32_t session_id);

    // Appends a record as it stands, dropped or not (a snapshot load, oldest first).
    void append(const TerminalOrder& record) {
        if (capacity_ != 0) {
            put(record);
        }
    }

    // Every record, oldest first, dropped ones included (the snapshot).
    template <class Fn>
    void for_each(Fn&& fn) const {
        const uint32_t first = size_ == capacity_ ? head_ : 0;
        for (uint32_t i = 0; i < size_; ++i) {
            const uint32_t pos = first + i < capacity_ ? first + i : first + i - capacity_;
            fn(at(pos));
        }
    }

    // The same records as for_each, as runs of adjacent records: fn(first, count) for each run, in
    // order (at most three: the ring up to its end or the stage, the stage, the ring after a wrap).
    // A snapshot copies each run in one go.
    template <class Fn>
    void for_each_run(Fn&& fn) const {
        const uint32_t first = size_ == capacity_ ? head_ : 0;
        const uint32_t base = stage_base();
        for (uint32_t i = 0; i < size_;) {
            const uint32_t pos = first + i < capacity_ ? first + i : first + i - capacity_;
            const TerminalOrder* run;
            uint32_t n;
            if (pos - base < staged_) { // in the stage, up to its end
                run = &stage_[pos - base];
                n = staged_ - (pos - base);
            } else { // in the ring, up to its end or to where the stage starts
                run = &ring_[pos];
                n = capacity_ - pos;
                if (staged_ != 0 && base > pos && base - pos < n) {
                    n = base - pos;
                }
            }
            n = n < size_ - i ? n : size_ - i;
            fn(run, n);
            i += n;
        }
    }

    uint32_t capacity() const { return capacity_; }
    uint32_t size() const { return size_; } // records in the ring, dropped ones included
    // Empties the ring and its index (a snapshot load).
    void clear() {
        index_.clear();
        head_ = 0;
        size_ = 0;
        staged_ = 0;
        written_ = 0;
        indexed_ = 0;
    }

private:
    static constexpr uint32_t kStage = 8; // records staged: 320 bytes, whole cache lines
    static constexpr uint32_t kCatchUpAhead = 16; // records whose index lines catch_up() loads early

    // A ring position's record confirms a key; a dropped record matches none.
    struct Keys {
        const TerminalOrders* table;
        bool matches(uint32_t pos, uint32_t session_id, uint64_t cl_ord_id) const {
            const TerminalOrder& t = table->at(pos);
            return t.cl_ord_id == cl_ord_id && t.session_id == session_id && t.status != kDropped;
        }
    };

    static TerminalOrder make(const Order& o, OrdStatus status) {
        return TerminalOrder{.cl_ord_id = o.cl_ord_id, .order_id = o.order_id, .price = o.price,
                             .session_id = o.session_id, .security_id = o.security_id, .cum_qty = o.cum_qty,
                             .side = o.side, .status = static_cast<uint8_t>(status), .reserved = 0};
    }

    // The record at a ring position, staged or in the ring.
    const TerminalOrder& at(uint32_t pos) const {
        return pos - stage_base() < staged_ ? stage_[pos - stage_base()] : ring_[pos];
    }
    TerminalOrder& at(uint32_t pos) { return const_cast<TerminalOrder&>(std::as_const(*this).at(pos)); }
    // The ring position of stage_[0] (head_ less what is staged; a stage never wraps).
    uint32_t stage_base() const { return (head_ == 0 ? capacity_ : head_) - staged_; }

    // Stages a record at the next ring position; a full stage, or one that reached the ring's end,
    // goes to the ring.
    void put(const TerminalOrder& record) {
        stage_[staged_++] = record;
        head_ = head_ + 1 == capacity_ ? 0 : head_ + 1;
        size_ += size_ < capacity_ ? 1 : 0;
        ++written_;
        if (staged_ == kStage || head_ == 0) {
            flush();
        }
    }
    void flush();

    HugePageArray<TerminalOrder> ring_;
    HugePageArray<uint32_t> tags_; // the index tag each ring position was last indexed under
    KeyIndex<Keys> index_;         // (session_id, ClOrdID) -> ring position, up to indexed_
    uint32_t capacity_;
    uint32_t head_ = 0; // where the next record goes (the oldest one once the ring is full)
    uint32_t size_ = 0;
    uint64_t written_ = 0; // records written since the ring was last cleared
    uint64_t indexed_ = 0; // of which the first indexed_ have been through the index
    uint32_t staged_ = 0;  // records in stage_, not yet in the ring
    alignas(64) TerminalOrder stage_[kStage];
};

} // namespace udprouter::engine

#endif
