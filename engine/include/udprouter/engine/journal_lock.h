// journal_lock.h - one engine (and its router) per journal directory.
//
// The lock is flock(LOCK_EX | LOCK_NB) on <journal>/LOCK. A router takes it first and hands the
// engine its descriptor (--lock-fd): the lock then belongs to the shared open file, held while
// either process lives (src/udprouter/durability/journal_lock.py). An engine started on its own opens the
// file and takes the lock itself. Either way an engine never writes a journal another holds.
#ifndef UDPROUTER_ENGINE_JOURNAL_LOCK_H
#define UDPROUTER_ENGINE_JOURNAL_LOCK_H

#include <string>

namespace udprouter::engine {

// Takes (or, on an inherited descriptor, confirms) the journal directory's lock. inherited_fd < 0:
// open <journal_dir>/LOCK. On failure returns false with a one-line reason in error.
bool journal_lock_take(const std::string &journal_dir, int inherited_fd, std::string &error);

} // namespace udprouter::engine

#endif // UDPROUTER_ENGINE_JOURNAL_LOCK_H
