// snapshot_file.cpp - snapshot payloads captured in memory, checksummed, written atomically.
#include "udprouter/engine/snapshot_file.h"

#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>
#include <vector>

#include "udprouter/engine/crc32c.h"

namespace udprouter::engine {

// Runs the state writer into a memory stream so the payload's CRC and length are known up front.
static bool capture_payload(const SnapshotWriteFn &write_state, std::vector<unsigned char> &payload)
{
    char *data = nullptr;
    std::size_t size = 0;
    std::FILE *memory = open_memstream(&data, &size);
    if (memory == nullptr) return false;
    write_state(memory);
    bool ok = std::fclose(memory) == 0;
    if (ok) payload.assign(data, data + size);
    std::free(data);
    return ok;
}

static bool write_file(const std::string &path, const SnapshotFileHeader &header,
                       const std::vector<unsigned char> &payload, bool sync, const PacedIo &io)
{
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return false;
    bool ok = io.write_all(fd, &header, sizeof(header)) && io.write_all(fd, payload.data(), payload.size()) &&
              (!sync || ::fdatasync(fd) == 0);
    if (!ok) {
        const int error = errno; // the caller reports it (ENOSPC: the snapshot is skipped)
        ::close(fd);
        errno = error;
        return false;
    }
    return ::close(fd) == 0;
}

JournalStatus write_snapshot_file(const std::string &dir, uint64_t command_seq, Durability durability,
                                  const SnapshotWriteFn &write_state)
{
    std::vector<unsigned char> payload;
    if (!capture_payload(write_state, payload)) return JournalStatus::WriteFailed;
    return write_snapshot_file(dir, command_seq, durability, payload);
}

JournalStatus write_snapshot_file(const std::string &dir, uint64_t command_seq, Durability durability,
                                  const std::vector<unsigned char> &payload, const PacedIo &io)
{
    SnapshotFileHeader header{};
    std::memcpy(header.magic, kSnapshotFileMagic, sizeof(header.magic));
    header.version = kSnapshotFileVersion;
    header.command_seq = command_seq;
    header.payload_length = payload.size();
    uint32_t crc = 0;
    io.in_steps(payload.size(), [&](std::size_t from, std::size_t length) {
        crc = crc32c_extend(crc, payload.data() + from, length);
    });
    header.payload_crc = crc;
    const std::string final_path = snapshot_path(dir, command_seq);
    const std::string tmp_path = final_path + ".tmp";
    const bool sync = durability == Durability::Fsync;
    if (!write_file(tmp_path, header, payload, sync, io)) {
        ::unlink(tmp_path.c_str());
        return JournalStatus::WriteFailed;
    }
    if (::rename(tmp_path.c_str(), final_path.c_str()) != 0) return JournalStatus::WriteFailed;
    if (sync && !sync_journal_dir(dir)) return JournalStatus::SyncFailed;
    return JournalStatus::Ok;
}

JournalStatus read_snapshot_file(const std::string &path, uint64_t &command_seq, const SnapshotReadFn &read_state)
{
    std::FILE *file = std::fopen(path.c_str(), "rb");
    if (file == nullptr) return JournalStatus::OpenFailed;
    long file_size = -1;
    if (std::fseek(file, 0, SEEK_END) == 0) file_size = std::ftell(file);
    std::rewind(file);
    SnapshotFileHeader header{};
    std::vector<unsigned char> payload;
    JournalStatus status = JournalStatus::Ok;
    if (std::fread(&header, sizeof(header), 1, file) != 1 ||
        std::memcmp(header.magic, kSnapshotFileMagic, sizeof(header.magic)) != 0 || header.version != kSnapshotFileVersion) {
        status = JournalStatus::BadHeader;
    } else if (file_size < 0 || static_cast<uint64_t>(file_size) != sizeof(header) + header.payload_length) {
        status = JournalStatus::Corrupt; // checked before allocating: a damaged length must not
    } else {                             // turn into a huge allocation
        payload.resize(header.payload_length);
        if ((header.payload_length > 0 && std::fread(payload.data(), payload.size(), 1, file) != 1) ||
            crc32c(payload.data(), payload.size()) != header.payload_crc)
            status = JournalStatus::Corrupt;
    }
    std::fclose(file);
    if (status != JournalStatus::Ok) return status;
    payload.push_back(0); // fmemopen needs a non-empty buffer; the reader sees payload_length bytes
    std::FILE *memory = fmemopen(payload.data(), header.payload_length == 0 ? 1 : header.payload_length, "rb");
    if (memory == nullptr) return JournalStatus::OpenFailed;
    const bool accepted = read_state(memory);
    std::fclose(memory);
    if (!accepted) return JournalStatus::Corrupt;
    command_seq = header.command_seq;
    return JournalStatus::Ok;
}

} // namespace udprouter::engine
