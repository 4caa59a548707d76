// InstrumentTable: the direct table for dense SecurityIDs and the hash table for sparse ones
// answer the same way (every configured id, and kNoInstrument for any other).
#include "test_harness.h"

#include "udprouter/engine/instrument_table.h"

#include <climits>
#include <cstdint>
#include <vector>

using namespace udprouter::engine;

namespace {

void check_table(const std::vector<int32_t>& ids, const std::vector<int32_t>& absent) {
    const InstrumentTable table(ids);
    for (uint32_t i = 0; i < ids.size(); ++i) {
        UDR_CHECK_EQ(table.find(ids[i]), i);
    }
    for (const int32_t id : absent) {
        UDR_CHECK_EQ(table.find(id), kNoInstrument);
    }
}

} // namespace

UDR_TEST(dense_ids_are_found_and_others_are_not) {
    check_table({1, 2, 3}, {0, 4, -1, 999, INT32_MIN, INT32_MAX});
    check_table({7, 5, 6, 10}, {8, 9, 4, 11, 0});
    check_table({-3, -1, 0}, {-2, 1, -4, INT32_MAX});
}

UDR_TEST(sparse_ids_are_found_and_others_are_not) {
    check_table({1, 1000, 2000000, -7}, {0, 2, 999, 1001, -8, INT32_MAX});
    check_table({INT32_MIN, INT32_MAX}, {0, -1, INT32_MIN + 1, INT32_MAX - 1});
}

UDR_TEST(an_empty_table_finds_nothing) {
    check_table({}, {0, 1, -1, INT32_MAX});
}
