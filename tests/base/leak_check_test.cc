#include "harness/base/leak_check.h"

#include <cstdint>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "harness/base/sanitizers.h"

namespace netrig {
namespace {

// An allocation LeakSanitizer cannot see a pointer to while it is hidden: the only reference is
// stored XOR-ed, as a busy program's in-flight object can be invisible to a mid-run check (on a
// running thread's fake stack, in an exiting thread's destructor list).
class HiddenAllocation {
 public:
  // Allocated on a thread that then exits, so that no stale copy of the pointer stays in this
  // thread's stack or registers for LeakSanitizer's conservative scan to find.
  HiddenAllocation() {
    std::thread([this] {
      disguised_ = reinterpret_cast<uintptr_t>(new std::string(100, 'x')) ^ kMask;
    }).join();
  }
  ~HiddenAllocation() { Release(); }
  void Release() {
    if (disguised_ == 0) return;
    delete reinterpret_cast<std::string*>(disguised_ ^ kMask);
    disguised_ = 0;
  }

 private:
  static constexpr uintptr_t kMask = 0x5a5a5a5a5a5a5a5aull;
  uintptr_t disguised_ = 0;
};

TEST(LeakCheck, AQuietCheckCapturesTheReportInsteadOfPrintingIt) {
  if (!LeakChecksAvailable()) GTEST_SKIP() << "LeakSanitizer checks need an ASan build";
  HiddenAllocation hidden;
  testing::internal::CaptureStderr();
  const QuietLeakCheck check = RunQuietLeakCheck();
  const std::string printed = testing::internal::GetCapturedStderr();
  hidden.Release();
  EXPECT_TRUE(check.found);
  EXPECT_NE(check.report.find("LeakSanitizer"), std::string::npos) << check.report;
  EXPECT_EQ(printed.find("LeakSanitizer"), std::string::npos) << printed;
  // Reports go back where they went: a later quiet check with nothing hidden finds nothing.
  EXPECT_FALSE(RunQuietLeakCheck().found);
}

TEST(LeakCheck, AnObjectUnreachableOnlyMidRunIsASuspicionNotALeak) {
  if (!LeakChecksAvailable()) GTEST_SKIP() << "LeakSanitizer checks need an ASan build";
  LeakCheckLog log;
  {
    HiddenAllocation in_flight;
    log.CheckQuietly();
  }  // The run's teardown releases it.
  EXPECT_FALSE(log.Confirm());
  EXPECT_EQ(log.mid_run_checks(), 1u);
  EXPECT_EQ(log.suspected(), 1u);
  EXPECT_FALSE(log.confirmed());
  EXPECT_NE(log.Describe().find("none leaked after teardown"), std::string::npos) << log.Describe();
}

TEST(LeakCheck, AnObjectStillUnreachableAfterTeardownIsConfirmed) {
  if (!LeakChecksAvailable()) GTEST_SKIP() << "LeakSanitizer checks need an ASan build";
  LeakCheckLog log;
  HiddenAllocation leaked;
  log.CheckQuietly();
  testing::internal::CaptureStderr();
  EXPECT_TRUE(log.Confirm());
  const std::string printed = testing::internal::GetCapturedStderr();
  leaked.Release();
  EXPECT_TRUE(log.confirmed());
  // The confirming check prints LeakSanitizer's report: the allocation stack is the evidence.
  EXPECT_NE(printed.find("LeakSanitizer"), std::string::npos);
  EXPECT_NE(printed.find("HiddenAllocation"), std::string::npos) << printed;
}

TEST(LeakCheck, WithoutAsanNothingIsChecked) {
  if (LeakChecksAvailable()) GTEST_SKIP() << "this build has ASan";
  LeakCheckLog log;
  log.CheckQuietly();
  EXPECT_FALSE(log.Confirm());
  EXPECT_EQ(log.mid_run_checks(), 0u);
}

}  // namespace
}  // namespace netrig
