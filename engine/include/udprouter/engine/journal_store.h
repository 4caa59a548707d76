// journal_store.h - the engine's journal directory while it runs: appends, snapshots, rotation.
//
// Owns the JournalWriter of the current segment. Every `snapshot_every` commands (0: never) it
// writes snapshot-<command_seq>.bin (Engine::snapshot_state, sealed), starts a new segment
// journal-<command_seq + 1>.log, and removes the segments and snapshots no recovery can need, so
// the directory and the replay time stay bounded.
//
// Retention rule: a recovery must be able to start at or below any position the router may ask
// events from (recover_from_journal picks the newest snapshot <= the segment's events_through).
// After a snapshot at S the store computes the retention base B, the newest snapshot <= limit, and
// keeps B, every snapshot above B and every segment from the one holding command B + 1; older files
// go (with no snapshot <= limit nothing is removed). The limit:
//   * min(S, router_logged_through) when the router publishes its logged position in the segment
//     header (watch_router_position): a restarted router asks exactly from there, and an engine
//     restart under a live router asks from its own events_through, which is never lower. Exact:
//     that base survives however far the router's log trails and however many snapshots follow.
//   * S - retain_commands when the router keeps no log (UINT64_MAX, or nothing watched): the
//     engine process sets retain_commands from the ring capacities, the most a live router's
//     routing position can trail (an engine crash); retain_commands = 0 keeps only the newest.
// Either limit is lowered to the downstream publisher's hold when <dir>/downstream.hold exists
// (protocol/DOWNSTREAM.md): the command_seq through which every event is in the stream, so the
// publisher can always resume. Like a replication slot, a hold nobody advances keeps every file
// after it: remove it when the publisher is retired.
//
// Background snapshots (set_background_snapshots, the engine process): the engine thread only
// copies the state's bytes (Engine::snapshot_state, into the last snapshot's buffer, whose pages
// are then already there) and starts the next segment; a writer thread
// seals and writes the file, renames it into place and removes what it made redundant, so the
// engine goes on applying commands (a 2.6 MB snapshot stopped it for 20-45 ms, the p99.9 of a
// 50k orders/s run). The writer's work is paced and at idle priority (paced_io.h): on a busy machine
// it takes seconds. One at a time, and the engine never waits for it: a snapshot due while the last
// is still being written is taken at the first batch after that one is done. A crash meanwhile
// leaves the previous snapshot and every segment since it, as before.
#ifndef UDPROUTER_ENGINE_JOURNAL_STORE_H
#define UDPROUTER_ENGINE_JOURNAL_STORE_H

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "udprouter/engine/engine.h"
#include "udprouter/engine/journal.h"
#include "udprouter/engine/journal_recovery.h"
#include "udprouter/engine/journal_writer.h"
#include "udprouter/engine/paced_io.h"

namespace udprouter::engine {

inline constexpr const char *kDownstreamHoldName = "downstream.hold";
// The hold's command_seq (decimal text); false when there is no readable hold.
bool read_downstream_hold(const std::string &dir, uint64_t &command_seq);

class JournalStore {
public:
    JournalStore(std::string dir, Durability durability, uint64_t snapshot_every, uint64_t retain_commands = 0);
    ~JournalStore();
    JournalStore(const JournalStore &) = delete;
    JournalStore &operator=(const JournalStore &) = delete;

    // after_apply's snapshots are written by a thread of their own (see above); snapshot() and
    // close() always finish them first.
    void set_background_snapshots(bool on) { background_ = on; }
    // The writer thread's pacing (PacedIo::background(); tests slow it down).
    void set_background_pacing(const PacedIo &io) { pacing_ = io; }

    // How far (in commands) below the newest snapshot a recovery may have to start.
    void set_retention(uint64_t retain_commands) { retain_commands_ = retain_commands; }
    uint64_t retention() const { return retain_commands_; }
    // The router's logged position (udr_segment_header.router_logged_through), read at each
    // snapshot; it only rises, so a stale read keeps more, never less.
    void watch_router_position(const uint64_t *router_logged_through) { router_logged_ = router_logged_through; }

    // Continues where recovery left off (cutting a torn tail).
    JournalStatus open(const RecoveryReport &recovery);

    // Appends a polled batch and commits it per the durability mode (one syscall or group commit).
    // After a WriteFailed, call it again with the same batch: it only retries what failed.
    JournalStatus append_batch(const udr_command *commands, std::size_t count);

    // After the batch is applied: snapshots and rotates when snapshot_every commands have passed
    // (and collects a background snapshot that has finished).
    JournalStatus after_apply(const Engine &engine);
    // Snapshot now (on a clean stop), whatever the count, written before it returns.
    JournalStatus snapshot(const Engine &engine);
    // Waits for a snapshot being written in the background; its failure other than a full disk.
    JournalStatus finish_snapshot() { return collect_snapshot(true); }
    // True once for each snapshot that could not be written (disk full): its command_seq and errno.
    bool take_skipped(uint64_t &command_seq, int &error);

    JournalStatus close();

    const JournalWriter &writer() const { return writer_; }
    uint64_t snapshots_written() const { return snapshots_written_; }
    uint64_t snapshots_skipped() const { return snapshots_skipped_; }

private:
    struct SnapshotJob {
        uint64_t seq = 0;
        uint64_t previous_seq = 0; // last_snapshot_seq_ before it, restored if it is skipped
        std::vector<uint8_t> state;
        JournalStatus status = JournalStatus::Ok;
        int error = 0;
    };

    JournalStatus start_snapshot(const Engine &engine, bool background);
    JournalStatus collect_snapshot(bool wait);
    void write_in_background();
    JournalStatus skipped(uint64_t seq, int error);
    bool retention_limit(uint64_t snapshot_seq, uint64_t &limit) const;
    void remove_redundant_files(uint64_t snapshot_seq, const PacedIo &io);

    PacedIo pacing_ = PacedIo::background();
    std::string dir_;
    Durability durability_;
    uint64_t snapshot_every_;
    uint64_t retain_commands_;
    const uint64_t *router_logged_ = nullptr;
    uint64_t since_snapshot_ = 0;
    uint64_t snapshots_skipped_ = 0; // snapshot files that could not be written (disk full)
    bool commit_pending_ = false; // appended, commit failed: the next append_batch only commits
    uint64_t last_snapshot_seq_ = 0;
    uint64_t snapshots_written_ = 0;
    uint64_t skipped_seq_ = 0;
    int skipped_errno_ = 0;
    uint64_t skipped_reported_ = 0;
    bool background_ = false;
    SnapshotJob job_;                    // owned by the writer thread while it runs
    std::atomic<bool> job_done_{false};
    std::thread snapshot_thread_;
    JournalWriter writer_;
};

} // namespace udprouter::engine

#endif // UDPROUTER_ENGINE_JOURNAL_STORE_H
