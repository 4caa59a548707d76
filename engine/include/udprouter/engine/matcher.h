// matcher.h - price-time matching of one incoming order against the opposite side of a book.
//
// The incoming order trades against resting orders best price first, oldest first within a
// price, at the resting price, until it is filled or the next level is beyond its limit. Each
// fill produces two TRADE events (incoming side first, flagged AGGRESSOR, then the resting
// side addressed to its own session). Fully filled resting orders leave the book, the index
// and the pool. Self-match prevention follows the incoming order's mode (Order::flags, from its
// account): CancelResting cancels the resting order of the same account (CANCELED,
// SelfMatchPrevention, to its session) and matching continues; CancelAggressing cancels the
// incoming order's remainder (CANCELED, SelfMatchPreventionAggressor) and leaves the resting one;
// CancelBoth does both. Fills and book exits of tracked orders update their account's figures.
// Resting orders leaving the book (filled in full, SMP canceled) are recorded in the terminal table
// as they are released; the incoming order's final state is the caller's to record.
#ifndef UDPROUTER_ENGINE_MATCHER_H
#define UDPROUTER_ENGINE_MATCHER_H

#include "udprouter/engine/account_table.h"
#include "udprouter/engine/errors.h"
#include "udprouter/engine/event_buffer.h"
#include "udprouter/engine/instrument.h"
#include "udprouter/engine/order_index.h"
#include "udprouter/engine/order_pool.h"
#include "udprouter/engine/terminal_orders.h"

#include <cstdint>

namespace udprouter::engine {

class Matcher {
public:
    Matcher(OrderPool& pool, OrderIndex& index, EventBuffer& events, AccountTable& accounts,
            TerminalOrders& terminal)
        : pool_(pool), index_(index), events_(events), accounts_(accounts), terminal_(terminal) {}

    // Trades `in` (not in the book) against the opposite side up to limit_level inclusive;
    // in.leaves_qty and in.cum_qty are updated (leaves 0 also when self-match prevention canceled
    // the remainder). command_seq stamps the events. Orders it fills in full are out of the book,
    // the index and the pool when it returns.
    void match(Instrument& instrument, Order& in, uint32_t limit_level, uint64_t command_seq);

    // Whether an order of wire side `side` limited at limit_level meets the opposite best level:
    // checked inline so an order that does not cross (most adds) skips the call to match().
    static bool crosses(const OrderBook& book, uint8_t side, uint32_t limit_level) {
        const uint32_t best = book.best(opposite(side_index(side)));
        return best != kNoLevel && !beyond(side, best, limit_level);
    }

    // FillOrKill pre-check, mutates nothing: could `in` fill in full up to limit_level?
    // Resting orders that self-match prevention would cancel do not count, and in the modes that
    // cancel the incoming order nothing behind the first of them counts.
    bool can_fill(const Instrument& instrument, const Order& in, uint32_t limit_level) const;

    // The CANCELED event of an order leaving the book unfilled (or unfilled in part) on its own:
    // ClOrdID in both ClOrdID and OrigClOrdID, addressed to the order's session.
    static udr_event canceled(const Order& o, uint64_t command_seq, CancelReason reason) {
        return udr_event{.command_seq = command_seq, .cl_ord_id = o.cl_ord_id, .orig_cl_ord_id = o.cl_ord_id,
                         .order_id = o.order_id, .price = 0, .session_id = o.session_id,
                         .security_id = o.security_id, .qty = 0, .leaves_qty = 0, .cum_qty = o.cum_qty,
                         .kind = UDR_EVT_CANCELED, .side = o.side, .reason = static_cast<uint8_t>(reason),
                         .flags = 0};
    }

    // Most aggressive level an order may reach: its own level, or the far end for a market order.
    static uint32_t market_limit(const OrderBook& book, uint8_t side) {
        return side == kWireSideBuy ? book.level_count() - 1 : 0;
    }

private:
    static bool beyond(uint8_t in_side, uint32_t level, uint32_t limit_level) {
        return in_side == kWireSideBuy ? level > limit_level : level < limit_level;
    }
    void fill(const Instrument& instrument, Order& in, Order& resting, uint32_t qty,
              int64_t price, uint64_t command_seq);
    void match_levels(Instrument& instrument, Order& in, uint32_t limit_level, uint64_t command_seq);
    // Returns true when the incoming order was canceled (matching stops).
    [[gnu::noinline]] bool self_match(OrderBook& book, Order& in, uint32_t resting, uint64_t command_seq);
    void cancel_self_match(OrderBook& book, uint32_t resting, uint64_t command_seq);
    [[gnu::noinline]] void track_resting_fill(const Order& resting, uint32_t qty);
    // Takes a fully filled (or self-match canceled) oldest order out of the book at once; its
    // index entry and pool slot go in release_retired() at the end of match(), so the index lines
    // prefetched for the orders one command retires load together, not one miss per fill in turn.
    void retire(OrderBook& book, uint32_t resting, OrderIndex::Prepared key);
    void release_retired();
    // Levels ahead of the one being matched whose oldest order the sweep starts loading (measured
    // on LOBFLOW1 N=100: 2 and 3 alike, 1 and 6 worse).
    static constexpr uint32_t kLevelsAhead = 2;
    void prefetch_order(uint32_t index) const {
        if (index != kNullIndex) {
            __builtin_prefetch(&pool_[index]);
        }
    }
    // A level's oldest order, and the queue chunk holding it: a level the sweep empties writes its
    // chunk back to the free list (the chunk is no longer read on the way to the order), and that
    // store's miss would hold up the event stores queued behind it.
    void prefetch_level(const PriceLevel& level) const {
        prefetch_order(level.front());
        __builtin_prefetch(pool_.queues().address(level.head), 1);
    }
    // Quantity the level offers `in` (orders self-match prevention would cancel do not count),
    // summed in time order until it reaches needed: the orders a fill would read next anyway.
    // blocked is set when a mode that cancels `in` meets an order of its account.
    uint64_t level_quantity(const PriceLevel& level, const Order& in, uint64_t needed, bool& blocked) const;

    OrderPool& pool_;
    OrderIndex& index_;
    EventBuffer& events_;
    AccountTable& accounts_;
    TerminalOrders& terminal_;
    struct Retired {
        uint32_t order;
        OrderIndex::Prepared key;
    };
    static constexpr uint32_t kRetiredBatch = 16; // a larger sweep releases every 16
    uint32_t retired_count_ = 0;
    Retired retired_[kRetiredBatch];
};

} // namespace udprouter::engine

#endif
