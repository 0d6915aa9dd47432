// The controlled scheduler (harness/sched/controlled.h): threads run one at a time, every choice
// is recorded, a recorded schedule replays strictly, time is virtual, blocking the scheduler does
// not know about is handed off by the watchdog, and deadlocks are reported.
#include "harness/sched/controlled.h"

#include <fcntl.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "harness/base/mutex.h"
#include "harness/base/sanitizers.h"
#include "harness/sched/clock.h"
#include "harness/sched/schedule_point.h"
#include "harness/sched/thread.h"

namespace netrig {
namespace {

using ::testing::HasSubstr;

ControlledOptions Options(ScheduleStrategy strategy, uint64_t seed) {
  ControlledOptions options;
  options.strategy = strategy;
  options.seed = seed;
  return options;
}

// Two threads each add to a counter `rounds` times, reading and writing it on either side of a
// schedule point: a lost update unless the schedule keeps each read-write pair together.
struct LostUpdate {
  // Relaxed atomics: an atomicity bug, not a data race (TSan reports a plain int here, because
  // the scheduler's ordering is deliberately invisible to it).
  std::atomic<int> counter{0};
  void Run(int rounds) {
    auto body = [this, rounds] {
      for (int i = 0; i < rounds; ++i) {
        const int seen = counter.load(std::memory_order_relaxed);
        SchedulePoint("lost_update.between");
        counter.store(seen + 1, std::memory_order_relaxed);
      }
    };
    Thread a("a", body);
    Thread b("b", body);
    a.join();
    b.join();
  }
};

ScheduleTrace RunLostUpdate(ControlledOptions options, int* counter) {
  ControlledScheduler scheduler(std::move(options));
  scheduler.Begin();
  LostUpdate program;
  program.Run(3);
  ScheduleTrace trace = scheduler.End();
  *counter = program.counter.load();
  return trace;
}

TEST(ControlledScheduler, EveryStrategyRunsAProgramToTheEnd) {
  for (ScheduleStrategy strategy :
       {ScheduleStrategy::kRandom, ScheduleStrategy::kPct, ScheduleStrategy::kPos}) {
    int counter = 0;
    const ScheduleTrace trace = RunLostUpdate(Options(strategy, 7), &counter);
    SCOPED_TRACE(ScheduleStrategyName(strategy));
    EXPECT_GE(counter, 3);
    EXPECT_LE(counter, 6);
    EXPECT_FALSE(trace.steps.empty());
    EXPECT_EQ(trace.threads.size(), 3u);  // main, a, b
    EXPECT_GE(trace.max_enabled, 2u);
    EXPECT_EQ(trace.watchdog_handoffs, 0u);
  }
}

TEST(ControlledScheduler, TheSameSeedMakesTheSameSchedule) {
  int first = 0, second = 0;
  const ScheduleTrace a = RunLostUpdate(Options(ScheduleStrategy::kRandom, 99), &first);
  const ScheduleTrace b = RunLostUpdate(Options(ScheduleStrategy::kRandom, 99), &second);
  EXPECT_EQ(a.Hash(), b.Hash());
  EXPECT_EQ(first, second);
}

// A schedule is data: the trace of a run that lost an update replays to the same lost update,
// every time.
TEST(ControlledScheduler, AFindingReplaysStrictlyEveryTime) {
  ScheduleTrace finding;
  int found_counter = 0;
  for (uint64_t seed = 1; seed < 200 && found_counter == 0; ++seed) {
    int counter = 0;
    ScheduleTrace trace = RunLostUpdate(Options(ScheduleStrategy::kRandom, seed), &counter);
    if (counter < 6) {
      finding = trace;
      found_counter = counter;
    }
  }
  ASSERT_NE(found_counter, 0) << "random search never lost an update in 200 schedules";
  for (int run = 0; run < 20; ++run) {
    ControlledOptions replay = Options(ScheduleStrategy::kReplay, 12345 + run);
    replay.replay = finding.steps;
    replay.replay_threads = finding.threads;
    int counter = 0;
    const ScheduleTrace trace = RunLostUpdate(replay, &counter);
    EXPECT_FALSE(trace.diverged) << trace.divergence;
    EXPECT_EQ(counter, found_counter);
    EXPECT_EQ(trace.steps, finding.steps);
  }
}

TEST(ControlledScheduler, ADivergenceNamesTheStepThreadAndPoint) {
  int counter = 0;
  const ScheduleTrace original = RunLostUpdate(Options(ScheduleStrategy::kRandom, 3), &counter);
  ASSERT_GT(original.steps.size(), 2u);
  ControlledOptions replay = Options(ScheduleStrategy::kReplay, 3);
  replay.replay = original.steps;
  replay.replay_threads = original.threads;
  replay.replay[1].thread = 57;  // No such thread.
  const ScheduleTrace trace = RunLostUpdate(replay, &counter);
  EXPECT_TRUE(trace.diverged);
  EXPECT_EQ(trace.divergence_step, 1u);
  EXPECT_THAT(trace.divergence, HasSubstr("at step 1: expected #57, actual #57 does not exist"));
  EXPECT_THAT(trace.divergence, HasSubstr("enabled {"));
  EXPECT_EQ(trace.replayed_steps, 1u);
}

// The recorded thread is runnable but stopped at another point than in the recording: the
// divergence names the step, the thread, the recorded point and the actual one.
TEST(ControlledScheduler, ADivergenceAtAnotherPointNamesExpectedAndActual) {
  int counter = 0;
  const ScheduleTrace original = RunLostUpdate(Options(ScheduleStrategy::kPct, 8), &counter);
  ASSERT_GT(original.steps.size(), 4u);
  ControlledOptions replay = Options(ScheduleStrategy::kPct, 8);
  replay.replay = original.steps;
  replay.replay_threads = original.threads;
  replay.replay_points = original.points;
  replay.replay_points.push_back("edited.point");
  replay.replay[3].point = static_cast<uint32_t>(replay.replay_points.size() - 1);
  const ScheduleTrace trace = RunLostUpdate(replay, &counter);
  ASSERT_TRUE(trace.diverged);
  const std::string thread = original.threads[original.steps[3].thread];
  const std::string actual = original.points[original.steps[3].point];
  EXPECT_EQ(trace.divergence_detail.step, 3u);
  EXPECT_EQ(trace.divergence_detail.expected_thread, thread);
  EXPECT_EQ(trace.divergence_detail.expected_point, "edited.point");
  EXPECT_EQ(trace.divergence_detail.actual, absl::StrCat(thread, "@", actual));
  EXPECT_THAT(trace.divergence,
              HasSubstr(absl::StrCat("at step 3: expected ", thread, "@edited.point, actual ",
                                     thread, "@", actual)));
  // The strategy (same seed, state kept in step) took over: the rest is the recording's.
  EXPECT_EQ(trace.steps, original.steps);
}

// Strict replay forces the recording whatever the strategy's own seed would choose, and the
// replay's trace is the recording's (same hash), so a run that followed it says so.
TEST(ControlledScheduler, StrictReplayForcesTheRecordingOverAnotherSeed) {
  int found = 0;
  const ScheduleTrace original = RunLostUpdate(Options(ScheduleStrategy::kPct, 21), &found);
  for (uint64_t seed : {1, 2, 3, 4, 5}) {
    ControlledOptions replay = Options(ScheduleStrategy::kPct, seed);
    replay.replay = original.steps;
    replay.replay_threads = original.threads;
    replay.replay_points = original.points;
    replay.replay_events = original.events;
    int counter = 0;
    const ScheduleTrace trace = RunLostUpdate(replay, &counter);
    EXPECT_FALSE(trace.diverged) << trace.divergence;
    EXPECT_EQ(trace.replayed_steps, original.steps.size());
    EXPECT_EQ(trace.steps, original.steps);
    EXPECT_EQ(trace.Hash(), original.Hash());
    EXPECT_EQ(counter, found);
  }
  // A recording longer than the run: the divergence is at the run's end.
  ControlledOptions longer = Options(ScheduleStrategy::kPct, 21);
  longer.replay = original.steps;
  longer.replay.push_back(original.steps.back());
  longer.replay_threads = original.threads;
  int counter = 0;
  const ScheduleTrace trace = RunLostUpdate(longer, &counter);
  EXPECT_TRUE(trace.diverged);
  EXPECT_THAT(trace.divergence,
              HasSubstr(absl::StrCat("the run ended after ", original.steps.size(), " choices")));
}

TEST(ControlledScheduler, MutexesAreShadowedAndCondVarsWake) {
  ControlledScheduler scheduler(Options(ScheduleStrategy::kPct, 5));
  scheduler.Begin();
  Mutex mu;
  CondVar ready;
  bool produced = false;
  int consumed = 0;
  Thread consumer("consumer", [&] {
    MutexLock lock(&mu);
    while (!produced) ready.Wait(&mu);
    ++consumed;
  });
  Thread producer("producer", [&] {
    MutexLock lock(&mu);
    produced = true;
    ready.Signal();
  });
  consumer.join();
  producer.join();
  const ScheduleTrace trace = scheduler.End();
  EXPECT_EQ(consumed, 1);
  EXPECT_THAT(trace.points, ::testing::Contains("mutex.lock"));
}

TEST(ControlledScheduler, TimeIsVirtual) {
  ControlledScheduler scheduler(Options(ScheduleStrategy::kRandom, 1));
  scheduler.Begin();
  const absl::Time real_start = absl::Now();
  const absl::Time start = netrig::Now();
  Thread sleeper("sleeper", [] { netrig::SleepFor(absl::Seconds(30)); });
  Mutex mu;
  CondVar never;
  bool signaled = true;
  Thread waiter("waiter", [&] {
    MutexLock lock(&mu);
    signaled = never.WaitWithTimeout(&mu, absl::Seconds(10));
  });
  sleeper.join();
  waiter.join();
  const absl::Duration harness_elapsed = netrig::Now() - start;
  scheduler.End();
  EXPECT_GE(harness_elapsed, absl::Seconds(30));
  EXPECT_LT(absl::Now() - real_start, absl::Seconds(5));
  EXPECT_FALSE(signaled);
}

int64_t MonotonicNs(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// libcurl's timers read CLOCK_MONOTONIC through clock_gettime: on a controlled thread that is the
// scheduler's virtual time (a 30 s sleep passes at once, and steady_clock agrees), while the
// real clock stays real for threads netrig does not control, for CLOCK_REALTIME, and once
// control ends. Run in every preset: a sanitizer runtime's own clock_gettime must not win.
TEST(ControlledScheduler, MonotonicClockIsVirtualOnControlledThreads) {
  const int64_t real_before = MonotonicNs(CLOCK_MONOTONIC);
  ControlledScheduler scheduler(Options(ScheduleStrategy::kRandom, 2));
  scheduler.Begin();
  const int64_t start = MonotonicNs(CLOCK_MONOTONIC);
  const auto steady_start = std::chrono::steady_clock::now();
  const absl::Time realtime_start = absl::Now();
  int64_t in_thread_elapsed = 0;
  Thread sleeper("sleeper", [&] {
    const int64_t begin = MonotonicNs(CLOCK_MONOTONIC);
    netrig::SleepFor(absl::Seconds(30));
    in_thread_elapsed = MonotonicNs(CLOCK_BOOTTIME) - begin;
  });
  int64_t uncontrolled_elapsed = -1;
  std::thread outsider([&] {
    const int64_t begin = MonotonicNs(CLOCK_MONOTONIC);
    absl::SleepFor(absl::Milliseconds(20));
    uncontrolled_elapsed = MonotonicNs(CLOCK_MONOTONIC) - begin;
  });
  outsider.join();
  sleeper.join();
  const int64_t elapsed = MonotonicNs(CLOCK_MONOTONIC_COARSE) - start;
  const auto steady_elapsed = std::chrono::steady_clock::now() - steady_start;
  const absl::Duration realtime_elapsed = absl::Now() - realtime_start;
  scheduler.End();
  const int64_t real_after = MonotonicNs(CLOCK_MONOTONIC);
  EXPECT_GE(in_thread_elapsed, 30'000'000'000);
  EXPECT_GE(elapsed, 30'000'000'000);
  EXPECT_GE(steady_elapsed, std::chrono::seconds(30));
  EXPECT_LT(realtime_elapsed, absl::Seconds(20));   // CLOCK_REALTIME: real.
  EXPECT_GE(uncontrolled_elapsed, 20'000'000);      // Real for a thread netrig did not start...
  EXPECT_LT(uncontrolled_elapsed, 20'000'000'000);  // ...which did not see the 30 s jump.
  EXPECT_GE(real_after, real_before);
  EXPECT_LT(real_after - real_before, 20'000'000'000);  // Real again once control ends.
}

TEST(ControlledScheduler, PollProbesWhileOthersRun) {
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_NONBLOCK), 0);
  ControlledScheduler scheduler(Options(ScheduleStrategy::kPct, 11));
  scheduler.Begin();
  char got = 0;
  Thread reader("reader", [&] {
    pollfd p{fds[0], POLLIN, 0};
    if (Poll(&p, 1, -1) == 1) (void)!read(fds[0], &got, 1);
  });
  Thread writer("writer", [&] {
    SchedulePoint("writer.before");
    (void)!write(fds[1], "x", 1);
  });
  reader.join();
  writer.join();
  const ScheduleTrace trace = scheduler.End();
  close(fds[0]);
  close(fds[1]);
  EXPECT_EQ(got, 'x');
  EXPECT_EQ(trace.watchdog_handoffs, 0u);
}

// Blocking the scheduler does not know about never hangs a run: a plain blocking read(), a raw
// std::mutex held by a parked thread, a netrig::Mutex held by a thread netrig did not start.
// Over 20 schedules the reader sometimes blocks in read() before the writer ran: the watchdog
// must hand the baton on every time (each run completes), and say so.
TEST(ControlledScheduler, UnannotatedBlockingReadIsHandedOff) {
  uint64_t handoffs = 0;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    ControlledScheduler scheduler(Options(ScheduleStrategy::kRandom, seed));
    scheduler.Begin();
    char got = 0;
    Thread reader("reader", [&] { (void)!read(fds[0], &got, 1); });
    Thread writer("writer", [&] {
      SchedulePoint("writer.before");
      (void)!write(fds[1], "y", 1);
    });
    reader.join();
    writer.join();
    const ScheduleTrace trace = scheduler.End();
    close(fds[0]);
    close(fds[1]);
    EXPECT_EQ(got, 'y');
    handoffs += trace.watchdog_handoffs;
    for (const ScheduleEvent& event : trace.events) {
      if (event.kind == ScheduleEvent::kWatchdogHandoff) {
        EXPECT_THAT(event.detail, HasSubstr("state"));
      }
    }
  }
  EXPECT_GT(handoffs, 0u) << "no schedule blocked the reader first";
}

TEST(ControlledScheduler, RawMutexHeldByAParkedThreadIsHandedOff) {
  uint64_t handoffs = 0;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    ControlledScheduler scheduler(Options(ScheduleStrategy::kRandom, seed));
    scheduler.Begin();
    std::mutex raw;
    int value = 0;
    Thread holder("holder", [&] {
      std::lock_guard<std::mutex> lock(raw);
      SchedulePoint("holder.inside");  // Parked here with the raw lock held.
      ++value;
    });
    Thread other("other", [&] {
      std::lock_guard<std::mutex> lock(raw);
      ++value;
    });
    holder.join();
    other.join();
    handoffs += scheduler.End().watchdog_handoffs;
    EXPECT_EQ(value, 2);
  }
  EXPECT_GT(handoffs, 0u) << "no schedule parked the holder with the raw lock taken";
}

TEST(ControlledScheduler, UncontrolledThreadHoldingANetrigMutex) {
  Mutex mu;
  std::atomic<bool> held{false};
  std::atomic<bool> release{false};
  std::thread outsider([&] {  // Not a netrig::Thread: it runs free.
    MutexLock lock(&mu);
    held = true;
    while (!release) absl::SleepFor(absl::Milliseconds(1));
  });
  while (!held) absl::SleepFor(absl::Milliseconds(1));
  ControlledScheduler scheduler(Options(ScheduleStrategy::kPct, 6));
  scheduler.Begin();
  bool locked = false;
  Thread inside("inside", [&] {
    MutexLock lock(&mu);
    locked = true;
  });
  std::thread releaser([&] {
    absl::SleepFor(absl::Milliseconds(50));
    release = true;
  });
  inside.join();
  scheduler.End();
  outsider.join();
  releaser.join();
  EXPECT_TRUE(locked);
}

// A polling sleep loop under PCT: the poller sleeps (harness time), so the thread it waits for
// runs, whatever the priorities.
TEST(ControlledScheduler, PollingSleepLoopTerminatesUnderPct) {
  for (uint64_t seed = 0; seed < 10; ++seed) {
    ControlledScheduler scheduler(Options(ScheduleStrategy::kPct, seed));
    scheduler.Begin();
    std::atomic<bool> flag{false};
    Thread poller("poller", [&] {
      while (!flag.load()) netrig::SleepFor(absl::Milliseconds(1));
    });
    Thread setter("setter", [&] {
      SchedulePoint("setter.before");
      flag = true;
    });
    poller.join();
    setter.join();
    scheduler.End();
  }
}

// A lock-order inversion that the schedule runs into is reported as a deadlock naming every
// thread's state and last point. Real threads stay deadlocked afterwards, so the search runs in a
// child process that exits from the report.
void SearchForTheDeadlock() {
  for (uint64_t seed = 0; seed < 100; ++seed) {
    ControlledOptions options = Options(ScheduleStrategy::kRandom, seed);
    options.deadlock_after = absl::Milliseconds(100);
    options.on_deadlock = [](const std::string& description) {
      std::fprintf(stderr, "%s\n", description.c_str());
      _exit(3);
    };
    ControlledScheduler scheduler(options);
    scheduler.Begin();
    Mutex a, b;
    auto take = [](Mutex& first, Mutex& second) {
      first.Lock();
      SchedulePoint("between_locks");
      second.Lock();
      second.Unlock();
      first.Unlock();
    };
    Thread one("one", [&] { take(a, b); });
    Thread two("two", [&] { take(b, a); });
    one.join();
    two.join();
    scheduler.End();
  }
  _exit(0);
}

TEST(ControlledSchedulerDeathTest, ADeadlockIsReportedWithEveryThreadsLastPoint) {
  if (kBuiltWithTsan) {
    // TSan rightly reports the planted lock-order inversion first; the scheduler's own report
    // is what is tested here. The threadsafe style re-executes the binary, which reads this.
    const char* inherited = std::getenv("TSAN_OPTIONS");
    const std::string options =
        absl::StrCat(inherited == nullptr ? "" : inherited, ":detect_deadlocks=0");
    setenv("TSAN_OPTIONS", options.c_str(), 1);
    GTEST_FLAG_SET(death_test_style, "threadsafe");
  }
  EXPECT_EXIT(SearchForTheDeadlock(), ::testing::ExitedWithCode(3),
              "deadlock: every controlled thread is blocked.*t0\\.[0-9]+ waiting for a lock at "
              "mutex.lock");
}

}  // namespace
}  // namespace netrig
