// engine_test.h - what the behaviour tests share: the harness, scripts, and command builders.
#ifndef UDR_ENGINE_TEST_H
#define UDR_ENGINE_TEST_H

#include "scenario.h"
#include "test_harness.h"

#include "udprouter/engine/engine.h"

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace udr_test {

// Runs an inline scenario script; every mismatch is a failed check at the caller's line.
inline void check_script(const std::string& text, const char* file, int line) {
    const ScenarioResult result = run_scenario(std::string(file) + "@" + std::to_string(line), text);
    for (const std::string& e : result.errors) {
        fail(file, line, e);
    }
    if (result.commands == 0) {
        fail(file, line, "script ran no command");
    }
}

inline udr_command new_order(uint64_t seq, uint32_t session, uint64_t cl, uint8_t side, int64_t price,
                             uint32_t qty, uint8_t tif = 0, uint8_t ord_type = 2, int32_t security = 1) {
    udr_command c{};
    c.command_seq = seq;
    c.cl_ord_id = cl;
    c.price = price;
    c.session_id = session;
    c.account = session;
    c.order_qty = qty;
    c.security_id = security;
    c.kind = UDR_CMD_NEW_ORDER;
    c.side = side;
    c.ord_type = ord_type;
    c.time_in_force = tif;
    return c;
}

inline std::vector<udr_event> apply(udprouter::engine::Engine& engine, const udr_command& command) {
    std::vector<udr_event> events;
    engine.apply(command, [&events](const udr_event& e) { events.push_back(e); });
    return events;
}

// The engine's snapshot in a temporary file, rewound (the caller closes it).
inline std::FILE* snapshot_of(const udprouter::engine::Engine& engine) {
    std::FILE* file = std::tmpfile();
    engine.write_snapshot(file);
    std::rewind(file);
    return file;
}

// The same events, byte for byte.
inline bool same(const std::vector<udr_event>& a, const std::vector<udr_event>& b) {
    return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(udr_event)) == 0);
}

} // namespace udr_test

#define UDR_CHECK_SCRIPT(text) udr_test::check_script((text), __FILE__, __LINE__)

#endif
