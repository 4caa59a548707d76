// reference_engine.h - a deliberately naive matching engine: the oracle of the differential test.
//
// One vector of live orders, linear scans for every decision, no pools, no index, no bitmaps.
// It follows the contract in engine.h written out again from scratch (validation order, event
// fields, priority rules), so that the fast Engine and this one can only agree by both being
// right. Slow by design: O(live orders) per fill.
#ifndef UDR_TEST_REFERENCE_ENGINE_H
#define UDR_TEST_REFERENCE_ENGINE_H

#include "udprouter/engine/engine.h"

#include <algorithm>
#include <cstdint>
#include <vector>

namespace udr_test {

class ReferenceEngine {
public:
    explicit ReferenceEngine(const udprouter::engine::EngineConfig& config)
        : config_(config), marks_(size_t{config.max_sessions} + 1, 0) {}

    std::vector<udr_event> apply(const udr_command& c) {
        out_.clear();
        if (c.kind == UDR_CMD_NEW_ORDER) on_new(c);
        else if (c.kind == UDR_CMD_CANCEL) on_cancel(c);
        else if (c.kind == UDR_CMD_REPLACE) on_replace(c);
        else reject(c, 99);
        out_.back().flags |= UDR_EVT_FLAG_LAST;
        return out_;
    }

    size_t live_orders() const { return orders_.size(); }

    // Best resting price of one side (wire side), by a scan; false when that side is empty.
    bool best_price(int32_t sec, uint8_t side, int64_t& price) const {
        bool found = false;
        for (const Live& o : orders_) {
            if (o.sec != sec || o.side != side) continue;
            if (!found || (side == 1 ? o.price > price : o.price < price)) price = o.price;
            found = true;
        }
        return found;
    }

private:
    struct Live {
        uint64_t cl, oid;
        int64_t price;
        uint32_t session, account, order_qty, leaves, cum;
        int32_t sec;
        uint8_t side;
        uint64_t time; // priority stamp: lower is earlier
    };

    const udprouter::engine::InstrumentSpec* spec(int32_t sec) const {
        for (const auto& s : config_.instruments) {
            if (s.security_id == sec) return &s;
        }
        return nullptr;
    }
    // 0 ok, 16 band, 18 tick (the values OrdRejReason and CxlRejReason share).
    static int price_problem(const udprouter::engine::InstrumentSpec& s, int64_t px) {
        if (px < s.min_price || px > s.max_price) return 16;
        if ((px - s.min_price) % s.tick != 0) return 18;
        return 0;
    }
    void emit(udr_event e) { out_.push_back(e); }
    void reject(const udr_command& c, uint8_t reason) {
        emit({c.command_seq, c.cl_ord_id, 0, 0, c.price, c.session_id, c.security_id, c.order_qty, 0, 0,
              UDR_EVT_REJECTED, c.side, reason, 0});
    }
    void cxl_reject(const udr_command& c, uint8_t reason, uint64_t oid) {
        emit({c.command_seq, c.cl_ord_id, c.orig_cl_ord_id, oid, 0, c.session_id, c.security_id, 0, 0, 0,
              UDR_EVT_CANCEL_REJECTED, c.side, reason,
              static_cast<uint8_t>(c.kind == UDR_CMD_REPLACE ? UDR_EVT_FLAG_TO_REPLACE : 0)});
    }
    // -1: unknown session, 0: duplicate, 1: fresh (mark moved)
    int advance(uint32_t session, uint64_t cl) {
        if (session >= marks_.size()) return -1;
        if (cl <= marks_[session]) return 0;
        marks_[session] = cl;
        return 1;
    }

    void on_new(const udr_command& c) {
        const int fresh = advance(c.session_id, c.cl_ord_id);
        if (fresh < 0) return reject(c, 99);
        if (fresh == 0) return reject(c, 6);
        const auto* s = spec(c.security_id);
        if (!s) return reject(c, 1);
        const bool ok = (c.side == 1 || c.side == 2) && (c.ord_type == 1 || c.ord_type == 2) &&
                        (c.time_in_force == 0 || c.time_in_force == 3 || c.time_in_force == 4);
        if (!ok) return reject(c, 11);
        if (c.order_qty == 0 || c.order_qty > s->max_qty) return reject(c, 13);
        const bool limit = c.ord_type == 2;
        if (limit) {
            if (const int p = price_problem(*s, c.price)) return reject(c, static_cast<uint8_t>(p));
            if (c.time_in_force == 0 && orders_.size() >= config_.max_orders) return reject(c, 100);
        }
        Live in{c.cl_ord_id, c.command_seq, limit ? c.price : 0, c.session_id, c.account, c.order_qty,
                c.order_qty, 0, c.security_id, c.side, 0};
        emit({c.command_seq, c.cl_ord_id, 0, in.oid, in.price, c.session_id, c.security_id, c.order_qty,
              c.order_qty, 0, UDR_EVT_ACCEPTED, c.side, 0, 0});
        const bool fok = c.time_in_force == 4;
        if (fok && available(in, limit) < in.leaves) return cancel_self(c, in, 2);
        match(in, limit, c.command_seq);
        if (in.leaves == 0) return;
        if (limit && c.time_in_force == 0) {
            in.time = ++clock_;
            orders_.push_back(in);
            return;
        }
        cancel_self(c, in, fok ? 2 : 1);
    }

    void cancel_self(const udr_command& c, const Live& in, uint8_t reason) {
        emit({c.command_seq, in.cl, in.cl, in.oid, 0, in.session, in.sec, 0, 0, in.cum, UDR_EVT_CANCELED, in.side,
              reason, 0});
    }

    bool crosses(const Live& in, bool limit, const Live& r) const {
        if (r.sec != in.sec || r.side == in.side) return false;
        if (!limit) return true;
        return in.side == 1 ? r.price <= in.price : r.price >= in.price;
    }

    uint64_t available(const Live& in, bool limit) const {
        uint64_t sum = 0;
        for (const Live& r : orders_) {
            if (crosses(in, limit, r) && !(config_.self_match_prevention && r.account == in.account)) sum += r.leaves;
        }
        return sum;
    }

    // Index of the best crossing resting order (best price, then earliest), or -1.
    long best(const Live& in, bool limit) const {
        long found = -1;
        for (size_t i = 0; i < orders_.size(); ++i) {
            const Live& r = orders_[i];
            if (!crosses(in, limit, r)) continue;
            if (found < 0) { found = static_cast<long>(i); continue; }
            const Live& b = orders_[static_cast<size_t>(found)];
            const bool better_price = in.side == 1 ? r.price < b.price : r.price > b.price;
            if (better_price || (r.price == b.price && r.time < b.time)) found = static_cast<long>(i);
        }
        return found;
    }

    void match(Live& in, bool limit, uint64_t seq) {
        while (in.leaves > 0) {
            const long i = best(in, limit);
            if (i < 0) return;
            Live& r = orders_[static_cast<size_t>(i)];
            if (config_.self_match_prevention && r.account == in.account) {
                emit({seq, r.cl, r.cl, r.oid, 0, r.session, r.sec, 0, 0, r.cum, UDR_EVT_CANCELED, r.side, 3, 0});
                orders_.erase(orders_.begin() + i);
                continue;
            }
            const uint32_t q = std::min(in.leaves, r.leaves);
            in.leaves -= q; in.cum += q; r.leaves -= q; r.cum += q;
            emit({seq, in.cl, 0, in.oid, r.price, in.session, in.sec, q, in.leaves, in.cum, UDR_EVT_TRADE, in.side, 0,
                  UDR_EVT_FLAG_AGGRESSOR});
            emit({seq, r.cl, 0, r.oid, r.price, r.session, r.sec, q, r.leaves, r.cum, UDR_EVT_TRADE, r.side, 0, 0});
            if (r.leaves == 0) orders_.erase(orders_.begin() + i);
        }
    }

    // Index of the session's live order named by orig (checking security and side), or -1 after
    // emitting the rejection.
    long target(const udr_command& c, uint64_t previous_mark) {
        for (size_t i = 0; i < orders_.size(); ++i) {
            const Live& o = orders_[i];
            if (o.session == c.session_id && o.cl == c.orig_cl_ord_id) {
                if (o.sec != c.security_id || o.side != c.side) break;
                return static_cast<long>(i);
            }
        }
        const bool used = c.orig_cl_ord_id != 0 && c.orig_cl_ord_id <= previous_mark;
        bool live = false;
        for (const Live& o : orders_) live |= o.session == c.session_id && o.cl == c.orig_cl_ord_id;
        cxl_reject(c, (used && !live) ? 0 : 1, 0);
        return -1;
    }

    long admit_cancel(const udr_command& c) {
        const uint64_t previous = c.session_id < marks_.size() ? marks_[c.session_id] : 0;
        const int fresh = advance(c.session_id, c.cl_ord_id);
        if (fresh < 0) { cxl_reject(c, 99, 0); return -1; }
        if (fresh == 0) { cxl_reject(c, 6, 0); return -1; }
        return target(c, previous);
    }

    void on_cancel(const udr_command& c) {
        const long i = admit_cancel(c);
        if (i < 0) return;
        const Live o = orders_[static_cast<size_t>(i)];
        emit({c.command_seq, c.cl_ord_id, c.orig_cl_ord_id, o.oid, 0, o.session, o.sec, 0, 0, o.cum, UDR_EVT_CANCELED,
              o.side, 0, 0});
        orders_.erase(orders_.begin() + i);
    }

    void on_replace(const udr_command& c) {
        const long i = admit_cancel(c);
        if (i < 0) return;
        Live o = orders_[static_cast<size_t>(i)];
        const auto* s = spec(o.sec);
        if (c.order_qty == 0 || c.order_qty > s->max_qty) return cxl_reject(c, 13, o.oid);
        if (const int p = price_problem(*s, c.price)) return cxl_reject(c, static_cast<uint8_t>(p), o.oid);
        if (c.order_qty <= o.cum) return cxl_reject(c, 13, o.oid);
        const bool keeps = c.price == o.price && c.order_qty <= o.order_qty;
        orders_.erase(orders_.begin() + i);
        o.cl = c.cl_ord_id;
        o.price = c.price;
        o.order_qty = c.order_qty;
        o.leaves = c.order_qty - o.cum;
        emit({c.command_seq, o.cl, c.orig_cl_ord_id, o.oid, o.price, o.session, o.sec, o.order_qty, o.leaves, o.cum,
              UDR_EVT_REPLACED, o.side, 0, 0});
        if (!keeps) {
            match(o, true, c.command_seq);
            o.time = ++clock_;
        }
        if (o.leaves > 0) orders_.push_back(o);
    }

    udprouter::engine::EngineConfig config_;
    std::vector<uint64_t> marks_;
    std::vector<Live> orders_;
    std::vector<udr_event> out_;
    uint64_t clock_ = 0;
};

} // namespace udr_test

#endif
