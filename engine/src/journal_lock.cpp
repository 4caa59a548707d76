// journal_lock.cpp - flock on <journal>/LOCK, inherited from the router or taken here.
#include "udprouter/engine/journal_lock.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

namespace udprouter::engine {

bool journal_lock_take(const std::string &journal_dir, int inherited_fd, std::string &error)
{
    const std::string path = journal_dir + "/LOCK";
    int fd = inherited_fd;
    if (fd < 0) {
        fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) {
            error = "cannot open " + path + ": " + std::strerror(errno);
            return false;
        }
    }
    // On the router's descriptor this only confirms the lock it already holds (same open file).
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        const int err = errno;
        error = err == EWOULDBLOCK ? "journal directory " + journal_dir + " is in use (" + path + " is locked)"
                                   : "cannot lock " + path + ": " + std::strerror(err);
        if (inherited_fd < 0) ::close(fd);
        return false;
    }
    return true; // the descriptor stays open for the life of the process: the lock with it
}

} // namespace udprouter::engine
