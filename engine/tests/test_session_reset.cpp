// test_session_reset.cpp - UDR_CMD_RESET_SESSION: a released session id is made ready for a new
// session (its resting orders canceled, its ClOrdID mark cleared), and a journal holding resets
// replays, from the start or from a snapshot, to exactly the uninterrupted state.
#include <cstring>
#include <vector>

#include "engine_test.h"
#include "io_command_flow.h"
#include "io_test_dir.h"
#include "test_harness.h"
#include "udprouter/engine/journal_recovery.h"
#include "udprouter/engine/journal_store.h"

using namespace udprouter::engine;
using udr_test::TempDir;

namespace {

constexpr int64_t kMid = udr_test::kFlowMid;
constexpr int64_t kTick = udr_test::kFlowTick;

udr_command reset(uint64_t seq, uint32_t session)
{
    udr_command c{};
    c.command_seq = seq;
    c.session_id = session;
    c.kind = UDR_CMD_RESET_SESSION;
    return c;
}

// The flow with a reset every `every` commands (sessions in turn); after its reset a session's
// ClOrdIDs start again from 1, as a new occupant's do.
std::vector<udr_command> flow_with_resets(std::size_t count, std::size_t every)
{
    const auto base = udr_test::make_command_flow(count);
    std::vector<udr_command> out;
    std::vector<uint64_t> offset(udr_test::kFlowSessions + 1, 0), last(udr_test::kFlowSessions + 1, 0);
    uint64_t seq = 0;
    for (std::size_t i = 0; i < base.size(); ++i) {
        if (i % every == every - 1) {
            const uint32_t sid = 1 + static_cast<uint32_t>((i / every) % udr_test::kFlowSessions);
            out.push_back(reset(++seq, sid));
            offset[sid] = last[sid];
        }
        udr_command c = base[i];
        last[c.session_id] = c.cl_ord_id;
        c.command_seq = ++seq;
        c.cl_ord_id -= offset[c.session_id];
        if (c.orig_cl_ord_id > offset[c.session_id]) c.orig_cl_ord_id -= offset[c.session_id];
        out.push_back(c);
    }
    return out;
}

} // namespace

UDR_TEST(reset_cancels_only_that_sessions_orders_and_clears_its_mark)
{
    Engine engine(udr_test::flow_config());
    udr_test::apply(engine, udr_test::new_order(1, 1, 5, 1, kMid - kTick, 100));
    udr_test::apply(engine, udr_test::new_order(2, 1, 6, 2, kMid + 2 * kTick, 200));
    udr_test::apply(engine, udr_test::new_order(3, 2, 1, 1, kMid - 2 * kTick, 300));
    UDR_CHECK_EQ(engine.live_orders(), 3u);

    const auto events = udr_test::apply(engine, reset(4, 1));
    UDR_CHECK_EQ(events.size(), 3u);
    for (std::size_t i = 0; i + 1 < events.size(); ++i) {
        UDR_CHECK_EQ(events[i].kind, UDR_EVT_CANCELED);
        UDR_CHECK_EQ(events[i].session_id, 1u);
        UDR_CHECK_EQ(events[i].reason, static_cast<uint8_t>(CancelReason::SessionReset));
        UDR_CHECK_EQ(events[i].flags, 0);
    }
    UDR_CHECK_EQ(events.back().kind, UDR_EVT_SESSION_RESET);
    UDR_CHECK_EQ(events.back().session_id, 1u);
    UDR_CHECK_EQ(events.back().qty, 2u);
    UDR_CHECK_EQ(events.back().flags, UDR_EVT_FLAG_LAST);
    UDR_CHECK_EQ(engine.live_orders(), 1u); // session 2's order stays

    // The previous occupant's resting sell is gone: a crossing buy does not trade with it.
    const auto buy = udr_test::apply(engine, udr_test::new_order(5, 3, 1, 1, kMid + 2 * kTick, 200, 3));
    for (const udr_event &e : buy) UDR_CHECK(e.kind != UDR_EVT_TRADE);
    // A new occupant starts its ClOrdIDs at 1 again: accepted, not DuplicateOrder.
    const auto fresh = udr_test::apply(engine, udr_test::new_order(6, 1, 1, 1, kMid - kTick, 100));
    UDR_CHECK_EQ(fresh.size(), 1u);
    UDR_CHECK_EQ(fresh[0].kind, UDR_EVT_ACCEPTED);
    // Without a reset the same ClOrdID is a duplicate.
    const auto again = udr_test::apply(engine, udr_test::new_order(7, 2, 1, 1, kMid - kTick, 100));
    UDR_CHECK_EQ(again[0].kind, UDR_EVT_REJECTED);
    UDR_CHECK_EQ(again[0].reason, static_cast<uint8_t>(OrdRejReason::DuplicateOrder));
}

UDR_TEST(reset_of_an_unserved_id_is_rejected_other)
{
    Engine engine(udr_test::flow_config()); // max_sessions 16
    for (uint32_t sid : {0u, 17u, 0xFFFFFFFFu}) {
        const auto events = udr_test::apply(engine, reset(1, sid));
        UDR_CHECK_EQ(events.size(), 1u);
        UDR_CHECK_EQ(events[0].kind, UDR_EVT_REJECTED);
        UDR_CHECK_EQ(events[0].reason, static_cast<uint8_t>(OrdRejReason::Other));
    }
    // An id with nothing live: just the SESSION_RESET.
    const auto empty = udr_test::apply(engine, reset(2, 16));
    UDR_CHECK_EQ(empty.size(), 1u);
    UDR_CHECK_EQ(empty[0].kind, UDR_EVT_SESSION_RESET);
    UDR_CHECK_EQ(empty[0].qty, 0u);
}

UDR_TEST(journal_with_resets_replays_to_the_uninterrupted_state_and_events)
{
    const auto flow = flow_with_resets(20'000, 1500);
    Engine straight(udr_test::flow_config());
    const auto expected = udr_test::run_flow(straight, flow);
    std::size_t reset_cancels = 0, resets = 0, reused_accepted = 0;
    for (const udr_event &e : expected) {
        reset_cancels += e.kind == UDR_EVT_CANCELED && e.reason == static_cast<uint8_t>(CancelReason::SessionReset);
        resets += e.kind == UDR_EVT_SESSION_RESET;
        reused_accepted += e.kind == UDR_EVT_ACCEPTED && e.cl_ord_id == 1;
    }
    UDR_CHECK(resets >= 12);
    UDR_CHECK(reset_cancels > 0);            // resets met resting orders
    UDR_CHECK(reused_accepted > resets / 2); // ClOrdID 1 accepted again after resets

    for (uint64_t snapshot_every : {0ull, 2000ull}) {
        TempDir dir;
        const std::size_t cut = flow.size() * 2 / 3;
        {
            Engine engine(udr_test::flow_config());
            JournalStore store(dir.path(), Durability::Os, snapshot_every, 0);
            RecoveryReport fresh = recover_from_journal(dir.path(), engine, {}, [](const udr_event &) {});
            UDR_CHECK(fresh.ok);
            UDR_CHECK(store.open(fresh) == JournalStatus::Ok);
            for (std::size_t i = 0; i < cut; i += 64) {
                const std::size_t n = std::min<std::size_t>(64, cut - i);
                UDR_CHECK(store.append_batch(&flow[i], n) == JournalStatus::Ok);
                for (std::size_t k = 0; k < n; ++k) engine.apply(flow[i + k], [](const udr_event &) {});
                UDR_CHECK(store.after_apply(engine) == JournalStatus::Ok);
            }
            UDR_CHECK(store.close() == JournalStatus::Ok);
        }
        Engine engine(udr_test::flow_config());
        RecoveryReport report = recover_from_journal(dir.path(), engine, {}, [](const udr_event &) {});
        UDR_CHECK(report.ok);
        UDR_CHECK_EQ(report.last_command_seq, flow[cut - 1].command_seq);
        Engine reference(udr_test::flow_config());
        for (std::size_t i = 0; i < cut; ++i) reference.apply(flow[i], [](const udr_event &) {});
        UDR_CHECK_EQ(engine.state_digest(), reference.state_digest());
        std::vector<udr_event> rest;
        for (std::size_t i = cut; i < flow.size(); ++i)
            engine.apply(flow[i], [&rest](const udr_event &e) { rest.push_back(e); });
        std::size_t from = 0;
        while (from < expected.size() && expected[from].command_seq <= flow[cut - 1].command_seq) ++from;
        UDR_CHECK_EQ(rest.size(), expected.size() - from);
        UDR_CHECK(rest.size() == expected.size() - from &&
                  std::memcmp(rest.data(), expected.data() + from, rest.size() * sizeof(udr_event)) == 0);
    }
}
