// journal_recovery.cpp - snapshot load + journal replay.
#include "udprouter/engine/journal_recovery.h"

#include <vector>

#include "udprouter/engine/journal_reader.h"
#include "udprouter/engine/snapshot_file.h"

namespace udprouter::engine {

namespace {

// Loads the newest snapshot that verifies; older ones are only a fallback for a damaged newest.
uint64_t load_latest_snapshot(const std::string &dir, Engine &engine)
{
    std::vector<uint64_t> snapshots;
    list_journal_files(dir, JournalFileKind::Snapshot, snapshots);
    for (auto it = snapshots.rbegin(); it != snapshots.rend(); ++it) {
        uint64_t seq = 0;
        auto reader = [&engine](std::FILE *file) { return engine.read_snapshot(file); };
        if (read_snapshot_file(snapshot_path(dir, *it), seq, reader) == JournalStatus::Ok) return seq;
    }
    return 0;
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
    report.snapshot_seq = load_latest_snapshot(dir, engine);
    report.last_command_seq = report.snapshot_seq;
    std::vector<uint64_t> segments;
    list_journal_files(dir, JournalFileKind::Segment, segments);
    // Segments older than the snapshot may have been removed; a segment starting after it would
    // mean commands are missing.
    if (!segments.empty() && segments.front() > report.snapshot_seq + 1) {
        report.ok = false;
        report.error = "journal incomplete: first segment " + journal_segment_path(dir, segments.front()) +
                       " starts after snapshot " + std::to_string(report.snapshot_seq);
        return report;
    }
    ReplayState state{engine, filter, emit, report};
    for (std::size_t i = 0; i < segments.size(); ++i) {
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
