// OrderIndex against std::map under random inserts and erases (line buckets, overflow counts).
#include "test_harness.h"

#include "udprouter/engine/order_index.h"

#include <iterator>
#include <map>
#include <random>
#include <utility>

using namespace udprouter::engine;

namespace {

// Keys live in the orders, as in the engine: the index confirms tag matches against the pool.
uint32_t add(OrderPool& pool, OrderIndex& index, uint32_t session, uint64_t cl) {
    const uint32_t order = pool.acquire();
    pool[order].session_id = session;
    pool[order].cl_ord_id = cl;
    index.insert(session, cl, order);
    return order;
}

} // namespace

UDR_TEST(index_agrees_with_a_map_under_random_inserts_and_erases) {
    OrderPool pool(64);
    OrderIndex index(64, pool); // 128 slots: heavy clustering at up to 64 keys
    std::map<std::pair<uint32_t, uint64_t>, uint32_t> model;
    std::mt19937_64 rng(1);
    for (int step = 0; step < 200000; ++step) {
        const uint32_t session = static_cast<uint32_t>(rng() % 3);
        const uint64_t cl = rng() % 200;
        const auto key = std::make_pair(session, cl);
        const auto it = model.find(key);
        if (it == model.end() && model.size() < 64) {
            model[key] = add(pool, index, session, cl);
        } else if (it != model.end()) {
            UDR_CHECK(index.erase(session, cl));
            pool.release(it->second);
            model.erase(it);
        }
        if (step % 97 == 0) {
            for (const auto& [k, v] : model) {
                UDR_CHECK_EQ(index.find(k.first, k.second), v);
            }
        }
        const uint64_t probe = rng() % 200;
        const auto m = model.find(std::make_pair(session, probe));
        UDR_CHECK_EQ(index.find(session, probe), m == model.end() ? kNullIndex : m->second);
    }
    UDR_CHECK_EQ(index.size(), static_cast<uint32_t>(model.size()));
}

UDR_TEST(erasing_an_absent_key_changes_nothing) {
    OrderPool pool(4);
    OrderIndex index(4, pool);
    const uint32_t order = add(pool, index, 1, 10);
    UDR_CHECK(!index.erase(1, 11));
    UDR_CHECK(!index.erase(2, 10));
    UDR_CHECK_EQ(index.find(1, 10), order);
    UDR_CHECK_EQ(index.size(), 1u);
}

// Full blocks of consecutive ids fill whole lines: a block whose home line another block took
// goes on to the next lines, so lookups and erases follow overflow counts (order_index.h).
UDR_TEST(full_lines_overflow_and_stay_reachable_through_erases) {
    std::mt19937_64 rng(7);
    for (int trial = 0; trial < 200; ++trial) {
        OrderPool pool(64);
        OrderIndex index(64, pool); // 128 slots in 16 lines: 8 full random blocks often share a line
        std::map<std::pair<uint32_t, uint64_t>, uint32_t> live;
        while (live.size() < 64) {
            const uint32_t session = 1 + static_cast<uint32_t>(rng() % 1000);
            const uint64_t block = rng() % 1000000;
            if (live.count({session, block * 8}) == 0) {
                for (uint64_t cl = block * 8; cl < block * 8 + 8; ++cl) {
                    live[{session, cl}] = add(pool, index, session, cl);
                }
            }
        }
        for (int round = 0; round < 100; ++round) {
            for (const auto& [key, order] : live) {
                UDR_CHECK_EQ(index.find(key.first, key.second), order);
            }
            UDR_CHECK_EQ(index.find(1, 8000000 + static_cast<uint64_t>(round)), kNullIndex);
            // Erase a random live key, either way, then insert a key of a fresh block.
            auto it = live.begin();
            std::advance(it, static_cast<long>(rng() % live.size()));
            const auto [session, cl] = it->first;
            if (rng() % 2 == 0) {
                UDR_CHECK(index.erase(session, cl));
            } else {
                index.erase(index.prepare(session, cl), it->second);
            }
            UDR_CHECK_EQ(index.find(session, cl), kNullIndex);
            pool.release(it->second);
            live.erase(it);
            const uint64_t fresh = 9000000 + static_cast<uint64_t>(round) * 8;
            live[{session, fresh}] = add(pool, index, session, fresh);
            UDR_CHECK_EQ(index.size(), static_cast<uint32_t>(live.size()));
        }
    }
}
