// snapshot_file.h - atomic, checksummed snapshot files of the engine state.
//
// File: [magic "UDRSNPF1"][u32 version][u32 reserved][u64 command_seq][u64 payload length]
//       [u32 CRC-32C of payload][u32 reserved][payload = whatever the state writer produced].
// Written to a temporary name, (fdatasync'ed for Durability::Fsync), renamed into place and the
// directory synced, so a reader only ever sees a whole snapshot or none. The payload writer and
// reader are callbacks (Engine::write_snapshot / read_snapshot) so this file knows no engine type.
#ifndef UDPROUTER_ENGINE_SNAPSHOT_FILE_H
#define UDPROUTER_ENGINE_SNAPSHOT_FILE_H

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "udprouter/engine/journal.h"
#include "udprouter/engine/paced_io.h"

namespace udprouter::engine {

inline constexpr char kSnapshotFileMagic[8] = {'U', 'D', 'R', 'S', 'N', 'P', 'F', '1'};
inline constexpr uint32_t kSnapshotFileVersion = 1;

struct SnapshotFileHeader {
    char magic[8];
    uint32_t version;
    uint32_t reserved0;
    uint64_t command_seq;
    uint64_t payload_length;
    uint32_t payload_crc;
    uint32_t reserved1;
};
static_assert(sizeof(SnapshotFileHeader) == 40);

using SnapshotWriteFn = std::function<void(std::FILE *)>;
using SnapshotReadFn = std::function<bool(std::FILE *)>;

// Writes snapshot_path(dir, command_seq) atomically. Returns Ok, OpenFailed, WriteFailed or SyncFailed.
JournalStatus write_snapshot_file(const std::string &dir, uint64_t command_seq, Durability durability,
                                  const SnapshotWriteFn &write_state);
// The same with the payload already made (Engine::snapshot_state, sealed); io paces the writes
// (the journal store's writer thread: PacedIo::background()).
JournalStatus write_snapshot_file(const std::string &dir, uint64_t command_seq, Durability durability,
                                  const std::vector<unsigned char> &payload,
                                  const PacedIo &io = PacedIo::at_once());

// Verifies the header and CRC, then hands the payload to read_state. BadHeader / Corrupt for a
// damaged file, Corrupt also when read_state refuses the payload.
JournalStatus read_snapshot_file(const std::string &path, uint64_t &command_seq, const SnapshotReadFn &read_state);

} // namespace udprouter::engine

#endif // UDPROUTER_ENGINE_SNAPSHOT_FILE_H
