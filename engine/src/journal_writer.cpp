// journal_writer.cpp - buffered, batch-committed appends to a journal segment.
#include "udprouter/engine/journal_writer.h"

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <unistd.h>

#include "udprouter/engine/crc32c.h"
#include "udprouter/engine/test_crash_hook.h"

namespace udprouter::engine {

JournalWriter::JournalWriter(Durability durability, std::size_t buffer_records)
    : durability_(durability), buffer_capacity_(buffer_records * kJournalRecordSize)
{
    buffer_.reserve(buffer_capacity_);
}

JournalWriter::~JournalWriter() { close(); }

static bool write_all(int fd, const unsigned char *data, std::size_t size)
{
    while (size > 0) {
        ssize_t n = ::write(fd, data, size);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        data += n;
        size -= static_cast<std::size_t>(n);
    }
    return true;
}

JournalStatus JournalWriter::open(const std::string &path, uint64_t first_command_seq, uint64_t valid_bytes)
{
    close();
    const bool fresh = valid_bytes < sizeof(JournalFileHeader);
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | (fresh ? O_TRUNC : 0), 0600);
    if (fd_ < 0) return JournalStatus::OpenFailed;
    if (fresh) {
        JournalFileHeader header{};
        std::memcpy(header.magic, kJournalMagic, sizeof(header.magic));
        header.version = kJournalVersion;
        header.record_size = sizeof(udr_command);
        header.first_command_seq = first_command_seq;
        if (!write_all(fd_, reinterpret_cast<const unsigned char *>(&header), sizeof(header)))
            return JournalStatus::WriteFailed;
        file_bytes_ = sizeof(header);
        if (durability_ == Durability::Fsync && ::fdatasync(fd_) != 0) return JournalStatus::SyncFailed;
    } else {
        // Cut off a torn or corrupt tail so new records follow the last valid one directly.
        if (::ftruncate(fd_, static_cast<off_t>(valid_bytes)) != 0) return JournalStatus::WriteFailed;
        file_bytes_ = valid_bytes;
    }
    if (::lseek(fd_, static_cast<off_t>(file_bytes_), SEEK_SET) < 0) return JournalStatus::OpenFailed;
    return JournalStatus::Ok;
}

JournalStatus JournalWriter::append(const udr_command *commands, std::size_t count)
{
    if (fd_ < 0) return JournalStatus::NotOpen;
    // Room for the whole batch first: a failed write then leaves none of it buffered, so the same
    // batch can be appended again (a batch larger than the buffer grows it).
    if (!buffer_.empty() && buffer_.size() + count * kJournalRecordSize > buffer_capacity_) {
        JournalStatus status = write_buffer();
        if (status != JournalStatus::Ok) return status;
    }
    for (std::size_t i = 0; i < count; ++i) {
        JournalRecordHeader header{static_cast<uint32_t>(sizeof(udr_command)), crc32c(&commands[i], sizeof(udr_command))};
        const auto *h = reinterpret_cast<const unsigned char *>(&header);
        const auto *p = reinterpret_cast<const unsigned char *>(&commands[i]);
        buffer_.insert(buffer_.end(), h, h + sizeof(header));
        buffer_.insert(buffer_.end(), p, p + sizeof(udr_command));
    }
    records_appended_ += count;
    return JournalStatus::Ok;
}

// TEST ONLY (off unless $UDR_TEST_CRASH_PLAN is set): dies at a planned record of this buffer.
static void maybe_crash(int fd, const std::vector<unsigned char> &buffer)
{
    const test_hook::CrashPoint &point = test_hook::planned_crash();
    if (point.command_seq == 0) return;
    for (std::size_t at = 0; at + kJournalRecordSize <= buffer.size(); at += kJournalRecordSize) {
        uint64_t seq = 0;
        std::memcpy(&seq, buffer.data() + at + sizeof(JournalRecordHeader), sizeof(seq));
        if (seq < point.command_seq) continue;
        const bool torn = point.mode == test_hook::CrashMode::Torn;
        write_all(fd, buffer.data(), torn ? at + kJournalRecordSize / 2 : buffer.size());
        test_hook::crash_now();
    }
}

JournalStatus JournalWriter::write_buffer()
{
    if (buffer_.empty()) return JournalStatus::Ok;
    maybe_crash(fd_, buffer_);
    if (!write_all(fd_, buffer_.data(), buffer_.size())) {
        // Disk full or an I/O error: cut a partly written batch back off the file (a record after
        // a torn one would be invisible to recovery) and keep it buffered for flush() to retry.
        const int err = errno;
        if (::ftruncate(fd_, static_cast<off_t>(file_bytes_)) != 0 ||
            ::lseek(fd_, static_cast<off_t>(file_bytes_), SEEK_SET) < 0)
            return JournalStatus::WriteFailed;
        errno = err;
        return JournalStatus::WriteFailed;
    }
    file_bytes_ += buffer_.size();
    buffer_.clear();
    return JournalStatus::Ok;
}

JournalStatus JournalWriter::commit()
{
    if (fd_ < 0) return JournalStatus::NotOpen;
    if (durability_ == Durability::None) return JournalStatus::Ok;
    return flush();
}

JournalStatus JournalWriter::flush()
{
    if (fd_ < 0) return JournalStatus::NotOpen;
    const bool had_data = !buffer_.empty();
    last_sync_ns_ = 0;
    JournalStatus status = write_buffer();
    if (status != JournalStatus::Ok) return status;
    if (had_data && durability_ == Durability::Fsync) {
        timespec start{}, end{};
        clock_gettime(CLOCK_MONOTONIC, &start);
        if (::fdatasync(fd_) != 0) return JournalStatus::SyncFailed;
        clock_gettime(CLOCK_MONOTONIC, &end);
        last_sync_ns_ = static_cast<uint64_t>((end.tv_sec - start.tv_sec) * 1'000'000'000LL + (end.tv_nsec - start.tv_nsec));
        if (last_sync_ns_ == 0) last_sync_ns_ = 1;
        ++syncs_;
    }
    return JournalStatus::Ok;
}

JournalStatus JournalWriter::close()
{
    if (fd_ < 0) return JournalStatus::Ok;
    JournalStatus status = flush();
    ::close(fd_);
    fd_ = -1;
    return status;
}

} // namespace udprouter::engine
