// paced_io.h - file work done in short steps with a pause after each: the snapshot writer thread's.
//
// The writer thread runs at SCHED_IDLE, and that is not enough on a small machine. The scheduler
// (EEVDF) still picks an idle-policy thread when the only other runnable thread is one that has run
// ahead of its share, as the router's does under load, or that has just yielded, as the router's
// answer wait does. A write() of a whole snapshot (3.7 MB) or the unlink of a whole old segment
// (70 MB of page cache to free) is then kernel work that keeps the CPU until the next tick: on a
// kernel without preemption, 4 ms, while the router waited (README "The stall after a snapshot").
// Paced, each step is a write() of write_step bytes or an ftruncate() that cuts release_step bytes
// (tens of microseconds each), and the pause after it hands the CPU back. The snapshot's checksums
// (3.7 MB hashed twice, 4 ms of CPU here) are computed in steps of write_step bytes too.
#ifndef UDPROUTER_ENGINE_PACED_IO_H
#define UDPROUTER_ENGINE_PACED_IO_H

#include <cstddef>
#include <string>
#include <sys/types.h>

namespace udprouter::engine {

struct PacedIo {
    std::size_t write_step = 0; // bytes per write(); 0: everything in one call
    off_t release_step = 0;     // bytes cut per ftruncate() before the unlink; 0: the unlink alone
    long pause_ns = 0;          // after every step but the last

    // The writer thread's: 128 KiB writes (~40 us here), 512 KiB cuts (~80 us), 1 ms pauses.
    static PacedIo background() { return {std::size_t{128} << 10, off_t{512} << 10, 1'000'000}; }
    // In line (a clean stop, the tools): nothing waits for the CPU there.
    static PacedIo at_once() { return {}; }

    // Calls step(from, length) over [0, n) in steps of write_step bytes (one step if 0 or n is
    // smaller), pausing between steps: CPU work over a buffer, paced as its writes are.
    template <class Step>
    void in_steps(std::size_t n, Step &&step) const
    {
        const std::size_t size = write_step == 0 ? n : write_step;
        for (std::size_t from = 0; from < n; from += size) {
            if (from > 0) pause();
            step(from, n - from < size ? n - from : size);
        }
    }
    // Writes all n bytes to fd (again after a short write or EINTR). False with errno set on failure.
    bool write_all(int fd, const void *data, std::size_t n) const;
    // Removes path, first cutting it back step by step. False with errno set if the unlink failed.
    bool release_file(const std::string &path) const;
    // Sleeps pause_ns (nothing if 0): the CPU goes back to whoever wants it.
    void pause() const;
};

} // namespace udprouter::engine

#endif
