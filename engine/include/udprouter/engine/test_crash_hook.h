// test_crash_hook.h - TEST ONLY: kill the engine at a chosen journal record (off by default).
//
// The engine-crash system tests need deterministic crash points, including a record half written.
// When UDR_TEST_CRASH_PLAN names a file, the engine reads it once: one "<command_seq> torn|after"
// per line, ascending. The first planned command_seq inside a journal write decides the crash:
// torn writes the records before it plus half of its record, after writes the whole buffer; then
// the process SIGKILLs itself. Before dying it rewrites the plan without that line, so the restarted
// engine moves on to the next point. Without the variable nothing is read and nothing changes.
#ifndef UDPROUTER_ENGINE_TEST_CRASH_HOOK_H
#define UDPROUTER_ENGINE_TEST_CRASH_HOOK_H

#include <cstddef>
#include <cstdint>

namespace udprouter::engine::test_hook {

enum class CrashMode : uint8_t { None, Torn, After };

struct CrashPoint {
    uint64_t command_seq = 0; // 0: no crash planned
    CrashMode mode = CrashMode::None;
};

// The next planned point (read once per process from $UDR_TEST_CRASH_PLAN).
const CrashPoint &planned_crash();
// Drops the first line of the plan file, then SIGKILLs this process. Never returns.
[[noreturn]] void crash_now();

} // namespace udprouter::engine::test_hook

#endif
