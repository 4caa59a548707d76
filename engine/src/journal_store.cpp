// journal_store.cpp - batch appends, periodic snapshots and segment rotation.
#include "udprouter/engine/journal_store.h"

#include <unistd.h>
#include <utility>
#include <vector>

#include "udprouter/engine/snapshot_file.h"

namespace udprouter::engine {

JournalStore::JournalStore(std::string dir, Durability durability, uint64_t snapshot_every)
    : dir_(std::move(dir)), durability_(durability), snapshot_every_(snapshot_every), writer_(durability)
{
}

JournalStatus JournalStore::open(const RecoveryReport &recovery)
{
    last_snapshot_seq_ = recovery.snapshot_seq;
    remove_stale_snapshot_temporaries(dir_); // a crash mid-snapshot leaves its tmp file
    JournalStatus status = writer_.open(recovery.append_path, recovery.append_first_seq, recovery.append_valid_bytes);
    if (status == JournalStatus::Ok && durability_ == Durability::Fsync) sync_journal_dir(dir_);
    return status;
}

JournalStatus JournalStore::append_batch(const udr_command *commands, std::size_t count)
{
    JournalStatus status = writer_.append(commands, count);
    if (status != JournalStatus::Ok) return status;
    since_snapshot_ += count;
    return writer_.commit();
}

JournalStatus JournalStore::after_apply(const Engine &engine)
{
    if (snapshot_every_ == 0 || since_snapshot_ < snapshot_every_) return JournalStatus::Ok;
    return snapshot(engine);
}

JournalStatus JournalStore::snapshot(const Engine &engine)
{
    const uint64_t seq = engine.last_command_seq();
    if (seq == last_snapshot_seq_) return JournalStatus::Ok;
    // The journal up to seq must be on disk before a snapshot may make it redundant.
    JournalStatus status = writer_.flush();
    if (status != JournalStatus::Ok) return status;
    status = write_snapshot_file(dir_, seq, durability_, [&engine](std::FILE *file) { engine.write_snapshot(file); });
    if (status != JournalStatus::Ok) return status;
    status = writer_.open(journal_segment_path(dir_, seq + 1), seq + 1, 0);
    if (status != JournalStatus::Ok) return status;
    if (durability_ == Durability::Fsync && !sync_journal_dir(dir_)) return JournalStatus::SyncFailed;
    remove_redundant_files(seq);
    last_snapshot_seq_ = seq;
    since_snapshot_ = 0;
    ++snapshots_written_;
    return JournalStatus::Ok;
}

// Everything the snapshot at snapshot_seq covers: older snapshots and segments that start at or
// before it (they hold only commands <= snapshot_seq, because the new segment starts after it).
void JournalStore::remove_redundant_files(uint64_t snapshot_seq)
{
    std::vector<uint64_t> numbers;
    if (list_journal_files(dir_, JournalFileKind::Segment, numbers))
        for (uint64_t first : numbers)
            if (first <= snapshot_seq) ::unlink(journal_segment_path(dir_, first).c_str());
    if (list_journal_files(dir_, JournalFileKind::Snapshot, numbers))
        for (uint64_t seq : numbers)
            if (seq < snapshot_seq) ::unlink(snapshot_path(dir_, seq).c_str());
}

JournalStatus JournalStore::close() { return writer_.close(); }

} // namespace udprouter::engine
