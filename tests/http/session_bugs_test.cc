// The seeded-bug clients (buggy_clients.h) under a short session stress against the embedded
// server: each is found by the detector that fits it (in the preset whose sanitizer fits), and
// the reference client "curl" gives no finding under the same stress.
//
// The stress: several lanes, each creating a session, spawning and resuming tasks (HTTP/1.1 and
// h2c), cancelling some at random moments from another thread, adding and removing connection
// observers, invalidating (both modes) and recreating sessions; the server closes and resets
// connections by seeded fault plans; schedule perturbation is on. A ledger checks exactly-once
// and nothing-after-invalidation; live counters are read at the end. Sanitizer findings end the
// process, so those cases run in a death-test child.
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "harness/base/sanitizers.h"
#include "harness/base/mutex.h"
#include "harness/check/ledger.h"
#include "harness/check/violation.h"
#include "harness/http/curl/buggy_clients.h"
#include "harness/http/http_client.h"
#include "harness/http/server/server.h"
#include "harness/http/curl/session.h"
#include "harness/sched/schedule_point.h"

namespace netrig {
namespace {

struct StressReport {
  uint64_t tasks = 0;
  uint64_t duplicate_completions = 0;
  uint64_t completions_after_close = 0;
  uint64_t violations = 0;
  CurlLiveCounts live_at_end;
};

StressReport StressSessions(const std::string& client_name, absl::Duration duration,
                            uint64_t seed) {
  StressReport report;
  HttpServerOptions server_options;
  server_options.threads = 2;
  server_options.default_body_bytes = 64;
  FaultPlannerOptions faults;
  faults.seed = seed;
  faults[FaultKind::kCloseAfter] = 0.25;
  faults[FaultKind::kResetMidBody] = 0.05;
  faults[FaultKind::kDelay] = 0.05;
  faults.max_delay_ms = 3;
  server_options.faults = faults;
  HttpServer server(server_options);
  if (!server.Start().ok()) return report;
  auto client = MakeHttpClient(client_name);
  if (!client.ok()) return report;

  ConfigureSchedule({.mode = ScheduleMode::kPerturb, .seed = seed});
  ViolationLog violations({{"client", client_name}, {"seed", seed}});
  Ledger ledger(&violations, "task", absl::Seconds(30));
  const absl::Time end = absl::Now() + duration;
  std::atomic<uint64_t> next_scope{1};
  std::atomic<uint64_t> tasks_started{0};
  Mutex victims_mu;
  std::vector<std::weak_ptr<HttpTask>> victims;  // Guarded by victims_mu.

  auto lane = [&](int lane_index) {
    std::mt19937_64 random(seed * 31 + lane_index);
    int round = 0;
    while (absl::Now() < end) {
      auto session = (*client)->NewSession({});
      if (!session.ok()) return;
      const uint64_t scope = next_scope.fetch_add(1);
      const HttpVersion version =
          (round++ + lane_index) % 2 ? HttpVersion::kH2cPriorKnowledge : HttpVersion::kHttp11;
      std::vector<ObserverId> observers;
      std::vector<std::shared_ptr<HttpTask>> tasks;
      for (int i = 0; i < 120 && absl::Now() < end; ++i) {
        if (i % 10 == 0) {
          ConnectionObserver observer;
          observer.on_viability_changed = [](const ConnectionInfo&, bool) {};
          observer.on_better_path = [](const ConnectionInfo&, bool) {};
          auto id = (*session)->AddConnectionObserver(std::move(observer));
          if (id.ok()) observers.push_back(*id);
        }
        if (i % 10 == 5 && !observers.empty()) {
          (*session)->RemoveConnectionObserver(observers.back());
          observers.pop_back();
        }
        HttpRequest request;
        request.url = absl::StrCat(server.url(), "/");
        request.version = version;
        request.timeout = absl::Seconds(10);
        const uint64_t ledger_id = ledger.Open(scope);
        auto task = (*session)->MakeTask(request, [&ledger, ledger_id](const HttpResult& result) {
          ledger.Complete(ledger_id, result.ok() ? "ok" : "error");
        });
        if (!task.ok()) {
          ledger.Complete(ledger_id, "refused");
          continue;
        }
        tasks_started.fetch_add(1);
        if (random() % 8 != 0) (*task)->Resume();
        if (random() % 6 == 0) (*task)->Cancel();
        {
          MutexLock lock(&victims_mu);
          victims.push_back(*task);
          if (victims.size() > 256) victims.erase(victims.begin(), victims.begin() + 128);
        }
        tasks.push_back(*std::move(task));
        if (tasks.size() % 16 == 0) absl::SleepFor(absl::Microseconds(200));
      }
      if (random() % 2) {
        (*session)->FinishTasksAndInvalidate();
      } else {
        (*session)->InvalidateAndCancel();
      }
      (*session)->WaitUntilInvalidated(absl::Seconds(60));
      ledger.CloseScope(scope, /*require_all_complete=*/true);
      session->reset();
    }
  };
  std::atomic<bool> cancelling{true};
  std::thread canceller([&] {
    std::mt19937_64 random(seed);
    while (cancelling.load()) {
      std::shared_ptr<HttpTask> victim;
      {
        MutexLock lock(&victims_mu);
        if (!victims.empty()) victim = victims[random() % victims.size()].lock();
      }
      if (victim != nullptr) victim->Cancel();
      absl::SleepFor(absl::Microseconds(random() % 50));
    }
  });
  std::vector<std::thread> lanes;
  for (int i = 0; i < 3; ++i) lanes.emplace_back(lane, i);
  for (auto& thread : lanes) thread.join();
  cancelling.store(false);
  canceller.join();
  ConfigureSchedule({});
  {
    MutexLock lock(&victims_mu);
    victims.clear();
  }
  client->reset();
  server.Stop();
  report.tasks = tasks_started.load();
  report.duplicate_completions = ledger.duplicate_completions();
  report.completions_after_close = ledger.completions_after_close();
  report.violations = violations.total();
  report.live_at_end = CurlLiveObjects();
  std::fprintf(stderr,
               "stress %s seed %llu: %llu tasks, %llu duplicate completions, %llu after close, "
               "%llu violations, live connections %lld, registrations %lld\n",
               client_name.c_str(), static_cast<unsigned long long>(seed),
               static_cast<unsigned long long>(report.tasks),
               static_cast<unsigned long long>(report.duplicate_completions),
               static_cast<unsigned long long>(report.completions_after_close),
               static_cast<unsigned long long>(report.violations),
               static_cast<long long>(report.live_at_end.connections),
               static_cast<long long>(report.live_at_end.observer_registrations));
  return report;
}

constexpr absl::Duration kStressTime = absl::Seconds(4);

bool Asan() {
#ifdef NETRIG_ASAN
  return true;
#else
  return false;
#endif
}
bool Tsan() {
#ifdef NETRIG_TSAN
  return true;
#else
  return false;
#endif
}

class SessionBugsTest : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

TEST_F(SessionBugsTest, ReferenceClientHasNoFinding) {
  const StressReport report = StressSessions("curl", kStressTime, 1);
  EXPECT_GT(report.tasks, 100u);
  EXPECT_EQ(report.duplicate_completions, 0u);
  EXPECT_EQ(report.completions_after_close, 0u);
  EXPECT_EQ(report.violations, 0u);
  EXPECT_TRUE(report.live_at_end.AllZero());
}

TEST_F(SessionBugsTest, DoubleCompletionIsFoundByTheLedger) {
  uint64_t duplicates = 0;
  // Each round is a few seconds; the race shows within the first in practice.
  for (uint64_t seed = 1; seed <= 10 && duplicates == 0; ++seed) {
    duplicates += StressSessions("bug-double-completion", kStressTime, seed).duplicate_completions;
  }
  EXPECT_GT(duplicates, 0u);
}

TEST_F(SessionBugsTest, ObserverLeakIsFoundByLiveCounters) {
  if (Asan()) {
    // The leak would also fail this process at exit: keep it in a child, where LeakSanitizer
    // reports it after the counters did.
    EXPECT_EXIT(
        {
          const StressReport report = StressSessions("bug-observer-leak", kStressTime, 1);
          if (report.live_at_end.connections > 0 && report.live_at_end.observer_registrations > 0) {
            std::fprintf(stderr, "live counters not zero\n");
          }
          std::exit(0);
        },
        ::testing::ExitedWithCode(83),
        "live counters not zero(.|\n)*LeakSanitizer: detected memory leaks");
    return;
  }
  const StressReport report = StressSessions("bug-observer-leak", kStressTime, 1);
  EXPECT_GT(report.live_at_end.connections, 0);
  EXPECT_GT(report.live_at_end.observer_registrations, 0);
}

TEST_F(SessionBugsTest, DequeueUseAfterFreeIsFoundByAddressSanitizer) {
  if (!Asan()) GTEST_SKIP() << "AddressSanitizer runs in the asan preset";
  EXPECT_EXIT(
      {
        for (uint64_t seed = 1; seed <= 12; ++seed) {
          StressSessions("bug-dequeue-uaf", kStressTime, seed);
        }
        std::exit(0);
      },
      ::testing::ExitedWithCode(81), "heap-use-after-free");
}

TEST_F(SessionBugsTest, UnlockedShareIsFoundByThreadSanitizer) {
  if (!Tsan()) GTEST_SKIP() << "ThreadSanitizer runs in the tsan preset";
  EXPECT_EXIT(
      {
        for (uint64_t seed = 1; seed <= 12; ++seed) {
          StressSessions("bug-unlocked-share", kStressTime, seed);
        }
        std::exit(0);
      },
      // Usually a data race report; sometimes the unguarded DNS cache is corrupted first and
      // libcurl crashes, which TSan reports as a SEGV. Either is TSan finding the bug.
      ::testing::ExitedWithCode(84), "ThreadSanitizer: (data race|SEGV)");
}

// Manual runs: NETRIG_STRESS_CLIENT=bug-unlocked-share http_session_bugs_test
//   --gtest_also_run_disabled_tests --gtest_filter='*StressOneClient*'
TEST_F(SessionBugsTest, DISABLED_StressOneClient) {
  const char* name = std::getenv("NETRIG_STRESS_CLIENT");
  const StressReport report =
      StressSessions(name != nullptr ? name : "curl", kStressTime, /*seed=*/1);
  EXPECT_GT(report.tasks, 0u);
}

}  // namespace
}  // namespace netrig
