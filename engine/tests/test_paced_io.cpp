// test_paced_io.cpp - the writer thread's file work in steps: every byte written, every file
// removed, a pause taken between steps, and errors reported with errno.
#include <cerrno>
#include <chrono>
#include <fcntl.h>
#include <string>
#include <unistd.h>
#include <vector>

#include "io_test_dir.h"
#include "test_harness.h"
#include "udprouter/engine/paced_io.h"

using namespace udprouter::engine;
using udr_test::TempDir;

namespace {

std::vector<unsigned char> pattern(std::size_t n)
{
    std::vector<unsigned char> bytes(n);
    for (std::size_t i = 0; i < n; ++i) bytes[i] = static_cast<unsigned char>(i * 131 + (i >> 8));
    return bytes;
}

std::vector<unsigned char> read_back(const std::string &path)
{
    std::vector<unsigned char> bytes;
    const int fd = ::open(path.c_str(), O_RDONLY);
    unsigned char buf[4096];
    for (ssize_t n; fd >= 0 && (n = ::read(fd, buf, sizeof buf)) > 0;) bytes.insert(bytes.end(), buf, buf + n);
    if (fd >= 0) ::close(fd);
    return bytes;
}

double elapsed_ms(std::chrono::steady_clock::time_point since)
{
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - since).count();
}

void make_file(const std::string &path, off_t size)
{
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    UDR_CHECK(fd >= 0);
    const auto bytes = pattern(static_cast<std::size_t>(size));
    UDR_CHECK(PacedIo::at_once().write_all(fd, bytes.data(), bytes.size()));
    ::close(fd);
}

} // namespace

UDR_TEST(write_all_in_steps_writes_every_byte_in_order)
{
    TempDir dir;
    const auto bytes = pattern(10'007); // not a whole number of steps
    for (const PacedIo io : {PacedIo::at_once(), PacedIo{1000, 0, 1000}, PacedIo::background()}) {
        const std::string path = dir.file("out");
        const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        UDR_CHECK(io.write_all(fd, bytes.data(), bytes.size()));
        UDR_CHECK(io.write_all(fd, bytes.data(), 0)); // nothing to write: nothing written
        ::close(fd);
        UDR_CHECK(read_back(path) == bytes);
    }
}

UDR_TEST(write_all_pauses_between_steps_and_not_after_the_last)
{
    TempDir dir;
    const auto bytes = pattern(5000);
    const int fd = ::open(dir.file("out").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const auto start = std::chrono::steady_clock::now();
    UDR_CHECK(PacedIo({1000, 0, 5'000'000}).write_all(fd, bytes.data(), bytes.size())); // 5 steps, 4 pauses
    const double ms = elapsed_ms(start);
    ::close(fd);
    UDR_CHECK(ms >= 20.0); // a nanosleep never returns early unless interrupted, and nothing interrupts it
    const auto once = std::chrono::steady_clock::now();
    const int fd2 = ::open(dir.file("out2").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    // One step: no pause. A 900 ms pause makes a pause unmistakable on a loaded machine.
    UDR_CHECK(PacedIo({1000, 0, 900'000'000}).write_all(fd2, bytes.data(), 1000));
    ::close(fd2);
    UDR_CHECK(elapsed_ms(once) < 450.0);
}

UDR_TEST(write_all_reports_a_full_device_with_its_errno)
{
    const int fd = ::open("/dev/full", O_WRONLY);
    UDR_CHECK(fd >= 0);
    const auto bytes = pattern(3000);
    errno = 0;
    UDR_CHECK(!PacedIo({1000, 0, 1000}).write_all(fd, bytes.data(), bytes.size()));
    UDR_CHECK_EQ(errno, ENOSPC);
    ::close(fd);
}

UDR_TEST(release_file_cuts_in_steps_then_removes_the_file)
{
    TempDir dir;
    const std::string path = dir.file("segment");
    make_file(path, (off_t{5} << 20) + 123);
    const auto start = std::chrono::steady_clock::now();
    UDR_CHECK(PacedIo({0, off_t{1} << 20, 5'000'000}).release_file(path)); // 5 cuts, 5 pauses
    UDR_CHECK(elapsed_ms(start) >= 25.0);
    UDR_CHECK(::access(path.c_str(), F_OK) != 0 && errno == ENOENT);
    make_file(path, 4096);
    UDR_CHECK(PacedIo::at_once().release_file(path)); // the unlink alone
    UDR_CHECK(::access(path.c_str(), F_OK) != 0);
}

UDR_TEST(release_file_of_a_missing_file_says_so)
{
    TempDir dir;
    errno = 0;
    UDR_CHECK(!PacedIo::background().release_file(dir.file("gone")));
    UDR_CHECK_EQ(errno, ENOENT);
}
