// journal_reader.h - validates and reads a journal segment, stopping at the first bad record.
//
// Each record's length, CRC-32C and command_seq order are checked. The reader stops at a torn
// record (the file ends inside it) or a corrupt one, and reports where the valid part ends, so the
// writer can cut the tail off and recovery can tell a crash's torn tail from damage mid-journal.
#ifndef UDPROUTER_ENGINE_JOURNAL_READER_H
#define UDPROUTER_ENGINE_JOURNAL_READER_H

#include <cstdint>
#include <cstdio>
#include <string>

#include "udprouter/engine/journal.h"

namespace udprouter::engine {

class JournalReader {
public:
    JournalReader() = default;
    ~JournalReader();
    JournalReader(const JournalReader &) = delete;
    JournalReader &operator=(const JournalReader &) = delete;

    // Opens a segment and checks its header. BadHeader covers a file too short to hold one (a
    // crash right after creating the segment), which recovery treats as an empty segment.
    JournalStatus open(const std::string &path);

    // Reads the next valid record. Returns false at the end of the valid part; status() then says
    // why: Ok (clean end of file), TornTail or Corrupt.
    bool next(udr_command &command);

    JournalStatus status() const { return status_; }
    uint64_t first_command_seq() const { return first_command_seq_; }
    uint64_t valid_bytes() const { return valid_bytes_; }     // offset where the valid part ends
    uint64_t records_read() const { return records_read_; }
    uint64_t last_command_seq() const { return last_command_seq_; }

private:
    std::FILE *file_ = nullptr;
    JournalStatus status_ = JournalStatus::NotOpen;
    uint64_t first_command_seq_ = 0;
    uint64_t valid_bytes_ = 0;
    uint64_t records_read_ = 0;
    uint64_t last_command_seq_ = 0;
};

} // namespace udprouter::engine

#endif // UDPROUTER_ENGINE_JOURNAL_READER_H
