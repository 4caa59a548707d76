// journal_recovery.h - rebuilds the engine state from a journal directory.
//
// Recovery = a snapshot (the base) + every journaled command after it, applied through the Engine
// in order. Events of replayed commands are normally discarded (the router already has them); a
// ReplayEmitFilter names the commands whose events never reached the router, and only those events
// are handed to the emit callback. So the base must not be above the filter's published_through:
// events of commands inside the base snapshot can never be emitted again. The base is therefore
// the newest snapshot at or below published_through that loads and from which the journal is
// continuous (JournalStore's retention keeps it: journal_store.h), else the journal's start
// (command 1) if it is still whole. Only when neither exists does recovery fall back to the
// oldest usable snapshot above published_through and report the events it cannot emit again.
// A torn or corrupt tail of the last segment is the normal trace of a crash and is reported (the
// writer cuts it); damage anywhere else is fatal.
#ifndef UDPROUTER_ENGINE_JOURNAL_RECOVERY_H
#define UDPROUTER_ENGINE_JOURNAL_RECOVERY_H

#include <cstdint>
#include <functional>
#include <limits>
#include <string>

#include "udprouter/engine/engine.h"
#include "udprouter/engine/journal.h"

namespace udprouter::engine {

// Which replayed events to publish again. Default: none.
struct ReplayEmitFilter {
    // Every event of a command up to this command_seq has been published.
    uint64_t published_through = std::numeric_limits<uint64_t>::max();
    // A command whose first `partial_events` events were published before the crash (0: none).
    uint64_t partial_command_seq = 0;
    uint32_t partial_events = 0;

    bool should_emit(uint64_t command_seq, uint32_t event_index) const
    {
        if (command_seq <= published_through) return false;
        return command_seq != partial_command_seq || event_index >= partial_events;
    }
};

struct RecoveryReport {
    bool ok = true;
    std::string error;                  // set when !ok: what is damaged, where
    uint64_t snapshot_seq = 0;          // the base: 0 when replayed from the journal's start
    uint64_t newest_snapshot_seq = 0;   // the newest snapshot file present (may be above the base)
    // Commands whose events were asked for but lie inside the base snapshot (0, 0: none): only
    // when no snapshot at or below published_through was kept. Their reports cannot be re-sent.
    uint64_t unrecoverable_from = 0;
    uint64_t unrecoverable_through = 0;
    uint64_t commands_replayed = 0;
    uint64_t events_emitted = 0;
    uint64_t last_command_seq = 0;      // highest command_seq in the snapshot or journal
    std::string append_path;            // the segment to continue appending to
    uint64_t append_first_seq = 0;
    uint64_t append_valid_bytes = 0;    // 0: (re)create the segment
    JournalStatus tail_status = JournalStatus::Ok; // TornTail / Corrupt when a tail must be cut
    uint64_t tail_offset = 0;           // where that tail starts in append_path
};

using ReplayEventFn = std::function<void(const udr_event &)>;

// `engine` must be freshly constructed with the configuration the journal was written under.
RecoveryReport recover_from_journal(const std::string &dir, Engine &engine, const ReplayEmitFilter &filter,
                                    const ReplayEventFn &emit);

} // namespace udprouter::engine

#endif // UDPROUTER_ENGINE_JOURNAL_RECOVERY_H
