#include "scenario.h"

#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

namespace udr_test {

namespace {

using namespace udprouter::engine;

struct Line {
    int number = 0;
    std::string verb;
    std::map<std::string, std::string> values; // key=value words
    std::vector<std::string> words;            // bare words after the verb
};

Line tokenize(int number, std::string text) {
    Line line;
    line.number = number;
    const size_t hash = text.find('#');
    if (hash != std::string::npos) {
        text.resize(hash);
    }
    std::istringstream in(text);
    std::string word;
    while (in >> word) {
        if (line.verb.empty()) {
            line.verb = word;
        } else if (line.verb == ">" && line.words.empty() && word.find('=') == std::string::npos) {
            line.verb = "> " + word;
            line.words.push_back(word);
        } else if (const size_t eq = word.find('='); eq != std::string::npos) {
            line.values[word.substr(0, eq)] = word.substr(eq + 1);
        } else {
            line.words.push_back(word);
        }
    }
    return line;
}

const std::map<std::string, uint8_t> kEventKinds = {
    {"accepted", UDR_EVT_ACCEPTED}, {"trade", UDR_EVT_TRADE},       {"canceled", UDR_EVT_CANCELED},
    {"replaced", UDR_EVT_REPLACED}, {"rejected", UDR_EVT_REJECTED}, {"cancel_rejected", UDR_EVT_CANCEL_REJECTED},
    {"mass_report", UDR_EVT_MASS_ACTION_REPORT}, {"status", UDR_EVT_ORDER_STATUS}, {"session_reset", UDR_EVT_SESSION_RESET},
    {"account", UDR_EVT_ACCOUNT_UPDATED}};
const std::map<std::string, uint8_t> kCancelReasons = {
    {"MassCancel", 4}, {"CancelOnDisconnect", 5}, {"KillSwitch", 6}};
const std::map<std::string, uint8_t> kControls = {
    {"max_order_notional", 1}, {"max_open_notional", 2}, {"max_position", 3}, {"max_orders_per_s", 4},
    {"smp", 5}, {"kill", 6}};
const std::map<std::string, uint8_t> kSides = {{"buy", 1}, {"sell", 2}};
const std::map<std::string, uint8_t> kTypes = {{"market", 1}, {"limit", 2}};
const std::map<std::string, uint8_t> kTifs = {{"day", 0}, {"ioc", 3}, {"fok", 4}};

std::string kind_name(uint8_t kind) {
    for (const auto& [name, value] : kEventKinds) {
        if (value == kind) return name;
    }
    return std::to_string(kind);
}

std::string reason_name(uint8_t kind, uint8_t reason) {
    switch (kind) {
    case UDR_EVT_REJECTED: return to_string(static_cast<OrdRejReason>(reason));
    case UDR_EVT_CANCELED: return to_string(static_cast<CancelReason>(reason));
    case UDR_EVT_CANCEL_REJECTED: return to_string(static_cast<CxlRejReason>(reason));
    default: return std::to_string(reason);
    }
}

class Runner {
public:
    explicit Runner(std::string name) : name_(std::move(name)) {}
    ScenarioResult run(const std::string& text);

private:
    void error(int line, const std::string& what) {
        result_.errors.push_back(name_ + ":" + std::to_string(line) + ": " + what);
    }
    bool ensure_engine(int line);
    void close_command(int line);
    void on_engine(const Line& line);
    void on_instrument(const Line& line);
    void on_command(const Line& line);
    void on_event(const Line& line);
    void on_live(const Line& line);
    void on_restore(const Line& line);
    int64_t num(const Line& line, const std::string& key, int64_t fallback);
    uint8_t named(const Line& line, const std::string& key, const std::map<std::string, uint8_t>& names,
                  uint8_t fallback);
    uint8_t reason(const Line& line, uint8_t kind);

    std::string name_;
    ScenarioResult result_;
    EngineConfig config_{{}, 1000, 16, false};
    std::unique_ptr<Engine> engine_;
    udr_command command_{};
    bool have_command_ = false;
    int command_line_ = 0;
    std::vector<udr_event> actual_;
    size_t matched_ = 0;
    uint64_t next_seq_ = 1;
};

int64_t Runner::num(const Line& line, const std::string& key, int64_t fallback) {
    const auto it = line.values.find(key);
    if (it == line.values.end()) return fallback;
    try {
        size_t used = 0;
        const long long v = std::stoll(it->second, &used, 0);
        if (used == it->second.size()) return v;
    } catch (const std::exception&) {
    }
    error(line.number, "bad number for " + key + ": " + it->second);
    return fallback;
}

uint8_t Runner::named(const Line& line, const std::string& key, const std::map<std::string, uint8_t>& names,
                      uint8_t fallback) {
    const auto it = line.values.find(key);
    if (it == line.values.end()) return fallback;
    const auto found = names.find(it->second);
    if (found != names.end()) return found->second;
    return static_cast<uint8_t>(num(line, key, fallback));
}

uint8_t Runner::reason(const Line& line, uint8_t kind) {
    const auto it = line.values.find("reason");
    if (it == line.values.end()) return 0;
    for (int r = 0; r < 256; ++r) {
        if (reason_name(kind, static_cast<uint8_t>(r)) == it->second) return static_cast<uint8_t>(r);
    }
    return static_cast<uint8_t>(num(line, "reason", 0));
}

bool Runner::ensure_engine(int line) {
    if (engine_) return true;
    if (config_.instruments.empty()) {
        config_.instruments.push_back(InstrumentSpec{1, 1, 1, 1000, 1000});
    }
    try {
        engine_ = std::make_unique<Engine>(config_);
    } catch (const EngineConfigError& e) {
        error(line, std::string("engine config: ") + e.what());
        return false;
    }
    return true;
}

void Runner::close_command(int line) {
    if (have_command_ && matched_ < actual_.size()) {
        for (size_t i = matched_; i < actual_.size(); ++i) {
            error(command_line_, "unexpected event: " + describe(actual_[i]));
        }
    }
    have_command_ = false;
    (void)line;
}

void Runner::on_engine(const Line& line) {
    if (engine_) {
        error(line.number, "engine settings must come before the first command");
        return;
    }
    config_.max_orders = static_cast<uint32_t>(num(line, "max_orders", config_.max_orders));
    config_.max_sessions = static_cast<uint32_t>(num(line, "max_sessions", config_.max_sessions));
    config_.self_match_prevention = num(line, "smp", config_.self_match_prevention) != 0;
    config_.terminal_orders = static_cast<uint32_t>(num(line, "terminal_orders", config_.terminal_orders));
}

void Runner::on_instrument(const Line& line) {
    if (engine_) {
        error(line.number, "instruments must come before the first command");
        return;
    }
    config_.instruments.push_back(InstrumentSpec{static_cast<int32_t>(num(line, "sec", 1)), num(line, "tick", 1),
                                                 num(line, "min", 1), num(line, "max", 1000),
                                                 static_cast<uint32_t>(num(line, "max_qty", 1000))});
}

void Runner::on_command(const Line& line) {
    close_command(line.number);
    if (!ensure_engine(line.number)) return;
    static const std::map<std::string, uint8_t> kinds = {
        {"new", UDR_CMD_NEW_ORDER}, {"cancel", UDR_CMD_CANCEL}, {"replace", UDR_CMD_REPLACE}, {"raw", 0},
        {"mass_cancel", UDR_CMD_MASS_CANCEL}, {"status", UDR_CMD_ORDER_STATUS}, {"control", UDR_CMD_ACCOUNT_CONTROL}};
    const bool mass = line.verb == "mass_cancel";
    const bool control = line.verb == "control";
    udr_command c{};
    c.kind = kinds.at(line.verb);
    if (line.verb == "raw") c.kind = static_cast<uint8_t>(num(line, "kind", 0));
    c.command_seq = static_cast<uint64_t>(num(line, "seq", static_cast<int64_t>(next_seq_)));
    c.session_id = static_cast<uint32_t>(num(line, "sess", control ? 0 : 1));
    c.account = static_cast<uint32_t>(num(line, "acct", mass ? 0 : c.session_id));
    c.cl_ord_id = static_cast<uint64_t>(num(line, "cl", 0));
    c.orig_cl_ord_id = static_cast<uint64_t>(num(line, "orig", 0));
    c.security_id = static_cast<int32_t>(num(line, "sec", mass || control ? 0 : 1));
    c.side = named(line, "side", kSides, mass || control ? 0 : 1);
    c.ord_type = named(line, "type", kTypes, 2);
    if (mass) c.ord_type = named(line, "why", kCancelReasons, 4);
    if (control) c.ord_type = named(line, "what", kControls, 0);
    c.time_in_force = named(line, "tif", kTifs, 0);
    c.price = num(line, control ? "value" : "px", 0);
    c.recv_time_ns = static_cast<uint64_t>(num(line, "t", 0));
    c.order_qty = static_cast<uint32_t>(num(line, "qty", 0));
    next_seq_ = c.command_seq + 1;
    actual_.clear();
    matched_ = 0;
    engine_->apply(c, [this](const udr_event& e) { actual_.push_back(e); });
    command_ = c;
    have_command_ = true;
    command_line_ = line.number;
    ++result_.commands;
}

void Runner::on_event(const Line& line) {
    if (!have_command_) {
        error(line.number, "expected event before any command");
        return;
    }
    udr_event want{};
    want.kind = kEventKinds.count(line.words[0]) ? kEventKinds.at(line.words[0]) : 0;
    if (want.kind == 0) error(line.number, "unknown event kind " + line.words[0]);
    want.command_seq = static_cast<uint64_t>(num(line, "seq", static_cast<int64_t>(command_.command_seq)));
    want.session_id = static_cast<uint32_t>(num(line, "sess", command_.session_id));
    want.security_id = static_cast<int32_t>(num(line, "sec", command_.security_id));
    want.side = named(line, "side", kSides, command_.side);
    want.cl_ord_id = static_cast<uint64_t>(num(line, "cl", 0));
    want.orig_cl_ord_id = static_cast<uint64_t>(num(line, "orig", 0));
    want.order_id = static_cast<uint64_t>(num(line, "oid", 0));
    want.price = num(line, "px", 0);
    want.qty = static_cast<uint32_t>(num(line, "qty", 0));
    want.leaves_qty = static_cast<uint32_t>(num(line, "leaves", 0));
    want.cum_qty = static_cast<uint32_t>(num(line, "cum", 0));
    want.reason = reason(line, want.kind);
    for (size_t i = 1; i < line.words.size(); ++i) {
        const std::string& w = line.words[i];
        if (w == "last") want.flags |= UDR_EVT_FLAG_LAST;
        else if (w == "aggr") want.flags |= UDR_EVT_FLAG_AGGRESSOR;
        else if (w == "to_replace") want.flags |= UDR_EVT_FLAG_TO_REPLACE;
        else if (w == "refused") want.flags |= UDR_EVT_FLAG_REFUSED;
        else error(line.number, "unknown flag " + w);
    }
    ++result_.events;
    if (matched_ >= actual_.size()) {
        error(line.number, "missing event: " + describe(want));
        return;
    }
    const udr_event& got = actual_[matched_++];
    if (describe(got) != describe(want)) {
        error(line.number, "event differs\n    want " + describe(want) + "\n    got  " + describe(got));
    }
}

void Runner::on_live(const Line& line) {
    if (!ensure_engine(line.number)) return;
    const uint32_t want = static_cast<uint32_t>(std::stoul(line.words.empty() ? "0" : line.words[0]));
    if (engine_->live_orders() != want) {
        error(line.number, "live orders " + std::to_string(engine_->live_orders()) + ", want " +
                               std::to_string(want));
    }
}

void Runner::on_restore(const Line& line) {
    if (!ensure_engine(line.number)) return;
    std::FILE* file = std::tmpfile();
    engine_->write_snapshot(file);
    std::rewind(file);
    auto fresh = std::make_unique<Engine>(config_);
    const bool loaded = fresh->read_snapshot(file);
    std::fclose(file);
    if (!loaded || fresh->state_digest() != engine_->state_digest()) {
        error(line.number, "snapshot did not restore the same state");
        return;
    }
    engine_ = std::move(fresh);
}

ScenarioResult Runner::run(const std::string& text) {
    std::istringstream in(text);
    std::string raw;
    int number = 0;
    while (std::getline(in, raw)) {
        const Line line = tokenize(++number, raw);
        if (line.verb.empty()) continue;
        if (line.verb == "engine") on_engine(line);
        else if (line.verb == "instrument") on_instrument(line);
        else if (line.verb == "new" || line.verb == "cancel" || line.verb == "replace" || line.verb == "raw" ||
                 line.verb == "mass_cancel" || line.verb == "status" || line.verb == "control")
            on_command(line);
        else if (line.verb.rfind("> ", 0) == 0) on_event(line);
        else if (line.verb == "live") { close_command(number); on_live(line); }
        else if (line.verb == "restore") { close_command(number); on_restore(line); }
        else error(number, "unknown line: " + line.verb);
    }
    close_command(number);
    return result_;
}

} // namespace

std::string describe(const udr_event& e) {
    std::ostringstream s;
    s << "> " << kind_name(e.kind) << " seq=" << e.command_seq << " sess=" << e.session_id
      << " sec=" << e.security_id << " side=" << (e.side == 1 ? "buy" : e.side == 2 ? "sell" : std::to_string(e.side))
      << " cl=" << e.cl_ord_id << " orig=" << e.orig_cl_ord_id << " oid=" << e.order_id << " px=" << e.price
      << " qty=" << e.qty << " leaves=" << e.leaves_qty << " cum=" << e.cum_qty
      << " reason=" << reason_name(e.kind, e.reason);
    if (e.flags & UDR_EVT_FLAG_AGGRESSOR) s << " aggr";
    if (e.flags & UDR_EVT_FLAG_TO_REPLACE) s << " to_replace";
    if (e.flags & UDR_EVT_FLAG_REFUSED) s << " refused";
    if (e.flags & UDR_EVT_FLAG_LAST) s << " last";
    if (e.flags & ~(UDR_EVT_FLAG_LAST | UDR_EVT_FLAG_AGGRESSOR | UDR_EVT_FLAG_TO_REPLACE | UDR_EVT_FLAG_REFUSED))
        s << " flags=" << +e.flags;
    return s.str();
}

ScenarioResult run_scenario(const std::string& name, const std::string& text) {
    return Runner(name).run(text);
}

ScenarioResult run_scenario_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) {
        ScenarioResult r;
        r.errors.push_back(path + ": cannot open");
        return r;
    }
    std::stringstream text;
    text << in.rdbuf();
    const size_t slash = path.find_last_of('/');
    return run_scenario(slash == std::string::npos ? path : path.substr(slash + 1), text.str());
}

} // namespace udr_test
