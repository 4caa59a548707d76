// OrderIndex against std::map under random inserts and erases (backward-shift deletion).
#include "test_harness.h"

#include "udprouter/engine/order_index.h"

#include <map>
#include <random>
#include <utility>

using namespace udprouter::engine;

UDR_TEST(index_agrees_with_a_map_under_random_inserts_and_erases) {
    OrderIndex index(64); // 128 slots: heavy clustering at up to 64 keys
    std::map<std::pair<uint32_t, uint64_t>, uint32_t> model;
    std::mt19937_64 rng(1);
    for (int step = 0; step < 200000; ++step) {
        const uint32_t session = static_cast<uint32_t>(rng() % 3);
        const uint64_t cl = rng() % 200;
        const auto key = std::make_pair(session, cl);
        const auto it = model.find(key);
        if (it == model.end() && model.size() < 64) {
            const uint32_t value = static_cast<uint32_t>(step);
            index.insert(session, cl, value);
            model[key] = value;
        } else if (it != model.end()) {
            UDR_CHECK(index.erase(session, cl));
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
    OrderIndex index(4);
    index.insert(1, 10, 3);
    UDR_CHECK(!index.erase(1, 11));
    UDR_CHECK(!index.erase(2, 10));
    UDR_CHECK_EQ(index.find(1, 10), 3u);
    UDR_CHECK_EQ(index.size(), 1u);
}
