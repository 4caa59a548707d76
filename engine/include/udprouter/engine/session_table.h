// session_table.h - per-session ClOrdID high-water mark, a dense array indexed by session_id.
//
// Session ids are assigned densely by the router from 1; the table holds ids 0..max_sessions
// (0 is never assigned, its slot only keeps indexing direct). A released id is reset (mark 0,
// UDR_CMD_RESET_SESSION) before the router gives it to a new session. Every command of a session whose
// ClOrdID is above the mark moves the mark, whatever the command's outcome, so a ClOrdID is
// never accepted twice (the backstop for an order resent after a crash).
#ifndef UDPROUTER_ENGINE_SESSION_TABLE_H
#define UDPROUTER_ENGINE_SESSION_TABLE_H

#include "udprouter/engine/errors.h"

#include <cstdint>
#include <vector>

namespace udprouter::engine {

class SessionTable {
public:
    explicit SessionTable(uint32_t max_sessions) : marks_(size_t{max_sessions} + 1, 0) {}

    bool contains(uint32_t session_id) const { return session_id < marks_.size(); }

    ClOrdIdCheck check_and_advance(uint32_t session_id, uint64_t cl_ord_id) {
        if (session_id >= marks_.size()) {
            return ClOrdIdCheck::UnknownSession;
        }
        uint64_t& mark = marks_[session_id];
        if (cl_ord_id <= mark) {
            return ClOrdIdCheck::Duplicate;
        }
        mark = cl_ord_id;
        return ClOrdIdCheck::Fresh;
    }

    // Highest ClOrdID the session has used (0 when none).
    uint64_t mark(uint32_t session_id) const { return marks_[session_id]; }
    void set_mark(uint32_t session_id, uint64_t cl_ord_id) { marks_[session_id] = cl_ord_id; }

    // Number of slots, session ids 0..size()-1.
    uint32_t size() const { return static_cast<uint32_t>(marks_.size()); }

    void clear() { marks_.assign(marks_.size(), 0); }

private:
    std::vector<uint64_t> marks_;
};

} // namespace udprouter::engine

#endif
