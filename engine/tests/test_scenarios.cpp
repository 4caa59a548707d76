// Replays every tests/scenarios/*.txt script (directory given as the first argument).
#include "scenario.h"
#include "test_harness.h"

#include <algorithm>
#include <filesystem>

UDR_TEST(every_scenario_script_produces_exactly_its_expected_events) {
    const std::string dir = udr_test::args().empty() ? "scenarios" : udr_test::args()[0];
    std::vector<std::string> files;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        if (entry.path().extension() == ".txt") {
            files.push_back(entry.path().string());
        }
    }
    std::sort(files.begin(), files.end());
    UDR_CHECK(files.size() >= 5);
    for (const std::string& file : files) {
        const udr_test::ScenarioResult result = udr_test::run_scenario_file(file);
        for (const std::string& e : result.errors) {
            udr_test::fail(__FILE__, __LINE__, e);
        }
        UDR_CHECK(result.commands > 0);
        std::printf("  %s: %d commands, %d events\n", file.c_str(), result.commands, result.events);
    }
}

UDR_TEST(runner_reports_a_wrong_field_a_missing_event_and_an_extra_event) {
    const char* wrong_field = "new cl=1 px=10 qty=5\n> accepted cl=1 oid=1 px=10 qty=5 leaves=4 last\n";
    const char* missing = "new cl=1 px=10 qty=5\n> accepted cl=1 oid=1 px=10 qty=5 leaves=5 last\n> trade\n";
    const char* extra = "new cl=1 tif=ioc px=10 qty=5\n> accepted cl=1 oid=1 px=10 qty=5 leaves=5\n";
    UDR_CHECK_EQ(udr_test::run_scenario("wrong", wrong_field).errors.size(), size_t{1});
    UDR_CHECK_EQ(udr_test::run_scenario("missing", missing).errors.size(), size_t{1});
    UDR_CHECK_EQ(udr_test::run_scenario("extra", extra).errors.size(), size_t{1});
    UDR_CHECK(udr_test::run_scenario("right", "new cl=1 px=10 qty=5\n> accepted cl=1 oid=1 px=10 qty=5 leaves=5 last\n")
                  .errors.empty());
}
