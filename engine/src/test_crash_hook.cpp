// test_crash_hook.cpp - TEST ONLY crash points for the engine-crash system tests (see the header).
#include "udprouter/engine/test_crash_hook.h"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unistd.h>

namespace udprouter::engine::test_hook {

static CrashPoint read_plan()
{
    CrashPoint point;
    const char *path = std::getenv("UDR_TEST_CRASH_PLAN");
    if (path == nullptr || *path == '\0') return point;
    std::FILE *file = std::fopen(path, "r");
    if (file == nullptr) return point;
    unsigned long long seq = 0;
    char mode[16] = {};
    if (std::fscanf(file, "%llu %15s", &seq, mode) == 2 && seq > 0) {
        point.command_seq = seq;
        point.mode = std::strcmp(mode, "torn") == 0 ? CrashMode::Torn : CrashMode::After;
    }
    std::fclose(file);
    return point;
}

const CrashPoint &planned_crash()
{
    static const CrashPoint point = read_plan();
    return point;
}

void crash_now()
{
    const char *path = std::getenv("UDR_TEST_CRASH_PLAN");
    std::string rest;
    if (std::FILE *file = std::fopen(path, "r")) {
        char line[128];
        bool first = true;
        while (std::fgets(line, sizeof line, file) != nullptr) {
            if (!first) rest += line;
            first = false;
        }
        std::fclose(file);
    }
    // Written to a temporary and renamed, so a reader never sees half a plan.
    const std::string tmp = std::string(path) + ".tmp";
    if (std::FILE *file = std::fopen(tmp.c_str(), "w")) {
        std::fputs(rest.c_str(), file);
        std::fclose(file);
        std::rename(tmp.c_str(), path);
    }
    std::raise(SIGKILL);
    std::_Exit(137);
}

} // namespace udprouter::engine::test_hook
