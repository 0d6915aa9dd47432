#include "harness/drive/driver.h"

#include <sys/prctl.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "harness/base/mutex.h"
#include "harness/sched/clock.h"
#include "harness/sched/schedule_point.h"
#include "harness/sched/thread.h"

namespace netrig {
namespace {

// How long Drive still waits for workers once the workload reports them wedged.
constexpr absl::Duration kWedgedGrace = absl::Seconds(1);

std::atomic<int> stop_requests{0};

}  // namespace

static_assert(std::atomic<int>::is_always_lock_free, "RequestStop() runs in signal handlers");

void RequestStop() { stop_requests.fetch_add(1, std::memory_order_relaxed); }
void ClearStopRequest() { stop_requests.store(0, std::memory_order_relaxed); }
bool StopRequested() { return stop_requests.load(std::memory_order_relaxed) >= 1; }
bool DrainCutRequested() { return stop_requests.load(std::memory_order_relaxed) >= 2; }

void KeepAliveForWedgedThreads(std::shared_ptr<void> object) {
  static Mutex mu;
  // Never destroyed (not even at exit, while wedged threads may still run), and reachable.
  static auto* const kept = new std::vector<std::shared_ptr<void>>();
  MutexLock lock(&mu);
  kept->push_back(std::move(object));
}

std::string HumanCount(double value) {
  if (value >= 1e9) return absl::StrFormat("%.2fG", value / 1e9);
  if (value >= 1e6) return absl::StrFormat("%.2fM", value / 1e6);
  if (value >= 1e4) return absl::StrFormat("%.1fk", value / 1e3);
  return absl::StrFormat("%.0f", value);
}

namespace {

// What Drive shares with its workers. On the heap and co-owned by every worker: a worker that
// Drive leaves blocked inside the client after a hang (Workload::OperationsWedged) may come back
// long after Drive returned, and must then find only this, never Drive's stack.
struct DriveShared {
  explicit DriveShared(int threads) : in_operate(threads) {}

  // The first reason to stop wins.
  void Finish(const char* why) {
    const char* none = nullptr;
    reason.compare_exchange_strong(none, why);
    done.store(true, std::memory_order_relaxed);
  }

  std::atomic<uint64_t> next_index{0};
  std::atomic<uint64_t> started{0};
  std::atomic<uint64_t> late{0};
  std::atomic<bool> done{false};
  std::atomic<const char*> reason{nullptr};
  std::atomic<int> workers_done{0};
  // The abandon handshake (seq_cst on both sides, as Dekker's): a worker marks itself inside
  // Operate and then checks `abandoned`; Drive sets `abandoned` and then reads the marks. So
  // either Drive sees the worker inside (and leaves it), or the worker sees `abandoned` (and
  // touches nothing of the run again: the workload, the options, the ViolationLog may be gone).
  std::atomic<bool> abandoned{false};
  std::vector<std::atomic<bool>> in_operate;
};

}  // namespace

DriveResult Drive(const DriveOptions& options, Workload& workload, ViolationLog* violations) {
  const int threads = options.threads > 0 ? options.threads : 1;
  const bool open_loop = options.rate > 0;
  const absl::Time start = netrig::Now();
  const absl::Time end = start + options.duration;
  // Open loop: intended starts before `end` that are behind schedule still start, up to this
  // long after it (a moment's stall, a loaded machine); a run further behind stops anyway.
  const absl::Time backlog_end = end + std::min(options.duration / 10, absl::Seconds(1));
  auto shared = std::make_shared<DriveShared>(threads);

  // Everything a worker reads is a copy or lives in `shared`, except `workload` and
  // `violations`, which it touches only while Drive has not abandoned it.
  auto worker_main = [shared, &workload, violations, open_loop, start, end, backlog_end,
                      rate = options.rate, max_operations = options.max_operations,
                      stop_on_violation = options.stop_on_violation](int worker) {
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    std::atomic<bool>& in_operate = shared->in_operate[worker];
    workload.WorkerStarted(worker);
    while (!shared->done.load(std::memory_order_relaxed)) {
      const uint64_t index = shared->next_index.fetch_add(1, std::memory_order_relaxed);
      if (max_operations != 0 && index >= max_operations) {
        shared->Finish("max_operations");
        break;
      }
      absl::Time intended = netrig::Now();
      if (open_loop) {
        const absl::Time now = intended;
        intended = start + absl::Seconds(static_cast<double>(index) / rate);
        // A run that cannot keep up with its rate still ends nearly on time.
        if (intended >= end || now >= backlog_end) {
          shared->Finish("duration");
          break;
        }
        PaceUntil(intended);
        if (netrig::Now() - intended > absl::Milliseconds(1))
          shared->late.fetch_add(1, std::memory_order_relaxed);
      } else if (intended >= end) {
        shared->Finish("duration");
        break;
      }
      if (StopRequested()) {
        shared->Finish("interrupted");
        break;
      }
      if (stop_on_violation && violations != nullptr && !violations->empty()) {
        shared->Finish("violation");
        break;
      }
      SchedulePoint("driver.operate");
      in_operate.store(true, std::memory_order_seq_cst);
      if (shared->abandoned.load(std::memory_order_seq_cst)) return;
      workload.Operate(worker, index, intended);
      in_operate.store(false, std::memory_order_seq_cst);
      if (shared->abandoned.load(std::memory_order_seq_cst)) return;
      shared->started.fetch_add(1, std::memory_order_relaxed);
    }
    workload.WorkerFinished(worker);
    shared->workers_done.fetch_add(1, std::memory_order_release);
  };

  std::vector<Thread> workers;
  workers.reserve(threads);
  for (int worker = 0; worker < threads; ++worker) {
    workers.emplace_back(absl::StrCat("driver.", worker),
                         [worker_main, worker] { worker_main(worker); });
  }

  // The status line and the series, from this thread, until the workers are done.
  RunSeries* const series = options.series;
  absl::Time next_sample = start + absl::Seconds(1);
  std::vector<std::pair<std::string, bool>> band_states;
  auto sample_series = [&](absl::Time now) {
    SeriesSample sample;
    sample.started = shared->started.load(std::memory_order_relaxed);
    workload.SampleSeries(sample);
    series->Sample(now, sample);
  };
  auto sample_bands = [&](absl::Time now) {
    band_states.clear();
    workload.SampleBands(band_states);
    series->Bands(now, band_states);
  };
  if (series != nullptr) {
    series->Start(start);
    sample_bands(start);
  }
  absl::Time next_status = start + options.status_interval;
  uint64_t last_count = 0;
  absl::Time last_time = start;
  while (!shared->done.load(std::memory_order_relaxed)) {
    netrig::SleepFor(absl::Milliseconds(20));
    const absl::Time now = netrig::Now();
    if (StopRequested()) shared->Finish("interrupted");
    if (options.stop_on_violation && violations != nullptr && !violations->empty()) {
      shared->Finish("violation");
    }
    if (now >= end) shared->Finish("duration");  // Also ends workers that wait inside Operate().
    if (series != nullptr) {
      sample_bands(now);
      if (now >= next_sample) {
        sample_series(now);
        next_sample += absl::Seconds(1);
      }
    }
    if (options.status_out != nullptr && now >= next_status) {
      const uint64_t count = shared->started.load(std::memory_order_relaxed);
      const double rate =
          static_cast<double>(count - last_count) / absl::ToDoubleSeconds(now - last_time);
      absl::FPrintF(options.status_out, "[%5.1fs] ops %s (%s/s) %s| violations %d\n",
                    absl::ToDoubleSeconds(now - start), HumanCount(static_cast<double>(count)),
                    HumanCount(rate), workload.StatusFragment() + " ",
                    violations != nullptr ? violations->total() : 0);
      std::fflush(options.status_out);
      last_count = count;
      last_time = now;
      next_status += options.status_interval;
    }
  }
  // A worker deadlocked inside the client never returns: when the workload says so, a worker
  // still inside Operate a grace after the run stopped is left blocked (detached; see
  // DriveShared for why that is safe). Otherwise (always, unless a hang was reported) every
  // worker is joined.
  if (workload.OperationsWedged()) {
    const absl::Time stopped = netrig::Now();
    while (shared->workers_done.load(std::memory_order_acquire) < threads &&
           netrig::Now() - stopped < kWedgedGrace) {
      netrig::SleepFor(absl::Milliseconds(20));
    }
    if (shared->workers_done.load(std::memory_order_acquire) < threads) {
      shared->abandoned.store(true, std::memory_order_seq_cst);
    }
  }
  const bool abandoned = shared->abandoned.load(std::memory_order_seq_cst);
  for (int worker = 0; worker < threads; ++worker) {
    if (abandoned && shared->in_operate[worker].load(std::memory_order_seq_cst)) {
      workers[worker].detach();
    } else {
      workers[worker].join();
    }
  }
  if (series != nullptr) {
    // The last, partial second, then every band still open ends here.
    const absl::Time now = netrig::Now();
    sample_bands(now);
    sample_series(now);
    series->Finish(now);
  }

  DriveResult result;
  result.operations = shared->started.load();
  result.elapsed = netrig::Now() - start;
  result.late_starts = shared->late.load();
  if (open_loop) {
    result.intended_operations = static_cast<uint64_t>(
        options.rate * absl::ToDoubleSeconds(std::min(result.elapsed, options.duration)));
  }
  const char* const reason = shared->reason.load();
  result.stop_reason = reason != nullptr ? reason : "duration";
  return result;
}

}  // namespace netrig
