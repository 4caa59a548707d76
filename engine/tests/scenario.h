// scenario.h - parser and runner for engine scenario scripts (format: tests/scenarios/README.md).
//
// A script is a sequence of lines: configuration (`engine`, `instrument`), commands (`new`,
// `cancel`, `replace`, `raw`), expected events (`> kind ...`) and state checks (`live N`).
// Every command's events must equal, field by field and in order, the `>` lines that follow it.
#ifndef UDR_TEST_SCENARIO_H
#define UDR_TEST_SCENARIO_H

#include "udprouter/engine/engine.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace udr_test {

struct ScenarioResult {
    int commands = 0;
    int events = 0;
    std::vector<std::string> errors; // "name:line: what"
};

// Runs the script text; `name` prefixes error messages (a file name).
ScenarioResult run_scenario(const std::string& name, const std::string& text);

// Reads and runs one file.
ScenarioResult run_scenario_file(const std::string& path);

// One-line rendering of an event in the script's own syntax (used in failure messages).
std::string describe(const udr_event& event);

} // namespace udr_test

#endif
