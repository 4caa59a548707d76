// journal_reader.cpp - sequential validation of a journal segment.
#include "udprouter/engine/journal_reader.h"

#include <cstring>

#include "udprouter/engine/crc32c.h"

namespace udprouter::engine {

JournalReader::~JournalReader()
{
    if (file_ != nullptr) std::fclose(file_);
}

JournalStatus JournalReader::open(const std::string &path)
{
    if (file_ != nullptr) std::fclose(file_);
    first_command_seq_ = valid_bytes_ = records_read_ = last_command_seq_ = 0;
    file_ = std::fopen(path.c_str(), "rb");
    if (file_ == nullptr) return status_ = JournalStatus::OpenFailed;
    JournalFileHeader header{};
    if (std::fread(&header, 1, sizeof(header), file_) != sizeof(header) ||
        std::memcmp(header.magic, kJournalMagic, sizeof(header.magic)) != 0 || header.version != kJournalVersion ||
        header.record_size != sizeof(udr_command))
        return status_ = JournalStatus::BadHeader;
    first_command_seq_ = header.first_command_seq;
    valid_bytes_ = sizeof(header);
    return status_ = JournalStatus::Ok;
}

bool JournalReader::next(udr_command &command)
{
    if (status_ != JournalStatus::Ok) return false;
    unsigned char record[kJournalRecordSize];
    std::size_t got = std::fread(record, 1, sizeof(record), file_);
    if (got == 0) return false; // clean end
    if (got < sizeof(record)) {
        status_ = JournalStatus::TornTail;
        return false;
    }
    JournalRecordHeader header;
    std::memcpy(&header, record, sizeof(header));
    std::memcpy(&command, record + sizeof(header), sizeof(command));
    const bool seq_ok = records_read_ == 0 || command.command_seq > last_command_seq_;
    if (header.length != sizeof(udr_command) || header.crc != crc32c(&command, sizeof(command)) || !seq_ok) {
        status_ = JournalStatus::Corrupt;
        return false;
    }
    valid_bytes_ += sizeof(record);
    ++records_read_;
    last_command_seq_ = command.command_seq;
    return true;
}

} // namespace udprouter::engine
