// The conformance suites can fail: instantiated for netrig's seeded-bug flows and clients
// (`netrig udp --list`, `netrig http --list`), the property each bug breaks reports it, with a
// message that names the broken part of the contract. The reference clients pass the same
// properties (conformance_test.cc). Properties are called directly (they return absl::Status);
// one suite is also run as a child gtest process to show that a broken property fails the
// instantiated suite itself.
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "harness/base/sanitizers.h"
#include "harness/conformance/flow_conformance.h"
#include "harness/conformance/http_client_conformance.h"
#include "harness/findings/child_process.h"

namespace netrig::conformance {
namespace {

using ::testing::HasSubstr;

// Run only by ChildSuiteFailsForABuggyFlow, in a child process.
INSTANTIATE_FLOW_CONFORMANCE(DISABLED_AddressTooLarge, "bug-address-too-large");

void ExpectBroken(const absl::Status& held, absl::string_view names) {
  EXPECT_FALSE(held.ok());
  EXPECT_FALSE(IsNotApplicable(held)) << held;
  EXPECT_THAT(std::string(held.message()), HasSubstr(std::string(names))) << held;
}

// Story 2: any datagram to an address-form endpoint is "too large".
TEST(FlowConformanceBugs, AddressTooLargeFailsTheRoundTrip) {
  ExpectBroken(CheckFlowRoundTripsEverySizeUpToTheLimit("bug-address-too-large", {}),
               "bug-address-too-large");
  ExpectBroken(CheckFlowAcceptsEveryEndpointSpelling("bug-address-too-large", {}), "rejected");
}

// A scoped IPv6 endpoint is mangled on write.
TEST(FlowConformanceBugs, ScopeMangleFailsTheScopedSpelling) {
  const absl::Status held = CheckFlowAcceptsEveryEndpointSpelling("bug-scope-mangle", {});
  if (IsNotApplicable(held)) GTEST_SKIP() << held.message();
  ExpectBroken(held, "scoped IPv6");
  // Without the scoped claim the flow holds the rest.
  FlowConformanceOptions unscoped;
  unscoped.scoped_ipv6 = false;
  EXPECT_TRUE(CheckFlowAcceptsEveryEndpointSpelling("bug-scope-mangle", unscoped).ok());
}

// Story 5: writes while waiting are reported accepted and vanish.
TEST(FlowConformanceBugs, WaitingDropFailsVisibleWaiting) {
  ExpectBroken(CheckFlowWritesWhileWaitingAreVisible("bug-waiting-drop", {}),
               "never reached the peer");
}

// Story 4: the source stops handing out flows after its third sleep/wake cycle.
TEST(FlowConformanceBugs, SleepWakeSourceFailsTheFourthCycle) {
  ExpectBroken(CheckFlowSourceHandsOutFlowsAcrossSleepWake("bug-sleep-wake-source", {}),
               "cycle 4 of 5");
}

// Close() frees buffers under an in-flight read: only ASan sees it, and it ends the process.
TEST(FlowConformanceBugsDeathTest, CloseRaceUseAfterFreeFailsUnderAsan) {
#if !defined(NETRIG_ASAN)
  GTEST_SKIP() << "the use-after-free is only safe to provoke under ASan";
#else
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH((void)CheckFlowCloseWakesBlockedReads("bug-close-race-uaf", {}),
               "heap-use-after-free");
#endif
}

// The request timeout reaches libcurl in the wrong unit: a response after 100 ms times out.
TEST(HttpClientConformanceBugs, TimeoutUnitsFailsRealResults) {
  ExpectBroken(CheckHttpCompletesTasksWithRealResults("bug-timeout-units", {}), "timeout");
}

// Cancel racing the completion delivers a second completion.
TEST(HttpClientConformanceBugs, DoubleCompletionFailsExactlyOnce) {
  const absl::Status every_moment = CheckHttpCancelAtEveryMoment("bug-double-completion", {});
  const absl::Status concurrent =
      CheckHttpExactlyOnceUnderConcurrentResumeAndCancel("bug-double-completion", {});
  EXPECT_FALSE(every_moment.ok() && concurrent.ok()) << "neither property saw a second completion";
  for (const absl::Status& held : {every_moment, concurrent}) {
    if (!held.ok()) ExpectBroken(held, "times");
  }
}

// The instantiated suite itself fails (exit 1) for a broken flow: run it in a child process.
TEST(FlowConformanceBugs, ChildSuiteFailsForABuggyFlow) {
  ChildOptions options;
  options.argv = {
      "/proc/self/exe", "--gtest_also_run_disabled_tests",
      "--gtest_filter=DISABLED_AddressTooLarge/*.Holds/RoundTripsEverySizeUpToTheLimit"};
  options.timeout = absl::Seconds(60);
  absl::StatusOr<ChildResult> child = RunChild(options);
  ASSERT_TRUE(child.ok()) << child.status();
  EXPECT_TRUE(child->exited) << child->Describe();
  EXPECT_EQ(child->exit_code, 1) << child->Describe();
}

}  // namespace
}  // namespace netrig::conformance
