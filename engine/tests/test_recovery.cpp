// test_recovery.cpp - recovery reaches exactly the uninterrupted state, publishes again only the
// events the router never got (also when they lie below the newest snapshot: snapshot retention),
// survives torn tails, and refuses a damaged or incomplete journal.
#include <cstring>
#include <unistd.h>
#include <vector>

#include "io_command_flow.h"
#include "io_test_dir.h"
#include "test_harness.h"
#include "udprouter/engine/journal_recovery.h"
#include "udprouter/engine/journal_store.h"

using namespace udprouter::engine;
using udr_test::TempDir;

namespace {

constexpr std::size_t kFlow = 20'000;

// Journals and applies the flow as the engine process does: per batch, append then apply.
// retain: JournalStore's retention window; snapshot_at_stop: snapshot at the end as a SIGTERM does;
// router_logged: the segment header's router_logged_through the store watches (nullptr: none).
void journal_flow(const std::string &dir, const std::vector<udr_command> &flow, uint64_t snapshot_every,
                  std::size_t count, Durability durability = Durability::Os, uint64_t retain = 0,
                  bool snapshot_at_stop = false, const uint64_t *router_logged = nullptr)
{
    Engine engine(udr_test::flow_config());
    JournalStore store(dir, durability, snapshot_every, retain);
    store.watch_router_position(router_logged);
    RecoveryReport fresh = recover_from_journal(dir, engine, {}, [](const udr_event &) {});
    UDR_CHECK(fresh.ok);
    UDR_CHECK(store.open(fresh) == JournalStatus::Ok);
    for (std::size_t i = fresh.last_command_seq; i < count; i += 64) {
        const std::size_t n = std::min<std::size_t>(64, count - i);
        UDR_CHECK(store.append_batch(&flow[i], n) == JournalStatus::Ok);
        for (std::size_t k = 0; k < n; ++k) engine.apply(flow[i + k], [](const udr_event &) {});
        UDR_CHECK(store.after_apply(engine) == JournalStatus::Ok);
    }
    if (snapshot_at_stop) UDR_CHECK(store.snapshot(engine) == JournalStatus::Ok);
    UDR_CHECK(store.close() == JournalStatus::Ok);
}

std::vector<uint64_t> files(const std::string &dir, JournalFileKind kind)
{
    std::vector<uint64_t> numbers;
    list_journal_files(dir, kind, numbers);
    return numbers;
}

uint64_t uninterrupted_digest(const std::vector<udr_command> &flow, std::size_t count)
{
    Engine engine(udr_test::flow_config());
    for (std::size_t i = 0; i < count; ++i) engine.apply(flow[i], [](const udr_event &) {});
    return engine.state_digest();
}

RecoveryReport recover(const std::string &dir, Engine &engine, const ReplayEmitFilter &filter,
                       std::vector<udr_event> &emitted)
{
    return recover_from_journal(dir, engine, filter, [&emitted](const udr_event &e) { emitted.push_back(e); });
}

bool same_events(const std::vector<udr_event> &a, const udr_event *b, std::size_t n)
{
    return a.size() == n && (n == 0 || std::memcmp(a.data(), b, n * sizeof(udr_event)) == 0);
}

// Index of the first event produced by command_seq `seq` in the uninterrupted event stream.
std::size_t first_event_of(const std::vector<udr_event> &events, uint64_t seq)
{
    std::size_t i = 0;
    while (i < events.size() && events[i].command_seq < seq) ++i;
    return i;
}

} // namespace

UDR_TEST(flow_exercises_trades_cancels_replaces_and_rejects)
{
    const auto flow = udr_test::make_command_flow(kFlow);
    Engine engine(udr_test::flow_config());
    int kinds[7] = {};
    for (const udr_event &e : udr_test::run_flow(engine, flow)) ++kinds[e.kind < 7 ? e.kind : 0];
    for (int k = UDR_EVT_ACCEPTED; k <= UDR_EVT_CANCEL_REJECTED; ++k) UDR_CHECK(kinds[k] > 50);
}

UDR_TEST(mass_cancels_status_requests_and_account_controls_replay_to_the_same_state_and_events)
{
    const auto flow = udr_test::make_command_flow(kFlow, 11, 1, true);
    Engine uninterrupted(udr_test::flow_config());
    const std::vector<udr_event> events = udr_test::run_flow(uninterrupted, flow);
    int kinds[10] = {};
    int reasons[256] = {};
    for (const udr_event &e : events) {
        ++kinds[e.kind < 10 ? e.kind : 0];
        if (e.kind == UDR_EVT_CANCELED || e.kind == UDR_EVT_REJECTED) ++reasons[e.reason + (e.kind == UDR_EVT_REJECTED ? 128 : 0)];
    }
    for (int k = UDR_EVT_ACCEPTED; k <= UDR_EVT_ACCOUNT_UPDATED; ++k) UDR_CHECK(kinds[k] > 10);
    for (int cancel_reason = 3; cancel_reason <= 7; ++cancel_reason) UDR_CHECK(reasons[cancel_reason] > 0);
    for (int rej : {25, 27, 101, 102, 103}) UDR_CHECK(reasons[128 + rej] > 0);
    TempDir dir;
    journal_flow(dir.path(), flow, 3000, kFlow / 2);
    journal_flow(dir.path(), flow, 3000, kFlow); // a restart halfway: recovery, then the rest
    Engine engine(udr_test::flow_config());
    std::vector<udr_event> emitted;
    RecoveryReport report = recover(dir.path(), engine, {}, emitted);
    UDR_CHECK(report.ok);
    UDR_CHECK(report.snapshot_seq >= 18000);
    UDR_CHECK_EQ(engine.state_digest(), uninterrupted.state_digest());
    // Replayed from the start (every snapshot ignored) the events are the same, event for event.
    Engine again(udr_test::flow_config());
    UDR_CHECK(same_events(udr_test::run_flow(again, flow), events.data(), events.size()));
}

UDR_TEST(journal_replay_equals_the_uninterrupted_state_and_emits_nothing_by_default)
{
    const auto flow = udr_test::make_command_flow(kFlow);
    TempDir dir;
    journal_flow(dir.path(), flow, 0, kFlow);
    Engine engine(udr_test::flow_config());
    std::vector<udr_event> emitted;
    RecoveryReport report = recover(dir.path(), engine, {}, emitted);
    UDR_CHECK(report.ok);
    UDR_CHECK_EQ(report.commands_replayed, kFlow);
    UDR_CHECK_EQ(report.last_command_seq, kFlow);
    UDR_CHECK_EQ(engine.state_digest(), uninterrupted_digest(flow, kFlow));
    UDR_CHECK(emitted.empty());
}

UDR_TEST(snapshot_plus_tail_equals_full_replay_and_bounds_the_replay)
{
    const auto flow = udr_test::make_command_flow(kFlow);
    TempDir dir;
    journal_flow(dir.path(), flow, 3000, kFlow);
    std::vector<uint64_t> snapshots, segments;
    list_journal_files(dir.path(), JournalFileKind::Snapshot, snapshots);
    list_journal_files(dir.path(), JournalFileKind::Segment, segments);
    UDR_CHECK_EQ(snapshots.size(), 1u); // older snapshots and their segments were removed
    UDR_CHECK_EQ(segments.size(), 1u);
    UDR_CHECK(!snapshots.empty() && !segments.empty() && segments[0] == snapshots[0] + 1);
    Engine engine(udr_test::flow_config());
    std::vector<udr_event> emitted;
    RecoveryReport report = recover(dir.path(), engine, {}, emitted);
    UDR_CHECK(report.ok);
    UDR_CHECK(report.snapshot_seq >= 18000);
    UDR_CHECK(report.commands_replayed < 3000);
    UDR_CHECK_EQ(report.last_command_seq, kFlow);
    UDR_CHECK_EQ(engine.state_digest(), uninterrupted_digest(flow, kFlow));
}

UDR_TEST(recovered_engine_continues_to_the_same_events_as_an_uninterrupted_one)
{
    const auto flow = udr_test::make_command_flow(kFlow);
    Engine straight(udr_test::flow_config());
    const auto expected = udr_test::run_flow(straight, flow);
    TempDir dir;
    journal_flow(dir.path(), flow, 2500, 12'345);
    Engine engine(udr_test::flow_config());
    std::vector<udr_event> emitted;
    UDR_CHECK(recover(dir.path(), engine, {}, emitted).ok);
    std::vector<udr_event> rest;
    for (std::size_t i = 12'345; i < kFlow; ++i) engine.apply(flow[i], [&rest](const udr_event &e) { rest.push_back(e); });
    const std::size_t from = first_event_of(expected, 12'346);
    UDR_CHECK(same_events(rest, expected.data() + from, expected.size() - from));
}

UDR_TEST(only_events_after_published_through_are_emitted_again)
{
    const auto flow = udr_test::make_command_flow(5000);
    Engine straight(udr_test::flow_config());
    const auto expected = udr_test::run_flow(straight, flow);
    TempDir dir;
    journal_flow(dir.path(), flow, 1000, 5000);
    ReplayEmitFilter filter;
    filter.published_through = 4950;
    Engine engine(udr_test::flow_config());
    std::vector<udr_event> emitted;
    UDR_CHECK(recover(dir.path(), engine, filter, emitted).ok);
    const std::size_t from = first_event_of(expected, 4951);
    UDR_CHECK(same_events(emitted, expected.data() + from, expected.size() - from));
    UDR_CHECK(!emitted.empty() && emitted.front().command_seq == 4951);
}

UDR_TEST(a_command_published_halfway_is_completed_without_repeating_its_first_events)
{
    const auto flow = udr_test::make_command_flow(3000);
    Engine straight(udr_test::flow_config());
    const auto expected = udr_test::run_flow(straight, flow);
    // A command with several events: the crash hit after its first one was published.
    std::size_t i = 0;
    while (i + 2 < expected.size() && (expected[i].flags & UDR_EVT_FLAG_LAST || expected[i].command_seq < 2000)) ++i;
    const uint64_t seq = expected[i].command_seq;
    TempDir dir;
    journal_flow(dir.path(), flow, 0, 3000);
    ReplayEmitFilter filter;
    filter.published_through = seq - 1;
    filter.partial_command_seq = seq;
    filter.partial_events = 1;
    Engine engine(udr_test::flow_config());
    std::vector<udr_event> emitted;
    UDR_CHECK(recover(dir.path(), engine, filter, emitted).ok);
    UDR_CHECK(same_events(emitted, expected.data() + i + 1, expected.size() - i - 1));
}

UDR_TEST(torn_tail_recovers_the_state_of_the_commands_before_it)
{
    const auto flow = udr_test::make_command_flow(2000);
    TempDir dir;
    journal_flow(dir.path(), flow, 0, 2000);
    const std::string segment = journal_segment_path(dir.path(), 1);
    UDR_CHECK(truncate(segment.c_str(), udr_test::file_size(segment) - 30) == 0);
    Engine engine(udr_test::flow_config());
    std::vector<udr_event> emitted;
    RecoveryReport report = recover(dir.path(), engine, {}, emitted);
    UDR_CHECK(report.ok);
    UDR_CHECK(report.tail_status == JournalStatus::TornTail);
    UDR_CHECK_EQ(report.last_command_seq, 1999u);
    UDR_CHECK_EQ(engine.state_digest(), uninterrupted_digest(flow, 1999));
    // The writer continues after the cut: journaling the lost command again completes the run.
    journal_flow(dir.path(), flow, 0, 2000);
    Engine again(udr_test::flow_config());
    UDR_CHECK(recover(dir.path(), again, {}, emitted).ok);
    UDR_CHECK_EQ(again.state_digest(), uninterrupted_digest(flow, 2000));
}

UDR_TEST(journal_whose_snapshot_is_gone_is_refused_as_incomplete)
{
    const auto flow = udr_test::make_command_flow(3000);
    TempDir dir;
    journal_flow(dir.path(), flow, 1000, 3000);
    // The segments before the snapshot were removed with it in place; without it, commands are missing.
    std::vector<uint64_t> snapshots;
    list_journal_files(dir.path(), JournalFileKind::Snapshot, snapshots);
    UDR_CHECK(unlink(snapshot_path(dir.path(), snapshots.back()).c_str()) == 0);
    Engine engine(udr_test::flow_config());
    std::vector<udr_event> emitted;
    RecoveryReport report = recover(dir.path(), engine, {}, emitted);
    UDR_CHECK(!report.ok);
    UDR_CHECK(report.error.find("journal incomplete") != std::string::npos);
}

UDR_TEST(corrupt_record_in_an_earlier_segment_is_fatal)
{
    const auto flow = udr_test::make_command_flow(600);
    TempDir dir;
    JournalWriter first(Durability::Os), second(Durability::Os);
    UDR_CHECK(first.open(journal_segment_path(dir.path(), 1), 1, 0) == JournalStatus::Ok);
    UDR_CHECK(first.append(flow.data(), 300) == JournalStatus::Ok && first.close() == JournalStatus::Ok);
    UDR_CHECK(second.open(journal_segment_path(dir.path(), 301), 301, 0) == JournalStatus::Ok);
    UDR_CHECK(second.append(&flow[300], 300) == JournalStatus::Ok && second.close() == JournalStatus::Ok);
    const std::string path = journal_segment_path(dir.path(), 1);
    UDR_CHECK(truncate(path.c_str(), udr_test::file_size(path) - 1) == 0);
    Engine engine(udr_test::flow_config());
    std::vector<udr_event> emitted;
    RecoveryReport report = recover(dir.path(), engine, {}, emitted);
    UDR_CHECK(!report.ok);
    UDR_CHECK(report.error.find("torn tail at offset") != std::string::npos);
}

UDR_TEST(recovery_asked_from_below_the_newest_snapshot_emits_exactly_the_missing_events)
{
    // The router logged reports through 3210; the engine went on, snapshotting periodically and at
    // its stop (5000). Recovery must start at a kept snapshot <= 3210 and emit every later event.
    const auto flow = udr_test::make_command_flow(5000);
    Engine straight(udr_test::flow_config());
    const auto expected = udr_test::run_flow(straight, flow);
    TempDir dir;
    journal_flow(dir.path(), flow, 500, 5000, Durability::Os, 2000, true);
    UDR_CHECK_EQ(files(dir.path(), JournalFileKind::Snapshot).back(), 5000u);
    ReplayEmitFilter filter;
    filter.published_through = 3210;
    Engine engine(udr_test::flow_config());
    std::vector<udr_event> emitted;
    RecoveryReport report = recover(dir.path(), engine, filter, emitted);
    UDR_CHECK(report.ok);
    UDR_CHECK(report.snapshot_seq > 2500 && report.snapshot_seq <= 3210);
    UDR_CHECK_EQ(report.newest_snapshot_seq, 5000u);
    UDR_CHECK_EQ(report.unrecoverable_through, 0u);
    UDR_CHECK_EQ(report.last_command_seq, 5000u);
    const std::size_t from = first_event_of(expected, 3211);
    UDR_CHECK(same_events(emitted, expected.data() + from, expected.size() - from));
    UDR_CHECK_EQ(engine.state_digest(), straight.state_digest());
}

UDR_TEST(retention_keeps_one_snapshot_at_least_the_window_below_the_newest_and_nothing_older)
{
    const auto flow = udr_test::make_command_flow(8000);
    TempDir dir;
    journal_flow(dir.path(), flow, 500, 8000, Durability::Os, 2000);
    const auto snapshots = files(dir.path(), JournalFileKind::Snapshot);
    const auto segments = files(dir.path(), JournalFileKind::Segment);
    UDR_CHECK(snapshots.size() >= 2);
    if (snapshots.size() < 2) return;
    const uint64_t newest = snapshots.back();
    UDR_CHECK(snapshots[0] <= newest - 2000); // the base for any position in the window
    UDR_CHECK(snapshots[1] > newest - 2000);  // nothing older than the base is kept
    UDR_CHECK(!segments.empty() && segments.front() == snapshots[0] + 1);
    // Every position from the base on recovers without losing an event.
    Engine straight(udr_test::flow_config());
    const auto expected = udr_test::run_flow(straight, flow);
    for (uint64_t through : {snapshots[0], newest - 2000, newest - 1, uint64_t{7999}}) {
        ReplayEmitFilter filter;
        filter.published_through = through;
        Engine engine(udr_test::flow_config());
        std::vector<udr_event> emitted;
        RecoveryReport report = recover(dir.path(), engine, filter, emitted);
        UDR_CHECK(report.ok && report.snapshot_seq <= through && report.unrecoverable_through == 0);
        const std::size_t from = first_event_of(expected, through + 1);
        UDR_CHECK(same_events(emitted, expected.data() + from, expected.size() - from));
    }
}

UDR_TEST(position_below_every_kept_snapshot_recovers_from_the_oldest_and_reports_the_lost_range)
{
    const auto flow = udr_test::make_command_flow(3000);
    Engine straight(udr_test::flow_config());
    const auto expected = udr_test::run_flow(straight, flow);
    TempDir dir;
    journal_flow(dir.path(), flow, 1000, 3000, Durability::Os, 0); // keeps the newest snapshot only
    const auto snapshots = files(dir.path(), JournalFileKind::Snapshot);
    UDR_CHECK_EQ(snapshots.size(), 1u);
    ReplayEmitFilter filter;
    filter.published_through = 100;
    Engine engine(udr_test::flow_config());
    std::vector<udr_event> emitted;
    RecoveryReport report = recover(dir.path(), engine, filter, emitted);
    UDR_CHECK(report.ok);
    UDR_CHECK_EQ(report.snapshot_seq, snapshots.back());
    UDR_CHECK_EQ(report.unrecoverable_from, 101u);
    UDR_CHECK_EQ(report.unrecoverable_through, snapshots.back());
    const std::size_t from = first_event_of(expected, snapshots.back() + 1);
    UDR_CHECK(same_events(emitted, expected.data() + from, expected.size() - from));
    UDR_CHECK_EQ(engine.state_digest(), straight.state_digest());
}

UDR_TEST(whole_journal_without_snapshot_below_the_position_replays_from_its_start)
{
    const auto flow = udr_test::make_command_flow(3000);
    Engine straight(udr_test::flow_config());
    const auto expected = udr_test::run_flow(straight, flow);
    TempDir dir;
    journal_flow(dir.path(), flow, 1000, 3000, Durability::Os, 1'000'000); // window covers everything
    UDR_CHECK_EQ(files(dir.path(), JournalFileKind::Segment).front(), 1u);
    ReplayEmitFilter filter;
    filter.published_through = 700;
    Engine engine(udr_test::flow_config());
    std::vector<udr_event> emitted;
    RecoveryReport report = recover(dir.path(), engine, filter, emitted);
    UDR_CHECK(report.ok && report.snapshot_seq == 0 && report.unrecoverable_through == 0);
    const std::size_t from = first_event_of(expected, 701);
    UDR_CHECK(same_events(emitted, expected.data() + from, expected.size() - from));
}

UDR_TEST(engine_recovered_from_an_older_snapshot_continues_the_journal_and_recovers_again)
{
    const auto flow = udr_test::make_command_flow(6000);
    TempDir dir;
    journal_flow(dir.path(), flow, 500, 4000, Durability::Os, 2000, true);
    {
        ReplayEmitFilter filter;
        filter.published_through = 2600;
        Engine engine(udr_test::flow_config());
        JournalStore store(dir.path(), Durability::Os, 500, 2000);
        std::vector<udr_event> emitted;
        RecoveryReport report = recover(dir.path(), engine, filter, emitted);
        UDR_CHECK(report.ok && report.snapshot_seq <= 2600 && report.last_command_seq == 4000);
        UDR_CHECK(store.open(report) == JournalStatus::Ok);
        UDR_CHECK(store.snapshot(engine) == JournalStatus::Ok); // nothing new: no rewrite of 4000
        UDR_CHECK_EQ(store.snapshots_written(), 0u);
        for (std::size_t i = 4000; i < 6000; i += 64) {
            const std::size_t n = std::min<std::size_t>(64, 6000 - i);
            UDR_CHECK(store.append_batch(&flow[i], n) == JournalStatus::Ok);
            for (std::size_t k = 0; k < n; ++k) engine.apply(flow[i + k], [](const udr_event &) {});
            UDR_CHECK(store.after_apply(engine) == JournalStatus::Ok);
        }
        UDR_CHECK(store.close() == JournalStatus::Ok);
    }
    Engine again(udr_test::flow_config());
    std::vector<udr_event> emitted;
    RecoveryReport report = recover(dir.path(), again, {}, emitted);
    UDR_CHECK(report.ok && report.last_command_seq == 6000 && report.snapshot_seq > 5000);
    UDR_CHECK_EQ(again.state_digest(), uninterrupted_digest(flow, 6000));
}

namespace {

// Recovers to `through` and checks it starts at a kept snapshot <= through and re-emits exactly the
// events of every later command.
void check_recovery_emits_everything_after(const std::string &dir, const std::vector<udr_command> &flow,
                                           uint64_t through, uint64_t expected_base)
{
    Engine straight(udr_test::flow_config());
    const auto expected = udr_test::run_flow(straight, flow);
    ReplayEmitFilter filter;
    filter.published_through = through;
    Engine engine(udr_test::flow_config());
    std::vector<udr_event> emitted;
    RecoveryReport report = recover(dir, engine, filter, emitted);
    UDR_CHECK(report.ok);
    UDR_CHECK_EQ(report.snapshot_seq, expected_base);
    UDR_CHECK_EQ(report.unrecoverable_through, 0u);
    const std::size_t from = first_event_of(expected, through + 1);
    UDR_CHECK(same_events(emitted, expected.data() + from, expected.size() - from));
    UDR_CHECK_EQ(engine.state_digest(), straight.state_digest());
}

uint64_t newest_at_or_below(const std::vector<uint64_t> &numbers, uint64_t limit)
{
    uint64_t found = 0;
    for (uint64_t n : numbers)
        if (n <= limit) found = n;
    return found;
}

} // namespace

UDR_TEST(snapshot_at_the_router_logged_position_survives_far_beyond_the_ring_window)
{
    // The router's log trails at 1300 while the engine runs to 6000 (window 2000, a snapshot per
    // ~500): the base for 1300 and every newer snapshot stay, and recovery to 1300 loses nothing.
    const auto flow = udr_test::make_command_flow(8000);
    TempDir dir;
    uint64_t logged = 1300;
    journal_flow(dir.path(), flow, 500, 6000, Durability::Os, 2000, false, &logged);
    auto snapshots = files(dir.path(), JournalFileKind::Snapshot);
    UDR_CHECK(snapshots.size() >= 8);
    UDR_CHECK(!snapshots.empty() && snapshots.front() <= logged && snapshots.back() > logged + 4000);
    const uint64_t base = snapshots.empty() ? 0 : snapshots.front();
    UDR_CHECK(base > logged - 500); // the newest at or below the position, nothing older
    UDR_CHECK_EQ(files(dir.path(), JournalFileKind::Segment).front(), base + 1);
    check_recovery_emits_everything_after(dir.path(), {flow.begin(), flow.begin() + 6000}, logged, base);

    // The router's log catches up to 4500: the engine's next snapshots let the older files go.
    logged = 4500;
    journal_flow(dir.path(), flow, 500, 8000, Durability::Os, 2000, false, &logged);
    snapshots = files(dir.path(), JournalFileKind::Snapshot);
    const uint64_t moved = newest_at_or_below(snapshots, logged);
    UDR_CHECK(moved > base && !snapshots.empty() && snapshots.front() == moved);
    UDR_CHECK_EQ(files(dir.path(), JournalFileKind::Segment).front(), moved + 1);
    check_recovery_emits_everything_after(dir.path(), flow, logged, moved);
}

UDR_TEST(router_without_a_log_leaves_retention_to_the_ring_window)
{
    const auto flow = udr_test::make_command_flow(6000);
    TempDir dir;
    const uint64_t no_log = UINT64_MAX;
    journal_flow(dir.path(), flow, 500, 6000, Durability::Os, 2000, false, &no_log);
    const auto snapshots = files(dir.path(), JournalFileKind::Snapshot);
    UDR_CHECK(snapshots.size() >= 2);
    if (snapshots.size() < 2) return;
    UDR_CHECK(snapshots[0] <= snapshots.back() - 2000 && snapshots[1] > snapshots.back() - 2000);
}
