// test_engine_options.cpp - the engine command line: accepted forms and each clear refusal.
#include <string>
#include <vector>

#include "test_harness.h"
#include "udprouter/engine/engine_options.h"

using namespace udprouter::engine;

namespace {

EngineOptionsResult parse(const std::vector<std::string> &args)
{
    std::vector<const char *> argv{"udprouter-engine"};
    for (const std::string &a : args) argv.push_back(a.c_str());
    return parse_engine_options(static_cast<int>(argv.size()), argv.data());
}

std::vector<std::string> full()
{
    return {"--shm", "udr", "--inbound-eventfd", "3", "--outbound-eventfd", "4", "--journal", "/j",
            "--durability", "fsync", "--instrument", "1:10000000:90000000000:110000000000:1000000",
            "--instrument", "2:5:100:200:10", "--max-orders", "1000", "--max-sessions", "64"};
}

bool refused_with(std::vector<std::string> args, const std::string &fragment)
{
    EngineOptionsResult r = parse(args);
    return !r.ok && r.error.find(fragment) != std::string::npos;
}

} // namespace

UDR_TEST(full_command_line_fills_every_option)
{
    auto args = full();
    for (const char *extra : {"--self-match-prevention", "--wait", "spin", "--spin-us", "7", "--snapshot-every", "500"})
        args.push_back(extra);
    EngineOptionsResult r = parse(args);
    UDR_CHECK(r.ok);
    const EngineOptions &o = r.options;
    UDR_CHECK(o.shm_name == "udr" && o.journal_dir == "/j");
    UDR_CHECK(o.inbound_eventfd == 3 && o.outbound_eventfd == 4);
    UDR_CHECK(o.durability == Durability::Fsync && o.wait == WaitStrategy::Spin);
    UDR_CHECK(o.spin_us == 7 && o.snapshot_every == 500);
    UDR_CHECK(o.config.max_orders == 1000 && o.config.max_sessions == 64 && o.config.self_match_prevention);
    UDR_CHECK_EQ(o.config.instruments.size(), 2u);
    UDR_CHECK(o.config.instruments[0].max_price == 110000000000 && o.config.instruments[1].tick == 5);
}

UDR_TEST(adaptive_wait_takes_its_rate_and_spin)
{
    auto args = full();
    for (const char *extra : {"--wait", "adaptive", "--low-rate", "2500", "--low-rate-spin-us", "800"})
        args.push_back(extra);
    EngineOptionsResult r = parse(args);
    UDR_CHECK(r.ok);
    UDR_CHECK(r.options.wait == WaitStrategy::Adaptive && std::string(wait_strategy_name(r.options.wait)) == "adaptive");
    UDR_CHECK(r.options.low_rate == 2500 && r.options.low_rate_spin_us == 800);
}

UDR_TEST(defaults_are_os_durability_and_hybrid_wait)
{
    EngineOptionsResult r = parse({"--shm=x", "--inbound-eventfd=5", "--outbound-eventfd=6", "--journal=/j",
                                   "--instrument=1:1:1:9:5", "--max-orders=1", "--max-sessions=1"});
    UDR_CHECK(r.ok);
    UDR_CHECK(r.options.durability == Durability::Os && r.options.wait == WaitStrategy::Hybrid);
    UDR_CHECK(!r.options.print_state_digest && r.options.snapshot_every == 0);
}

UDR_TEST(state_digest_mode_needs_no_ring)
{
    EngineOptionsResult r = parse({"--journal", "/j", "--instrument", "1:1:1:9:5", "--max-orders", "1",
                                   "--max-sessions", "1", "--print-state-digest"});
    UDR_CHECK(r.ok && r.options.print_state_digest);
}

UDR_TEST(each_missing_or_bad_option_is_named)
{
    auto without = [](const std::string &name) {
        auto args = full();
        for (std::size_t i = 0; i < args.size(); ++i)
            if (args[i] == name) {
                args.erase(args.begin() + static_cast<long>(i), args.begin() + static_cast<long>(i) + 2);
                break;
            }
        return args;
    };
    UDR_CHECK(refused_with(without("--shm"), "missing --shm"));
    UDR_CHECK(refused_with(without("--inbound-eventfd"), "missing --inbound-eventfd"));
    UDR_CHECK(refused_with(without("--outbound-eventfd"), "missing --outbound-eventfd"));
    UDR_CHECK(refused_with(without("--journal"), "missing --journal"));
    UDR_CHECK(refused_with(without("--max-orders"), "missing --max-orders"));
    UDR_CHECK(refused_with(without("--max-sessions"), "missing --max-sessions"));
    auto with = [](std::vector<std::string> extra) {
        auto args = full();
        args.insert(args.end(), extra.begin(), extra.end());
        return args;
    };
    UDR_CHECK(refused_with(with({"--durability", "sometimes"}), "'sometimes' for --durability"));
    UDR_CHECK(refused_with(with({"--wait", "nap"}), "'nap' for --wait"));
    UDR_CHECK(refused_with(with({"--instrument", "1:2:3"}), "for --instrument"));
    UDR_CHECK(refused_with(with({"--instrument", "1:0:1:9:5"}), "for --instrument"));
    UDR_CHECK(refused_with(with({"--max-orders", "-3"}), "for --max-orders"));
    UDR_CHECK(refused_with(with({"--inbound-eventfd", "x"}), "for --inbound-eventfd"));
    UDR_CHECK(refused_with(with({"--spin-us", "1.5"}), "for --spin-us"));
    UDR_CHECK(refused_with(with({"--low-rate", "-1"}), "for --low-rate"));
    UDR_CHECK(refused_with(with({"--low-rate-spin-us", "2000000"}), "for --low-rate-spin-us"));
    UDR_CHECK(refused_with(with({"--bogus", "1"}), "unknown option --bogus"));
    UDR_CHECK(refused_with(with({"stray"}), "unexpected argument 'stray'"));
    UDR_CHECK(refused_with(with({"--snapshot-every"}), "needs a value"));
}

UDR_TEST(terminal_orders_default_to_max_orders_and_take_zero_to_keep_none)
{
    UDR_CHECK_EQ(parse(full()).options.config.terminal_orders, EngineConfig::kTerminalLikeMaxOrders);
    auto args = full();
    args.insert(args.end(), {"--terminal-orders", "0"});
    EngineOptionsResult r = parse(args);
    UDR_CHECK(r.ok && r.options.config.terminal_orders == 0);
    for (const char *bad : {"-1", "x", "4294967295", "4294967296"}) {
        auto wrong = full();
        wrong.insert(wrong.end(), {"--terminal-orders", bad});
        UDR_CHECK(refused_with(wrong, "--terminal-orders"));
    }
}
