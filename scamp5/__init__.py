"""The C++ sensor program and SCAMP-5 emulator live in this folder (built with CMake); ``scamp5.emulator``
builds and runs the emulator's host runner from Python."""
