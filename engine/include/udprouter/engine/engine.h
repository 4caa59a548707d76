// engine.h - the matching engine core: the facade the engine process and the tests drive.
//
// Engine applies udr_command records (ring_abi.h) one at a time and reports the outcome as
// udr_event records through a caller-supplied sink, in order, the last one flagged
// UDR_EVT_FLAG_LAST. apply() allocates nothing, takes no lock and reads no clock, so the events
// are a pure function of the command sequence (the journal replays to the same state). The one
// exception to "allocates nothing" is RESET_SESSION, a cold command (a list of the orders to cancel).
//
// Events per command:
//   NEW accepted:  ACCEPTED, then per fill TRADE (incoming side, AGGRESSOR) + TRADE (resting side,
//                  to its own session); SMP: CANCELED (SelfMatchPrevention) to the resting order;
//                  an unfilled IOC / FOK / market remainder: CANCELED (ImmediateOrCancel or
//                  FillOrKill). A FOK that cannot fill in full: ACCEPTED, CANCELED (FillOrKill).
//   NEW refused:   REJECTED (OrdRejReason), price and qty as requested.
//   CANCEL:        CANCELED (ClientRequest) or CANCEL_REJECTED (CxlRejReason).
//   REPLACE:       REPLACED, then trades as for NEW if the new price crosses, or CANCEL_REJECTED
//                  (CxlRejReason, flag TO_REPLACE).
//   MASS_CANCEL:   MASS_ACTION_REPORT (TotalAffectedOrders, or REFUSED with MassActionRejectReason:
//                  Other for an unknown session, a used ClOrdID or a bad side/reason,
//                  InvalidOrUnknownSecurity), then CANCELED (the command's CancelReason) per order
//                  in price-time order (instruments in config order, bids then asks), each to its
//                  own session.
//   ORDER_STATUS:  ORDER_STATUS: OrdStatus New or PartiallyFilled of the live order (qty = OrderQty),
//                  else Filled or Canceled of the order kept in the terminal table (terminal_orders.h:
//                  leaves 0, qty 0, the price it had), or the same flagged REFUSED when the session
//                  has neither under that ClOrdID and SecurityID (never had, evicted, a replaced
//                  order's earlier ClOrdID, a session reset since).
//   ACCOUNT_CONTROL: ACCOUNT_UPDATED (REFUSED for an unknown control, a negative value, a mode
//                  above 3, a kill switch value other than 0/1, account 0 or >= 2^20); a kill switch
//                  turned on is followed by CANCELED (KillSwitch) for every resting order of the account;
//                  control Query (0) changes nothing and answers one ACCOUNT_UPDATED per control (1..6)
//                  with its current value.
//   RESET_SESSION: per live order of the session (book by book, price-time order) CANCELED
//                  (SessionReset), then SESSION_RESET (qty = orders canceled); the session's ClOrdID
//                  mark goes back to 0 and its terminal orders are dropped. An id outside
//                  1..max_sessions: REJECTED (Other).
//   other kinds:   REJECTED (Other).
// Field conventions: order_id is the command_seq of the creating NEW. CANCELED for a request
// carries the request's ClOrdID and OrigClOrdID; an unsolicited CANCELED (IOC, FOK, SMP) carries
// the order's ClOrdID in both. CANCEL_REJECTED for an order id the session used before is
// TooLateToCancel, for any other id UnknownOrder (also when the security or side do not match).
//
// Validation order for NEW: session_id (Other), ClOrdID not above the session's mark
// (DuplicateOrder), SecurityID (UnknownSymbol), side/type/TIF (UnsupportedOrderCharacteristic),
// qty 0 or above max (IncorrectQuantity), limit price off band (PriceExceedsCurrentPriceBand) then
// off tick (InvalidPriceIncrement), a Day limit order with the pool full (OrderBookFull), then the
// account's controls (account_table.h): AccountKillSwitch, ExceededMaxNotionalOrderAmt,
// InsufficientCreditLimit, PositionLimitExceeded, OrderRateExceeded.
// For REPLACE: session, DuplicateClOrdID, order lookup, qty 0 or above max, band, tick, qty not
// above cum_qty (IncorrectQuantity), then the account's limits as for NEW with the order as it would
// stand replaced (ExceededMaxNotionalOrderAmt: new Price x OrderQty; InsufficientCreditLimit: the
// side's open notional with this order's share at its new Price x LeavesQty; PositionLimitExceeded:
// the position if the new LeavesQty filled), each checked only when the replace raises that figure.
// The kill switch and the order rate apply to new orders only.
#ifndef UDPROUTER_ENGINE_ENGINE_H
#define UDPROUTER_ENGINE_ENGINE_H

#include "udprouter/engine/account_table.h"
#include "udprouter/engine/event_buffer.h"
#include "udprouter/engine/instrument.h"
#include "udprouter/engine/instrument_table.h"
#include "udprouter/engine/matcher.h"
#include "udprouter/engine/order_index.h"
#include "udprouter/engine/order_pool.h"
#include "udprouter/engine/ring_abi.h"
#include "udprouter/engine/session_table.h"
#include "udprouter/engine/terminal_orders.h"

#include <cstdint>
#include <cstdio>
#include <functional>
#include <type_traits>
#include <utility>
#include <vector>

namespace udprouter::engine {

struct EngineConfig {
    std::vector<InstrumentSpec> instruments;
    uint32_t max_orders;   // live orders across all instruments (the pool size)
    uint32_t max_sessions; // session ids 1..max_sessions are served
    bool self_match_prevention; // the SMP mode of accounts without their own: CancelResting, else None
    // Orders that left the book kept for OrderStatusRequest (terminal_orders.h), oldest evicted
    // first; kTerminalLikeMaxOrders: as many as max_orders.
    // max_orders + terminal orders must be below 2^31.
    uint32_t terminal_orders = kTerminalLikeMaxOrders;
    static constexpr uint32_t kTerminalLikeMaxOrders = 0xFFFFFFFFu;
};

class Engine {
public:
    // Throws EngineConfigError for a configuration it cannot serve.
    explicit Engine(const EngineConfig& config);
    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;

    // Applies one command; sink(const udr_event&) is called once per event, in order.
    template <class Sink>
    void apply(const udr_command& command, Sink&& sink) {
        using SinkType = std::remove_reference_t<Sink>;
        events_.bind(
            [](void* context, const udr_event* events, uint32_t count) {
                SinkType& s = *static_cast<SinkType*>(context);
                for (uint32_t i = 0; i < count; ++i) {
                    s(events[i]);
                }
            },
            const_cast<void*>(static_cast<const void*>(&sink)));
        dispatch(command);
        events_.finish();
    }

    // Hash over everything that defines the state: last command_seq, the session ClOrdID marks,
    // and every live order of every book in price-time order. Independent of pool slot numbers.
    uint64_t state_digest() const;

    // Binary snapshot: versioned, config fingerprint, FNV-1a checksum. read_snapshot replaces the
    // state and returns true, or returns false and leaves the state untouched when the file is
    // truncated, corrupt, of another version or taken under another configuration.
    void write_snapshot(std::FILE* file) const;
    bool read_snapshot(std::FILE* file);
    // The same snapshot in two steps, so only the first stops the engine: the state's bytes
    // without their checksum (a copy, taken between commands), then seal_snapshot appends the
    // checksum (any thread: it reads only the bytes). write_snapshot writes exactly these bytes.
    std::vector<uint8_t> snapshot_state() const;
    // The same bytes into out, which is cleared first and keeps its capacity: a buffer reused from
    // one snapshot to the next is already in memory, and the engine does not stop for its pages.
    void snapshot_state(std::vector<uint8_t>& out) const;
    // between_steps (if set) runs between the checksum's steps of kSealStep bytes: the writer
    // thread's pause (paced_io.h), so hashing megabytes never holds a core for long.
    static constexpr size_t kSealStep = size_t{128} << 10;
    static void seal_snapshot(std::vector<uint8_t>& state, const std::function<void()>& between_steps = {});

    // Highest command_seq applied (or restored from a snapshot); 0 for a fresh engine.
    uint64_t last_command_seq() const { return last_command_seq_; }

    // Best price of one side of an instrument's book (wire side 1 buy, 2 sell): false when the
    // instrument is unknown or that side is empty. A query for tools and benchmarks.
    bool best_price(int32_t security_id, uint8_t side, int64_t& price) const;

    // Every live order, book by book in price-time order. For tools reading the state (the
    // downstream replay learns each resting order's account from it); not for the matching path.
    void for_each_live_order(const std::function<void(const Order&)>& fn) const;

    const EngineConfig& config() const { return config_; }
    const AccountTable& accounts() const { return accounts_; }
    const TerminalOrders& terminal_orders() const { return terminal_; }

    // Work for when no command waits: indexes up to `budget` of the orders that left the book
    // since (terminal_orders.h), so an order status request finds little left to do. Returns
    // whether any is left. Changes no state an event or the digest can see.
    bool idle_work(uint32_t budget) { return terminal_.catch_up(budget) != 0; }
    uint32_t live_orders() const { return pool_.in_use(); }

private:
    void dispatch(const udr_command& command);
    void new_order(const udr_command& command);
    void cancel_order(const udr_command& command);
    void replace_order(const udr_command& command);
    [[gnu::cold, gnu::noinline]] void reset_session(const udr_command& command);
    // Refusals are out of line and marked cold, so the accepting paths that call them keep few
    // registers live and inline into each other (fewer calls, saves and restores per command).
    [[gnu::cold, gnu::noinline]] void reject(const udr_command& command, OrdRejReason reason);
    [[gnu::cold, gnu::noinline]] void cancel_reject(const udr_command& command, CxlRejReason reason,
                                                    uint64_t order_id);
    bool validate_new(const udr_command& command, uint32_t& instrument, uint32_t& level, uint8_t& flags);
    [[gnu::noinline]] bool check_account(const udr_command& command, uint32_t book, uint32_t level,
                                                    uint32_t slot);
    [[gnu::noinline]] bool check_replace_account(const udr_command& command, const Order& order);
    // engine_controls.cpp: the commands that act on many orders or on an account.
    void mass_cancel(const udr_command& command);
    void order_status(const udr_command& command);
    void account_control(const udr_command& command);
    void query_account(const udr_command& command);
    uint32_t account_entry(uint32_t account);
    // Collects the live orders that match (0 = any) into scratch_, in price-time order.
    void collect(uint32_t session_id, uint32_t account, int32_t security_id, uint8_t side);
    // Cancels every order in scratch_ with reason, events stamped command_seq.
    void cancel_collected(uint64_t command_seq, CancelReason reason);
    void push_control_event(const udr_command& c, uint8_t kind, bool refused, uint8_t reason, uint32_t qty);
    uint32_t find_target(const udr_command& command);
    void execute_new(const udr_command& command, Instrument& instrument, uint32_t book, uint32_t level,
                     uint8_t flags);
    static void init_order(Order& o, const udr_command& c, int64_t price, uint32_t book, uint32_t level,
                           uint8_t flags);
    void rest_or_retire(uint32_t order);
    void reprice(uint32_t order, const udr_command& command, uint32_t level);
    std::vector<uint8_t> serialize() const;
    uint64_t config_fingerprint() const;

    EngineConfig config_;
    std::vector<Instrument> instruments_;
    InstrumentTable table_;
    OrderPool pool_;
    TerminalOrders terminal_; // the orders that left the book, with their own index
    OrderIndex index_;        // the live orders
    SessionTable sessions_;
    AccountTable accounts_;
    std::vector<uint32_t> scratch_; // collect(): reserved to max_orders, never grows
    EventBuffer events_;
    Matcher matcher_;
    uint64_t last_command_seq_ = 0;
};

} // namespace udprouter::engine

#endif
