// Book invariants over random command streams (valid and invalid), checked from the event stream
// alone: the test rebuilds every order and both sides of every book from the events and checks,
// after each command, that
//   - no book is crossed (best bid < best ask) and the rebuilt best prices equal Engine::best_price;
//   - every live order has leaves > 0 and leaves == order qty - cum qty;
//   - each command's fills balance (aggressor-side qty == resting-side qty, per command);
//   - IOC, FOK and market orders never rest;
// and at the end that every order's qty == leaves + cum + canceled, and bought == sold per instrument.
// Seeded; `--commands N` and `--seed S` for longer runs.
#include "test_harness.h"

#include "udprouter/engine/engine.h"

#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

using namespace udprouter::engine;

namespace {

constexpr int32_t kInstruments = 3;
constexpr int64_t kTick = 10;
constexpr int64_t kMid = 15000;
constexpr uint32_t kSessions = 8;

struct OrderView {
    int32_t sec = 0;
    uint8_t side = 0;
    int64_t price = 0;
    uint32_t qty = 0, cum = 0, leaves = 0, canceled = 0;
    bool live = false, rests = false;
};

using Levels = std::map<int64_t, uint32_t>; // price -> live orders at that price

class BookModel {
public:
    void on_event(const udr_event& e) {
        if (e.kind == UDR_EVT_REJECTED || e.kind == UDR_EVT_CANCEL_REJECTED) return; // no state
        if (e.kind != UDR_EVT_ACCEPTED && orders_.count(e.order_id) == 0) {
            UDR_CHECK(!"event about an order never accepted");
            return;
        }
        OrderView& o = orders_[e.order_id];
        switch (e.kind) {
        case UDR_EVT_ACCEPTED:
            o = OrderView{e.security_id, e.side, e.price, e.qty, 0, e.leaves_qty, 0, true, false};
            UDR_CHECK_EQ(e.leaves_qty, e.qty);
            break;
        case UDR_EVT_TRADE:
            UDR_CHECK(e.qty > 0);
            o.cum += e.qty;
            UDR_CHECK_EQ(e.cum_qty, o.cum);
            UDR_CHECK_EQ(e.leaves_qty + o.cum, o.qty);
            set_leaves(e.order_id, o, e.leaves_qty);
            (e.flags & UDR_EVT_FLAG_AGGRESSOR ? aggressor_qty_ : resting_qty_) += e.qty;
            (e.side == 1 ? bought_ : sold_)[e.security_id] += e.qty;
            break;
        case UDR_EVT_CANCELED:
            UDR_CHECK(o.live);
            UDR_CHECK_EQ(e.cum_qty, o.cum);
            o.canceled = o.leaves;
            set_leaves(e.order_id, o, 0);
            break;
        case UDR_EVT_REPLACED:
            UDR_CHECK(o.live);
            unrest(o);
            o.qty = e.qty;
            o.price = e.price;
            UDR_CHECK_EQ(e.leaves_qty + o.cum, o.qty);
            UDR_CHECK(e.leaves_qty > 0);
            o.leaves = e.leaves_qty;
            rest(o);
            break;
        default:
            UDR_CHECK(!"unknown event kind");
            break;
        }
    }

    // Called once the command's last event is seen: its new order, if still live, rests.
    void settle_new(uint64_t order_id, bool may_rest) {
        auto it = orders_.find(order_id);
        if (it == orders_.end() || !it->second.live) return;
        UDR_CHECK(may_rest);
        if (!it->second.rests) rest(it->second);
    }

    void check_after_command(const Engine& engine) {
        UDR_CHECK_EQ(aggressor_qty_, resting_qty_);
        for (int32_t sec = 1; sec <= kInstruments; ++sec) {
            const Levels& bids = levels_[{sec, 1}];
            const Levels& asks = levels_[{sec, 2}];
            if (!bids.empty() && !asks.empty()) UDR_CHECK(bids.rbegin()->first < asks.begin()->first);
            check_best(engine, sec, 1, bids.empty(), bids.empty() ? 0 : bids.rbegin()->first);
            check_best(engine, sec, 2, asks.empty(), asks.empty() ? 0 : asks.begin()->first);
        }
    }

    void check_final() {
        for (const auto& [id, o] : orders_) {
            UDR_CHECK_EQ(o.qty, o.leaves + o.cum + o.canceled);
            if (o.live) UDR_CHECK(o.leaves > 0);
        }
        for (int32_t sec = 1; sec <= kInstruments; ++sec) UDR_CHECK_EQ(bought_[sec], sold_[sec]);
    }

    size_t orders() const { return orders_.size(); }
    uint64_t traded() const { return aggressor_qty_; }

private:
    void set_leaves(uint64_t, OrderView& o, uint32_t leaves) {
        o.leaves = leaves;
        if (leaves == 0 && o.live) {
            o.live = false;
            unrest(o);
        }
    }
    void rest(OrderView& o) {
        o.rests = true;
        ++levels_[{o.sec, o.side}][o.price];
    }
    void unrest(OrderView& o) {
        if (!o.rests) return;
        o.rests = false;
        Levels& side = levels_[{o.sec, o.side}];
        if (--side[o.price] == 0) side.erase(o.price);
    }
    static void check_best(const Engine& engine, int32_t sec, uint8_t side, bool empty, int64_t expected) {
        int64_t price = 0;
        const bool found = engine.best_price(sec, side, price);
        UDR_CHECK_EQ(found, !empty);
        if (found && !empty) UDR_CHECK_EQ(price, expected);
    }

    std::unordered_map<uint64_t, OrderView> orders_;
    std::map<std::pair<int32_t, uint8_t>, Levels> levels_;
    uint64_t aggressor_qty_ = 0, resting_qty_ = 0;
    std::map<int32_t, uint64_t> bought_, sold_;
};

class Stream {
public:
    explicit Stream(uint64_t seed) : rng_(seed), marks_(kSessions + 1, 0), sent_(kSessions + 1) {}

    udr_command next(uint64_t seq) {
        udr_command c{};
        c.command_seq = seq;
        c.session_id = 1 + pick(kSessions);
        c.account = c.session_id % 3;
        auto& mark = marks_[c.session_id];
        c.cl_ord_id = pick(50) == 0 ? pick(mark + 1) : (mark += 1 + pick(2)); // some duplicates
        const uint32_t roll = pick(100);
        if (roll < 70 || sent_[c.session_id].empty()) {
            fill_new(c, roll);
            sent_[c.session_id].push_back({c.cl_ord_id, c.security_id, c.side});
            return c;
        }
        const Sent& target = sent_[c.session_id][pick(sent_[c.session_id].size())];
        c.orig_cl_ord_id = pick(30) == 0 ? mark + 7 : target.cl; // some unknown orders
        c.security_id = target.sec;
        c.side = target.side;
        c.kind = roll < 85 ? UDR_CMD_CANCEL : UDR_CMD_REPLACE;
        if (c.kind == UDR_CMD_REPLACE) {
            c.price = price();
            c.order_qty = 1 + pick(60);
            c.ord_type = 2;
        }
        return c;
    }

    static bool may_rest(const udr_command& c) { return c.ord_type == 2 && c.time_in_force == 0; }

private:
    struct Sent {
        uint64_t cl;
        int32_t sec;
        uint8_t side;
    };

    uint64_t pick(uint64_t n) { return std::uniform_int_distribution<uint64_t>(0, n - 1)(rng_); }
    int64_t price() { return kMid + (static_cast<int64_t>(pick(41)) - 20) * kTick; }

    void fill_new(udr_command& c, uint32_t roll) {
        c.kind = UDR_CMD_NEW_ORDER;
        c.security_id = 1 + static_cast<int32_t>(pick(kInstruments));
        c.side = 1 + static_cast<uint8_t>(pick(2));
        c.ord_type = 2;
        c.price = price();
        c.order_qty = 1 + pick(60);
        const uint32_t kind = pick(100);
        if (kind < 8) { // market, IOC or FOK (Day is refused by the router)
            c.ord_type = 1;
            c.price = 0;
            c.time_in_force = pick(2) ? 3 : 4;
        } else if (kind < 20) {
            c.time_in_force = 3;
        } else if (kind < 26) {
            c.time_in_force = 4;
        }
        if (roll < 2) { // invalid: off tick, outside the band, qty 0, unknown instrument
            switch (pick(4)) {
            case 0: c.price += 3; break;
            case 1: c.price = 99 * kMid; break;
            case 2: c.order_qty = 0; break;
            default: c.security_id = 77; break;
            }
        }
    }

    std::mt19937_64 rng_;
    std::vector<uint64_t> marks_;
    std::vector<std::vector<Sent>> sent_;
};

uint64_t arg_or(const std::string& name, uint64_t fallback) {
    const auto& a = udr_test::args();
    for (size_t i = 0; i + 1 < a.size(); ++i) {
        if (a[i] == name) return std::strtoull(a[i + 1].c_str(), nullptr, 10);
    }
    return fallback;
}

void run_stream(uint64_t seed, uint64_t commands, bool self_match_prevention) {
    EngineConfig config;
    for (int32_t sec = 1; sec <= kInstruments; ++sec) {
        config.instruments.push_back(InstrumentSpec{sec, kTick, kMid / 2, kMid * 2, 1000});
    }
    config.max_orders = 2048; // small: pool exhaustion rejects are part of the stream
    config.max_sessions = kSessions;
    config.self_match_prevention = self_match_prevention;
    Engine engine(config);
    BookModel model;
    Stream stream(seed);
    const int before = udr_test::failures();
    for (uint64_t seq = 1; seq <= commands && udr_test::failures() == before; ++seq) {
        const udr_command c = stream.next(seq);
        bool last_seen = false;
        engine.apply(c, [&](const udr_event& e) {
            UDR_CHECK(!last_seen);
            last_seen = (e.flags & UDR_EVT_FLAG_LAST) != 0;
            model.on_event(e);
        });
        UDR_CHECK(last_seen);
        if (c.kind == UDR_CMD_NEW_ORDER) model.settle_new(c.command_seq, Stream::may_rest(c));
        model.check_after_command(engine);
    }
    model.check_final();
    std::printf("seed %llu: %llu commands, %zu orders accepted, %llu traded\n", (unsigned long long)seed,
                (unsigned long long)commands, model.orders(), (unsigned long long)model.traded());
    UDR_CHECK(model.orders() > commands / 4);
    UDR_CHECK(model.traded() > 0);
}

} // namespace

UDR_TEST(random_streams_keep_books_uncrossed_and_quantities_conserved) {
    const uint64_t seed = arg_or("--seed", 7);
    run_stream(seed, arg_or("--commands", 300000), false);
}

UDR_TEST(random_streams_with_self_match_prevention_keep_the_same_invariants) {
    run_stream(arg_or("--seed", 7) + 1, arg_or("--commands", 300000), true);
}
