// test_journal.cpp - journal format: CRC-32C, round trip per durability, torn tails at every
// byte offset, corruption detection, snapshot files.
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>
#include <vector>

#include "io_command_flow.h"
#include "io_test_dir.h"
#include "test_harness.h"
#include "udprouter/engine/crc32c.h"
#include "udprouter/engine/journal_reader.h"
#include "udprouter/engine/journal_writer.h"
#include "udprouter/engine/snapshot_file.h"

using namespace udprouter::engine;
using udr_test::TempDir;

namespace {

constexpr long kHeader = sizeof(JournalFileHeader);
constexpr long kRecord = kJournalRecordSize;

void write_journal(const std::string &path, const std::vector<udr_command> &commands, Durability durability,
                   std::size_t batch = 7)
{
    JournalWriter writer(durability);
    UDR_CHECK(writer.open(path, commands.empty() ? 1 : commands.front().command_seq, 0) == JournalStatus::Ok);
    for (std::size_t i = 0; i < commands.size(); i += batch) {
        UDR_CHECK(writer.append(&commands[i], std::min(batch, commands.size() - i)) == JournalStatus::Ok);
        UDR_CHECK(writer.commit() == JournalStatus::Ok);
    }
    UDR_CHECK(writer.close() == JournalStatus::Ok);
}

std::vector<udr_command> read_journal(const std::string &path, JournalStatus &end, uint64_t &valid_bytes)
{
    std::vector<udr_command> out;
    JournalReader reader;
    if (reader.open(path) != JournalStatus::Ok) {
        end = reader.status();
        valid_bytes = 0;
        return out;
    }
    udr_command c{};
    while (reader.next(c)) out.push_back(c);
    end = reader.status();
    valid_bytes = reader.valid_bytes();
    return out;
}

bool same(const std::vector<udr_command> &a, const std::vector<udr_command> &b, std::size_t n)
{
    return a.size() >= n && b.size() >= n && std::memcmp(a.data(), b.data(), n * sizeof(udr_command)) == 0;
}

void flip_byte(const std::string &path, long offset)
{
    int fd = open(path.c_str(), O_RDWR);
    unsigned char b = 0;
    UDR_CHECK(pread(fd, &b, 1, offset) == 1);
    b ^= 0x5A;
    UDR_CHECK(pwrite(fd, &b, 1, offset) == 1);
    close(fd);
}

} // namespace

UDR_TEST(crc32c_matches_the_standard_check_value)
{
    UDR_CHECK_EQ(crc32c("123456789", 9), 0xE3069283u);
    UDR_CHECK_EQ(crc32c("", 0), 0u);
    const char text[] = "The quick brown fox jumps over the lazy dog, twice over the lazy dog";
    UDR_CHECK_EQ(crc32c_extend(crc32c(text, 10), text + 10, sizeof(text) - 10), crc32c(text, sizeof(text)));
}

UDR_TEST(round_trip_returns_every_command_byte_exact_in_each_durability_mode)
{
    const auto flow = udr_test::make_command_flow(500);
    for (Durability d : {Durability::None, Durability::Os, Durability::Fsync}) {
        TempDir dir;
        const std::string path = journal_segment_path(dir.path(), 1);
        write_journal(path, flow, d);
        JournalStatus end{};
        uint64_t valid = 0;
        auto back = read_journal(path, end, valid);
        UDR_CHECK(end == JournalStatus::Ok);
        UDR_CHECK_EQ(back.size(), flow.size());
        UDR_CHECK(same(back, flow, flow.size()));
        UDR_CHECK_EQ(valid, static_cast<uint64_t>(kHeader + kRecord * 500));
        UDR_CHECK_EQ(udr_test::file_size(path), kHeader + kRecord * 500);
    }
}

UDR_TEST(durability_none_buffers_until_flush_and_os_writes_every_batch)
{
    const auto flow = udr_test::make_command_flow(10);
    TempDir dir;
    JournalWriter none(Durability::None);
    const std::string a = dir.file("a.log");
    UDR_CHECK(none.open(a, 1, 0) == JournalStatus::Ok);
    UDR_CHECK(none.append(flow.data(), 10) == JournalStatus::Ok && none.commit() == JournalStatus::Ok);
    UDR_CHECK_EQ(udr_test::file_size(a), kHeader);
    UDR_CHECK(none.flush() == JournalStatus::Ok);
    UDR_CHECK_EQ(udr_test::file_size(a), kHeader + 10 * kRecord);

    JournalWriter os(Durability::Os);
    const std::string b = dir.file("b.log");
    UDR_CHECK(os.open(b, 1, 0) == JournalStatus::Ok);
    UDR_CHECK(os.append(flow.data(), 10) == JournalStatus::Ok && os.commit() == JournalStatus::Ok);
    UDR_CHECK_EQ(udr_test::file_size(b), kHeader + 10 * kRecord);
    UDR_CHECK_EQ(os.syncs(), 0u);
}

UDR_TEST(fsync_mode_syncs_once_per_committed_batch)
{
    const auto flow = udr_test::make_command_flow(64 * 3);
    TempDir dir;
    JournalWriter writer(Durability::Fsync);
    UDR_CHECK(writer.open(dir.file("j.log"), 1, 0) == JournalStatus::Ok);
    for (int batch = 0; batch < 3; ++batch) {
        UDR_CHECK(writer.append(&flow[batch * 64], 64) == JournalStatus::Ok);
        UDR_CHECK(writer.commit() == JournalStatus::Ok);
    }
    UDR_CHECK(writer.commit() == JournalStatus::Ok); // nothing new: no sync
    UDR_CHECK_EQ(writer.syncs(), 3u);
}

UDR_TEST(torn_tail_is_cut_at_every_byte_offset_of_the_last_record)
{
    const auto flow = udr_test::make_command_flow(20);
    TempDir dir;
    const std::string master = dir.file("master.log");
    write_journal(master, flow, Durability::Os);
    const long whole = kHeader + 19 * kRecord;
    for (long extra = 0; extra < kRecord; ++extra) {
        const std::string path = dir.file("cut.log");
        std::FILE *src = std::fopen(master.c_str(), "rb");
        std::vector<unsigned char> bytes(static_cast<std::size_t>(whole + extra));
        UDR_CHECK(std::fread(bytes.data(), 1, bytes.size(), src) == bytes.size());
        std::fclose(src);
        std::FILE *dst = std::fopen(path.c_str(), "wb");
        std::fwrite(bytes.data(), 1, bytes.size(), dst);
        std::fclose(dst);

        JournalStatus end{};
        uint64_t valid = 0;
        auto back = read_journal(path, end, valid);
        UDR_CHECK_EQ(back.size(), 19u);
        UDR_CHECK(same(back, flow, 19));
        UDR_CHECK(end == (extra == 0 ? JournalStatus::Ok : JournalStatus::TornTail));
        UDR_CHECK_EQ(valid, static_cast<uint64_t>(whole));

        // Reopening for append cuts the tail; the re-sent last command follows the valid ones.
        JournalWriter writer(Durability::Os);
        UDR_CHECK(writer.open(path, 1, valid) == JournalStatus::Ok);
        UDR_CHECK(writer.append(&flow[19], 1) == JournalStatus::Ok && writer.close() == JournalStatus::Ok);
        back = read_journal(path, end, valid);
        UDR_CHECK(end == JournalStatus::Ok);
        UDR_CHECK_EQ(back.size(), 20u);
        UDR_CHECK(same(back, flow, 20));
    }
}

UDR_TEST(crc_mismatch_in_a_payload_stops_the_reader_at_that_record)
{
    const auto flow = udr_test::make_command_flow(30);
    for (long byte : {8L, 8L + 17, 8L + 63}) {
        TempDir dir;
        const std::string path = dir.file("j.log");
        write_journal(path, flow, Durability::Os);
        flip_byte(path, kHeader + 12 * kRecord + byte);
        JournalStatus end{};
        uint64_t valid = 0;
        auto back = read_journal(path, end, valid);
        UDR_CHECK(end == JournalStatus::Corrupt);
        UDR_CHECK_EQ(back.size(), 12u);
        UDR_CHECK_EQ(valid, static_cast<uint64_t>(kHeader + 12 * kRecord));
    }
}

UDR_TEST(corrupt_length_or_checksum_field_is_detected)
{
    const auto flow = udr_test::make_command_flow(5);
    for (long field : {0L, 4L}) {
        TempDir dir;
        const std::string path = dir.file("j.log");
        write_journal(path, flow, Durability::Os);
        flip_byte(path, kHeader + 3 * kRecord + field);
        JournalStatus end{};
        uint64_t valid = 0;
        UDR_CHECK_EQ(read_journal(path, end, valid).size(), 3u);
        UDR_CHECK(end == JournalStatus::Corrupt);
    }
}

UDR_TEST(command_seq_that_does_not_increase_is_treated_as_corruption)
{
    auto flow = udr_test::make_command_flow(6);
    flow[4].command_seq = flow[3].command_seq;
    TempDir dir;
    const std::string path = dir.file("j.log");
    write_journal(path, flow, Durability::Os);
    JournalStatus end{};
    uint64_t valid = 0;
    UDR_CHECK_EQ(read_journal(path, end, valid).size(), 4u);
    UDR_CHECK(end == JournalStatus::Corrupt);
}

UDR_TEST(file_with_a_foreign_header_is_refused)
{
    TempDir dir;
    const std::string path = dir.file("j.log");
    write_journal(path, udr_test::make_command_flow(3), Durability::Os);
    flip_byte(path, 0);
    JournalReader reader;
    UDR_CHECK(reader.open(path) == JournalStatus::BadHeader);
    std::FILE *f = std::fopen(dir.file("short.log").c_str(), "wb");
    std::fwrite("UDR", 1, 3, f);
    std::fclose(f);
    UDR_CHECK(reader.open(dir.file("short.log")) == JournalStatus::BadHeader);
    UDR_CHECK(reader.open(dir.file("missing.log")) == JournalStatus::OpenFailed);
}

UDR_TEST(journal_directory_lists_only_its_own_numbered_files_in_order)
{
    TempDir dir;
    for (uint64_t n : {300u, 1u, 20u}) write_journal(journal_segment_path(dir.path(), n), {}, Durability::Os);
    for (const char *name : {"journal-1.log", "journal-00000000000000000002.log.tmp", "snapshot-x.bin", "notes.txt"}) {
        std::FILE *f = std::fopen(dir.file(name).c_str(), "wb");
        std::fclose(f);
    }
    std::vector<uint64_t> numbers;
    UDR_CHECK(list_journal_files(dir.path(), JournalFileKind::Segment, numbers));
    UDR_CHECK(numbers == (std::vector<uint64_t>{1, 20, 300}));
    UDR_CHECK(list_journal_files(dir.path(), JournalFileKind::Snapshot, numbers));
    UDR_CHECK(numbers.empty());
    UDR_CHECK(!list_journal_files(dir.file("nope"), JournalFileKind::Segment, numbers));
}

UDR_TEST(snapshot_file_round_trips_its_payload_and_sequence)
{
    TempDir dir;
    const std::string payload = "engine state bytes \x01\x02\x03";
    auto writer = [&payload](std::FILE *f) { std::fwrite(payload.data(), 1, payload.size(), f); };
    for (Durability d : {Durability::Os, Durability::Fsync})
        UDR_CHECK(write_snapshot_file(dir.path(), 42, d, writer) == JournalStatus::Ok);
    std::vector<uint64_t> numbers;
    list_journal_files(dir.path(), JournalFileKind::Snapshot, numbers);
    UDR_CHECK(numbers == (std::vector<uint64_t>{42}));
    UDR_CHECK_EQ(udr_test::file_size(snapshot_path(dir.path(), 42) + ".tmp"), -1L);
    std::string seen;
    uint64_t seq = 0;
    auto reader = [&seen](std::FILE *f) {
        int c;
        while ((c = std::fgetc(f)) != EOF) seen.push_back(static_cast<char>(c));
        return true;
    };
    UDR_CHECK(read_snapshot_file(snapshot_path(dir.path(), 42), seq, reader) == JournalStatus::Ok);
    UDR_CHECK_EQ(seq, 42u);
    UDR_CHECK(seen == payload);
}

UDR_TEST(damaged_snapshot_file_is_refused_before_the_state_reader_sees_it)
{
    TempDir dir;
    auto writer = [](std::FILE *f) { std::fputs("0123456789abcdef", f); };
    UDR_CHECK(write_snapshot_file(dir.path(), 7, Durability::Os, writer) == JournalStatus::Ok);
    const std::string path = snapshot_path(dir.path(), 7);
    bool reader_called = false;
    auto reader = [&reader_called](std::FILE *) { return reader_called = true; };
    uint64_t seq = 0;
    flip_byte(path, sizeof(SnapshotFileHeader) + 3);
    UDR_CHECK(read_snapshot_file(path, seq, reader) == JournalStatus::Corrupt);
    flip_byte(path, sizeof(SnapshotFileHeader) + 3);
    UDR_CHECK(truncate(path.c_str(), static_cast<off_t>(sizeof(SnapshotFileHeader) + 5)) == 0);
    UDR_CHECK(read_snapshot_file(path, seq, reader) == JournalStatus::Corrupt);
    flip_byte(path, 1);
    UDR_CHECK(read_snapshot_file(path, seq, reader) == JournalStatus::BadHeader);
    UDR_CHECK(!reader_called);
}

UDR_TEST(snapshot_whose_payload_the_state_reader_refuses_is_corrupt)
{
    TempDir dir;
    UDR_CHECK(write_snapshot_file(dir.path(), 9, Durability::Os, [](std::FILE *f) { std::fputs("xyz", f); }) ==
              JournalStatus::Ok);
    uint64_t seq = 0;
    UDR_CHECK(read_snapshot_file(snapshot_path(dir.path(), 9), seq, [](std::FILE *) { return false; }) ==
              JournalStatus::Corrupt);
    UDR_CHECK_EQ(seq, 0u);
}
