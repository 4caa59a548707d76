// engine_options.cpp - strict parsing of the engine command line.
#include "udprouter/engine/engine_options.h"

#include <charconv>
#include <string_view>
#include <vector>

namespace udprouter::engine {

const char *wait_strategy_name(WaitStrategy wait)
{
    switch (wait) {
    case WaitStrategy::Spin: return "spin";
    case WaitStrategy::Sleep: return "sleep";
    case WaitStrategy::Hybrid: return "hybrid";
    case WaitStrategy::Adaptive: return "adaptive";
    }
    return "unknown";
}

const char *engine_usage()
{
    return "usage: udprouter-engine --shm NAME --inbound-eventfd FD --outbound-eventfd FD [--lock-fd FD]\n"
           "         --journal DIR\n"
           "         --durability none|os|fsync --instrument SECID:TICK:MIN_PRICE:MAX_PRICE:MAX_QTY ...\n"
           "         --max-orders N --max-sessions N [--terminal-orders N] [--self-match-prevention]\n"
           "         [--wait spin|sleep|hybrid|adaptive] [--spin-us N] [--low-rate N] [--low-rate-spin-us N]\n"
           "         [--snapshot-every N]\n"
           "       udprouter-engine --journal DIR --instrument ... --max-orders N --max-sessions N\n"
           "         [--terminal-orders N] [--self-match-prevention] --print-state-digest\n";
}

namespace {

template <class T>
bool parse_number(std::string_view text, T &out)
{
    if (text.empty()) return false;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc{} && end == text.data() + text.size();
}

bool parse_instrument(std::string_view text, InstrumentSpec &spec)
{
    std::vector<std::string_view> parts;
    for (std::size_t start = 0;;) {
        std::size_t colon = text.find(':', start);
        parts.push_back(text.substr(start, colon == std::string_view::npos ? std::string_view::npos : colon - start));
        if (colon == std::string_view::npos) break;
        start = colon + 1;
    }
    return parts.size() == 5 && parse_number(parts[0], spec.security_id) && parse_number(parts[1], spec.tick) &&
           parse_number(parts[2], spec.min_price) && parse_number(parts[3], spec.max_price) &&
           parse_number(parts[4], spec.max_qty) && spec.tick > 0 && spec.min_price <= spec.max_price &&
           spec.max_qty > 0;
}

struct Parser {
    EngineOptionsResult result;
    bool seen_shm = false, seen_in = false, seen_out = false, seen_orders = false, seen_sessions = false;

    bool fail(const std::string &message)
    {
        result.error = message;
        return false;
    }

    bool take(std::string_view name, std::string_view value);
    bool finish();
};

bool Parser::take(std::string_view name, std::string_view value)
{
    EngineOptions &o = result.options;
    const std::string bad = "invalid value '" + std::string(value) + "' for " + std::string(name);
    if (name == "--shm") return (o.shm_name = value, seen_shm = !value.empty()) || fail(bad);
    if (name == "--inbound-eventfd") return (seen_in = parse_number(value, o.inbound_eventfd) && o.inbound_eventfd >= 0) || fail(bad);
    if (name == "--outbound-eventfd") return (seen_out = parse_number(value, o.outbound_eventfd) && o.outbound_eventfd >= 0) || fail(bad);
    if (name == "--lock-fd") return (parse_number(value, o.lock_fd) && o.lock_fd >= 0) || fail(bad);
    if (name == "--journal") return !(o.journal_dir = value).empty() || fail(bad);
    if (name == "--durability") {
        auto d = parse_durability(value);
        return (d && (o.durability = *d, true)) || fail(bad + " (expected none, os or fsync)");
    }
    if (name == "--instrument") {
        InstrumentSpec spec{};
        if (!parse_instrument(value, spec)) return fail(bad + " (expected SECID:TICK:MIN_PRICE:MAX_PRICE:MAX_QTY)");
        o.config.instruments.push_back(spec);
        return true;
    }
    if (name == "--max-orders") return (seen_orders = parse_number(value, o.config.max_orders) && o.config.max_orders > 0) || fail(bad);
    if (name == "--max-sessions") return (seen_sessions = parse_number(value, o.config.max_sessions) && o.config.max_sessions > 0) || fail(bad);
    if (name == "--terminal-orders") {
        return (parse_number(value, o.config.terminal_orders) &&
                o.config.terminal_orders != EngineConfig::kTerminalLikeMaxOrders) || fail(bad);
    }
    if (name == "--wait") {
        if (value == "spin") o.wait = WaitStrategy::Spin;
        else if (value == "sleep") o.wait = WaitStrategy::Sleep;
        else if (value == "hybrid") o.wait = WaitStrategy::Hybrid;
        else if (value == "adaptive") o.wait = WaitStrategy::Adaptive;
        else return fail(bad + " (expected spin, sleep, hybrid or adaptive)");
        return true;
    }
    if (name == "--spin-us") return parse_number(value, o.spin_us) || fail(bad);
    if (name == "--low-rate") return parse_number(value, o.low_rate) || fail(bad);
    if (name == "--low-rate-spin-us") return (parse_number(value, o.low_rate_spin_us) && o.low_rate_spin_us <= 1'000'000) || fail(bad);
    if (name == "--snapshot-every") return parse_number(value, o.snapshot_every) || fail(bad);
    return fail("unknown option " + std::string(name));
}

bool Parser::finish()
{
    const EngineOptions &o = result.options;
    if (o.journal_dir.empty()) return fail("missing --journal DIR");
    if (o.config.instruments.empty()) return fail("missing --instrument (at least one)");
    if (!seen_orders) return fail("missing --max-orders N");
    if (!seen_sessions) return fail("missing --max-sessions N");
    if (o.print_state_digest) return true;
    if (!seen_shm) return fail("missing --shm NAME");
    if (!seen_in) return fail("missing --inbound-eventfd FD");
    if (!seen_out) return fail("missing --outbound-eventfd FD");
    return true;
}

} // namespace

EngineOptionsResult parse_engine_options(int argc, const char *const *argv)
{
    Parser p;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            p.result.help = true;
            return p.result;
        }
        if (arg == "--self-match-prevention") { p.result.options.config.self_match_prevention = true; continue; }
        if (arg == "--print-state-digest") { p.result.options.print_state_digest = true; continue; }
        if (arg.substr(0, 2) != "--") { p.fail("unexpected argument '" + std::string(arg) + "'"); return p.result; }
        std::string_view name = arg, value;
        if (auto eq = arg.find('='); eq != std::string_view::npos) {
            name = arg.substr(0, eq);
            value = arg.substr(eq + 1);
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            p.fail("option " + std::string(arg) + " needs a value");
            return p.result;
        }
        if (!p.take(name, value)) return p.result;
    }
    p.result.ok = p.finish();
    return p.result;
}

} // namespace udprouter::engine
