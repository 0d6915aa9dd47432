#include "harness/drive/driver.h"

#include <sys/prctl.h>

#include <algorithm>
#include <atomic>
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

std::atomic<int> stop_requests{0};

}  // namespace

static_assert(std::atomic<int>::is_always_lock_free, "RequestStop() runs in signal handlers");

void RequestStop() { stop_requests.fetch_add(1, std::memory_order_relaxed); }
void ClearStopRequest() { stop_requests.store(0, std::memory_order_relaxed); }
bool StopRequested() { return stop_requests.load(std::memory_order_relaxed) >= 1; }
bool DrainCutRequested() { return stop_requests.load(std::memory_order_relaxed) >= 2; }

std::string HumanCount(double value) {
  if (value >= 1e9) return absl::StrFormat("%.2fG", value / 1e9);
  if (value >= 1e6) return absl::StrFormat("%.2fM", value / 1e6);
  if (value >= 1e4) return absl::StrFormat("%.1fk", value / 1e3);
  return absl::StrFormat("%.0f", value);
}

DriveResult Drive(const DriveOptions& options, Workload& workload, ViolationLog* violations) {
  const int threads = options.threads > 0 ? options.threads : 1;
  const bool open_loop = options.rate > 0;
  const absl::Time start = netrig::Now();
  const absl::Time end = start + options.duration;
  // Open loop: intended starts before `end` that are behind schedule still start, up to this
  // long after it (a moment's stall, a loaded machine); a run further behind stops anyway.
  const absl::Time backlog_end = end + std::min(options.duration / 10, absl::Seconds(1));
  std::atomic<uint64_t> next_index{0};
  std::atomic<uint64_t> started{0};
  std::atomic<uint64_t> late{0};
  std::atomic<bool> done{false};
  // The first reason to stop wins.
  std::atomic<const char*> reason{nullptr};
  auto finish = [&](const char* why) {
    const char* none = nullptr;
    reason.compare_exchange_strong(none, why);
    done.store(true, std::memory_order_relaxed);
  };

  auto worker_main = [&](int worker) {
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    workload.WorkerStarted(worker);
    while (!done.load(std::memory_order_relaxed)) {
      const uint64_t index = next_index.fetch_add(1, std::memory_order_relaxed);
      if (options.max_operations != 0 && index >= options.max_operations) {
        finish("max_operations");
        break;
      }
      absl::Time intended = netrig::Now();
      if (open_loop) {
        const absl::Time now = intended;
        intended = start + absl::Seconds(static_cast<double>(index) / options.rate);
        // A run that cannot keep up with its rate still ends nearly on time.
        if (intended >= end || now >= backlog_end) {
          finish("duration");
          break;
        }
        PaceUntil(intended);
        if (netrig::Now() - intended > absl::Milliseconds(1))
          late.fetch_add(1, std::memory_order_relaxed);
      } else if (intended >= end) {
        finish("duration");
        break;
      }
      if (StopRequested()) {
        finish("interrupted");
        break;
      }
      if (options.stop_on_violation && violations != nullptr && !violations->empty()) {
        finish("violation");
        break;
      }
      SchedulePoint("driver.operate");
      workload.Operate(worker, index, intended);
      started.fetch_add(1, std::memory_order_relaxed);
    }
    workload.WorkerFinished(worker);
  };

  std::vector<Thread> workers;
  workers.reserve(threads);
  for (int worker = 0; worker < threads; ++worker) {
    workers.emplace_back(absl::StrCat("driver.", worker),
                         [&worker_main, worker] { worker_main(worker); });
  }

  // The status line and the series, from this thread, until the workers are done.
  RunSeries* const series = options.series;
  absl::Time next_sample = start + absl::Seconds(1);
  std::vector<std::pair<std::string, bool>> band_states;
  auto sample_series = [&](absl::Time now) {
    SeriesSample sample;
    sample.started = started.load(std::memory_order_relaxed);
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
  while (!done.load(std::memory_order_relaxed)) {
    netrig::SleepFor(absl::Milliseconds(20));
    const absl::Time now = netrig::Now();
    if (StopRequested()) finish("interrupted");
    if (options.stop_on_violation && violations != nullptr && !violations->empty()) {
      finish("violation");
    }
    if (now >= end) finish("duration");  // Also ends workers that wait inside Operate().
    if (series != nullptr) {
      sample_bands(now);
      if (now >= next_sample) {
        sample_series(now);
        next_sample += absl::Seconds(1);
      }
    }
    if (options.status_out != nullptr && now >= next_status) {
      const uint64_t count = started.load(std::memory_order_relaxed);
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
  for (auto& worker : workers) worker.join();
  if (series != nullptr) {
    // The last, partial second, then every band still open ends here.
    const absl::Time now = netrig::Now();
    sample_bands(now);
    sample_series(now);
    series->Finish(now);
  }

  DriveResult result;
  result.operations = started.load();
  result.elapsed = netrig::Now() - start;
  result.late_starts = late.load();
  if (open_loop) {
    result.intended_operations = static_cast<uint64_t>(
        options.rate * absl::ToDoubleSeconds(std::min(result.elapsed, options.duration)));
  }
  result.stop_reason = reason.load() != nullptr ? reason.load() : "duration";
  return result;
}

}  // namespace netrig
