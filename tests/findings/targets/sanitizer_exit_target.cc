// A tiny fuzz target that commits the error its input names, for the exit-code tests
// (fuzzer_exit_codes_test.cc): built as a libFuzzer binary (fuzz preset) and as a replay runner,
// both with netrig's sanitizer defaults, the way every netrig fuzzer is.
//
//   asan   reads one byte past a heap block (heap-buffer-overflow)
//   ubsan  overflows a signed int
//   leak   drops the only pointer to a heap block (LeakSanitizer reports it at exit)
//   anything else: returns
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace {
void* volatile leak_sink = nullptr;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  if (input.starts_with("asan")) {
    char* volatile block = new char[4];
    std::memset(block, 0, 4);
    volatile char past_the_end = block[4];
    (void)past_the_end;
    delete[] block;
  } else if (input.starts_with("ubsan")) {
    volatile int big = 0x7fffffff;
    volatile int one = static_cast<int>(size > 0);
    volatile int sum = big + one;
    (void)sum;
  } else if (input.starts_with("leak")) {
    leak_sink = new char[64];
    leak_sink = nullptr;
  }
  return 0;
}
