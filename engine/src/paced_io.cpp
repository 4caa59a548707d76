// paced_io.cpp - file work in short steps with a pause after each (paced_io.h says why).
#include "udprouter/engine/paced_io.h"

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace udprouter::engine {

void PacedIo::pause() const
{
    if (pause_ns <= 0) return;
    const timespec pause{pause_ns / 1'000'000'000, pause_ns % 1'000'000'000};
    nanosleep(&pause, nullptr); // an interrupted pause is only shorter
}

bool PacedIo::write_all(int fd, const void *data, std::size_t n) const
{
    const auto *bytes = static_cast<const unsigned char *>(data);
    std::size_t done = 0;
    while (done < n) {
        const std::size_t step = write_step == 0 ? n - done : std::min(write_step, n - done);
        const ssize_t w = ::write(fd, bytes + done, step);
        if (w < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        if (w == 0) {
            errno = EIO;
            return false;
        }
        done += static_cast<std::size_t>(w);
        if (done < n && static_cast<std::size_t>(w) == step) pause();
    }
    return true;
}

bool PacedIo::release_file(const std::string &path) const
{
    if (release_step > 0) {
        const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
        if (fd >= 0) {
            struct stat st{};
            off_t size = ::fstat(fd, &st) == 0 ? st.st_size : 0;
            while (size > release_step) {
                size -= release_step;
                if (::ftruncate(fd, size) != 0) break; // the unlink below still removes it
                pause();
            }
            ::close(fd);
        }
    }
    return ::unlink(path.c_str()) == 0;
}

} // namespace udprouter::engine
