#include "udprouter/engine/matcher.h"

#include <algorithm>

namespace udprouter::engine {

void Matcher::match(Instrument& instrument, Order& in, uint32_t limit_level, uint64_t command_seq) {
    const bool tracked = (in.flags & kOrderTracked) != 0;
    if (tracked) [[unlikely]] {
        accounts_.prefetch_position(in);
    }
    const uint32_t cum_before = in.cum_qty;
    match_levels(instrument, in, limit_level, command_seq);
    release_retired();
    // The incoming order's fills move its account's position once, by their sum.
    if (tracked && in.cum_qty != cum_before) [[unlikely]] {
        accounts_.filled(in, in.cum_qty - cum_before, false);
    }
}

void Matcher::match_levels(Instrument& instrument, Order& in, uint32_t limit_level, uint64_t command_seq) {
    OrderBook& book = instrument.book();
    const SideIndex resting_side = opposite(side_index(in.side));
    // Most levels a sweep reaches hold one or two orders, so a sweep is mostly one order miss per
    // level, each found only when the level before it empties. The scout runs kLevelsAhead levels
    // ahead of the sweep (bitmap and level array: cache-resident) and starts each level's oldest
    // order loading, so those misses overlap instead of queueing one behind the other.
    uint32_t scout = book.best(resting_side);
    for (uint32_t k = 0; k < kLevelsAhead && scout != kNoLevel && !beyond(in.side, scout, limit_level); ++k) {
        prefetch_level(book.level(resting_side, scout));
        scout = book.next_worse(resting_side, scout);
    }
    bool first_level = true;
    while (in.leaves_qty > 0) {
        const uint32_t level_index = book.best(resting_side);
        if (level_index == kNoLevel || beyond(in.side, level_index, limit_level)) {
            return;
        }
        if (!first_level && scout != kNoLevel && !beyond(in.side, scout, limit_level)) {
            prefetch_level(book.level(resting_side, scout));
            scout = book.next_worse(resting_side, scout);
        }
        first_level = false;
        PriceLevel& level = book.level(resting_side, level_index);
        const int64_t price = instrument.price_of(level_index);
        while (in.leaves_qty > 0 && !level.empty()) {
            const uint32_t resting = level.front();
            Order& r = pool_[resting];
            const uint32_t after = level.second(pool_);
            if (after != kNullIndex) {
                // The next order in the queue is likely the next fill: start its cache miss now.
                __builtin_prefetch(&pool_[after]);
            }
            if ((in.flags & kOrderSmpMask) != 0 && r.account == in.account) [[unlikely]] {
                if (self_match(book, in, resting, command_seq)) {
                    return;
                }
                continue;
            }
            const uint32_t qty = std::min(in.leaves_qty, r.leaves_qty);
            if (qty < r.leaves_qty) {
                fill(instrument, in, r, qty, price, command_seq);
                continue;
            }
            const OrderIndex::Prepared key = index_.prepare(r.session_id, r.cl_ord_id);
            index_.prefetch(key); // its entry is erased in release_retired() after matching
            fill(instrument, in, r, qty, price, command_seq);
            retire(book, resting, key);
        }
    }
}

void Matcher::fill(const Instrument& instrument, Order& in, Order& r, uint32_t qty, int64_t price,
                   uint64_t command_seq) {
    in.leaves_qty -= qty;
    in.cum_qty += qty;
    r.leaves_qty -= qty;
    r.cum_qty += qty;
    if ((r.flags & kOrderTracked) != 0) [[unlikely]] {
        track_resting_fill(r, qty); // the incoming order's fills are counted in match()
    }
    const int32_t security_id = instrument.spec().security_id;
    events_.push(udr_event{.command_seq = command_seq, .cl_ord_id = in.cl_ord_id, .orig_cl_ord_id = 0,
                           .order_id = in.order_id, .price = price, .session_id = in.session_id,
                           .security_id = security_id, .qty = qty, .leaves_qty = in.leaves_qty,
                           .cum_qty = in.cum_qty, .kind = UDR_EVT_TRADE, .side = in.side,
                           .reason = 0, .flags = UDR_EVT_FLAG_AGGRESSOR});
    events_.push(udr_event{.command_seq = command_seq, .cl_ord_id = r.cl_ord_id, .orig_cl_ord_id = 0,
                           .order_id = r.order_id, .price = price, .session_id = r.session_id,
                           .security_id = security_id, .qty = qty, .leaves_qty = r.leaves_qty,
                           .cum_qty = r.cum_qty, .kind = UDR_EVT_TRADE, .side = r.side,
                           .reason = 0, .flags = 0});
}

void Matcher::track_resting_fill(const Order& r, uint32_t qty) {
    accounts_.filled(r, qty, true);
}

bool Matcher::self_match(OrderBook& book, Order& in, uint32_t resting, uint64_t command_seq) {
    const auto mode = static_cast<SmpMode>(in.flags & kOrderSmpMask);
    if (mode != SmpMode::CancelAggressing) {
        cancel_self_match(book, resting, command_seq);
    }
    if (mode == SmpMode::CancelResting) {
        return false;
    }
    events_.push(canceled(in, command_seq, CancelReason::SelfMatchPreventionAggressor));
    in.leaves_qty = 0;
    return true;
}

void Matcher::cancel_self_match(OrderBook& book, uint32_t resting, uint64_t command_seq) {
    const Order& r = pool_[resting];
    if ((r.flags & kOrderTracked) != 0) {
        accounts_.unrested(r);
    }
    events_.push(canceled(r, command_seq, CancelReason::SelfMatchPrevention));
    const OrderIndex::Prepared key = index_.prepare(r.session_id, r.cl_ord_id);
    index_.prefetch(key);
    retire(book, resting, key);
}

void Matcher::retire(OrderBook& book, uint32_t resting, OrderIndex::Prepared key) {
    book.remove_front(pool_, resting); // matching takes each level's oldest order
    if (retired_count_ == kRetiredBatch) {
        release_retired();
    }
    retired_[retired_count_++] = Retired{resting, key};
}

void Matcher::release_retired() {
    for (uint32_t i = 0; i < retired_count_; ++i) {
        const Order& o = pool_[retired_[i].order];
        // Filled in full, or canceled by self-match prevention with some left.
        index_.erase(retired_[i].key, retired_[i].order);
        terminal_.record(o, o.leaves_qty == 0 ? OrdStatus::Filled : OrdStatus::Canceled);
        pool_.release(retired_[i].order);
    }
    retired_count_ = 0;
}

bool Matcher::can_fill(const Instrument& instrument, const Order& in, uint32_t limit_level) const {
    const OrderBook& book = instrument.book();
    const SideIndex resting_side = opposite(side_index(in.side));
    uint64_t available = 0;
    for (uint32_t level = book.best(resting_side);
         level != kNoLevel && !beyond(in.side, level, limit_level);
         level = book.next_worse(resting_side, level)) {
        const PriceLevel& lvl = book.level(resting_side, level);
        bool blocked = false;
        available += level_quantity(lvl, in, in.leaves_qty - available, blocked);
        if (available >= in.leaves_qty) {
            return true;
        }
        if (blocked) {
            return false;
        }
    }
    return false;
}

uint64_t Matcher::level_quantity(const PriceLevel& level, const Order& in, uint64_t needed, bool& blocked) const {
    const auto mode = static_cast<SmpMode>(in.flags & kOrderSmpMask);
    uint64_t qty = 0;
    level.for_each(pool_, [&](uint32_t i) {
        if (qty >= needed || blocked) {
            return;
        }
        if (mode != SmpMode::None && pool_[i].account == in.account) {
            blocked = mode != SmpMode::CancelResting;
            return;
        }
        qty += pool_[i].leaves_qty;
    });
    return qty;
}

} // namespace udprouter::engine
