// engine_process.cpp - attach, recover, serve the ring, stop cleanly.
#include "udprouter/engine/engine_process.h"

#include <algorithm>
#include <cinttypes>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <sched.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "udprouter/engine/engine_log.h"
#include "udprouter/engine/journal_lock.h"
#include "udprouter/engine/ring_shm.h"

namespace udprouter::engine {

namespace {

volatile std::sig_atomic_t g_stop = 0;

void on_stop_signal(int) { g_stop = 1; }

inline void cpu_relax()
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

uint64_t monotonic_ns()
{
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

// Backoff while the outbound ring is full: the router drains it from its event loop.
void backoff(uint32_t round)
{
    if (round < 64) {
        cpu_relax();
    } else if (round < 128) {
        sched_yield();
    } else {
        timespec pause{0, 20'000};
        nanosleep(&pause, nullptr);
    }
}

constexpr std::size_t kStagedEvents = 4096;
constexpr uint64_t kAbandonAfterStopNs = 2'000'000'000; // a stopped router never drains

constexpr char kParentPidEnv[] = "UDPROUTER_ENGINE_PARENT_PID";

// The pid of the process that spawned us: $UDPROUTER_ENGINE_PARENT_PID when the spawner set it
// (exact even if it died between fork and our start), else our parent as first seen.
pid_t expected_parent(pid_t parent_at_start)
{
    const char *text = std::getenv(kParentPidEnv);
    if (text == nullptr || *text == '\0') return parent_at_start;
    char *end = nullptr;
    const long value = std::strtol(text, &end, 10);
    return *end == '\0' && value > 0 ? static_cast<pid_t>(value) : parent_at_start;
}

template <class T>
void store_release(T &field, T value) { __atomic_store_n(&field, value, __ATOMIC_RELEASE); }

} // namespace

void EngineProcess::install_stop_handlers()
{
    struct sigaction action {};
    action.sa_handler = on_stop_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = 0; // no SA_RESTART: a blocking poll() returns at once
    sigaction(SIGTERM, &action, nullptr);
    sigaction(SIGINT, &action, nullptr);
    // SIGHUP asks the router to reload its config; a hangup of the whole process group (a closed
    // terminal, a group-wide kill) must not take the engine down with it.
    std::signal(SIGHUP, SIG_IGN);
}

bool EngineProcess::stop_requested() { return g_stop != 0; }

EngineProcess::EngineProcess(const EngineOptions &options)
    : options_(options), store_(options.journal_dir, options.durability, options.snapshot_every)
{
    store_.set_background_snapshots(true); // the loop never waits for a snapshot file to be written
    staged_.reserve(kStagedEvents);
}

EngineProcess::~EngineProcess()
{
    if (segment_.base != nullptr) udr_shm_detach(segment_.base, segment_.size);
}

int EngineProcess::fail(const std::string &message)
{
    engine_log("error", "udprouter-engine: %s", message.c_str());
    if (segment_.base != nullptr) set_state(UDR_ENGINE_FAILED);
    return 1;
}

void EngineProcess::set_state(uint32_t state) { store_release(segment_.header->engine_state, state); }

bool EngineProcess::attach()
{
    const std::string name = options_.shm_name[0] == '/' ? options_.shm_name : "/" + options_.shm_name;
    std::size_t size = 0;
    int err = 0;
    void *base = udr_shm_attach(name.c_str(), &size, &err);
    if (base == nullptr) {
        engine_log("error", "udprouter-engine: cannot attach ring segment '%s': %s", name.c_str(), strerror(err));
        return false;
    }
    int code = udr_segment_check(base, size);
    if (code != UDR_SEGMENT_OK) {
        engine_log("error", "udprouter-engine: cannot attach ring segment '%s': %s", name.c_str(),
                     udr_segment_check_message(code));
        udr_shm_detach(base, size);
        return false;
    }
    udr_segment_view(&segment_, base, size);
    // Snapshot retention follows the router's logged position when it keeps a log (exact); without
    // one, a live router's routing position trails the engine by at most the commands in flight: those
    // in the inbound ring plus those whose events fill the outbound ring, per loop pass; twice that is
    // the margin within which a recovery base is kept (journal_store.h).
    const udr_segment_header *h = segment_.header;
    store_.set_retention(2 * (uint64_t{h->inbound_capacity} + h->outbound_capacity));
    store_.watch_router_position(&h->router_logged_through);
    state_before_ = __atomic_load_n(&segment_.header->engine_state, __ATOMIC_ACQUIRE);
    store_release(segment_.header->engine_pid, static_cast<int32_t>(getpid()));
    udr_ring_consumer_awake(&segment_.inbound); // a predecessor may have died asleep
    set_state(UDR_ENGINE_RECOVERING);
    return true;
}

// The events the router never received: on a segment a predecessor served, everything after
// events_through, refined by the outbound ring's own tail (exact even if the predecessor died
// between publishing and updating events_through, or halfway through a command's events).
ReplayEmitFilter EngineProcess::replay_filter() const
{
    ReplayEmitFilter filter;
    if (state_before_ == UDR_ENGINE_ABSENT) return filter; // a fresh segment: nobody awaits old events
    filter.published_through = __atomic_load_n(&segment_.header->events_through, __ATOMIC_ACQUIRE);
    uint64_t seq = 0;
    int last = 0;
    uint32_t count = 0;
    if (udr_ring_published_tail(&segment_.outbound, &seq, &last, &count) && seq > filter.published_through) {
        filter.published_through = last ? seq : seq - 1;
        if (!last) {
            filter.partial_command_seq = seq;
            filter.partial_events = count;
        }
    }
    return filter;
}

bool EngineProcess::recover()
{
    RecoveryReport report = recover_from_journal(options_.journal_dir, *engine_, replay_filter(),
                                                 [this](const udr_event &event) { stage(event); });
    if (!report.ok) {
        fail("recovery failed: " + report.error);
        return false;
    }
    if (!publish_staged()) {
        fail("recovery stopped while the outbound ring stayed full");
        return false;
    }
    if (report.tail_status != JournalStatus::Ok)
        engine_log("warning", "udprouter-engine: cutting the journal tail: %s", report.error.c_str());
    if (report.unrecoverable_through != 0)
        engine_log("warning", "udprouter-engine: no snapshot kept at or below %" PRIu64 ": events of commands %" PRIu64
                   "..%" PRIu64 " cannot be published again",
                   report.unrecoverable_from - 1, report.unrecoverable_from, report.unrecoverable_through);
    JournalStatus status = store_.open(report);
    if (status != JournalStatus::Ok) {
        fail("cannot open journal " + report.append_path + ": " + journal_status_name(status));
        return false;
    }
    last_journaled_ = report.last_command_seq;
    udr_segment_header *h = segment_.header;
    store_release(h->journaled_through, last_journaled_);
    store_release(h->events_through, last_journaled_);
    store_release(h->next_command_seq, last_journaled_ + 1);
    return true;
}

void EngineProcess::stage(const udr_event &event)
{
    if (staged_.size() == kStagedEvents && !publish_staged()) publish_abandoned_ = true;
    if (!publish_abandoned_) staged_.push_back(event);
}

// Publishes every staged event, waiting (never dropping) while the ring is full. Gives up only
// when a stop was requested and the router has not drained for a while; recovery then publishes
// the events again from the journal.
bool EngineProcess::publish_staged()
{
    udr_ring *out = &segment_.outbound;
    std::size_t done = 0;
    uint64_t stop_seen_ns = 0;
    for (uint32_t round = 0; done < staged_.size();) {
        uint32_t n = udr_ring_offer(out, staged_.data() + done, static_cast<uint32_t>(staged_.size() - done));
        if (udr_ring_producer_should_wake(out)) udr_eventfd_signal(options_.outbound_eventfd);
        if (n > 0) {
            done += n;
            round = 0;
            continue;
        }
        backoff(round++);
        if (g_stop && stop_seen_ns == 0) stop_seen_ns = monotonic_ns();
        if (stop_seen_ns != 0 && monotonic_ns() - stop_seen_ns > kAbandonAfterStopNs) {
            staged_.erase(staged_.begin(), staged_.begin() + static_cast<std::ptrdiff_t>(done));
            return false;
        }
    }
    __atomic_store_n(&segment_.header->events_published, segment_.header->events_published + done, __ATOMIC_RELAXED);
    staged_.clear();
    return true;
}

void EngineProcess::wait_for_commands()
{
    udr_ring *in = &segment_.inbound;
    if (options_.wait == WaitStrategy::Spin) {
        while (udr_ring_available(in, 1) == 0 && !g_stop) cpu_relax();
        return;
    }
    if (options_.wait == WaitStrategy::Adaptive && low_rate_now(monotonic_ns())) {
        // Yielding: on 2 vCPUs the router or its client may be queued on this one.
        const uint64_t started = monotonic_ns();
        const bool came = spin_for_commands(in, started + uint64_t{options_.low_rate_spin_us} * 1000u, true);
        udr_segment_header *h = segment_.header; // udprouter_engine_low_rate_spin_seconds_total
        __atomic_store_n(&h->low_rate_spin_ns, h->low_rate_spin_ns + (monotonic_ns() - started), __ATOMIC_RELAXED);
        if (came) return;
    } else if (options_.wait == WaitStrategy::Hybrid || options_.wait == WaitStrategy::Adaptive) {
        if (short_spin(in)) return;
    }
    // The 100 ms bound only matters if a wake-up were lost; it never spins.
    if (udr_ring_consumer_prepare_sleep(in)) udr_eventfd_wait(options_.inbound_eventfd, 100);
    udr_ring_consumer_awake(in);
}

static void bump(uint64_t *counter) { __atomic_store_n(counter, *counter + 1, __ATOMIC_RELAXED); }

// The short spin (spin_us) before sleeping pays only while the router can offer meanwhile, that is
// while it runs on another CPU. Where the router's wake-up brings the engine onto the router's own
// CPU (2 vCPUs under load), the router cannot run until the engine sleeps: every spin then runs out
// and is lost time on the CPU the two share, inside every pass (README "The engine's short spin").
// So after kShortSpinMisses spins in a row that caught nothing the engine sleeps at once, and spins
// again only on every kShortSpinProbe-th wait; the first spin that catches a batch turns it back on.
bool EngineProcess::short_spin(udr_ring *in)
{
    if (options_.spin_us == 0) return false;
    udr_segment_header *h = segment_.header; // udprouter_engine_short_spins_total
    if (short_spin_misses_ >= kShortSpinMisses && ++short_spin_skips_ % kShortSpinProbe != 0) {
        bump(&h->short_spins_skipped);
        return false;
    }
    if (spin_for_commands(in, monotonic_ns() + uint64_t{options_.spin_us} * 1000u, false)) {
        short_spin_misses_ = 0;
        bump(&h->short_spins_caught);
        return true;
    }
    ++short_spin_misses_;
    bump(&h->short_spins_missed);
    return false;
}

// Looks for commands until deadline (true: they came, or a stop was asked), reading the clock
// and, with yield, giving up the CPU every 64 looks.
bool EngineProcess::spin_for_commands(udr_ring *in, uint64_t deadline, bool yield)
{
    for (uint32_t i = 1;; ++i) {
        if (udr_ring_available(in, 1) != 0 || g_stop) return true;
        cpu_relax();
        if ((i & 63) == 0) {
            if (monotonic_ns() >= deadline) return false;
            if (yield) sched_yield();
        }
    }
}

// Adaptive: is the command rate below low_rate? Counted over windows of kRateWindowNs: a window
// that has taken its share already ends the spinning at once (a rising rate needs the CPU back
// within a fraction of a millisecond), a window that ran out below it starts the spinning.
bool EngineProcess::low_rate_now(uint64_t now)
{
    const uint64_t per_window = uint64_t{options_.low_rate} * kRateWindowNs / 1'000'000'000u;
    if (window_commands_ >= per_window) {
        if (now - window_start_ns_ >= kRateWindowNs) window_start_ns_ = now, window_commands_ = 0;
        return low_rate_ = false;
    }
    if (now - window_start_ns_ >= kRateWindowNs) {
        low_rate_ = true;
        window_start_ns_ = now;
        window_commands_ = 0;
    }
    return low_rate_;
}

// Takes the commands at the head of the inbound ring: journals them, frees their slots, then
// applies them and publishes their events. The slots are freed before the events go out, so a
// router that has seen a command's reports also sees the ring room it took back; a journaled
// command needs no slot to survive a crash (recovery republishes its events from the journal).
EngineProcess::BatchOutcome EngineProcess::process_batch(udr_ring *in, const udr_command *commands, uint32_t count)
{
    uint32_t kept = 0;
    uint32_t consumed = count;
    uint64_t last = last_journaled_;
    bool terminate = false;
    for (uint32_t i = 0; i < count; ++i) {
        if (commands[i].kind == UDR_CMD_TERMINATE) {
            terminate = true;
            consumed = i + 1;
            break;
        }
        if (commands[i].command_seq <= last) { // journaled by a predecessor (or out of order)
            ++skipped_commands_;
            continue;
        }
        last = commands[i].command_seq;
        batch_[kept++] = commands[i];
    }
    if (kept > 0 && !journal(kept)) return BatchOutcome::Failed;
    udr_ring_release(in, consumed);
    BatchOutcome outcome = kept > 0 ? apply_and_publish(kept) : BatchOutcome::Continue;
    return outcome == BatchOutcome::Continue && terminate ? BatchOutcome::Terminate : outcome;
}

// Latency buckets of the journal histograms in the segment header (ring_abi.h): <= 2, 8, 32, 128,
// 512, 2048, 8192 us, more. One writer (this thread); the router reads them at scrape time.
static void record_latency(uint64_t *buckets, uint64_t *sum_ns, uint64_t ns)
{
    uint32_t slot = 0;
    for (uint64_t bound = 2'000; slot < UDR_JOURNAL_LATENCY_BUCKETS - 1 && ns > bound; bound *= 4) ++slot;
    __atomic_store_n(&buckets[slot], buckets[slot] + 1, __ATOMIC_RELAXED);
    __atomic_store_n(sum_ns, *sum_ns + ns, __ATOMIC_RELAXED);
}

bool EngineProcess::journal(uint32_t kept)
{
    const uint64_t started = monotonic_ns();
    JournalStatus status = store_.append_batch(batch_.data(), kept);
    if (status == JournalStatus::WriteFailed) status = wait_for_journal(kept);
    udr_segment_header *h = segment_.header;
    record_latency(h->journal_append_buckets, &h->journal_append_sum_ns, monotonic_ns() - started);
    if (store_.writer().last_sync_ns() != 0)
        record_latency(h->journal_fsync_buckets, &h->journal_fsync_sum_ns, store_.writer().last_sync_ns());
    if (status != JournalStatus::Ok) {
        fail(std::string("journal append failed: ") + journal_status_name(status));
        return false;
    }
    last_journaled_ = batch_[kept - 1].command_seq;
    store_release(segment_.header->journaled_through, last_journaled_);
    return true;
}

// Disk full or an I/O error: the batch is neither applied nor released from the ring until it is
// journaled (the failed write was cut back off the segment). One line when writes start failing,
// one when they succeed again; a stop request ends the wait (the commands stay in the ring).
JournalStatus EngineProcess::wait_for_journal(uint32_t kept)
{
    engine_log("error", "udprouter-engine: journal write failed (%s): holding commands until it can be written",
               std::strerror(errno));
    JournalStatus status = JournalStatus::WriteFailed;
    for (uint32_t round = 1; status == JournalStatus::WriteFailed && !g_stop; ++round) {
        timespec pause{0, static_cast<long>(std::min(round, 20u)) * 5'000'000}; // 5 ms up to 100 ms
        nanosleep(&pause, nullptr);
        status = store_.append_batch(batch_.data(), kept);
    }
    if (status == JournalStatus::Ok) engine_log("info", "udprouter-engine: journal writable again");
    return status;
}

EngineProcess::BatchOutcome EngineProcess::apply_and_publish(uint32_t kept)
{
    udr_segment_header *h = segment_.header;
    for (uint32_t i = 0; i < kept; ++i) engine_->apply(batch_[i], [this](const udr_event &event) { stage(event); });
    if (publish_abandoned_ || !publish_staged()) return BatchOutcome::Abandoned;
    store_release(h->events_through, last_journaled_);
    __atomic_store_n(&h->commands_applied, h->commands_applied + kept, __ATOMIC_RELAXED);
    JournalStatus status = store_.after_apply(*engine_);
    uint64_t skipped_seq = 0;
    int error = 0;
    if (store_.take_skipped(skipped_seq, error))
        engine_log("warning", "udprouter-engine: snapshot at %llu not written (%s); the journal holds every "
                   "command, next try after another snapshot interval",
                   static_cast<unsigned long long>(skipped_seq), std::strerror(error));
    if (status != JournalStatus::Ok) {
        fail(std::string("snapshot failed: ") + journal_status_name(status));
        return BatchOutcome::Failed;
    }
    return BatchOutcome::Continue;
}

// Returns false on a failure (the state is already FAILED).
bool EngineProcess::serve()
{
    udr_ring *in = &segment_.inbound;
    while (!g_stop) {
        const void *first = nullptr;
        uint32_t n = udr_ring_peek(in, kEngineBatch, &first);
        if (n == 0) {
            // Idle: catch the terminal-order index up a slice at a time, then wait.
            if (!engine_->idle_work(kIdleBudget)) wait_for_commands();
            continue;
        }
        window_commands_ += n;
        BatchOutcome outcome = process_batch(in, static_cast<const udr_command *>(first), n);
        if (outcome == BatchOutcome::Failed) return false;
        // Abandoned: a stop was requested while the router did not drain; recovery publishes the rest.
        if (outcome == BatchOutcome::Abandoned || outcome == BatchOutcome::Terminate) return true;
    }
    return true;
}

int EngineProcess::run()
{
    // Never outlive the router that spawned us. The death signal only covers a parent that dies
    // after the prctl; one already gone (we were reparented) is caught by comparing getppid().
    const pid_t parent_at_start = getppid();
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    const pid_t parent = expected_parent(parent_at_start);
    if (getppid() != parent) {
        engine_log("warning", "udprouter-engine: parent process %d is gone; not starting", static_cast<int>(parent));
        return 0;
    }
    install_stop_handlers();
    try {
        engine_ = std::make_unique<Engine>(options_.config);
    } catch (const EngineConfigError &error) {
        engine_log("error", "udprouter-engine: bad configuration: %s", error.what());
        return 2;
    }
    if (!ensure_journal_dir(options_.journal_dir))
        return fail("cannot create journal directory " + options_.journal_dir);
    if (std::string error; !journal_lock_take(options_.journal_dir, options_.lock_fd, error)) {
        engine_log("error", "udprouter-engine: %s", error.c_str());
        return 2;
    }
    if (!attach()) return 1;
    if (!recover()) return 1;
    set_state(UDR_ENGINE_READY);
    engine_log("info", "udprouter-engine: ready pid=%d next_command_seq=%" PRIu64 " durability=%s", static_cast<int>(getpid()),
               last_journaled_ + 1, durability_name(options_.durability));
    std::printf("READY next_command_seq=%" PRIu64 "\n", last_journaled_ + 1);
    std::fflush(stdout);
    if (!serve()) return 1;
    if (options_.snapshot_every > 0 && !publish_abandoned_) store_.snapshot(*engine_);
    JournalStatus status = store_.close();
    if (status != JournalStatus::Ok) return fail(std::string("journal flush failed: ") + journal_status_name(status));
    if (skipped_commands_ > 0)
        engine_log("info", "udprouter-engine: skipped %" PRIu64 " already-journaled commands", skipped_commands_);
    set_state(UDR_ENGINE_STOPPED);
    engine_log("info", "udprouter-engine: stopped last_command_seq=%" PRIu64, last_journaled_);
    return 0;
}

int EngineProcess::print_state_digest(const EngineOptions &options)
{
    if (access(options.journal_dir.c_str(), R_OK | X_OK) != 0) {
        engine_log("error", "udprouter-engine: journal directory %s is not readable", options.journal_dir.c_str());
        return 1;
    }
    std::unique_ptr<Engine> engine;
    try {
        engine = std::make_unique<Engine>(options.config);
    } catch (const EngineConfigError &error) {
        engine_log("error", "udprouter-engine: bad configuration: %s", error.what());
        return 2;
    }
    RecoveryReport report = recover_from_journal(options.journal_dir, *engine, ReplayEmitFilter{}, [](const udr_event &) {});
    if (!report.ok) {
        engine_log("error", "udprouter-engine: recovery failed: %s", report.error.c_str());
        return 1;
    }
    std::printf("STATE_DIGEST %016" PRIx64 " last_command_seq=%" PRIu64 "\n", engine->state_digest(),
                engine->last_command_seq());
    return 0;
}

} // namespace udprouter::engine
