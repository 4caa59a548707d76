// The commands that act on many orders or on an account: mass cancel (a session's request, cancel
// on disconnect, an admin's), order status, and the account controls (limits, SMP mode, kill
// switch). None of them is on the order path's hot loop; each is journaled like any command.
#include "udprouter/engine/engine.h"

namespace udprouter::engine {

namespace {

bool mass_cancel_reason(uint8_t reason) {
    return reason == static_cast<uint8_t>(CancelReason::MassCancel) ||
           reason == static_cast<uint8_t>(CancelReason::CancelOnDisconnect) ||
           reason == static_cast<uint8_t>(CancelReason::KillSwitch);
}

} // namespace

void Engine::push_control_event(const udr_command& c, uint8_t kind, bool refused, uint8_t reason, uint32_t qty) {
    const bool account_event = kind == UDR_EVT_ACCOUNT_UPDATED;
    events_.push(udr_event{.command_seq = c.command_seq, .cl_ord_id = c.cl_ord_id,
                           .orig_cl_ord_id = account_event ? c.account : 0, .order_id = 0,
                           .price = account_event ? c.price : 0, .session_id = c.session_id,
                           .security_id = c.security_id, .qty = qty, .leaves_qty = 0, .cum_qty = 0,
                           .kind = kind, .side = c.side, .reason = reason,
                           .flags = static_cast<uint8_t>(refused ? UDR_EVT_FLAG_REFUSED : 0)});
}

void Engine::mass_cancel(const udr_command& c) {
    const auto refuse = [&](MassActionRejectReason reason) {
        push_control_event(c, UDR_EVT_MASS_ACTION_REPORT, true, static_cast<uint8_t>(reason), 0);
    };
    if (c.session_id != 0 && c.cl_ord_id != 0 &&
        sessions_.check_and_advance(c.session_id, c.cl_ord_id) != ClOrdIdCheck::Fresh) {
        refuse(MassActionRejectReason::Other); // unknown session or a ClOrdID used before
        return;
    }
    if (c.security_id != 0 && table_.find(c.security_id) == kNoInstrument) {
        refuse(MassActionRejectReason::InvalidOrUnknownSecurity);
        return;
    }
    if (c.side > kWireSideSell || !mass_cancel_reason(c.ord_type)) {
        refuse(MassActionRejectReason::Other);
        return;
    }
    collect(c.session_id, c.account, c.security_id, c.side);
    push_control_event(c, UDR_EVT_MASS_ACTION_REPORT, false, 0, static_cast<uint32_t>(scratch_.size()));
    cancel_collected(c.command_seq, static_cast<CancelReason>(c.ord_type));
}

void Engine::collect(uint32_t session_id, uint32_t account, int32_t security_id, uint8_t side) {
    scratch_.clear();
    const auto wanted = [&](const Order& o) {
        return (session_id == 0 || o.session_id == session_id) && (account == 0 || o.account == account);
    };
    for (Instrument& instrument : instruments_) {
        if (security_id != 0 && instrument.spec().security_id != security_id) {
            continue;
        }
        const OrderBook& book = instrument.book();
        for (SideIndex s : {SideIndex::Buy, SideIndex::Sell}) {
            if (side != 0 && side_index(side) != s) {
                continue;
            }
            for (uint32_t l = book.best(s); l != kNoLevel; l = book.next_worse(s, l)) {
                book.level(s, l).for_each(pool_, [&](uint32_t i) {
                    if (wanted(pool_[i])) {
                        scratch_.push_back(i); // reserved to the pool's size: never allocates
                    }
                });
            }
        }
    }
}

void Engine::cancel_collected(uint64_t command_seq, CancelReason reason) {
    for (const uint32_t order : scratch_) {
        const Order& o = pool_[order];
        events_.push(Matcher::canceled(o, command_seq, reason));
        if ((o.flags & kOrderTracked) != 0) {
            accounts_.unrested(o);
        }
        instruments_[o.book].book().remove(pool_, order);
        index_.erase(index_.prepare(o.session_id, o.cl_ord_id), order);
        terminal_.record(o, OrdStatus::Canceled);
        pool_.release(order);
    }
    scratch_.clear();
}

void Engine::order_status(const udr_command& c) {
    if (!sessions_.contains(c.session_id)) {
        push_control_event(c, UDR_EVT_ORDER_STATUS, true, 0, 0);
        return;
    }
    const uint32_t order = index_.find(c.session_id, c.cl_ord_id);
    if (order == kNullIndex) {
        // Filled or canceled, if still kept in the terminal table.
        const TerminalOrder* t = terminal_.find(c.session_id, c.cl_ord_id);
        if (t == nullptr || t->security_id != c.security_id) {
            push_control_event(c, UDR_EVT_ORDER_STATUS, true, 0, 0);
            return;
        }
        events_.push(udr_event{.command_seq = c.command_seq, .cl_ord_id = t->cl_ord_id, .orig_cl_ord_id = 0,
                               .order_id = t->order_id, .price = t->price, .session_id = t->session_id,
                               .security_id = t->security_id, .qty = 0, .leaves_qty = 0, .cum_qty = t->cum_qty,
                               .kind = UDR_EVT_ORDER_STATUS, .side = t->side, .reason = t->status, .flags = 0});
        return;
    }
    if (pool_[order].security_id != c.security_id) {
        push_control_event(c, UDR_EVT_ORDER_STATUS, true, 0, 0);
        return;
    }
    const Order& o = pool_[order];
    const OrdStatus status = o.cum_qty == 0 ? OrdStatus::New : OrdStatus::PartiallyFilled;
    events_.push(udr_event{.command_seq = c.command_seq, .cl_ord_id = o.cl_ord_id, .orig_cl_ord_id = 0,
                           .order_id = o.order_id, .price = o.price, .session_id = o.session_id,
                           .security_id = o.security_id, .qty = o.order_qty, .leaves_qty = o.leaves_qty,
                           .cum_qty = o.cum_qty, .kind = UDR_EVT_ORDER_STATUS, .side = o.side,
                           .reason = static_cast<uint8_t>(status), .flags = 0});
}

// The account's entry; a new one starts tracking the account's live orders (their flags and the
// open notional they hold).
uint32_t Engine::account_entry(uint32_t account) {
    const uint32_t existing = accounts_.find(account);
    if (existing != AccountTable::kNone) {
        return existing;
    }
    const uint32_t slot = accounts_.ensure(account);
    if (slot == AccountTable::kNone) {
        return slot;
    }
    collect(0, account, 0, 0);
    for (const uint32_t order : scratch_) {
        Order& o = pool_[order];
        o.flags = static_cast<uint8_t>(o.flags | kOrderTracked);
        accounts_.rested(o);
    }
    scratch_.clear();
    return slot;
}

// The account's controls as they stand, one ACCOUNT_UPDATED each (price = the value); an account
// without an entry shows no limits, the default SMP mode and the kill switch off.
void Engine::query_account(const udr_command& c) {
    const uint32_t slot = accounts_.find(c.account);
    AccountState none;
    none.smp = config_.self_match_prevention ? SmpMode::CancelResting : SmpMode::None;
    const AccountState& a = slot == AccountTable::kNone ? none : accounts_[slot];
    const int64_t values[] = {a.max_order_notional, a.max_open_notional, a.max_position, a.max_orders_per_s,
                              static_cast<int64_t>(a.smp), a.killed ? 1 : 0};
    for (uint8_t control = 1; control <= 6; ++control) {
        udr_command report = c;
        report.ord_type = control;
        report.price = values[control - 1];
        push_control_event(report, UDR_EVT_ACCOUNT_UPDATED, false, control, 0);
    }
}

void Engine::account_control(const udr_command& c) {
    const auto control = static_cast<AccountControl>(c.ord_type);
    if (control == AccountControl::Query && c.account != 0) {
        query_account(c);
        return;
    }
    bool valid = c.price >= 0 && c.account != 0 && c.account < AccountTable::kMaxAccount;
    switch (control) {
    case AccountControl::MaxOrderNotional:
    case AccountControl::MaxOpenNotional:
    case AccountControl::MaxPosition:
    case AccountControl::MaxOrdersPerSecond: break;
    case AccountControl::SelfMatchPrevention: valid = valid && c.price <= static_cast<int64_t>(SmpMode::CancelBoth); break;
    case AccountControl::KillSwitch: valid = valid && c.price <= 1; break;
    default: valid = false; break;
    }
    if (!valid) {
        push_control_event(c, UDR_EVT_ACCOUNT_UPDATED, true, c.ord_type, 0);
        return;
    }
    AccountState& a = accounts_[account_entry(c.account)];
    switch (control) {
    case AccountControl::MaxOrderNotional: a.max_order_notional = c.price; break;
    case AccountControl::MaxOpenNotional: a.max_open_notional = c.price; break;
    case AccountControl::MaxPosition: a.max_position = c.price; break;
    case AccountControl::MaxOrdersPerSecond: a.max_orders_per_s = c.price; a.window_orders = 0; break;
    case AccountControl::SelfMatchPrevention: a.smp = static_cast<SmpMode>(c.price); break;
    case AccountControl::KillSwitch: a.killed = c.price == 1; break;
    case AccountControl::Query: break; // answered above
    }
    a.update_caps();
    if (control == AccountControl::KillSwitch && a.killed) {
        collect(0, c.account, 0, 0);
    }
    push_control_event(c, UDR_EVT_ACCOUNT_UPDATED, false, c.ord_type, static_cast<uint32_t>(scratch_.size()));
    cancel_collected(c.command_seq, CancelReason::KillSwitch);
}

} // namespace udprouter::engine
