// account_table.h - the per-account controls the engine applies across every session of an account.
//
// An account gets an entry the first time an ACCOUNT_CONTROL command names it (an admin command, off
// the matching path: the only place this table allocates). An account without an entry has no limits
// and the engine's default self-match prevention mode. With an entry:
//   kill switch        new orders are refused (AccountKillSwitch), resting ones were canceled when it
//                      went on; off again is reversible
//   MaxOrderNotional   Price x OrderQty of one order (fat finger), ExceededMaxNotionalOrderAmt
//   MaxOpenNotional    resting Price x LeavesQty per side, this order counted in full (credit),
//                      InsufficientCreditLimit
//   MaxPosition        |net filled quantity per instrument| after this order filled in full,
//                      PositionLimitExceeded
//   MaxOrdersPerSecond orders accepted per one-second window (from the first order in it) of the
//                      command's recv_time_ns, which the journal keeps: replay sees the same windows.
//                      OrderRateExceeded
// Notional limits are in whole price units (the price mantissa has exponent -9); 0 = no limit.
// Open notional is recomputed from the live orders whenever an entry is created and on a snapshot
// load; the net position counts the fills from the moment the entry exists.
#ifndef UDPROUTER_ENGINE_ACCOUNT_TABLE_H
#define UDPROUTER_ENGINE_ACCOUNT_TABLE_H

#include "udprouter/engine/order.h"

#include <cstddef>

#include <cstdint>
#include <vector>

namespace udprouter::engine {

__extension__ typedef unsigned __int128 Notional; // Price mantissa x qty: beyond 64 bits at max values

inline Notional notional(int64_t price, uint32_t qty) {
    return static_cast<Notional>(price < 0 ? 0 : static_cast<uint64_t>(price)) * qty;
}

// Order::flags: the aggressor's self-match prevention mode (bits 0-1) and whether the order's
// account has an entry here (its fills and book moves update the entry's figures).
inline constexpr uint8_t kOrderSmpMask = 3;
inline constexpr uint8_t kOrderTracked = 4;

// Self-match prevention mode (udprouter's SelfMatchPreventionMode enum in protocol/orders.xml).
enum class SmpMode : uint8_t {
    None = 0,
    CancelResting = 1,
    CancelAggressing = 2,
    CancelBoth = 3,
};

// ACCOUNT_CONTROL's control id (command ord_type) and the value it sets (command price).
enum class AccountControl : uint8_t {
    Query = 0,               // changes nothing: one ACCOUNT_UPDATED per control below, with its value
    MaxOrderNotional = 1,
    MaxOpenNotional = 2,
    MaxPosition = 3,
    MaxOrdersPerSecond = 4,
    SelfMatchPrevention = 5, // value: SmpMode
    KillSwitch = 6,          // value: 1 on, 0 off
};

// One entry per 128-byte aligned pair of cache lines (which the L2's adjacent-line prefetch loads
// together): an order's checks read the whole entry, and no entry shares a line with another.
struct alignas(128) AccountState {
    Notional open_notional[2] = {0, 0}; // by SideIndex
    // The notional limits scaled to the price mantissa, all ones for none (0): one compare per
    // check, no multiply. update_caps() derives them whenever a limit changes.
    Notional order_cap = ~Notional{0};
    Notional open_cap = ~Notional{0};
    int64_t max_order_notional = 0; // whole price units
    int64_t max_open_notional = 0;
    int64_t max_position = 0;
    int64_t max_orders_per_s = 0;
    uint64_t window_start_ns = 0;
    uint64_t window_orders = 0;
    // At least |net position| in every instrument (the largest it has been): while it plus an
    // order's quantity is within max_position, the order's position check needs no position read
    // (the positions are one line per account and instrument: the check's cache miss otherwise).
    int64_t position_bound = 0;
    uint32_t account = 0;
    SmpMode smp = SmpMode::CancelResting;
    bool killed = false;

    void update_caps() {
        constexpr Notional kScale = 1'000'000'000; // limits are in whole price units
        order_cap = max_order_notional == 0 ? ~Notional{0} : static_cast<Notional>(max_order_notional) * kScale;
        open_cap = max_open_notional == 0 ? ~Notional{0} : static_cast<Notional>(max_open_notional) * kScale;
    }
};

static_assert(sizeof(AccountState) == 128, "an account entry is one 128-byte line pair");

class AccountTable {
public:
    static constexpr uint32_t kNone = 0xFFFFFFFFu;
    // Accounts from 0 to kMaxAccount - 1 can have an entry (the lookup is a dense array).
    static constexpr uint32_t kMaxAccount = 1u << 20;

    AccountTable(uint32_t instruments, bool default_smp) : instruments_(instruments), default_smp_(default_smp) {}

    // Entry index of an account, or kNone.
    uint32_t find(uint32_t account) const {
        return account < slot_of_.size() ? slot_of_[account] : kNone;
    }
    // Entry of an account, created on first use (off the matching path only); kNone when the
    // account is kMaxAccount or above.
    uint32_t ensure(uint32_t account);

    // Starts loading an entry (both of its lines; kNone: nothing), which check_account() reads:
    // called first thing for a new order, so the miss overlaps the other checks.
    void prefetch_entry(uint32_t slot) const {
        if (slot != kNone) {
            const char* entry = reinterpret_cast<const char*>(&states_[slot]);
            __builtin_prefetch(entry);
            __builtin_prefetch(entry + 64);
        }
    }

    // Starts loading the position line a fill of the tracked order o updates (an aggressor that
    // crosses: its first fill comes a few events later).
    void prefetch_position(const Order& o) const { prefetch_position(find(o.account), o.book); }
    void prefetch_position(uint32_t slot, uint32_t book) const {
        __builtin_prefetch(&positions_[std::size_t{slot} * instruments_ + book], 1);
    }

    // Net filled quantity of the account's entry in instrument `book` (positive = long).
    int64_t position(uint32_t slot, uint32_t book) const { return positions_[std::size_t{slot} * instruments_ + book]; }
    void set_position(uint32_t slot, uint32_t book, int64_t value) {
        positions_[std::size_t{slot} * instruments_ + book] = value;
        raise_bound(states_[slot], value);
    }
    // Whether an order of signed quantity qty would take the position past max_position (set).
    // Exact; reads the position only when the bound cannot rule the breach out.
    bool breaches_position(uint32_t slot, uint32_t book, int64_t qty) const {
        const AccountState& a = states_[slot];
        const int64_t magnitude = qty < 0 ? -qty : qty;
        if (a.position_bound + magnitude <= a.max_position) [[likely]] {
            return false;
        }
        const int64_t after = position(slot, book) + qty;
        return after > a.max_position || after < -a.max_position;
    }

    AccountState& operator[](uint32_t slot) { return states_[slot]; }
    const AccountState& operator[](uint32_t slot) const { return states_[slot]; }
    uint32_t size() const { return static_cast<uint32_t>(states_.size()); }

    // Order::flags for a new order of the account, or of the account with entry `slot` (kNone: none).
    uint8_t order_flags(uint32_t account) const { return flags_of(find(account)); }
    uint8_t flags_of(uint32_t slot) const {
        if (slot == kNone) {
            return default_smp_ ? static_cast<uint8_t>(SmpMode::CancelResting) : 0;
        }
        return static_cast<uint8_t>(static_cast<uint8_t>(states_[slot].smp) | kOrderTracked);
    }

    // Book moves and fills of tracked orders (callers test kOrderTracked first).
    void rested(const Order& o) {
        states_[find(o.account)].open_notional[static_cast<unsigned>(side_index(o.side))] += notional(o.price, o.leaves_qty);
    }
    void unrested(const Order& o) {
        states_[find(o.account)].open_notional[static_cast<unsigned>(side_index(o.side))] -= notional(o.price, o.leaves_qty);
    }
    // A fill of qty; `resting` is whether o sits in the book (its open notional shrinks).
    void filled(const Order& o, uint32_t qty, bool resting) {
        const uint32_t slot = find(o.account);
        int64_t& position = positions_[std::size_t{slot} * instruments_ + o.book];
        position += o.side == kWireSideBuy ? int64_t{qty} : -int64_t{qty};
        AccountState& a = states_[slot];
        raise_bound(a, position);
        if (resting) {
            a.open_notional[static_cast<unsigned>(side_index(o.side))] -= notional(o.price, qty);
        }
    }

    // Drops every entry (before loading a snapshot).
    void clear() {
        slot_of_.clear();
        states_.clear();
        positions_.clear();
    }

private:
    static void raise_bound(AccountState& a, int64_t position) {
        const int64_t magnitude = position < 0 ? -position : position;
        a.position_bound = magnitude > a.position_bound ? magnitude : a.position_bound;
    }

    uint32_t instruments_;
    bool default_smp_;
    std::vector<uint32_t> slot_of_; // account -> entry, kNone when it has none
    std::vector<AccountState> states_;
    std::vector<int64_t> positions_; // entry-major: instruments_ per entry (one flat array to prefetch)
};

} // namespace udprouter::engine

#endif
