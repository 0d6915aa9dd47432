// The cost of scheduling: the fast paths every harness lock and schedule point pays when no
// controlled scheduler runs, and the cost of one step (a handoff of the baton between threads)
// when one does.
#include <atomic>
#include <cstdint>

#include "benchmark/benchmark.h"
#include "harness/base/mutex.h"
#include "harness/sched/controlled.h"
#include "harness/sched/schedule_point.h"
#include "harness/sched/thread.h"

namespace {

// SchedulePoint with scheduling off: one relaxed load.
void BM_SchedulePointOff(benchmark::State& state) {
  for (auto _ : state) netrig::SchedulePoint("bench.point");
}
BENCHMARK(BM_SchedulePointOff);

// netrig::Mutex lock/unlock with no scheduler: the hook check on top of std::mutex.
void BM_MutexLockUnlockOff(benchmark::State& state) {
  netrig::Mutex mu;
  for (auto _ : state) {
    mu.Lock();
    mu.Unlock();
  }
}
BENCHMARK(BM_MutexLockUnlockOff);

// Two controlled threads, each taking `points` schedule points; the random strategy picks one at
// every point, so most steps hand the baton to the other thread. Reported per step.
void BM_ControlledStep(benchmark::State& state) {
  const int points = static_cast<int>(state.range(0));
  uint64_t steps = 0;
  for (auto _ : state) {
    netrig::ControlledOptions options;
    options.strategy = netrig::ScheduleStrategy::kRandom;
    options.seed = 1;
    netrig::ControlledScheduler scheduler(options);
    scheduler.Begin();
    auto body = [points] {
      for (int i = 0; i < points; ++i) netrig::SchedulePoint("bench.step");
    };
    netrig::Thread a("a", body);
    netrig::Thread b("b", body);
    a.join();
    b.join();
    steps += scheduler.End().steps.size();
  }
  state.counters["per_step"] = benchmark::Counter(
      static_cast<double>(steps), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_ControlledStep)->Arg(2000)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
