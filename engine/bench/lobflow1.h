// lobflow1.h - the LOBFLOW1 benchmark flow (specification: LOBFLOW1.md, kept with the project's
// design notes), as a reusable generator plus a driver that maps it onto udr_command records.
//
// Lobflow1 draws the operations exactly as the specification orders them (splitmix64, seed 42).
// It cannot know fills by itself, so the caller reports them back: rested() when an ADD rests,
// removed() when an order leaves the book (cancel or full fill), and a Book query supplies the
// best bid / ask ticks for IOC limits. Lobflow1Driver does all of that for anything that applies
// udr_commands and emits udr_events (the in-process Engine, a journaled engine, a ring), and
// counts the totals the specification lists.
#ifndef UDPROUTER_BENCH_LOBFLOW1_H
#define UDPROUTER_BENCH_LOBFLOW1_H

#include "udprouter/engine/huge_page_array.h"
#include "udprouter/engine/ring_abi.h"

#include <algorithm>
#include <stdexcept>
#include <cstdint>
#include <vector>

namespace udprouter::bench {

struct SplitMix64 {
    uint64_t state;
    uint64_t next() {
        state += 0x9E3779B97F4A7C15ULL;
        uint64_t z = state;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        return z ^ (z >> 31);
    }
    uint64_t uniform(uint64_t n) { return next() % n; }
};

enum class Lobflow1Kind : uint8_t { Add, Cancel, Ioc };

struct Lobflow1Op {
    Lobflow1Kind kind;
    uint8_t side;       // 0 buy, 1 sell (CANCEL: the target's side)
    uint32_t sym;
    int64_t price;      // ticks: ADD price, IOC limit
    uint32_t qty;
    uint64_t order_id;  // ADD, IOC: the new id; CANCEL: the target's key (see rested())
    uint32_t live_index; // CANCEL: the target's index in live(sym), the hole its removal leaves
};

inline constexpr int64_t kLobflow1Mid = 10000;
inline constexpr uint32_t kLobflow1Cap = 1000;
inline constexpr uint32_t kLobflow1Prefill = 1000;
inline constexpr uint64_t kLobflow1Ops = 10'000'000;

// Live order key -> its index in its symbol's live vector: a direct table indexed by the key
// (2 bytes an entry, CAP < 2^16). Keys are the driver's ClOrdIDs, which rise by one per command,
// so the live keys crowd the recent end of the table (an order lives ~170k operations on average
// at N=100): the lines in use stay near 1 MB although the whole table spans the run's ids. A
// removal writes one entry and reads none when the caller knows the hole (a CANCEL drew it), so
// the bookkeeping adds no dependent miss in front of the engine's own. Sized for the run's last key.
class Lobflow1Positions {
public:
    explicit Lobflow1Positions(uint64_t max_key) : index_(max_key + 1) {}
    void set(uint64_t key, uint32_t index) { index_[key] = static_cast<uint16_t>(index); }
    uint32_t get(uint64_t key) const { return index_[key]; }
    uint64_t max_key() const { return index_.size() - 1; }

private:
    engine::HugePageArray<uint16_t> index_;
};

class Lobflow1 {
public:
    // A resting order under the key its driver gave it (the driver's ClOrdID: the flow's order
    // ids only identify orders, so any unique key below 2^31 serves).
    // 4 bytes, so a symbol's live vector is 4 KB and all of them sit in one flat array.
    struct Live {
        uint32_t id : 31;
        uint32_t side : 1; // 0 buy, 1 sell: a CANCEL must name its target's side
    };

    // max_key: the highest key the driver will give a resting order (rested() takes no larger).
    Lobflow1(uint32_t symbols, uint64_t max_key, uint64_t seed = 42)
        : rng_{seed}, symbols_(symbols), live_(size_t{symbols} * kLobflow1Cap), live_count_(symbols, 0),
          positions_(max_key) {
        if (max_key >= (uint64_t{1} << 31)) throw std::length_error("LOBFLOW1 keys must stay below 2^31");
    }

    uint32_t symbols() const { return symbols_; }

    // Prefill operation i (0 .. symbols * kLobflow1Prefill - 1): ADD(i mod N).
    Lobflow1Op prefill(uint64_t i) { return add(static_cast<uint32_t>(i % symbols_)); }

    // Next timed operation. Book: int64_t best_bid(uint32_t sym), best_ask(uint32_t sym) in ticks,
    // or -1 when that side is empty.
    template <class Book>
    Lobflow1Op next(const Book& book) {
        const uint32_t sym = static_cast<uint32_t>(rng_.uniform(symbols_));
        const uint64_t u = rng_.uniform(100);
        const size_t live = live_count_[sym];
        if (u < 60) {
            return live >= kLobflow1Cap ? cancel(sym) : add(sym);
        }
        if (u < 90) {
            return live == 0 ? add(sym) : cancel(sym);
        }
        return ioc(sym, book);
    }

    void rested(uint32_t sym, uint64_t order_id, uint8_t side) {
        uint32_t& count = live_count_[sym];
        positions_.set(order_id, count);
        live_of(sym)[count++] = Live{static_cast<uint32_t>(order_id), side};
    }

    // A resting order left the book by a fill: its hole is looked up.
    void removed(uint32_t sym, uint64_t order_id) { removed_at(sym, positions_.get(order_id)); }

    // The target of a CANCEL left the book: its hole is the index the CANCEL drew.
    void canceled(const Lobflow1Op& cancel) { removed_at(cancel.sym, cancel.live_index); }

    size_t live(uint32_t sym) const { return live_count_[sym]; }


private:
    Lobflow1Op add(uint32_t sym) {
        const uint8_t side = static_cast<uint8_t>(rng_.uniform(2));
        const uint64_t a = rng_.uniform(50);
        const uint64_t c = rng_.uniform(50);
        const int64_t off = 1 + static_cast<int64_t>(std::min(a, c));
        const uint32_t qty = static_cast<uint32_t>(100 * (1 + rng_.uniform(10)));
        return Lobflow1Op{Lobflow1Kind::Add, side, sym, side == 0 ? kLobflow1Mid - off : kLobflow1Mid + off, qty,
                          ++next_id_, 0};
    }

    Lobflow1Op cancel(uint32_t sym) {
        const uint32_t index = static_cast<uint32_t>(rng_.uniform(live_count_[sym]));
        const Live target = live_of(sym)[index];
        return Lobflow1Op{Lobflow1Kind::Cancel, static_cast<uint8_t>(target.side), sym, 0, 0, target.id, index};
    }

    // Swap-remove: the last live order of the symbol moves into the hole.
    void removed_at(uint32_t sym, uint32_t hole) {
        Live* live = live_of(sym);
        uint32_t& count = live_count_[sym];
        if (hole + 1 != count) {
            live[hole] = live[count - 1];
            positions_.set(live[hole].id, hole);
        }
        --count;
    }

    template <class Book>
    Lobflow1Op ioc(uint32_t sym, const Book& book) {
        const uint8_t side = static_cast<uint8_t>(rng_.uniform(2));
        const int64_t d = static_cast<int64_t>(rng_.uniform(10));
        const uint32_t qty = static_cast<uint32_t>(100 * (1 + rng_.uniform(40)));
        int64_t limit = 0;
        if (side == 0) {
            const int64_t ask = book.best_ask(sym);
            limit = ask < 0 ? kLobflow1Mid + 1 + d : ask + d;
        } else {
            const int64_t bid = book.best_bid(sym);
            limit = bid < 0 ? kLobflow1Mid - 1 - d : bid - d;
        }
        return Lobflow1Op{Lobflow1Kind::Ioc, side, sym, limit, qty, ++next_id_, 0};
    }

    Live* live_of(uint32_t sym) { return &live_[size_t{sym} * kLobflow1Cap]; }

    SplitMix64 rng_;
    uint32_t symbols_;
    engine::HugePageArray<Live> live_; // symbol s owns [s * CAP, (s + 1) * CAP)
    std::vector<uint32_t> live_count_;
    Lobflow1Positions positions_;
    uint64_t next_id_ = 0;
};

struct Lobflow1Totals {
    uint64_t fill_qty = 0;
    uint64_t trades = 0;
    uint64_t cancels = 0;
    uint64_t rejects = 0;
};

// Maps LOBFLOW1 onto udr_commands for one session (session 1, account 1): SecurityID = sym + 1,
// price mantissa = ticks * tick_mantissa, ClOrdID = command_seq (every command, ADD, IOC and
// CANCEL alike, takes the next one, as a FIX client numbers its requests), and a resting order
// is known to the flow by its ClOrdID.
class Lobflow1Driver {
public:
    static constexpr int64_t kTickMantissa = 10'000'000; // 0.01

    // timed_ops: how many timed operations will follow the prefill (bounds the keys: one per command).
    Lobflow1Driver(uint32_t symbols, uint64_t timed_ops)
        : flow_(symbols, uint64_t{symbols} * kLobflow1Prefill + timed_ops) {}

    // Spreads the orders over accounts 1..accounts (ClOrdID modulo accounts) instead of account 1:
    // with self-match prevention on, an order then meets its own account rarely, not always.
    void spread_accounts(uint32_t accounts) { accounts_ = accounts; }

    Lobflow1& flow() { return flow_; }
    const Lobflow1Totals& totals() const { return totals_; }
    void reset_totals() { totals_ = Lobflow1Totals{}; }

    udr_command command(const Lobflow1Op& op) {
        udr_command c{};
        c.command_seq = ++seq_;
        c.cl_ord_id = c.command_seq;
        c.session_id = 1;
        c.account = accounts_ == 0 ? 1 : 1 + static_cast<uint32_t>(c.cl_ord_id % accounts_);
        c.security_id = static_cast<int32_t>(op.sym + 1);
        c.side = op.side == 0 ? 1 : 2;
        current_ = op;
        if (op.kind == Lobflow1Kind::Cancel) {
            c.kind = UDR_CMD_CANCEL;
            c.orig_cl_ord_id = op.order_id;
            return c;
        }
        c.kind = UDR_CMD_NEW_ORDER;
        c.price = op.price * kTickMantissa;
        c.order_qty = op.qty;
        c.ord_type = 2;
        c.time_in_force = op.kind == Lobflow1Kind::Ioc ? 3 : 0;
        return c;
    }

    // Feed every event of the current command here, in order.
    void on_event(const udr_event& e) {
        switch (e.kind) {
        case UDR_EVT_TRADE:
            if (e.flags & UDR_EVT_FLAG_AGGRESSOR) {
                totals_.fill_qty += e.qty;
                ++totals_.trades;
            } else if (e.leaves_qty == 0) {
                flow_.removed(current_.sym, e.cl_ord_id);
            }
            break;
        case UDR_EVT_CANCELED:
            if (e.reason == 0) {
                ++totals_.cancels;
                flow_.canceled(current_);
            } else if (e.reason == 3) {
                flow_.removed(current_.sym, e.cl_ord_id); // self-match prevention took a resting order
            }
            break;
        case UDR_EVT_REJECTED:
        case UDR_EVT_CANCEL_REJECTED: ++totals_.rejects; break;
        default: break;
        }
        if ((e.flags & UDR_EVT_FLAG_LAST) && current_.kind == Lobflow1Kind::Add && e.kind == UDR_EVT_ACCEPTED) {
            flow_.rested(current_.sym, e.cl_ord_id, current_.side); // ADDs never cross: ACCEPTED alone means resting
        }
    }

private:
    Lobflow1 flow_;
    Lobflow1Op current_{};
    uint64_t seq_ = 0;
    uint32_t accounts_ = 0;
    Lobflow1Totals totals_;
};

} // namespace udprouter::bench

#endif
