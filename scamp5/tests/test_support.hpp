#pragma once

#include <cstdio>
#include <functional>
#include <string>
#include <vector>

struct TestCase {
    const char* name;
    std::function<void()> fn;
};
inline std::vector<TestCase>& test_registry() {
    static std::vector<TestCase> r;
    return r;
}
inline int& test_failures() {
    static int n = 0;
    return n;
}
struct TestRegistrar {
    TestRegistrar(const char* name, std::function<void()> fn) { test_registry().push_back({name, std::move(fn)}); }
};
#define SCAMP5_TEST(name)                                   \
    static void name();                                     \
    static TestRegistrar registrar_##name(#name, name);     \
    static void name()
#define EXPECT_TRUE(cond)                                                                  \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            std::printf("  %s:%d: expected %s\n", __FILE__, __LINE__, #cond);              \
            ++test_failures();                                                             \
        }                                                                                  \
    } while (0)
#define EXPECT_EQ(a, b)                                                                                  \
    do {                                                                                                 \
        const auto va_ = (a);                                                                            \
        const auto vb_ = (b);                                                                            \
        if (!(va_ == vb_)) {                                                                             \
            std::printf("  %s:%d: %s == %s failed (%s vs %s)\n", __FILE__, __LINE__, #a, #b,              \
                        std::to_string(va_).c_str(), std::to_string(vb_).c_str());                        \
            ++test_failures();                                                                           \
        }                                                                                                \
    } while (0)
#define EXPECT_THROWS(stmt)                                                                \
    do {                                                                                   \
        bool threw_ = false;                                                               \
        try {                                                                              \
            stmt;                                                                          \
        } catch (const std::exception&) {                                                  \
            threw_ = true;                                                                 \
        }                                                                                  \
        if (!threw_) {                                                                     \
            std::printf("  %s:%d: expected an exception from %s\n", __FILE__, __LINE__, #stmt); \
            ++test_failures();                                                             \
        }                                                                                  \
    } while (0)
