// The sanitizer defaults compiled into every netrig binary: each sanitizer halts on its first
// report and exits with its own code (81 ASan, 82 UBSan, 83 LSan, 84 TSan), and the crash
// context names what was running.
#include <cstdlib>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "harness/base/sanitizers.h"
#include "harness/base/crash_context.h"


namespace netrig {
namespace {

[[maybe_unused]] void UseAfterFree() {
  int* volatile p = new int[4];
  delete[] p;
  p[1] = 7;
}

[[maybe_unused]] void SignedOverflow() {
  volatile int big = 0x7fffffff;
  volatile int one = 1;
  volatile int sum = big + one;
  (void)sum;
}

void* volatile leak_sink = nullptr;

[[maybe_unused]] void LeakThenExit() {
  leak_sink = new int[100];
  leak_sink = nullptr;  // The only pointer is gone: a definite leak at exit.
  std::exit(0);
}

[[maybe_unused]] void DataRace() {
  static int shared = 0;
  std::thread a([] {
    for (int i = 0; i < 1000; ++i) shared = shared + 1;
  });
  std::thread b([] {
    for (int i = 0; i < 1000; ++i) shared = shared + 1;
  });
  a.join();
  b.join();
  std::exit(0);
}

#ifdef NETRIG_ASAN
extern "C" const char* __asan_default_options();
extern "C" const char* __lsan_default_options();

TEST(SanitizerDefaultsTest, SuppressionFilesAreLoadedByDefault) {
  EXPECT_NE(std::string(__asan_default_options()).find("sanitizers/asan.supp"), std::string::npos);
  EXPECT_NE(std::string(__lsan_default_options()).find("sanitizers/lsan.supp"), std::string::npos);
}

TEST(SanitizerDefaultsDeathTest, AsanExitsWith81AndNamesTheContext) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        SetCrashContext("running the use-after-free probe");
        UseAfterFree();
      },
      ::testing::ExitedWithCode(81),
      "heap-use-after-free(.|\n)*netrig: crashed while running the use-after-free probe");
}

TEST(SanitizerDefaultsDeathTest, UbsanExitsWith82) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(SignedOverflow(), ::testing::ExitedWithCode(82), "signed integer overflow");
}

TEST(SanitizerDefaultsDeathTest, LsanExitsWith83) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(LeakThenExit(), ::testing::ExitedWithCode(83), "detected memory leaks");
}
#endif

#ifdef NETRIG_TSAN
extern "C" const char* __tsan_default_options();

TEST(SanitizerDefaultsTest, SuppressionFileIsLoadedByDefault) {
  EXPECT_NE(std::string(__tsan_default_options()).find("sanitizers/tsan.supp"), std::string::npos);
}

TEST(SanitizerDefaultsDeathTest, TsanExitsWith84) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(DataRace(), ::testing::ExitedWithCode(84), "data race");
}
#endif

#if !defined(NETRIG_ASAN) && !defined(NETRIG_TSAN)
TEST(SanitizerDefaultsDeathTest, CrashContextNamedOnFatalSignal) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        InstallCrashContextSignalHandlers();
        SetCrashContext("running the abort probe");
        std::abort();
      },
      "netrig: crashed while running the abort probe");
}
#endif

}  // namespace
}  // namespace netrig
