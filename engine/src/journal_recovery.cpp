// journal_recovery.cpp - snapshot load + journal replay.
#include "udprouter/engine/journal_recovery.h"

#include <algorithm>
#include <vector>

#include "udprouter/engine/journal_reader.h"
#include "udprouter/engine/snapshot_file.h"

namespace udprouter::engine {

namespace {

// The journal can be replayed from base when a kept segment holds command base + 1 (or, with no
// segment left at all, when base is the newest snapshot: nothing was journaled after it).
bool journal_continues_after(uint64_t base, const std::vector<uint64_t> &snapshots, const std::vector<uint64_t> &segments)
{
    if (segments.empty()) return base == (snapshots.empty() ? 0 : snapshots.back());
    return segments.front() <= base + 1;
}

// Bases in order of preference: snapshots at or below `wanted`, newest first (an older one is the
// fallback for a damaged newer one), then the journal's start (0), then, losing events, snapshots
// above `wanted`, oldest first (the fewest commands whose events are lost).
std::vector<uint64_t> candidate_bases(const std::vector<uint64_t> &snapshots, const std::vector<uint64_t> &segments,
                                      uint64_t wanted)
{
    std::vector<uint64_t> bases;
    for (auto it = snapshots.rbegin(); it != snapshots.rend(); ++it)
        if (*it <= wanted && journal_continues_after(*it, snapshots, segments)) bases.push_back(*it);
    if (journal_continues_after(0, snapshots, segments)) bases.push_back(0);
    for (uint64_t seq : snapshots)
        if (seq > wanted && journal_continues_after(seq, snapshots, segments)) bases.push_back(seq);
    return bases;
}

// Loads the first candidate base that verifies; returns false when none does.
bool load_base(const std::string &dir, Engine &engine, const std::vector<uint64_t> &bases, uint64_t &base)
{
    for (uint64_t candidate : bases) {
        if (candidate == 0) {
            base = 0;
            return true;
        }
        uint64_t seq = 0;
        auto reader = [&engine](std::FILE *file) { return engine.read_snapshot(file); };
        if (read_snapshot_file(snapshot_path(dir, candidate), seq, reader) == JournalStatus::Ok) {
            base = seq;
            return true;
        }
    }
    return false;
}

struct ReplayState {
    Engine &engine;
    const ReplayEmitFilter &filter;
    const ReplayEventFn &emit;
    RecoveryReport &report;

    void apply(const udr_command &command)
    {
        uint32_t index = 0;
        engine.apply(command, [this, &command, &index](const udr_event &event) {
            if (filter.should_emit(command.command_seq, index++)) {
                emit(event);
                ++report.events_emitted;
            }
        });
        ++report.commands_replayed;
        report.last_command_seq = command.command_seq;
    }
};

std::string describe(const std::string &path, JournalStatus status, uint64_t offset)
{
    return path + ": " + journal_status_name(status) + " at offset " + std::to_string(offset);
}

// Replays one segment; returns false on damage that recovery cannot accept.
bool replay_segment(const std::string &dir, uint64_t label, bool is_last, ReplayState &state)
{
    RecoveryReport &report = state.report;
    const std::string path = journal_segment_path(dir, label);
    JournalReader reader;
    JournalStatus opened = reader.open(path);
    report.append_path = path;
    report.append_first_seq = label;
    report.append_valid_bytes = 0;
    if (opened != JournalStatus::Ok) {
        // A segment without a whole header: created just before a crash, holds nothing.
        report.error = describe(path, opened, 0);
        report.tail_status = opened;
        report.tail_offset = 0;
        return is_last && opened == JournalStatus::BadHeader;
    }
    udr_command command{};
    while (reader.next(command)) {
        if (command.command_seq <= report.last_command_seq) continue; // inside the snapshot
        state.apply(command);
    }
    report.append_valid_bytes = reader.valid_bytes();
    if (reader.status() == JournalStatus::Ok) return true;
    report.error = describe(path, reader.status(), reader.valid_bytes());
    report.tail_status = reader.status();
    report.tail_offset = reader.valid_bytes();
    return is_last;
}

} // namespace

RecoveryReport recover_from_journal(const std::string &dir, Engine &engine, const ReplayEmitFilter &filter,
                                    const ReplayEventFn &emit)
{
    RecoveryReport report;
    std::vector<uint64_t> snapshots, segments;
    list_journal_files(dir, JournalFileKind::Snapshot, snapshots);
    list_journal_files(dir, JournalFileKind::Segment, segments);
    report.newest_snapshot_seq = snapshots.empty() ? 0 : snapshots.back();
    const uint64_t wanted = filter.partial_command_seq != 0
                                ? std::min(filter.published_through, filter.partial_command_seq - 1)
                                : filter.published_through;
    uint64_t base = 0;
    if (!load_base(dir, engine, candidate_bases(snapshots, segments, wanted), base)) {
        // Segments older than a snapshot may have been removed; without a snapshot that loads,
        // commands are missing.
        report.ok = false;
        report.error = segments.empty() ? "journal incomplete: no segment and no loadable snapshot"
                                        : "journal incomplete: first segment " + journal_segment_path(dir, segments.front()) +
                                              " starts after every loadable snapshot";
        return report;
    }
    report.snapshot_seq = report.last_command_seq = base;
    if (base > wanted) {
        report.unrecoverable_from = wanted + 1;
        report.unrecoverable_through = base;
    }
    // Start at the segment holding base + 1: older ones hold only commands inside the base.
    std::size_t first = 0;
    while (first + 1 < segments.size() && segments[first + 1] <= base + 1) ++first;
    ReplayState state{engine, filter, emit, report};
    for (std::size_t i = first; i < segments.size(); ++i) {
        if (!replay_segment(dir, segments[i], i + 1 == segments.size(), state)) {
            report.ok = false;
            return report;
        }
    }
    if (segments.empty()) {
        report.append_first_seq = report.snapshot_seq + 1;
        report.append_path = journal_segment_path(dir, report.append_first_seq);
    }
    if (report.tail_status == JournalStatus::Ok) report.error.clear();
    return report;
}

} // namespace udprouter::engine
