// A minimal test runner (no framework dependency): `scamp5_tests NAME` runs one case,
// `scamp5_tests` runs all. Cases register with SCAMP5_TEST and check with EXPECT_* macros.
#include "test_support.hpp"

#include <cstdio>
#include <cstring>

int main(int argc, char** argv) {
    int failed = 0, ran = 0;
    for (const auto& t : test_registry()) {
        if (argc > 1 && std::strcmp(argv[1], t.name) != 0) continue;
        ++ran;
        test_failures() = 0;
        try {
            t.fn();
        } catch (const std::exception& e) {
            std::printf("  unexpected exception: %s\n", e.what());
            ++test_failures();
        }
        std::printf("%s %s\n", test_failures() ? "FAIL" : "ok  ", t.name);
        failed += test_failures() ? 1 : 0;
    }
    if (ran == 0) {
        std::printf("no test named '%s'\n", argc > 1 ? argv[1] : "");
        return 2;
    }
    return failed ? 1 : 0;
}
