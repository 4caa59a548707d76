// events_main.cpp - udprouter-events: the engine's events, rebuilt read-only from its journal.
//
//   udprouter-events --journal DIR --instrument ... --max-orders N --max-sessions N
//     [--self-match-prevention] [--from-command C] [--from-index I] [--follow] [--poll-ms N]
//
// Events are a pure function of the journal (engine.h), so the downstream publisher never reads
// the order path: this process loads a snapshot at or below C - 1 (else the journal's start),
// applies every journaled command through its own Engine and writes the events of commands from
// (C, I) on to stdout, one 80-byte little-endian frame each (protocol/DOWNSTREAM.md):
//
//   [udr_event, 64 bytes][u32 event_index][u32 account][u64 recv_time_ns]
//
// The frame's copy of udr_event.flags also carries kFrameFlagQuery: the ACCOUNT_UPDATED answers
// of an account Query, which change nothing (the event alone cannot tell them from a change).
//
// event_index numbers the events of one command from 0, so (command_seq, event_index) is the
// engine's event sequence: unique, strictly increasing, and the same on every replay. With
// --follow it then tails the journal as the engine appends to it (polling; only whole records
// whose CRC verifies are applied, so a torn tail or a write in progress is simply waited for) and
// goes on to the next segment once one exists and the current one has nothing more. It never
// writes to the journal directory. Engine options as for udprouter-engine (same parser); exit 2 on
// a bad option, 3 when the events asked for are no longer in the journal (retention removed them).
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "udprouter/engine/crc32c.h"
#include "udprouter/engine/engine.h"
#include "udprouter/engine/engine_options.h"
#include "udprouter/engine/journal.h"
#include "udprouter/engine/snapshot_file.h"

using namespace udprouter::engine;

namespace {

struct EventFrame {
    udr_event event;
    uint32_t event_index;
    uint32_t account;       // account of the event's session (from its orders); the router's own
                            // session 0 (Admin API): the account the command acts on
    uint64_t recv_time_ns;  // router receive time of the command that produced the event
};
static_assert(sizeof(EventFrame) == 80);

// Above every UDR_EVT_FLAG_* (ring_abi.h); protocol/DOWNSTREAM.md "udprouter-events frames".
constexpr uint8_t kFrameFlagQuery = 0x80;

struct Args {
    uint64_t from_command = 1;
    uint32_t from_index = 0;
    bool follow = false;
    uint32_t poll_ms = 2;
};

template <class T>
bool parse_uint(std::string_view text, T &out)
{
    if (text.empty()) return false;
    T value = 0;
    for (char c : text) {
        if (c < '0' || c > '9') return false;
        value = static_cast<T>(value * 10 + static_cast<T>(c - '0'));
    }
    out = value;
    return true;
}

class Replayer {
public:
    Replayer(const EngineOptions &options, const Args &args)
        : dir_(options.journal_dir), args_(args), engine_(std::make_unique<Engine>(options.config)),
          accounts_(std::size_t{options.config.max_sessions} + 1, 0)
    {
    }

    // Loads the base; false (with a message) when the events asked for are gone.
    bool start(std::string &error)
    {
        std::vector<uint64_t> snapshots, segments;
        list_journal_files(dir_, JournalFileKind::Snapshot, snapshots);
        list_journal_files(dir_, JournalFileKind::Segment, segments);
        const uint64_t wanted = args_.from_command - 1;
        for (auto it = snapshots.rbegin(); it != snapshots.rend(); ++it) {
            if (*it > wanted || segments.empty() || segments.front() > *it + 1) continue;
            uint64_t seq = 0;
            auto reader = [this](std::FILE *file) { return engine_->read_snapshot(file); };
            if (read_snapshot_file(snapshot_path(dir_, *it), seq, reader) == JournalStatus::Ok) {
                // Resting orders' sessions may send nothing after the base: learn their accounts here.
                engine_->for_each_live_order([this](const Order &order) {
                    if (order.session_id < accounts_.size()) accounts_[order.session_id] = order.account;
                });
                return true;
            }
        }
        if (segments.empty() || segments.front() <= 1) return true; // from the journal's start
        error = "events from command " + std::to_string(args_.from_command) +
                " are no longer in the journal (first segment starts at " + std::to_string(segments.front()) + ")";
        return false;
    }

    // Runs until the journal is exhausted (without --follow) or stdout closes. Returns the exit code.
    int run()
    {
        for (;;) {
            if (fd_ < 0 && !open_segment()) {
                if (!args_.follow) return flush() ? 0 : 1;
                idle();
                continue;
            }
            if (read_records()) continue;
            // Nothing more here: a newer segment means this one is final (the writer starts one
            // only after a snapshot, with every earlier record written). Read once more, then move.
            uint64_t next = next_segment_after(current_);
            if (next != 0) {
                if (read_records()) continue;
                close(fd_);
                fd_ = -1;
                current_ = next;
                continue;
            }
            if (!args_.follow) return flush() ? 0 : 1;
            if (!flush()) return 0;
            idle();
        }
    }

private:
    void idle()
    {
        if (getppid() == 1) std::exit(0); // the publisher died: nobody reads us
        std::this_thread::sleep_for(std::chrono::milliseconds(args_.poll_ms));
    }

    bool flush() { return std::fflush(stdout) == 0; }

    uint64_t next_segment_after(uint64_t label) const
    {
        std::vector<uint64_t> segments;
        list_journal_files(dir_, JournalFileKind::Segment, segments);
        for (uint64_t s : segments)
            if (s > label) return s;
        return 0;
    }

    // Opens the segment holding the next command (current_ = 0: the first one at or below it).
    bool open_segment()
    {
        if (current_ == 0) {
            std::vector<uint64_t> segments;
            list_journal_files(dir_, JournalFileKind::Segment, segments);
            const uint64_t next_seq = engine_->last_command_seq() + 1;
            for (uint64_t s : segments)
                if (s <= next_seq) current_ = s;
            if (current_ == 0) return false;
        }
        int fd = ::open(journal_segment_path(dir_, current_).c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) return false;
        JournalFileHeader header{};
        if (pread(fd, &header, sizeof(header), 0) != static_cast<ssize_t>(sizeof(header)) ||
            std::memcmp(header.magic, kJournalMagic, sizeof(header.magic)) != 0 || header.version != kJournalVersion ||
            header.record_size != sizeof(udr_command)) {
            close(fd); // created a moment ago: its header is not written yet
            return false;
        }
        fd_ = fd;
        offset_ = sizeof(header);
        return true;
    }

    // Applies every whole, verified record from offset_ on; true when at least one was read.
    bool read_records()
    {
        bool any = false;
        for (;;) {
            ssize_t got = pread(fd_, buffer_.data(), buffer_.size(), static_cast<off_t>(offset_));
            if (got <= 0) return any;
            std::size_t whole = static_cast<std::size_t>(got) / kJournalRecordSize;
            if (whole == 0) return any;
            for (std::size_t i = 0; i < whole; ++i) {
                const unsigned char *record = buffer_.data() + i * kJournalRecordSize;
                JournalRecordHeader header;
                udr_command command;
                std::memcpy(&header, record, sizeof(header));
                std::memcpy(&command, record + sizeof(header), sizeof(command));
                // A record still being written (or a crash's torn tail, cut by the next engine)
                // does not verify yet: wait for it rather than skip it.
                if (header.length != sizeof(udr_command) || header.crc != crc32c(&command, sizeof(command)))
                    return any;
                offset_ += kJournalRecordSize;
                any = true;
                if (command.command_seq > engine_->last_command_seq()) apply(command);
            }
        }
    }

    void apply(const udr_command &command)
    {
        // Only orders name their session's account: MASS_CANCEL's account is a filter (0 = any)
        // and ACCOUNT_CONTROL's the account acted on, whichever session sent them.
        const bool names_session_account = command.kind == UDR_CMD_NEW_ORDER || command.kind == UDR_CMD_CANCEL ||
                                           command.kind == UDR_CMD_REPLACE;
        if (names_session_account && command.session_id != 0 && command.session_id < accounts_.size())
            accounts_[command.session_id] = command.account;
        const bool query = command.kind == UDR_CMD_ACCOUNT_CONTROL && command.ord_type == 0;
        uint32_t index = 0;
        const bool wanted_whole = command.command_seq > args_.from_command;
        const bool wanted_part = command.command_seq == args_.from_command;
        engine_->apply(command, [&](const udr_event &event) {
            const uint32_t i = index++;
            if (!(wanted_whole || (wanted_part && i >= args_.from_index))) return;
            const uint32_t account = event.session_id == 0 ? command.account
                                     : event.session_id < accounts_.size() ? accounts_[event.session_id] : 0;
            EventFrame frame{event, i, account, command.recv_time_ns};
            if (query && event.kind == UDR_EVT_ACCOUNT_UPDATED) frame.event.flags |= kFrameFlagQuery;
            if (std::fwrite(&frame, sizeof(frame), 1, stdout) != 1) std::exit(0); // reader gone
        });
    }

    std::string dir_;
    Args args_;
    std::unique_ptr<Engine> engine_;
    std::vector<uint32_t> accounts_; // session_id -> account, learned from the commands replayed
    uint64_t current_ = 0;
    int fd_ = -1;
    uint64_t offset_ = 0;
    std::vector<unsigned char> buffer_ = std::vector<unsigned char>(kJournalRecordSize * 512);
};

} // namespace

int main(int argc, char **argv)
{
    Args args;
    std::vector<const char *> engine_argv{argv[0]};
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        auto value = [&](std::string_view name, auto &out) {
            if (i + 1 >= argc || !parse_uint(argv[i + 1], out)) {
                std::fprintf(stderr, "udprouter-events: invalid value for %.*s\n", static_cast<int>(name.size()),
                             name.data());
                std::exit(2);
            }
            ++i;
        };
        if (arg == "--follow") args.follow = true;
        else if (arg == "--from-command") value(arg, args.from_command);
        else if (arg == "--from-index") value(arg, args.from_index);
        else if (arg == "--poll-ms") value(arg, args.poll_ms);
        else engine_argv.push_back(argv[i]);
    }
    if (args.from_command == 0) args.from_command = 1;
    engine_argv.push_back("--print-state-digest"); // the read-only form of the engine's options
    EngineOptionsResult parsed = parse_engine_options(static_cast<int>(engine_argv.size()), engine_argv.data());
    if (!parsed.ok) {
        std::fprintf(stderr, "udprouter-events: %s\n", parsed.error.c_str());
        return 2;
    }
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    signal(SIGPIPE, SIG_IGN);
    static char out_buffer[1 << 16];
    std::setvbuf(stdout, out_buffer, _IOFBF, sizeof(out_buffer));
    try {
        Replayer replayer(parsed.options, args);
        std::string error;
        if (!replayer.start(error)) {
            std::fprintf(stderr, "udprouter-events: %s\n", error.c_str());
            return 3;
        }
        return replayer.run();
    } catch (const EngineConfigError &error) {
        std::fprintf(stderr, "udprouter-events: bad configuration: %s\n", error.what());
        return 2;
    }
}
