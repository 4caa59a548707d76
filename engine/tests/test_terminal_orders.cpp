// The terminal-order table's own index (terminal_orders.h), caught up lazily, against a scan of the
// ring it indexes: every order status answer for an order that left the book is the ring's record of
// it (not dropped), whatever the index had left to catch up (nothing, a few, more than the ring
// holds), across many wraps of small rings (capacities around the stage of 8 records), session
// resets and snapshot loads; and when the index catches up changes no event and no digest.
#include "engine_test.h"

#include <cstdio>
#include <cstring>
#include <random>

using namespace udprouter::engine;

namespace {

constexpr uint32_t kSessions = 4;

EngineConfig config(uint32_t terminal) {
    return EngineConfig{{InstrumentSpec{1, 1, 1, 200, 50}, InstrumentSpec{7, 5, 100, 1000, 50}}, 200, kSessions, true,
                        terminal};
}

// Commands whose orders leave the book quickly (IOC, crossing prices, cancels), ClOrdIDs rising
// per session and starting again after a session reset.
struct Flow {
    std::mt19937_64 rng;
    uint64_t seq = 0;
    uint64_t next_cl[kSessions + 1] = {};

    explicit Flow(uint64_t seed) : rng(seed) {}

    udr_command next() {
        const auto session = static_cast<uint32_t>(1 + rng() % kSessions);
        const unsigned roll = static_cast<unsigned>(rng() % 100);
        if (roll < 1) {
            udr_command c{};
            c.kind = UDR_CMD_RESET_SESSION;
            c.command_seq = ++seq;
            c.session_id = session;
            next_cl[session] = 0;
            return c;
        }
        const bool first = rng() % 2 == 0;
        const uint8_t tif = rng() % 3 == 0 ? UDR_SBE_TIME_IN_FORCE_IMMEDIATE_OR_CANCEL : 0;
        udr_command c = udr_test::new_order(++seq, session, ++next_cl[session], static_cast<uint8_t>(1 + rng() % 2),
                                            first ? static_cast<int64_t>(95 + rng() % 10)
                                                  : static_cast<int64_t>(450 + 5 * (rng() % 10)),
                                            static_cast<uint32_t>(1 + rng() % 20), tif, 2, first ? 1 : 7);
        c.account = session % 3;
        if (roll < 25 && next_cl[session] > 1) {
            c.kind = UDR_CMD_CANCEL;
            c.orig_cl_ord_id = next_cl[session] - 1 - rng() % std::min<uint64_t>(next_cl[session] - 1, 20);
        }
        return c;
    }

    // ORDER_STATUS of one of the last 24 ClOrdIDs of a session (live, terminal, evicted, dropped or never used).
    udr_command status() {
        udr_command c{};
        c.kind = UDR_CMD_ORDER_STATUS;
        c.command_seq = ++seq;
        c.session_id = static_cast<uint32_t>(1 + rng() % kSessions);
        const uint64_t last = next_cl[c.session_id];
        c.cl_ord_id = last + 2 - rng() % std::min<uint64_t>(last + 2, 24);
        c.security_id = rng() % 2 ? 1 : 7;
        return c;
    }
};

// The kept record of the key by a scan of the ring, or nullptr.
const TerminalOrder* scan(const Engine& engine, uint32_t session, uint64_t cl) {
    const TerminalOrder* found = nullptr;
    int count = 0;
    engine.terminal_orders().for_each([&](const TerminalOrder& t) {
        if (t.session_id == session && t.cl_ord_id == cl && t.status != TerminalOrders::kDropped) {
            found = &t;
            ++count;
        }
    });
    UDR_CHECK(count <= 1); // a key is kept at most once
    return found;
}

// Checks a status answer against the ring; returns whether it was a terminal record's.
bool check_status(const Engine& engine, const udr_command& c, const std::vector<udr_event>& answer) {
    UDR_CHECK_EQ(answer.size(), 1u);
    const udr_event& e = answer[0];
    const TerminalOrder* t = scan(engine, c.session_id, c.cl_ord_id);
    const bool kept = t != nullptr && t->security_id == c.security_id;
    const bool refused = (e.flags & UDR_EVT_FLAG_REFUSED) != 0;
    // Anything but a live order's answer (New, PartiallyFilled) comes from the terminal table.
    const bool terminal = !refused && e.reason != static_cast<uint8_t>(OrdStatus::New) &&
                          e.reason != static_cast<uint8_t>(OrdStatus::PartiallyFilled);
    UDR_CHECK_EQ(terminal, kept);
    if (terminal && kept) {
        UDR_CHECK_EQ(e.order_id, t->order_id);
        UDR_CHECK_EQ(e.cum_qty, t->cum_qty);
        UDR_CHECK_EQ(e.price, t->price);
        UDR_CHECK_EQ(e.side, t->side);
        UDR_CHECK_EQ(e.reason, t->status);
    }
    return terminal;
}

} // namespace

using udr_test::same;
using udr_test::snapshot_of;

// Two engines on one flow: `busy` catches its index up only when a status request makes it,
// `idle` also between commands by random slices; every few thousand commands `busy` is replaced by
// a load of its own snapshot (into itself, its index holding dropped and evicted entries). Over
// 60,000 orders leave the book: the smaller rings wrap thousands of times. Same
// events, same digest, and every status answer is the ring's.
UDR_TEST(status_answers_are_the_rings_records_through_many_wraps) {
    for (const uint32_t capacity : {1u, 7u, 8u, 9u, 37u, 64u, 500u}) {
        Engine busy(config(capacity));
        Engine idle(config(capacity));
        Flow flow(capacity);
        uint64_t terminal_answers = 0;
        uint64_t reloads = 0;
        for (int i = 0; i < 100000; ++i) {
            const udr_command c = flow.rng() % 8 == 0 ? flow.status() : flow.next();
            const std::vector<udr_event> from_busy = udr_test::apply(busy, c);
            UDR_CHECK(same(from_busy, udr_test::apply(idle, c)));
            if (c.kind == UDR_CMD_ORDER_STATUS) {
                terminal_answers += check_status(busy, c, from_busy);
            }
            if (flow.rng() % 4 == 0) {
                idle.idle_work(static_cast<uint32_t>(flow.rng() % 12));
            }
            if (i % 16661 == 16660) {
                UDR_CHECK_EQ(busy.state_digest(), idle.state_digest());
                std::FILE* file = snapshot_of(busy);
                UDR_CHECK(busy.read_snapshot(file));
                std::fclose(file);
                UDR_CHECK_EQ(busy.state_digest(), idle.state_digest());
                ++reloads;
            }
        }
        UDR_CHECK_EQ(busy.state_digest(), idle.state_digest());
        UDR_CHECK_EQ(busy.terminal_orders().size(), capacity); // full: every record since evicted one
        UDR_CHECK(terminal_answers > 50);
        UDR_CHECK_EQ(reloads, 6u);
    }
}

// Snapshots taken while the index is stale (records dropped by a session reset after they were
// indexed, some still in the ring; more records since than the ring holds) load, into a fresh
// engine and into the engine itself, with the digest of the straight run and the same answers to
// every status request, each the ring's.
UDR_TEST(a_snapshot_taken_with_a_stale_index_loads_to_the_same_state) {
    constexpr uint32_t kCapacity = 37;
    Engine engine(config(kCapacity));
    Flow flow(99);
    uint64_t used[kSessions + 1] = {}; // the highest ClOrdID each session id has used
    auto run = [&](int commands) {
        for (int i = 0; i < commands; ++i) {
            udr_command c = flow.next();
            while (c.kind == UDR_CMD_RESET_SESSION) {
                c = flow.next(); // resets only where the test puts them
            }
            used[c.session_id] = std::max(used[c.session_id], c.cl_ord_id);
            udr_test::apply(engine, c);
        }
    };
    auto reset = [&](uint32_t session) {
        udr_command c{};
        c.kind = UDR_CMD_RESET_SESSION;
        c.command_seq = ++flow.seq;
        c.session_id = session;
        flow.next_cl[session] = 0;
        udr_test::apply(engine, c);
    };
    // Every key's status from the engine as it stands, each the ring's.
    auto check_answers = [&] {
        for (uint32_t session = 1; session <= kSessions; ++session) {
            for (uint64_t cl = 1; cl <= used[session] + 1; ++cl) {
                udr_command c{};
                c.kind = UDR_CMD_ORDER_STATUS;
                c.command_seq = ++flow.seq;
                c.session_id = session;
                c.cl_ord_id = cl;
                c.security_id = 1;
                check_status(engine, c, udr_test::apply(engine, c));
            }
        }
    };
    // Loads the engine's snapshot into a fresh engine and into itself; every key's status the same.
    auto check_reloads = [&] {
        Engine restored(config(kCapacity));
        std::FILE* file = snapshot_of(engine);
        UDR_CHECK(restored.read_snapshot(file));
        std::fclose(file);
        const uint64_t digest = engine.state_digest();
        UDR_CHECK_EQ(restored.state_digest(), digest);
        Engine straight(config(kCapacity)); // the engine before it loads itself, for its answers
        file = snapshot_of(engine);
        UDR_CHECK(straight.read_snapshot(file));
        std::fclose(file);
        file = snapshot_of(engine);
        UDR_CHECK(engine.read_snapshot(file));
        std::fclose(file);
        UDR_CHECK_EQ(engine.state_digest(), digest);
        uint64_t terminal_answers = 0;
        for (uint32_t session = 1; session <= kSessions; ++session) {
            for (uint64_t cl = 1; cl <= used[session] + 1; ++cl) {
                for (const int32_t security : {1, 7}) {
                    udr_command c{};
                    c.kind = UDR_CMD_ORDER_STATUS;
                    c.command_seq = ++flow.seq;
                    c.session_id = session;
                    c.cl_ord_id = cl;
                    c.security_id = security;
                    const std::vector<udr_event> answer = udr_test::apply(engine, c);
                    UDR_CHECK(same(answer, udr_test::apply(restored, c)));
                    UDR_CHECK(same(answer, udr_test::apply(straight, c)));
                    terminal_answers += check_status(engine, c, answer);
                }
            }
        }
        UDR_CHECK(terminal_answers > 10);
        UDR_CHECK_EQ(restored.state_digest(), engine.state_digest());
    };
    run(500);
    engine.idle_work(1'000'000); // all indexed
    UDR_CHECK(!engine.idle_work(1));
    reset(2); // session 2's indexed records dropped
    run(300); // over 37 records left to index: the evicted ones' entries too
    UDR_CHECK(engine.idle_work(0));
    check_reloads();
    run(300);
    engine.idle_work(1'000'000);
    reset(3); // dropped records of session 3 still in the ring, indexed, with their ClOrdIDs asked for
    run(8);
    check_answers(); // through the index as it was: dropped entries in it
    check_reloads();
}

// for_each_run (a snapshot's bulk copy) gives the records for_each gives, in the same order and
// byte for byte, at every fill of the ring and its stage of 8: before the first wrap, at the ring's
// end, after wraps, with records dropped, and with nothing recorded at all.
UDR_TEST(runs_hold_for_each_records_byte_for_byte) {
    for (const uint32_t capacity : {0u, 1u, 7u, 8u, 9u, 16u, 37u, 64u}) {
        TerminalOrders table(capacity);
        for (uint64_t k = 1; k <= 3 * uint64_t{capacity} + 20; ++k) {
            Order o{};
            o.cl_ord_id = k;
            o.order_id = 1000 + k;
            o.price = static_cast<int64_t>(k) * 5;
            o.session_id = static_cast<uint32_t>(1 + k % kSessions);
            o.order_qty = 10;
            o.cum_qty = static_cast<uint32_t>(k % 11);
            o.security_id = 7;
            o.side = k % 2 == 0 ? kWireSideBuy : kWireSideSell;
            table.record(o, TerminalOrders::done(o));
            if (k % 13 == 0) {
                table.drop_session(static_cast<uint32_t>(1 + k % kSessions));
            }
            std::vector<TerminalOrder> one;
            table.for_each([&](const TerminalOrder& t) { one.push_back(t); });
            std::vector<TerminalOrder> runs;
            uint32_t run_count = 0;
            table.for_each_run([&](const TerminalOrder* run, uint32_t n) {
                UDR_CHECK(n > 0);
                ++run_count;
                runs.insert(runs.end(), run, run + n);
            });
            UDR_CHECK_EQ(one.size(), size_t{table.size()});
            UDR_CHECK_EQ(runs.size(), one.size());
            UDR_CHECK(run_count <= 3);
            for (size_t i = 0; i < one.size() && i < runs.size(); ++i) {
                UDR_CHECK(std::memcmp(&one[i], &runs[i], sizeof(TerminalOrder)) == 0);
                UDR_CHECK_EQ(runs[i].reserved, 0u);
            }
        }
    }
}
