// Errors of the emulator. With exceptions (the emulator's tests and runner) they throw; compiled
// with -fno-exceptions (the embedded-safety check of src/) they print the message and abort.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <type_traits>

namespace scamp5_emu {
template <class E>
[[noreturn]] void abort_with(const E& e) {
    if constexpr (std::is_base_of_v<std::exception, E>) std::fprintf(stderr, "scamp5 emulator: %s\n", e.what());
    else std::fprintf(stderr, "scamp5 emulator: stopped\n");
    std::abort();
}
}  // namespace scamp5_emu

#if defined(__cpp_exceptions) || defined(__EXCEPTIONS)
#define SCAMP5_EMU_THROW(...) throw __VA_ARGS__
#else
#define SCAMP5_EMU_THROW(...) ::scamp5_emu::abort_with(__VA_ARGS__)
#endif
