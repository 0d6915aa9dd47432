#include "harness/check/watchdog.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "harness/sched/clock.h"
#include "harness/sched/thread.h"
#include "harness/sched/thread_census.h"

namespace netrig {
namespace {
// How long the hang report waits for the threads' stacks in total.
constexpr absl::Duration kStackTimeout = absl::Seconds(2);
}  // namespace

Watchdog::Watchdog(std::vector<const Ledger*> ledgers, ViolationLog* violations,
                   absl::Duration period, FILE* log, absl::Duration hang_after)
    : ledgers_(std::move(ledgers)),
      violations_(violations),
      period_(period),
      log_(log),
      hang_after_(hang_after) {
  thread_ = Thread("watchdog", [this] { Loop(); });
}

Watchdog::~Watchdog() { Stop(); }

void Watchdog::Stop() {
  {
    MutexLock lock(&mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
    wake_.SignalAll();
  }
  if (thread_.joinable()) thread_.join();
}

void Watchdog::Loop() {
  MutexLock lock(&mu_);
  while (!stopping_) {
    wake_.WaitWithTimeout(&mu_, period_);
    if (stopping_) break;
    mu_.Unlock();
    CheckNow();
    mu_.Lock();
  }
}

bool Watchdog::CheckCallbacks() {
  if (hang_after_ <= absl::ZeroDuration() || hang_reported_.load()) return false;
  const std::vector<ThreadSnapshot> hung = ThreadsInCallbackLongerThan(hang_after_);
  if (hung.empty() || hang_reported_.exchange(true)) return false;
  // Every thread of the census with its stack, the hung callbacks' threads first.
  std::vector<ThreadSnapshot> threads = CaptureThreadStacks(kStackTimeout);
  std::stable_partition(threads.begin(), threads.end(),
                        [](const ThreadSnapshot& thread) { return thread.callback != nullptr; });
  const ThreadSnapshot& first = hung.front();
  std::string message = absl::StrFormat(
      "%s callback on thread %s \"%s\" has not returned for %s (last schedule point %s): the "
      "client is deadlocked in or under its callback (%d thread(s) in callbacks past %s); "
      "threads:\n%s",
      first.callback, first.id, first.name,
      absl::FormatDuration(absl::Trunc(first.in_callback_for, absl::Milliseconds(1))),
      first.last_point.empty() ? "(none)" : first.last_point, hung.size(),
      absl::FormatDuration(hang_after_), FormatThreadSnapshots(threads));
  if (log_ != nullptr) absl::FPrintF(log_, "netrig watchdog: hang: %s", message);
  violations_->Report("hang", std::move(message));
  return true;
}

size_t Watchdog::CheckNow() {
  const absl::Time now = netrig::Now();
  size_t fresh = CheckCallbacks() ? 1 : 0;
  for (size_t i = 0; i < ledgers_.size(); ++i) {
    const Ledger& ledger = *ledgers_[i];
    for (const Ledger::Stuck& stuck : ledger.Overdue(now)) {
      {
        MutexLock lock(&mu_);
        if (!reported_.insert({i, stuck.id}).second) continue;
      }
      ++fresh;
      const std::string message =
          absl::StrFormat("%s %d stuck for %s in state '%s' (scope %d)", ledger.noun(), stuck.id,
                          absl::FormatDuration(absl::Trunc(stuck.age, absl::Milliseconds(1))),
                          stuck.state, stuck.scope);
      if (log_ != nullptr) absl::FPrintF(log_, "netrig watchdog: %s\n", message);
      violations_->Report("stuck", message);
    }
  }
  return fresh;
}

uint64_t Watchdog::stuck_reported() const {
  MutexLock lock(&mu_);
  return reported_.size();
}

}  // namespace netrig
