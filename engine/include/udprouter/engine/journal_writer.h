// journal_writer.h - appends command batches to a journal segment with the chosen durability.
//
// append() only copies into a pre-allocated buffer; commit() ends a batch and pushes it as far as
// the durability mode says (one write(2), plus one fdatasync for Fsync: a group commit for the
// whole polled batch). Errors are returned values. A failed write (disk full, I/O error) is cut
// back off the file and its records stay buffered: flush() writes them again (the engine process
// waits and retries rather than apply unjournaled commands). A failed sync is not retried: after
// fdatasync fails the kernel may have dropped the pages, and the process stops.
#ifndef UDPROUTER_ENGINE_JOURNAL_WRITER_H
#define UDPROUTER_ENGINE_JOURNAL_WRITER_H

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "udprouter/engine/journal.h"

namespace udprouter::engine {

class JournalWriter {
public:
    explicit JournalWriter(Durability durability, std::size_t buffer_records = 1024);
    ~JournalWriter();
    JournalWriter(const JournalWriter &) = delete;
    JournalWriter &operator=(const JournalWriter &) = delete;

    // Opens `path` for append. valid_bytes > 0: an existing segment whose first valid_bytes were
    // validated by JournalReader; anything after them (a torn tail) is cut off. valid_bytes == 0:
    // the file is (re)created with a fresh header for first_command_seq.
    JournalStatus open(const std::string &path, uint64_t first_command_seq, uint64_t valid_bytes);

    // Copies records into the buffer (writes it out first if it is full).
    JournalStatus append(const udr_command *commands, std::size_t count);
    // Ends a batch: Os and Fsync write the buffer, Fsync also fdatasyncs. None keeps buffering.
    JournalStatus commit();
    // Writes whatever is buffered and, for Fsync, syncs it (used on exit and before a snapshot).
    JournalStatus flush();
    JournalStatus close();

    bool is_open() const { return fd_ >= 0; }
    uint64_t file_bytes() const { return file_bytes_ + buffer_.size(); }
    uint64_t records_appended() const { return records_appended_; }
    uint64_t syncs() const { return syncs_; }
    uint64_t last_sync_ns() const { return last_sync_ns_; } // the last commit's fdatasync; 0: none
    Durability durability() const { return durability_; }

private:
    JournalStatus write_buffer();

    Durability durability_;
    std::size_t buffer_capacity_;
    std::vector<unsigned char> buffer_;
    int fd_ = -1;
    uint64_t file_bytes_ = 0;
    uint64_t records_appended_ = 0;
    uint64_t syncs_ = 0;
    uint64_t last_sync_ns_ = 0;
};

} // namespace udprouter::engine

#endif // UDPROUTER_ENGINE_JOURNAL_WRITER_H
