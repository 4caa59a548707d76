// journal_store.h - the engine's journal directory while it runs: appends, snapshots, rotation.
//
// Owns the JournalWriter of the current segment. Every `snapshot_every` commands (0: never) it
// writes snapshot-<command_seq>.bin through Engine::write_snapshot, starts a new segment
// journal-<command_seq + 1>.log, and removes the segments and snapshots no recovery can need, so
// the directory and the replay time stay bounded.
//
// Retention rule: a recovery must be able to start at or below any position the router may ask
// events from (recover_from_journal picks the newest snapshot <= the router's events_through), and
// the router's durably logged position trails the newest snapshot by at most `retain_commands`
// (the engine process sets it from the ring capacities). So after a snapshot at S the store keeps
// the newest snapshot B <= S - retain_commands (the retention base), every snapshot above B, and
// every segment from the one holding command B + 1; older files go. With no snapshot at or below
// S - retain_commands nothing is removed. retain_commands = 0 keeps only the newest snapshot.
#ifndef UDPROUTER_ENGINE_JOURNAL_STORE_H
#define UDPROUTER_ENGINE_JOURNAL_STORE_H

#include <cstdint>
#include <string>

#include "udprouter/engine/engine.h"
#include "udprouter/engine/journal.h"
#include "udprouter/engine/journal_recovery.h"
#include "udprouter/engine/journal_writer.h"

namespace udprouter::engine {

class JournalStore {
public:
    JournalStore(std::string dir, Durability durability, uint64_t snapshot_every, uint64_t retain_commands = 0);

    // How far (in commands) below the newest snapshot a recovery may have to start.
    void set_retention(uint64_t retain_commands) { retain_commands_ = retain_commands; }
    uint64_t retention() const { return retain_commands_; }

    // Continues where recovery left off (cutting a torn tail).
    JournalStatus open(const RecoveryReport &recovery);

    // Appends a polled batch and commits it per the durability mode (one syscall or group commit).
    JournalStatus append_batch(const udr_command *commands, std::size_t count);

    // After the batch is applied: snapshots and rotates when snapshot_every commands have passed.
    JournalStatus after_apply(const Engine &engine);
    // Snapshot now (on a clean stop), whatever the count.
    JournalStatus snapshot(const Engine &engine);

    JournalStatus close();

    const JournalWriter &writer() const { return writer_; }
    uint64_t snapshots_written() const { return snapshots_written_; }

private:
    void remove_redundant_files(uint64_t snapshot_seq);

    std::string dir_;
    Durability durability_;
    uint64_t snapshot_every_;
    uint64_t retain_commands_;
    uint64_t since_snapshot_ = 0;
    uint64_t last_snapshot_seq_ = 0;
    uint64_t snapshots_written_ = 0;
    JournalWriter writer_;
};

} // namespace udprouter::engine

#endif // UDPROUTER_ENGINE_JOURNAL_STORE_H
