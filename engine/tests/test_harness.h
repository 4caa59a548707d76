// test_harness.h - a minimal self-contained test harness (no external framework is fetched).
//
// UDR_TEST(name) { ... } registers a test; UDR_CHECK* record a failure with file:line and carry
// on; main() runs every test and exits
// non-zero if any check failed.
#ifndef UDR_TEST_HARNESS_H
#define UDR_TEST_HARNESS_H

#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

namespace udr_test {

struct Case {
    const char* name;
    void (*body)();
};

inline std::vector<Case>& registry() {
    static std::vector<Case> cases;
    return cases;
}

inline int& failures() {
    static int count = 0;
    return count;
}

inline std::vector<std::string>& args() {
    static std::vector<std::string> values;
    return values;
}

struct Registrar {
    Registrar(const char* name, void (*body)()) { registry().push_back(Case{name, body}); }
};

inline void fail(const char* file, int line, const std::string& what) {
    ++failures();
    std::fprintf(stderr, "%s:%d: FAILED: %s\n", file, line, what.c_str());
}

template <class A, class B>
void check_eq(const A& a, const B& b, const char* as, const char* bs, const char* file, int line) {
    if (!(a == b)) {
        std::ostringstream s;
        s << as << " == " << bs << " (" << +a << " vs " << +b << ")";
        fail(file, line, s.str());
    }
}

} // namespace udr_test

#define UDR_TEST(name)                                                    \
    static void name();                                                   \
    static const udr_test::Registrar name##_registrar(#name, name);       \
    static void name()

#define UDR_CHECK(cond)                                                   \
    do {                                                                  \
        if (!(cond)) udr_test::fail(__FILE__, __LINE__, #cond);           \
    } while (0)

#define UDR_CHECK_EQ(a, b) udr_test::check_eq((a), (b), #a, #b, __FILE__, __LINE__)

int main(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        udr_test::args().emplace_back(argv[i]);
    }
    int ran = 0;
    for (const udr_test::Case& c : udr_test::registry()) {
        const int before = udr_test::failures();
        c.body();
        ++ran;
        std::printf("%s %s\n", udr_test::failures() == before ? "ok  " : "FAIL", c.name);
    }
    std::printf("%d tests, %d failed checks\n", ran, udr_test::failures());
    return udr_test::failures() == 0 ? 0 : 1;
}

#endif
