// Engine state as bytes: the snapshot file format and the state digest share one canonical
// serialization, so a snapshot that loads back has the digest of the state that wrote it.
//
// Layout (host byte order, little-endian on every supported platform):
//   u64 magic "UDRSNAP1" | u32 version | u32 reserved | u64 config fingerprint
//   u64 last_command_seq | u32 session slots S | u32 order count N
//   S x u64 ClOrdID marks (session ids 0..S-1)
//   N x order (56 bytes): u64 order_id, u64 cl_ord_id, i64 price, u32 session_id, u32 account,
//       u32 order_qty, u32 leaves_qty, u32 cum_qty, i32 security_id, u8 side, 7 x u8 zero
//     in price-time order: instruments in config order, bids then asks, best level first,
//     oldest order first within a level
//   u32 account entries A, then A x (in entry order): u32 account, u8 SmpMode, u8 killed, u16 zero,
//       i64 max_order_notional, i64 max_open_notional, i64 max_position, i64 max_orders_per_s,
//       u64 window_start_ns, u64 window_orders, I x i64 net position (instruments in config order)
//     (open notional is not stored: it follows from the orders)
//   u32 terminal orders T, then T x 40 bytes, oldest first (terminal_orders.h): u64 cl_ord_id,
//       u64 order_id, i64 price, u32 session_id, i32 security_id, u32 cum_qty, u8 side,
//       u8 status (OrdStatus 2 or 4, 0xFF dropped), u16 zero
//   u64 FNV-1a 64 of every byte before it
// Version 1 (before account controls) is the same without the account and terminal sections, and
// version 2 without the terminal section; both still load (as no account entries, no terminal
// orders), so a journal written before the upgrade keeps its snapshots. A snapshot with more terminal
// orders than the table's capacity (configured lower since) keeps the newest.
#include "udprouter/engine/engine.h"

#include <cstddef>
#include <cstring>
#include <set>
#include <utility>

namespace udprouter::engine {

namespace {

constexpr uint64_t kSnapshotMagic = 0x3150414E53524455ULL; // "UDRSNAP1" little-endian
constexpr uint32_t kSnapshotVersion = 3;
constexpr uint32_t kSnapshotVersionWithoutTerminal = 2;
constexpr uint32_t kSnapshotVersionWithoutAccounts = 1;
constexpr size_t kHeaderSize = 40;
constexpr size_t kOrderSize = 56;
constexpr size_t kAccountSize = 56; // before the positions
constexpr size_t kTerminalSize = 40;

uint64_t fnv1a(const uint8_t* data, size_t size, uint64_t hash = 0xCBF29CE484222325ULL) {
    for (size_t i = 0; i < size; ++i) {
        hash = (hash ^ data[i]) * 0x100000001B3ULL;
    }
    return hash;
}

// GCC 12 warns, wrongly, that vector::insert's growth path in put writes past a fresh buffer
// (GCC bug 107852) once snapshot_state inlines it. resize + memcpy, which it accepts, made the
// engine's snapshot copy 1.7x longer (321 against 533-585 us for 3.7 MB).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstringop-overflow"
#pragma GCC diagnostic ignored "-Warray-bounds"
#endif
template <class T>
void put(std::vector<uint8_t>& out, T value) {
    uint8_t bytes[sizeof(T)];
    std::memcpy(bytes, &value, sizeof(T));
    out.insert(out.end(), bytes, bytes + sizeof(T));
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

template <class T>
T get(const uint8_t* data, size_t offset) {
    T value;
    std::memcpy(&value, data + offset, sizeof(T));
    return value;
}

template <class T>
void set(uint8_t* record, size_t offset, T value) {
    std::memcpy(record + offset, &value, sizeof(T));
}

// One record, one append (a snapshot holds up to millions of them: a field at a time was
// 3.7 ms of a 2.6 MB snapshot, all of it time the engine stops for). The offsets get_order reads.
void put_order(std::vector<uint8_t>& out, const Order& o) {
    static_assert(sizeof(o.order_id) == 8 && sizeof(o.cl_ord_id) == 8 && sizeof(o.price) == 8 &&
                  sizeof(o.session_id) == 4 && sizeof(o.account) == 4 && sizeof(o.order_qty) == 4 &&
                  sizeof(o.leaves_qty) == 4 && sizeof(o.cum_qty) == 4 && sizeof(o.security_id) == 4 &&
                  sizeof(o.side) == 1);
    uint8_t record[kOrderSize] = {};
    set(record, 0, o.order_id);
    set(record, 8, o.cl_ord_id);
    set(record, 16, o.price);
    set(record, 24, o.session_id);
    set(record, 28, o.account);
    set(record, 32, o.order_qty);
    set(record, 36, o.leaves_qty);
    set(record, 40, o.cum_qty);
    set(record, 44, o.security_id);
    set(record, 48, o.side);
    out.insert(out.end(), record, record + kOrderSize);
}

Order get_order(const uint8_t* p) {
    Order o{};
    o.order_id = get<uint64_t>(p, 0);
    o.cl_ord_id = get<uint64_t>(p, 8);
    o.price = get<int64_t>(p, 16);
    o.session_id = get<uint32_t>(p, 24);
    o.account = get<uint32_t>(p, 28);
    o.order_qty = get<uint32_t>(p, 32);
    o.leaves_qty = get<uint32_t>(p, 36);
    o.cum_qty = get<uint32_t>(p, 40);
    o.security_id = get<int32_t>(p, 44);
    o.side = get<uint8_t>(p, 48);
    return o;
}

// A run of adjacent records in one append: TerminalOrder is laid out as the record is (the offsets
// get_terminal reads, host byte order, no padding) and its reserved field is always 0
// (TerminalOrders::make, get_terminal), so its bytes are the records' bytes.
// The terminal table is most of a snapshot, and the engine stops while it is copied.
void put_terminals(std::vector<uint8_t>& out, const TerminalOrder* run, uint32_t n) {
    static_assert(sizeof(TerminalOrder) == kTerminalSize && offsetof(TerminalOrder, cl_ord_id) == 0 &&
                  offsetof(TerminalOrder, order_id) == 8 && offsetof(TerminalOrder, price) == 16 &&
                  offsetof(TerminalOrder, session_id) == 24 && offsetof(TerminalOrder, security_id) == 28 &&
                  offsetof(TerminalOrder, cum_qty) == 32 && offsetof(TerminalOrder, side) == 36 &&
                  offsetof(TerminalOrder, status) == 37 && offsetof(TerminalOrder, reserved) == 38);
    const auto* bytes = reinterpret_cast<const uint8_t*>(run);
    out.insert(out.end(), bytes, bytes + size_t{n} * kTerminalSize);
}

TerminalOrder get_terminal(const uint8_t* p) {
    return TerminalOrder{.cl_ord_id = get<uint64_t>(p, 0), .order_id = get<uint64_t>(p, 8),
                         .price = get<int64_t>(p, 16), .session_id = get<uint32_t>(p, 24),
                         .security_id = get<int32_t>(p, 28), .cum_qty = get<uint32_t>(p, 32),
                         .side = get<uint8_t>(p, 36), .status = get<uint8_t>(p, 37), .reserved = 0};
}

std::vector<uint8_t> read_all(std::FILE* file) {
    std::vector<uint8_t> bytes;
    uint8_t chunk[65536];
    size_t n = 0;
    while ((n = std::fread(chunk, 1, sizeof chunk, file)) > 0) {
        bytes.insert(bytes.end(), chunk, chunk + n);
    }
    return bytes;
}

} // namespace

uint64_t Engine::config_fingerprint() const {
    std::vector<uint8_t> bytes;
    for (const InstrumentSpec& spec : config_.instruments) {
        put(bytes, spec.security_id);
        put(bytes, spec.tick);
        put(bytes, spec.min_price);
        put(bytes, spec.max_price);
        put(bytes, spec.max_qty);
    }
    put(bytes, static_cast<uint8_t>(config_.self_match_prevention));
    return fnv1a(bytes.data(), bytes.size());
}

std::vector<uint8_t> Engine::serialize() const {
    std::vector<uint8_t> out = snapshot_state();
    seal_snapshot(out);
    return out;
}

void Engine::seal_snapshot(std::vector<uint8_t>& state, const std::function<void()>& between_steps) {
    uint64_t hash = fnv1a(state.data(), 0);
    for (size_t from = 0; from < state.size(); from += kSealStep) {
        if (from > 0 && between_steps) between_steps();
        const size_t left = state.size() - from;
        hash = fnv1a(state.data() + from, left < kSealStep ? left : kSealStep, hash);
    }
    put(state, hash);
}

std::vector<uint8_t> Engine::snapshot_state() const {
    std::vector<uint8_t> out;
    snapshot_state(out);
    return out;
}

void Engine::snapshot_state(std::vector<uint8_t>& out) const {
    out.clear();
    const size_t size = kHeaderSize + size_t{sessions_.size()} * 8 + size_t{pool_.in_use()} * kOrderSize + 4 +
                        size_t{accounts_.size()} * (kAccountSize + instruments_.size() * 8) + 4 +
                        size_t{terminal_.size()} * kTerminalSize + 8; // the checksum seal_snapshot adds
    if (out.capacity() < size) {
        out.reserve(size + size / 8); // room for the book to grow: a reused buffer is not replaced each time
    }
    put(out, kSnapshotMagic);
    put(out, kSnapshotVersion);
    put(out, uint32_t{0});
    put(out, config_fingerprint());
    put(out, last_command_seq_);
    put(out, sessions_.size());
    put(out, pool_.in_use());
    for (uint32_t s = 0; s < sessions_.size(); ++s) {
        put(out, sessions_.mark(s));
    }
    for (const Instrument& instrument : instruments_) {
        const OrderBook& book = instrument.book();
        for (SideIndex side : {SideIndex::Buy, SideIndex::Sell}) {
            for (uint32_t l = book.best(side); l != kNoLevel; l = book.next_worse(side, l)) {
                book.level(side, l).for_each(pool_, [&](uint32_t i) { put_order(out, pool_[i]); });
            }
        }
    }
    put(out, accounts_.size());
    for (uint32_t slot = 0; slot < accounts_.size(); ++slot) {
        const AccountState& a = accounts_[slot];
        put(out, a.account);
        put(out, static_cast<uint8_t>(a.smp));
        put(out, static_cast<uint8_t>(a.killed));
        put(out, uint16_t{0});
        put(out, a.max_order_notional);
        put(out, a.max_open_notional);
        put(out, a.max_position);
        put(out, a.max_orders_per_s);
        put(out, a.window_start_ns);
        put(out, a.window_orders);
        for (uint32_t book = 0; book < instruments_.size(); ++book) {
            put(out, accounts_.position(slot, book));
        }
    }
    put(out, terminal_.size());
    terminal_.for_each_run([&](const TerminalOrder* run, uint32_t n) { put_terminals(out, run, n); });
}

void Engine::for_each_live_order(const std::function<void(const Order&)>& fn) const {
    for (const Instrument& instrument : instruments_) {
        const OrderBook& book = instrument.book();
        for (SideIndex side : {SideIndex::Buy, SideIndex::Sell}) {
            for (uint32_t l = book.best(side); l != kNoLevel; l = book.next_worse(side, l)) {
                book.level(side, l).for_each(pool_, [&](uint32_t i) { fn(pool_[i]); });
            }
        }
    }
}

uint64_t Engine::state_digest() const {
    const std::vector<uint8_t> bytes = serialize();
    return get<uint64_t>(bytes.data(), bytes.size() - 8);
}

void Engine::write_snapshot(std::FILE* file) const {
    const std::vector<uint8_t> bytes = serialize();
    std::fwrite(bytes.data(), 1, bytes.size(), file);
}

bool Engine::read_snapshot(std::FILE* file) {
    const std::vector<uint8_t> bytes = read_all(file);
    const uint8_t* p = bytes.data();
    if (bytes.size() < kHeaderSize + 8 ||
        fnv1a(p, bytes.size() - 8) != get<uint64_t>(p, bytes.size() - 8) ||
        get<uint64_t>(p, 0) != kSnapshotMagic ||
        (get<uint32_t>(p, 8) != kSnapshotVersion && get<uint32_t>(p, 8) != kSnapshotVersionWithoutTerminal &&
         get<uint32_t>(p, 8) != kSnapshotVersionWithoutAccounts) ||
        get<uint64_t>(p, 16) != config_fingerprint()) {
        return false;
    }
    const uint32_t version = get<uint32_t>(p, 8);
    const uint32_t slots = get<uint32_t>(p, 32);
    const uint32_t count = get<uint32_t>(p, 36);
    const size_t orders_at = kHeaderSize + size_t{slots} * 8;
    const size_t accounts_at = orders_at + size_t{count} * kOrderSize;
    const bool has_accounts = version != kSnapshotVersionWithoutAccounts;
    const bool has_terminal = version == kSnapshotVersion;
    const size_t count_size = has_accounts ? 4 : 0;
    if (slots > sessions_.size() || count > pool_.capacity() || bytes.size() < accounts_at + count_size + 8) {
        return false;
    }
    const uint32_t entries = has_accounts ? get<uint32_t>(p, accounts_at) : 0;
    const size_t entry_size = kAccountSize + instruments_.size() * 8;
    const size_t terminal_at = accounts_at + count_size + size_t{entries} * entry_size;
    if (bytes.size() < terminal_at + (has_terminal ? 4 : 0) + 8) {
        return false;
    }
    const uint32_t terminal_count = has_terminal ? get<uint32_t>(p, terminal_at) : 0;
    const size_t terminal_records_at = terminal_at + (has_terminal ? 4 : 0);
    if (bytes.size() != terminal_records_at + size_t{terminal_count} * kTerminalSize + 8) {
        return false;
    }
    std::vector<Order> orders;
    orders.reserve(count);
    std::set<std::pair<uint32_t, uint64_t>> keys;
    for (uint32_t i = 0; i < count; ++i) {
        Order o = get_order(p + orders_at + size_t{i} * kOrderSize);
        const uint32_t book = table_.find(o.security_id);
        if (book == kNoInstrument || o.session_id >= slots ||
            o.cl_ord_id > get<uint64_t>(p, kHeaderSize + size_t{o.session_id} * 8) ||
            (o.side != kWireSideBuy && o.side != kWireSideSell) || o.leaves_qty == 0 ||
            uint64_t{o.leaves_qty} + o.cum_qty != o.order_qty ||
            instruments_[book].level_of(o.price, o.level) != PriceCheck::Ok ||
            !keys.emplace(o.session_id, o.cl_ord_id).second) {
            return false;
        }
        o.book = static_cast<uint16_t>(book);
        orders.push_back(o);
    }
    std::vector<AccountState> accounts;
    std::vector<int64_t> positions; // entry-major, as AccountTable keeps them
    std::set<uint32_t> account_ids;
    for (uint32_t e = 0; e < entries; ++e) {
        const uint8_t* a = p + accounts_at + 4 + size_t{e} * entry_size;
        AccountState s;
        s.account = get<uint32_t>(a, 0);
        s.smp = static_cast<SmpMode>(get<uint8_t>(a, 4));
        s.killed = get<uint8_t>(a, 5) != 0;
        s.max_order_notional = get<int64_t>(a, 8);
        s.max_open_notional = get<int64_t>(a, 16);
        s.max_position = get<int64_t>(a, 24);
        s.max_orders_per_s = get<int64_t>(a, 32);
        s.window_start_ns = get<uint64_t>(a, 40);
        s.window_orders = get<uint64_t>(a, 48);
        for (size_t i = 0; i < instruments_.size(); ++i) {
            positions.push_back(get<int64_t>(a, kAccountSize + i * 8));
        }
        if (s.account == 0 || s.account >= AccountTable::kMaxAccount || s.smp > SmpMode::CancelBoth ||
            !account_ids.insert(s.account).second) {
            return false;
        }
        accounts.push_back(std::move(s));
    }
    // Terminal orders: the newest that fit the capacity, each a key of its own under the mark.
    const uint32_t skip = terminal_count > terminal_.capacity() ? terminal_count - terminal_.capacity() : 0;
    std::vector<TerminalOrder> terminal;
    terminal.reserve(terminal_count - skip);
    std::set<std::pair<uint32_t, uint64_t>> terminal_keys;
    for (uint32_t i = 0; i < terminal_count; ++i) {
        const TerminalOrder t = get_terminal(p + terminal_records_at + size_t{i} * kTerminalSize);
        const bool dropped = t.status == TerminalOrders::kDropped;
        const bool valid_status = dropped || t.status == static_cast<uint8_t>(OrdStatus::Filled) ||
                                  t.status == static_cast<uint8_t>(OrdStatus::Canceled);
        if (!valid_status ||
            (!dropped && (t.session_id >= slots || table_.find(t.security_id) == kNoInstrument ||
                          (t.side != kWireSideBuy && t.side != kWireSideSell) ||
                          t.cl_ord_id > get<uint64_t>(p, kHeaderSize + size_t{t.session_id} * 8) ||
                          keys.count({t.session_id, t.cl_ord_id}) != 0 ||
                          !terminal_keys.emplace(t.session_id, t.cl_ord_id).second))) {
            return false;
        }
        if (i >= skip) {
            terminal.push_back(t);
        }
    }
    pool_.clear();
    index_.clear();
    sessions_.clear();
    accounts_.clear();
    for (size_t e = 0; e < accounts.size(); ++e) {
        const uint32_t slot = accounts_.ensure(accounts[e].account);
        accounts_[slot] = accounts[e]; // open notional: recomputed from the orders below
        accounts_[slot].update_caps();
        for (uint32_t book = 0; book < instruments_.size(); ++book) {
            accounts_.set_position(slot, book, positions[e * instruments_.size() + book]);
        }
    }
    for (Instrument& instrument : instruments_) {
        instrument.book().clear();
    }
    last_command_seq_ = get<uint64_t>(p, 24);
    for (uint32_t s = 0; s < slots; ++s) {
        sessions_.set_mark(s, get<uint64_t>(p, kHeaderSize + size_t{s} * 8));
    }
    for (const Order& o : orders) {
        const uint32_t order = pool_.acquire();
        pool_[order] = o;
        pool_[order].flags = accounts_.order_flags(o.account);
        instruments_[o.book].book().add(pool_, order);
        if ((pool_[order].flags & kOrderTracked) != 0) {
            accounts_.rested(pool_[order]);
        }
        index_.insert(o.session_id, o.cl_ord_id, order);
    }
    terminal_.clear();
    for (const TerminalOrder& t : terminal) {
        terminal_.append(t);
    }
    return true;
}

} // namespace udprouter::engine
