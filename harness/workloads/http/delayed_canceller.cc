#include "harness/workloads/http/delayed_canceller.h"

#include <memory>
#include <utility>

#include "absl/time/time.h"
#include "harness/base/mutex.h"
#include "harness/http/http_client.h"
#include "harness/sched/clock.h"
#include "harness/sched/schedule_point.h"

namespace netrig::internal::http_stress {

void DelayedCanceller::Add(absl::Time when, std::shared_ptr<HttpTask> task) {
  if (task == nullptr) return;
  MutexLock lock(&mu_);
  if (stopping_) {
    // Still cancel, just now, on this thread.
    mu_.Unlock();
    task->Cancel();
    mu_.Lock();
    return;
  }
  queue_.push(Entry{when, sequence_++, std::move(task)});
  cv_.Signal();
}

void DelayedCanceller::Stop() {
  {
    MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
    cv_.Signal();
  }
  thread_.join();
}

void DelayedCanceller::Loop() {
  MutexLock lock(&mu_);
  while (true) {
    if (queue_.empty()) {
      if (stopping_) return;
      cv_.Wait(&mu_);
      continue;
    }
    const absl::Time now = netrig::Now();
    if (!stopping_ && queue_.top().when > now) {
      cv_.WaitWithTimeout(&mu_, queue_.top().when - now);
      continue;
    }
    std::shared_ptr<HttpTask> task = queue_.top().task;
    queue_.pop();
    mu_.Unlock();
    SchedulePoint("stress.delayed_cancel");
    task->Cancel();
    task.reset();
    mu_.Lock();
  }
}

}  // namespace netrig::internal::http_stress
