// Compiles tests/support/precompiled.h once for the test binaries (tests/CMakeLists.txt).
