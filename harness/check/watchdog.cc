#include "harness/check/watchdog.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "harness/sched/clock.h"
#include "harness/sched/thread.h"

namespace netrig {

Watchdog::Watchdog(std::vector<const Ledger*> ledgers, ViolationLog* violations,
                   absl::Duration period, FILE* log)
    : ledgers_(std::move(ledgers)), violations_(violations), period_(period), log_(log) {
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

size_t Watchdog::CheckNow() {
  const absl::Time now = netrig::Now();
  size_t fresh = 0;
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
