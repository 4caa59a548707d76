#include "udprouter/engine/engine.h"

#include <string>
#include <unordered_set>

namespace udprouter::engine {

namespace {

// Wire values, from the header generated from the schema (protocol/orders.xml).
constexpr uint8_t kOrdTypeMarket = UDR_SBE_ORD_TYPE_MARKET;
constexpr uint8_t kOrdTypeLimit = UDR_SBE_ORD_TYPE_LIMIT;
constexpr uint8_t kTifDay = UDR_SBE_TIME_IN_FORCE_DAY;
constexpr uint8_t kTifIoc = UDR_SBE_TIME_IN_FORCE_IMMEDIATE_OR_CANCEL;
constexpr uint8_t kTifFok = UDR_SBE_TIME_IN_FORCE_FILL_OR_KILL;
constexpr Notional kScale = 1'000'000'000; // account limits are in whole price units

uint32_t terminal_capacity(const EngineConfig& config) {
    return config.terminal_orders == EngineConfig::kTerminalLikeMaxOrders ? config.max_orders : config.terminal_orders;
}

const EngineConfig& checked(const EngineConfig& config) {
    if (config.instruments.size() > 0xFFFF) {
        throw EngineConfigError("at most 65535 instruments");
    }
    if (config.max_orders >= kNullIndex) {
        throw EngineConfigError("max_orders must be below 2^32 - 1");
    }
    // Below 2^31 together, as the router's config checks (the bound from when one index held both).
    if (uint64_t{config.max_orders} + terminal_capacity(config) >= (uint64_t{1} << 31)) {
        throw EngineConfigError("max_orders + terminal_orders must be below 2^31");
    }
    if (config.max_sessions >= 0xFFFFFFFFu) {
        throw EngineConfigError("max_sessions must be below 2^32 - 1");
    }
    std::unordered_set<int32_t> seen;
    for (const InstrumentSpec& spec : config.instruments) {
        if (!seen.insert(spec.security_id).second) {
            throw EngineConfigError("instrument " + std::to_string(spec.security_id) + " configured twice");
        }
    }
    return config;
}

std::vector<Instrument> build_instruments(const EngineConfig& config) {
    std::vector<Instrument> instruments;
    instruments.reserve(config.instruments.size());
    for (const InstrumentSpec& spec : config.instruments) {
        instruments.emplace_back(spec);
    }
    return instruments;
}

std::vector<int32_t> security_ids(const EngineConfig& config) {
    std::vector<int32_t> ids;
    for (const InstrumentSpec& spec : config.instruments) {
        ids.push_back(spec.security_id);
    }
    return ids;
}

uint64_t price_levels(const std::vector<Instrument>& instruments) {
    uint64_t levels = 0;
    for (const Instrument& instrument : instruments) {
        levels += 2 * uint64_t{instrument.book().level_count()};
    }
    return levels;
}

bool supported(const udr_command& c) {
    const bool side_ok = c.side == kWireSideBuy || c.side == kWireSideSell;
    const bool type_ok = c.ord_type == kOrdTypeMarket || c.ord_type == kOrdTypeLimit;
    const bool tif_ok = c.time_in_force == kTifDay || c.time_in_force == kTifIoc || c.time_in_force == kTifFok;
    return side_ok && type_ok && tif_ok;
}

} // namespace

Engine::Engine(const EngineConfig& config)
    : config_(checked(config)),
      instruments_(build_instruments(config)),
      table_(security_ids(config)),
      pool_(config.max_orders, price_levels(instruments_)),
      terminal_(terminal_capacity(config)),
      index_(config.max_orders, pool_),
      sessions_(config.max_sessions),
      accounts_(static_cast<uint32_t>(config.instruments.size()), config.self_match_prevention),
      matcher_(pool_, index_, events_, accounts_, terminal_) {
    scratch_.reserve(config.max_orders);
}

bool Engine::best_price(int32_t security_id, uint8_t side, int64_t& price) const {
    const uint32_t book = table_.find(security_id);
    if (book == kNoInstrument) {
        return false;
    }
    const Instrument& instrument = instruments_[book];
    const uint32_t level = instrument.book().best(side_index(side));
    if (level == kNoLevel) {
        return false;
    }
    price = instrument.price_of(level);
    return true;
}

void Engine::dispatch(const udr_command& command) {
    if (command.command_seq > last_command_seq_) {
        last_command_seq_ = command.command_seq;
    }
    switch (command.kind) {
    case UDR_CMD_NEW_ORDER: new_order(command); break;
    case UDR_CMD_CANCEL: cancel_order(command); break;
    case UDR_CMD_REPLACE: replace_order(command); break;
    case UDR_CMD_MASS_CANCEL: mass_cancel(command); break;
    case UDR_CMD_ORDER_STATUS: order_status(command); break;
    case UDR_CMD_ACCOUNT_CONTROL: account_control(command); break;
    case UDR_CMD_RESET_SESSION: reset_session(command); break;
    default: reject(command, OrdRejReason::Other); break;
    }
}

void Engine::new_order(const udr_command& command) {
    uint32_t book = 0;
    uint32_t level = 0;
    uint8_t flags = 0;
    if (validate_new(command, book, level, flags)) {
        execute_new(command, instruments_[book], book, level, flags);
    }
}

// Inlined into new_order(): book and level then stay in registers.
[[gnu::always_inline]] inline bool Engine::validate_new(const udr_command& c, uint32_t& book, uint32_t& level,
                                                       uint8_t& flags) {
    const uint32_t account_slot = accounts_.find(c.account); // once per order: prefetch, flags, checks
    accounts_.prefetch_entry(account_slot);
    switch (sessions_.check_and_advance(c.session_id, c.cl_ord_id)) {
    case ClOrdIdCheck::UnknownSession: reject(c, OrdRejReason::Other); return false;
    case ClOrdIdCheck::Duplicate: reject(c, OrdRejReason::DuplicateOrder); return false;
    case ClOrdIdCheck::Fresh: break;
    }
    book = table_.find(c.security_id);
    if (book == kNoInstrument) {
        reject(c, OrdRejReason::UnknownSymbol);
        return false;
    }
    if (account_slot != AccountTable::kNone) {
        accounts_.prefetch_position(account_slot, book);
    }
    if (!supported(c)) {
        reject(c, OrdRejReason::UnsupportedOrderCharacteristic);
        return false;
    }
    const Instrument& instrument = instruments_[book];
    if (c.order_qty == 0 || c.order_qty > instrument.spec().max_qty) {
        reject(c, OrdRejReason::IncorrectQuantity);
        return false;
    }
    if (c.ord_type == kOrdTypeMarket) {
        level = Matcher::market_limit(instrument.book(), c.side);
    } else {
        switch (instrument.level_of(c.price, level)) {
        case PriceCheck::OutOfBand: reject(c, OrdRejReason::PriceExceedsCurrentPriceBand); return false;
        case PriceCheck::OffTick: reject(c, OrdRejReason::InvalidPriceIncrement); return false;
        case PriceCheck::Ok: break;
        }
        if (c.time_in_force == kTifDay && pool_.full()) {
            reject(c, OrdRejReason::OrderBookFull);
            return false;
        }
    }
    flags = accounts_.flags_of(account_slot);
    if ((flags & kOrderTracked) == 0) [[likely]] {
        return true;
    }
    return check_account(c, book, level, account_slot);
}

bool Engine::check_account(const udr_command& c, uint32_t book, uint32_t level, uint32_t slot) {
    AccountState& a = accounts_[slot];
    if (a.killed) {
        reject(c, OrdRejReason::AccountKillSwitch);
        return false;
    }
    // A market order is valued at the far end of the band it may sweep to.
    const int64_t price = c.ord_type == kOrdTypeLimit ? c.price : instruments_[book].price_of(level);
    const Notional value = notional(price, c.order_qty);
    if (value > a.order_cap) {
        reject(c, OrdRejReason::ExceededMaxNotionalOrderAmt);
        return false;
    }
    const bool may_rest = c.ord_type == kOrdTypeLimit && c.time_in_force == kTifDay;
    const unsigned side = static_cast<unsigned>(side_index(c.side));
    if (may_rest && a.open_notional[side] + value > a.open_cap) {
        reject(c, OrdRejReason::InsufficientCreditLimit);
        return false;
    }
    if (a.max_position != 0) {
        const int64_t qty = c.side == kWireSideBuy ? int64_t{c.order_qty} : -int64_t{c.order_qty};
        if (accounts_.breaches_position(slot, book, qty)) {
            reject(c, OrdRejReason::PositionLimitExceeded);
            return false;
        }
    }
    if (a.max_orders_per_s != 0) {
        if (a.window_orders == 0 || c.recv_time_ns - a.window_start_ns >= 1'000'000'000u) {
            a.window_start_ns = c.recv_time_ns;
            a.window_orders = 0;
        }
        if (a.window_orders >= static_cast<uint64_t>(a.max_orders_per_s)) {
            reject(c, OrdRejReason::OrderRateExceeded);
            return false;
        }
        ++a.window_orders;
    }
    return true;
}

void Engine::execute_new(const udr_command& c, Instrument& instrument, uint32_t book, uint32_t level,
                         uint8_t flags) {
    // A Day order that rests is indexed last: start that line's miss before the book work.
    const OrderIndex::Prepared key = index_.prepare(c.session_id, c.cl_ord_id);
    index_.prefetch(key);
    const int64_t price = c.ord_type == kOrdTypeLimit ? c.price : 0;
    events_.push(udr_event{.command_seq = c.command_seq, .cl_ord_id = c.cl_ord_id, .orig_cl_ord_id = 0,
                           .order_id = c.command_seq, .price = price, .session_id = c.session_id,
                           .security_id = c.security_id, .qty = c.order_qty, .leaves_qty = c.order_qty,
                           .cum_qty = 0, .kind = UDR_EVT_ACCEPTED, .side = c.side, .reason = 0, .flags = 0});
    OrderBook& order_book = instrument.book();
    if (c.ord_type == kOrdTypeLimit && c.time_in_force == kTifDay) {
        // An order that may rest is built in its pool slot, not copied there after matching:
        // validate_new() checked the pool has room, and matching only frees orders.
        const uint32_t order = pool_.acquire();
        Order& o = pool_[order];
        init_order(o, c, price, book, level, flags);
        if (matcher_.crosses(order_book, c.side, level)) {
            matcher_.match(instrument, o, level, c.command_seq);
            if (o.leaves_qty == 0) {
                terminal_.record(o, TerminalOrders::done(o));
                pool_.release(order);
                return;
            }
        }
        order_book.add(pool_, order);
        if ((flags & kOrderTracked) != 0) [[unlikely]] {
            accounts_.rested(o);
        }
        index_.insert(key, order);
        return;
    }
    Order in;
    init_order(in, c, price, book, level, flags);
    const bool fok = c.time_in_force == kTifFok;
    if (!fok || matcher_.can_fill(instrument, in, level)) {
        if (matcher_.crosses(order_book, c.side, level)) {
            matcher_.match(instrument, in, level, c.command_seq);
        }
        if (in.leaves_qty == 0) {
            terminal_.record(in, TerminalOrders::done(in));
            return;
        }
    }
    terminal_.record(in, OrdStatus::Canceled);
    const CancelReason reason = fok ? CancelReason::FillOrKill : CancelReason::ImmediateOrCancel;
    events_.push(udr_event{.command_seq = c.command_seq, .cl_ord_id = c.cl_ord_id, .orig_cl_ord_id = c.cl_ord_id,
                           .order_id = c.command_seq, .price = 0, .session_id = c.session_id,
                           .security_id = c.security_id, .qty = 0, .leaves_qty = 0, .cum_qty = in.cum_qty,
                           .kind = UDR_EVT_CANCELED, .side = c.side, .reason = static_cast<uint8_t>(reason),
                           .flags = 0});
}

// Every field of a new order is written (no zeroing pass first); `next` only matters while free.
void Engine::init_order(Order& o, const udr_command& c, int64_t price, uint32_t book, uint32_t level,
                        uint8_t flags) {
    o.cl_ord_id = c.cl_ord_id;
    o.order_id = c.command_seq;
    o.price = price;
    o.next = kNullIndex;
    o.session_id = c.session_id;
    o.account = c.account;
    o.order_qty = c.order_qty;
    o.leaves_qty = c.order_qty;
    o.cum_qty = 0;
    o.security_id = c.security_id;
    o.level = level;
    o.book = static_cast<uint16_t>(book);
    o.side = c.side;
    o.flags = flags;
}

void Engine::cancel_order(const udr_command& c) {
    const uint32_t slot = find_target(c);
    if (slot == kNullIndex) {
        return;
    }
    const uint32_t order = index_.order_at(slot);
    const Order& o = pool_[order];
    events_.push(udr_event{.command_seq = c.command_seq, .cl_ord_id = c.cl_ord_id,
                           .orig_cl_ord_id = c.orig_cl_ord_id, .order_id = o.order_id, .price = 0,
                           .session_id = o.session_id, .security_id = o.security_id, .qty = 0,
                           .leaves_qty = 0, .cum_qty = o.cum_qty, .kind = UDR_EVT_CANCELED, .side = o.side,
                           .reason = static_cast<uint8_t>(CancelReason::ClientRequest), .flags = 0});
    if ((o.flags & kOrderTracked) != 0) [[unlikely]] {
        accounts_.unrested(o);
    }
    instruments_[o.book].book().remove(pool_, order);
    index_.erase_at(slot);
    terminal_.record(o, OrdStatus::Canceled);
    pool_.release(order);
}

// Shared by cancel and replace: the request's own ClOrdID must be fresh, then OrigClOrdID must name a
// live order of the session on the same security and side. Rejects itself and returns kNullIndex,
// else returns the target's index slot (index_.order_at(slot) is the order).
uint32_t Engine::find_target(const udr_command& c) {
    const uint64_t previous_mark = sessions_.contains(c.session_id) ? sessions_.mark(c.session_id) : 0;
    switch (sessions_.check_and_advance(c.session_id, c.cl_ord_id)) {
    case ClOrdIdCheck::UnknownSession: cancel_reject(c, CxlRejReason::Other, 0); return kNullIndex;
    case ClOrdIdCheck::Duplicate: cancel_reject(c, CxlRejReason::DuplicateClOrdID, 0); return kNullIndex;
    case ClOrdIdCheck::Fresh: break;
    }
    const uint32_t slot = index_.find_slot(index_.prepare(c.session_id, c.orig_cl_ord_id), c.session_id,
                                           c.orig_cl_ord_id);
    if (slot == kNullIndex) {
        const bool used_before = c.orig_cl_ord_id != 0 && c.orig_cl_ord_id <= previous_mark;
        cancel_reject(c, used_before ? CxlRejReason::TooLateToCancel : CxlRejReason::UnknownOrder, 0);
        return kNullIndex;
    }
    const Order& o = pool_[index_.order_at(slot)];
    if (o.security_id != c.security_id || o.side != c.side) {
        cancel_reject(c, CxlRejReason::UnknownOrder, 0);
        return kNullIndex;
    }
    return slot;
}

void Engine::replace_order(const udr_command& c) {
    const uint32_t slot = find_target(c);
    if (slot == kNullIndex) {
        return;
    }
    const uint32_t order = index_.order_at(slot);
    Order& o = pool_[order];
    const Instrument& instrument = instruments_[o.book];
    uint32_t level = 0;
    if (c.order_qty == 0 || c.order_qty > instrument.spec().max_qty) {
        cancel_reject(c, CxlRejReason::IncorrectQuantity, o.order_id);
        return;
    }
    switch (instrument.level_of(c.price, level)) {
    case PriceCheck::OutOfBand: cancel_reject(c, CxlRejReason::PriceExceedsCurrentPriceBand, o.order_id); return;
    case PriceCheck::OffTick: cancel_reject(c, CxlRejReason::InvalidPriceIncrement, o.order_id); return;
    case PriceCheck::Ok: break;
    }
    if (c.order_qty <= o.cum_qty) {
        cancel_reject(c, CxlRejReason::IncorrectQuantity, o.order_id);
        return;
    }
    if ((accounts_.order_flags(o.account) & kOrderTracked) != 0 && !check_replace_account(c, o)) {
        return;
    }
    index_.erase_at(slot);
    o.cl_ord_id = c.cl_ord_id;
    index_.insert(o.session_id, o.cl_ord_id, order);
    reprice(order, c, level);
}

// The account's limits as the order would stand replaced, like a new order's; a replace that puts
// no more at risk than the order did (less quantity or notional) passes the limit it would not raise.
bool Engine::check_replace_account(const udr_command& c, const Order& o) {
    const uint32_t slot = accounts_.find(o.account);
    const AccountState& a = accounts_[slot];
    const Notional value = notional(c.price, c.order_qty);
    if (a.max_order_notional != 0 && value > static_cast<Notional>(a.max_order_notional) * kScale &&
        value > notional(o.price, o.order_qty)) {
        cancel_reject(c, CxlRejReason::ExceededMaxNotionalOrderAmt, o.order_id);
        return false;
    }
    const uint32_t leaves = c.order_qty - o.cum_qty;
    const Notional open_before = notional(o.price, o.leaves_qty); // counted in open_notional (tracked)
    const Notional open_after = notional(c.price, leaves);
    const unsigned side = static_cast<unsigned>(side_index(o.side));
    if (a.max_open_notional != 0 && open_after > open_before &&
        a.open_notional[side] - open_before + open_after > static_cast<Notional>(a.max_open_notional) * kScale) {
        cancel_reject(c, CxlRejReason::InsufficientCreditLimit, o.order_id);
        return false;
    }
    if (a.max_position != 0 && leaves > o.leaves_qty) {
        const int64_t qty = o.side == kWireSideBuy ? int64_t{leaves} : -int64_t{leaves};
        const int64_t after = accounts_.position(slot, o.book) + qty;
        if (after > a.max_position || after < -a.max_position) {
            cancel_reject(c, CxlRejReason::PositionLimitExceeded, o.order_id);
            return false;
        }
    }
    return true;
}

void Engine::reprice(uint32_t order, const udr_command& c, uint32_t level) {
    Order& o = pool_[order];
    Instrument& instrument = instruments_[o.book];
    const uint32_t leaves = c.order_qty - o.cum_qty;
    // The order matches again as an aggressor: with its account's SMP mode as of now.
    o.flags = accounts_.order_flags(o.account);
    const bool tracked = (o.flags & kOrderTracked) != 0;
    if (tracked) [[unlikely]] {
        accounts_.unrested(o);
    }
    // A quantity decrease at the same price keeps time priority; anything else re-queues.
    const bool keeps_priority = c.price == o.price && c.order_qty <= o.order_qty;
    if (!keeps_priority) {
        instrument.book().remove(pool_, order);
        o.price = c.price;
        o.level = level;
    }
    o.order_qty = c.order_qty;
    o.leaves_qty = leaves;
    events_.push(udr_event{.command_seq = c.command_seq, .cl_ord_id = o.cl_ord_id,
                           .orig_cl_ord_id = c.orig_cl_ord_id, .order_id = o.order_id, .price = o.price,
                           .session_id = o.session_id, .security_id = o.security_id, .qty = o.order_qty,
                           .leaves_qty = o.leaves_qty, .cum_qty = o.cum_qty, .kind = UDR_EVT_REPLACED,
                           .side = o.side, .reason = 0, .flags = 0});
    if (keeps_priority) {
        if (tracked) [[unlikely]] {
            accounts_.rested(o);
        }
        return;
    }
    matcher_.match(instrument, o, level, c.command_seq);
    rest_or_retire(order);
}

void Engine::rest_or_retire(uint32_t order) {
    Order& o = pool_[order];
    if (o.leaves_qty > 0) {
        instruments_[o.book].book().add(pool_, order);
        if ((o.flags & kOrderTracked) != 0) [[unlikely]] {
            accounts_.rested(o);
        }
        return;
    }
    index_.erase(index_.prepare(o.session_id, o.cl_ord_id), order);
    terminal_.record(o, TerminalOrders::done(o));
    pool_.release(order);
}

// A released session id made ready for a new session: nothing of the previous one may reach it (its
// resting orders would trade into the new session's reports, its mark would refuse the new ClOrdIDs).
void Engine::reset_session(const udr_command& c) {
    const uint32_t sid = c.session_id;
    if (sid == 0 || !sessions_.contains(sid)) {
        reject(c, OrdRejReason::Other);
        return;
    }
    std::vector<uint64_t> cl_ord_ids; // collected first: canceling changes the books being walked
    for_each_live_order([&](const Order& o) {
        if (o.session_id == sid) {
            cl_ord_ids.push_back(o.cl_ord_id);
        }
    });
    for (const uint64_t cl_ord_id : cl_ord_ids) {
        const uint32_t slot = index_.find_slot(index_.prepare(sid, cl_ord_id), sid, cl_ord_id);
        const uint32_t order = index_.order_at(slot);
        const Order& o = pool_[order];
        events_.push(udr_event{.command_seq = c.command_seq, .cl_ord_id = o.cl_ord_id,
                               .orig_cl_ord_id = o.cl_ord_id, .order_id = o.order_id, .price = 0,
                               .session_id = sid, .security_id = o.security_id, .qty = 0, .leaves_qty = 0,
                               .cum_qty = o.cum_qty, .kind = UDR_EVT_CANCELED, .side = o.side,
                               .reason = static_cast<uint8_t>(CancelReason::SessionReset), .flags = 0});
        instruments_[o.book].book().remove(pool_, order);
        index_.erase_at(slot);
        pool_.release(order);
    }
    sessions_.set_mark(sid, 0);
    terminal_.drop_session(sid); // the next occupant's ClOrdIDs start again
    events_.push(udr_event{.command_seq = c.command_seq, .cl_ord_id = 0, .orig_cl_ord_id = 0, .order_id = 0,
                           .price = 0, .session_id = sid, .security_id = 0,
                           .qty = static_cast<uint32_t>(cl_ord_ids.size()), .leaves_qty = 0, .cum_qty = 0,
                           .kind = UDR_EVT_SESSION_RESET, .side = 0, .reason = 0, .flags = 0});
}

void Engine::reject(const udr_command& c, OrdRejReason reason) {
    events_.push(udr_event{.command_seq = c.command_seq, .cl_ord_id = c.cl_ord_id, .orig_cl_ord_id = 0,
                           .order_id = 0, .price = c.price, .session_id = c.session_id,
                           .security_id = c.security_id, .qty = c.order_qty, .leaves_qty = 0, .cum_qty = 0,
                           .kind = UDR_EVT_REJECTED, .side = c.side, .reason = static_cast<uint8_t>(reason),
                           .flags = 0});
}

void Engine::cancel_reject(const udr_command& c, CxlRejReason reason, uint64_t order_id) {
    const uint8_t flags = c.kind == UDR_CMD_REPLACE ? UDR_EVT_FLAG_TO_REPLACE : 0;
    events_.push(udr_event{.command_seq = c.command_seq, .cl_ord_id = c.cl_ord_id,
                           .orig_cl_ord_id = c.orig_cl_ord_id, .order_id = order_id, .price = 0,
                           .session_id = c.session_id, .security_id = c.security_id, .qty = 0,
                           .leaves_qty = 0, .cum_qty = 0, .kind = UDR_EVT_CANCEL_REJECTED, .side = c.side,
                           .reason = static_cast<uint8_t>(reason), .flags = flags});
}

} // namespace udprouter::engine
