// engine_process.h - the udprouter-engine process: ring in, journal, match, ring out.
//
// Life: exit at once if the parent (the router; $UDPROUTER_ENGINE_PARENT_PID when set) is already
// gone -> attach and check the segment the router created -> RECOVERING (snapshot + journal replay,
// publishing again only the events the router never received) -> READY (next_command_seq set,
// "READY next_command_seq=<n>" on stdout) -> the batch loop -> STOPPED on SIGTERM/SIGINT or a
// UDR_CMD_TERMINATE command (exit 0), FAILED on a journal error (exit 1).
//
// Batch loop, per polled batch of up to 256 commands (left in the ring until journaled, so a crash
// at any point loses nothing the router published):
//   peek commands -> append them to the journal and commit (durability; a failed write is cut back
//   and retried, the batch held) -> journaled_through -> release the inbound slots (a journaled
//   command needs none: recovery republishes its events from the journal) -> apply each through
//   the Engine, staging its events -> publish the events (waiting, never dropping, while the
//   outbound ring is full) -> events_through.
// Commands with command_seq <= the last journaled one are skipped: the previous incarnation
// journaled them before it died, and their events were already dealt with by recovery.
#ifndef UDPROUTER_ENGINE_ENGINE_PROCESS_H
#define UDPROUTER_ENGINE_ENGINE_PROCESS_H

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include "udprouter/engine/engine.h"
#include "udprouter/engine/engine_options.h"
#include "udprouter/engine/journal_recovery.h"
#include "udprouter/engine/journal_store.h"
#include "udprouter/engine/ring.h"

namespace udprouter::engine {

// What one poll may take. An idle engine sees small batches anyway (latency first); a saturated
// one amortises the journal's write(2) (a few microseconds on this kind of VM) over more commands.
inline constexpr uint32_t kEngineBatch = 256;
// Terminal orders indexed per idle slice (Engine::idle_work): a command arriving meanwhile waits
// for at most one slice, a few microseconds.
inline constexpr uint32_t kIdleBudget = 64;

class EngineProcess {
public:
    explicit EngineProcess(const EngineOptions &options);
    ~EngineProcess();
    EngineProcess(const EngineProcess &) = delete;
    EngineProcess &operator=(const EngineProcess &) = delete;

    // The whole life of the process; returns its exit code.
    int run();

    // --print-state-digest: recover read-only, print "STATE_DIGEST <hex> last_command_seq=<n>".
    static int print_state_digest(const EngineOptions &options);

    // Installs SIGTERM/SIGINT handlers that request a stop (no SA_RESTART, so a sleep ends).
    static void install_stop_handlers();
    static bool stop_requested();

private:
    bool attach();
    bool recover();
    enum class BatchOutcome : uint8_t { Continue, Terminate, Abandoned, Failed };
    bool serve();
    BatchOutcome process_batch(udr_ring *in, const udr_command *commands, uint32_t count);
    bool journal(uint32_t kept);
    JournalStatus wait_for_journal(uint32_t kept);
    BatchOutcome apply_and_publish(uint32_t kept);
    void stage(const udr_event &event);
    bool publish_staged();
    void wait_for_commands();
    bool low_rate_now(uint64_t now);
    bool short_spin(udr_ring *in);
    static bool spin_for_commands(udr_ring *in, uint64_t deadline, bool yield);
    ReplayEmitFilter replay_filter() const;
    int fail(const std::string &message);
    void set_state(uint32_t state);

    EngineOptions options_;
    std::unique_ptr<Engine> engine_;
    JournalStore store_;
    udr_segment segment_{};
    uint32_t state_before_ = UDR_ENGINE_ABSENT; // engine_state found at attach
    bool publish_abandoned_ = false;
    uint64_t last_journaled_ = 0;
    uint64_t skipped_commands_ = 0;
    std::vector<udr_event> staged_;
    std::array<udr_command, kEngineBatch> batch_{};
    static constexpr uint64_t kRateWindowNs = 10'000'000; // adaptive wait: the rate's window
    uint64_t window_start_ns_ = 0;
    uint64_t window_commands_ = 0;
    bool low_rate_ = false;
    // The short spin: after kShortSpinMisses misses in a row it is skipped, except on every
    // kShortSpinProbe-th wait (short_spin).
    static constexpr uint32_t kShortSpinMisses = 8;
    static constexpr uint32_t kShortSpinProbe = 32;
    uint32_t short_spin_misses_ = 0;
    uint32_t short_spin_skips_ = 0;
};

} // namespace udprouter::engine

#endif // UDPROUTER_ENGINE_ENGINE_PROCESS_H
