#include "harness/check/ledger.h"

#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "harness/check/violation.h"
#include "harness/check/watchdog.h"

namespace netrig {
namespace {

bool HasKind(const ViolationLog& log, absl::string_view kind) {
  for (const auto& v : log.Kept()) {
    if (v.kind == kind) return true;
  }
  return false;
}

TEST(LedgerTest, ExactlyOnceCompletionIsClean) {
  ViolationLog violations;
  Ledger ledger(&violations, "task", absl::Seconds(10));
  const uint64_t a = ledger.Open();
  const uint64_t b = ledger.Open();
  EXPECT_NE(a, b);
  EXPECT_TRUE(ledger.Complete(a, "ok"));
  EXPECT_TRUE(ledger.Complete(b, "cancelled"));
  EXPECT_TRUE(violations.empty());
  EXPECT_EQ(ledger.completed(), 2u);
  EXPECT_EQ(ledger.outstanding(), 0u);
}

TEST(LedgerTest, SecondCompletionIsAViolationNamingBothOutcomes) {
  ViolationLog violations;
  Ledger ledger(&violations, "task", absl::Seconds(10));
  const uint64_t id = ledger.Open();
  EXPECT_TRUE(ledger.Complete(id, "ok"));
  EXPECT_FALSE(ledger.Complete(id, "cancelled"));
  ASSERT_EQ(violations.total(), 1u);
  const Violation v = violations.Kept()[0];
  EXPECT_EQ(v.kind, "duplicate_completion");
  EXPECT_NE(v.message.find("'ok'"), std::string::npos);
  EXPECT_NE(v.message.find("'cancelled'"), std::string::npos);
  EXPECT_EQ(ledger.duplicate_completions(), 1u);
}

TEST(LedgerTest, UnknownIdIsAViolation) {
  ViolationLog violations;
  Ledger ledger(&violations, "task", absl::Seconds(10));
  EXPECT_FALSE(ledger.Complete(12345, "ok"));
  EXPECT_TRUE(HasKind(violations, "unknown_completion"));
}

TEST(LedgerTest, CompletionAfterScopeCloseIsAViolation) {
  ViolationLog violations;
  Ledger ledger(&violations, "task", absl::Seconds(10));
  const uint64_t id = ledger.Open(/*scope=*/7);
  ledger.CloseScope(7, /*require_all_complete=*/false);
  EXPECT_FALSE(ledger.Complete(id, "ok"));
  EXPECT_TRUE(HasKind(violations, "completion_after_close"));
}

TEST(LedgerTest, OpenItemsAtRequiredCloseAreViolations) {
  ViolationLog violations;
  Ledger ledger(&violations, "flow", absl::Seconds(10));
  const uint64_t done = ledger.Open(3);
  ledger.Open(3);
  ledger.Open(4);  // Other scope: untouched.
  ledger.Complete(done, "ok");
  ledger.CloseScope(3, /*require_all_complete=*/true);
  EXPECT_EQ(violations.total(), 1u);
  EXPECT_TRUE(HasKind(violations, "open_at_close"));
  EXPECT_EQ(ledger.outstanding(), 1u);
}

TEST(LedgerTest, ConcurrentOpensAndCompletionsAreCounted) {
  ViolationLog violations;
  Ledger ledger(&violations, "task", absl::Seconds(10));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) ledger.Complete(ledger.Open(), "ok");
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(ledger.opened(), 8000u);
  EXPECT_EQ(ledger.completed(), 8000u);
  EXPECT_TRUE(violations.empty());
}

TEST(WatchdogTest, ReportsOverdueItemOnceWithItsState) {
  ViolationLog violations;
  Ledger ledger(&violations, "task", absl::Milliseconds(1));
  const uint64_t id = ledger.Open(5);
  ledger.Note(id, "waiting_for_connection");
  const uint64_t finished = ledger.Open(5);
  ledger.Complete(finished, "ok");
  absl::SleepFor(absl::Milliseconds(5));
  Watchdog watchdog({&ledger}, &violations, absl::Hours(1), nullptr);
  EXPECT_EQ(watchdog.CheckNow(), 1u);
  EXPECT_EQ(watchdog.CheckNow(), 0u);  // Reported once.
  ASSERT_EQ(violations.total(), 1u);
  EXPECT_EQ(violations.Kept()[0].kind, "stuck");
  EXPECT_NE(violations.Kept()[0].message.find("waiting_for_connection"), std::string::npos);
}

}  // namespace
}  // namespace netrig
