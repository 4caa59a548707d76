// journal.h - the on-disk format of the command journal and its durability modes.
//
// A journal directory holds segments `journal-<first_seq>.log` and snapshots
// `snapshot-<command_seq>.bin` (numbers zero-padded to 20 digits so names sort numerically). A
// segment is a 24-byte file header followed by records:
//
//   [u32 length = 64][u32 CRC-32C of the 64 payload bytes][udr_command, verbatim]   (little-endian)
//
// Records are appended only; command_seq strictly increases through a segment and across
// segments. A crash can leave a torn or corrupt tail, which the reader detects and the writer cuts
// off on open. A new segment starts after every snapshot, so recovery = the newest valid snapshot
// at or below the position the router asks events from (events_through), else the journal's start,
// + every record after it (journal_recovery.h; JournalStore's retention keeps that snapshot).
#ifndef UDPROUTER_ENGINE_JOURNAL_H
#define UDPROUTER_ENGINE_JOURNAL_H

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "udprouter/engine/ring_abi.h"

namespace udprouter::engine {

// How far an appended batch is pushed before its commands are applied (stable numbers).
enum class Durability : uint8_t {
    None = 0,  // user-space buffer, written when full or on exit: lost on a process crash
    Os = 1,    // write(2) per batch: in the page cache, survives a process crash
    Fsync = 2, // write(2) + one fdatasync per batch (group commit): survives power loss
};

std::optional<Durability> parse_durability(std::string_view text);
const char *durability_name(Durability durability);

inline constexpr char kJournalMagic[8] = {'U', 'D', 'R', 'J', 'R', 'N', 'L', '1'};
inline constexpr uint32_t kJournalVersion = 1;

struct JournalFileHeader {
    char magic[8];
    uint32_t version;
    uint32_t record_size;       // sizeof(udr_command)
    uint64_t first_command_seq; // the segment follows the snapshot at first_command_seq - 1
};
static_assert(sizeof(JournalFileHeader) == 24);

struct JournalRecordHeader {
    uint32_t length; // payload bytes: sizeof(udr_command)
    uint32_t crc;    // CRC-32C of the payload
};
inline constexpr std::size_t kJournalRecordSize = sizeof(JournalRecordHeader) + sizeof(udr_command);

// Result codes of journal and snapshot file operations (stable numbers).
enum class JournalStatus : uint8_t {
    Ok = 0,
    OpenFailed = 1,
    WriteFailed = 2,
    SyncFailed = 3,
    BadHeader = 4,   // not a journal segment of this version
    TornTail = 5,    // the file ends inside a record
    Corrupt = 6,     // bad length, CRC mismatch or command_seq not increasing
    NotOpen = 7,
};
const char *journal_status_name(JournalStatus status);

// File names inside a journal directory.
std::string journal_segment_path(const std::string &dir, uint64_t first_command_seq);
std::string snapshot_path(const std::string &dir, uint64_t command_seq);

enum class JournalFileKind : uint8_t { Segment, Snapshot };
// Numbers of the files of one kind in `dir`, ascending (temporary and foreign files ignored).
bool list_journal_files(const std::string &dir, JournalFileKind kind, std::vector<uint64_t> &numbers);
// Removes snapshot-*.bin.tmp files a crash left behind mid-write; returns how many.
std::size_t remove_stale_snapshot_temporaries(const std::string &dir);
// Creates the directory (one level) if it does not exist.
bool ensure_journal_dir(const std::string &dir);
// fsync of the directory itself, so renames and new files survive power loss.
bool sync_journal_dir(const std::string &dir);

} // namespace udprouter::engine

#endif // UDPROUTER_ENGINE_JOURNAL_H
