// journal_store.cpp - batch appends, periodic snapshots and segment rotation.
#include "udprouter/engine/journal_store.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>
#include <utility>
#include <vector>

#include "udprouter/engine/snapshot_file.h"

namespace udprouter::engine {

JournalStore::JournalStore(std::string dir, Durability durability, uint64_t snapshot_every, uint64_t retain_commands)
    : dir_(std::move(dir)), durability_(durability), snapshot_every_(snapshot_every), retain_commands_(retain_commands),
      writer_(durability)
{
}

JournalStatus JournalStore::open(const RecoveryReport &recovery)
{
    // The newest snapshot, not the base recovery loaded: a snapshot of the same position again
    // would only rewrite it (and truncate the segment after it).
    last_snapshot_seq_ = std::max(recovery.snapshot_seq, recovery.newest_snapshot_seq);
    since_snapshot_ = recovery.last_command_seq > last_snapshot_seq_ ? recovery.last_command_seq - last_snapshot_seq_ : 0;
    remove_stale_snapshot_temporaries(dir_); // a crash mid-snapshot leaves its tmp file
    JournalStatus status = writer_.open(recovery.append_path, recovery.append_first_seq, recovery.append_valid_bytes);
    if (status == JournalStatus::Ok && durability_ == Durability::Fsync) sync_journal_dir(dir_);
    return status;
}

JournalStatus JournalStore::append_batch(const udr_command *commands, std::size_t count)
{
    if (!commit_pending_) { // a retry after a failed commit appends nothing again
        JournalStatus status = writer_.append(commands, count);
        if (status != JournalStatus::Ok) return status;
        since_snapshot_ += count;
        commit_pending_ = true;
    }
    JournalStatus status = writer_.commit();
    if (status == JournalStatus::Ok) commit_pending_ = false;
    return status;
}

JournalStore::~JournalStore()
{
    if (snapshot_thread_.joinable()) snapshot_thread_.join();
}

JournalStatus JournalStore::after_apply(const Engine &engine)
{
    JournalStatus status = collect_snapshot(false);
    if (status != JournalStatus::Ok) return status;
    if (snapshot_every_ == 0 || since_snapshot_ < snapshot_every_) return JournalStatus::Ok;
    // The last one's writer is still at work: this snapshot waits for it, the engine does not (it
    // stopped for up to 300 ms when it did, at 50k orders/s and a snapshot every 5 s).
    if (snapshot_thread_.joinable()) return JournalStatus::Ok;
    return start_snapshot(engine, background_);
}

JournalStatus JournalStore::snapshot(const Engine &engine) { return start_snapshot(engine, false); }

JournalStatus JournalStore::start_snapshot(const Engine &engine, bool background)
{
    JournalStatus status = collect_snapshot(true); // one at a time
    if (status != JournalStatus::Ok) return status;
    const uint64_t seq = engine.last_command_seq();
    if (seq == last_snapshot_seq_) return JournalStatus::Ok;
    // The journal up to seq must be on disk before a snapshot may make it redundant.
    status = writer_.flush();
    if (status != JournalStatus::Ok) return status;
    if (!background) {
        std::vector<uint8_t> payload = engine.snapshot_state(); // the bytes the writer thread writes
        Engine::seal_snapshot(payload);
        status = write_snapshot_file(dir_, seq, durability_, payload);
        if (status == JournalStatus::WriteFailed) return skipped(seq, errno); // the journal still holds every command
        if (status != JournalStatus::Ok) return status;
    }
    status = writer_.open(journal_segment_path(dir_, seq + 1), seq + 1, 0);
    if (status != JournalStatus::Ok) return status;
    if (durability_ == Durability::Fsync && !sync_journal_dir(dir_)) return JournalStatus::SyncFailed;
    const uint64_t previous = last_snapshot_seq_;
    last_snapshot_seq_ = seq;
    since_snapshot_ = 0;
    if (!background) {
        remove_redundant_files(seq, PacedIo::at_once());
        ++snapshots_written_;
        return JournalStatus::Ok;
    }
    job_.seq = seq;
    job_.previous_seq = previous;
    engine.snapshot_state(job_.state); // into the last snapshot's buffer (write_in_background)
    job_.status = JournalStatus::Ok;
    job_.error = 0;
    job_done_.store(false, std::memory_order_relaxed);
    // Every signal stays with the engine thread (a stop must interrupt its poll, not this thread).
    sigset_t all, saved;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &saved);
    snapshot_thread_ = std::thread([this] { write_in_background(); });
    pthread_sigmask(SIG_SETMASK, &saved, nullptr);
    return JournalStatus::Ok;
}

// The writer thread: it touches only job_ and the directory (never the open segment). It runs at
// idle priority: on a small machine the router, the engine and the clients need every core, and
// the file can wait for a core none of them wants. Its work is paced (paced_io.h): idle priority
// alone still let the checksums, one write() or one unlink() hold a core for a whole tick.
void JournalStore::write_in_background()
{
    sched_param idle{};
    pthread_setschedparam(pthread_self(), SCHED_IDLE, &idle);
    const PacedIo io = pacing_;
    Engine::seal_snapshot(job_.state, [&io] { io.pause(); });
    job_.status = write_snapshot_file(dir_, job_.seq, durability_, job_.state, io);
    job_.error = errno;
    if (job_.status == JournalStatus::Ok) remove_redundant_files(job_.seq, io);
    job_.state.clear(); // its capacity stays for the next snapshot: the engine waits for no page then
    job_done_.store(true, std::memory_order_release);
}

JournalStatus JournalStore::collect_snapshot(bool wait)
{
    if (!snapshot_thread_.joinable()) return JournalStatus::Ok;
    if (!wait && !job_done_.load(std::memory_order_acquire)) return JournalStatus::Ok;
    snapshot_thread_.join();
    if (job_.status == JournalStatus::WriteFailed) {
        last_snapshot_seq_ = job_.previous_seq; // no file at job_.seq: a stop snapshot there is still due
        return skipped(job_.seq, job_.error);
    }
    if (job_.status != JournalStatus::Ok) return job_.status;
    ++snapshots_written_;
    return JournalStatus::Ok;
}

// Disk full: no snapshot this time; the next is tried after another snapshot_every.
JournalStatus JournalStore::skipped(uint64_t seq, int error)
{
    since_snapshot_ = 0;
    ++snapshots_skipped_;
    skipped_seq_ = seq;
    skipped_errno_ = error;
    return JournalStatus::Ok;
}

bool JournalStore::take_skipped(uint64_t &command_seq, int &error)
{
    if (skipped_reported_ == snapshots_skipped_) return false;
    skipped_reported_ = snapshots_skipped_;
    command_seq = skipped_seq_;
    error = skipped_errno_;
    return true;
}

// The newest snapshot <= retention_limit() is the retention base (journal_store.h); kept with every
// newer snapshot and the segments from the one holding the command after it (segments are
// contiguous: each starts right after the previous one's last).
bool JournalStore::retention_limit(uint64_t snapshot_seq, uint64_t &limit) const
{
    const uint64_t logged = router_logged_ != nullptr ? __atomic_load_n(router_logged_, __ATOMIC_ACQUIRE) : UINT64_MAX;
    if (logged != UINT64_MAX) {
        limit = std::min(logged, snapshot_seq);
    } else {
        if (retain_commands_ >= snapshot_seq) return false;
        limit = snapshot_seq - retain_commands_;
    }
    uint64_t held = 0;
    if (read_downstream_hold(dir_, held)) limit = std::min(limit, held);
    return true;
}

bool read_downstream_hold(const std::string &dir, uint64_t &command_seq)
{
    std::FILE *file = std::fopen((dir + "/" + kDownstreamHoldName).c_str(), "r");
    if (file == nullptr) return false;
    unsigned long long value = 0;
    const bool ok = std::fscanf(file, "%llu", &value) == 1;
    std::fclose(file);
    if (ok) command_seq = value;
    return ok;
}

void JournalStore::remove_redundant_files(uint64_t snapshot_seq, const PacedIo &io)
{
    uint64_t limit = 0;
    if (!retention_limit(snapshot_seq, limit)) return;
    std::vector<uint64_t> snapshots, segments;
    if (!list_journal_files(dir_, JournalFileKind::Snapshot, snapshots)) return;
    auto above = std::upper_bound(snapshots.begin(), snapshots.end(), limit);
    if (above == snapshots.begin()) return; // no snapshot old enough to be the base yet
    const uint64_t base = *(above - 1);
    if (!list_journal_files(dir_, JournalFileKind::Segment, segments)) return;
    std::size_t keep_from = 0;
    while (keep_from + 1 < segments.size() && segments[keep_from + 1] <= base + 1) ++keep_from;
    for (std::size_t i = 0; i < keep_from; ++i) io.release_file(journal_segment_path(dir_, segments[i]));
    for (uint64_t seq : snapshots)
        if (seq < base) io.release_file(snapshot_path(dir_, seq));
}

JournalStatus JournalStore::close()
{
    JournalStatus status = collect_snapshot(true);
    JournalStatus closed = writer_.close();
    return status != JournalStatus::Ok ? status : closed;
}

} // namespace udprouter::engine
