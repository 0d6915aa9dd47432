// InFlightBudget: how much work a workload has in flight (HTTP tasks, UDP bytes) against a limit,
// one mechanism for every workload. A writer waits on a condition variable while the budget is
// spent (no spinning); a completion gives its cost back and wakes a waiter only when one is
// waiting, so the completion path stays two atomic operations.
//
// One operation larger than the whole budget still goes when nothing else is in flight.
//
// Example (closed loop, at most 64 tasks in flight):
//   netrig::InFlightBudget in_flight(64);
//   if (!in_flight.Acquire(1, [&] { return StopRequested(); })) return;
//   client.Start(task, [&] { in_flight.Release(1); });
#ifndef NETRIG_HARNESS_DRIVE_IN_FLIGHT_H_
#define NETRIG_HARNESS_DRIVE_IN_FLIGHT_H_

#include <atomic>
#include <cstdint>

#include "absl/time/time.h"
#include "harness/base/mutex.h"

namespace netrig {

class InFlightBudget {
 public:
  // `limit` <= 0: no limit.
  explicit InFlightBudget(int64_t limit) : limit_(limit) {}
  InFlightBudget(const InFlightBudget&) = delete;
  InFlightBudget& operator=(const InFlightBudget&) = delete;

  // Takes `cost`, waiting while it does not fit. False (nothing taken) once `give_up()` returns
  // true; it is asked before each wait of at most `poll`.
  template <typename GiveUp>
  bool Acquire(int64_t cost, GiveUp give_up, absl::Duration poll = absl::Milliseconds(5)) {
    return Wait(cost, give_up, poll, /*take=*/true);
  }
  // Waits until `cost` would fit, without taking it (a writer that learns its real cost only
  // after writing, then calls Add). False once `give_up()` returns true.
  template <typename GiveUp>
  bool WaitForRoom(int64_t cost, GiveUp give_up, absl::Duration poll = absl::Milliseconds(5)) {
    return Wait(cost, give_up, poll, /*take=*/false);
  }
  // Takes `cost` without waiting.
  void Add(int64_t cost) { in_flight_.fetch_add(cost, std::memory_order_relaxed); }
  // Gives `cost` back; wakes waiters if there are any.
  void Release(int64_t cost) {
    in_flight_.fetch_sub(cost, std::memory_order_acq_rel);
    if (waiters_.load(std::memory_order_acquire) > 0) {
      MutexLock lock(&mu_);
      freed_.SignalAll();
    }
  }
  int64_t in_flight() const { return in_flight_.load(std::memory_order_relaxed); }
  int64_t limit() const { return limit_; }

 private:
  bool Fits(int64_t now, int64_t cost) const {
    return limit_ <= 0 || now + cost <= limit_ || now <= 0;
  }
  bool TryTake(int64_t cost, bool take) {
    int64_t now = in_flight_.load(std::memory_order_relaxed);
    while (Fits(now, cost)) {
      if (!take) return true;
      if (in_flight_.compare_exchange_weak(now, now + cost, std::memory_order_acq_rel)) {
        return true;
      }
    }
    return false;
  }
  template <typename GiveUp>
  bool Wait(int64_t cost, GiveUp& give_up, absl::Duration poll, bool take) {
    if (TryTake(cost, take)) return true;
    waiters_.fetch_add(1, std::memory_order_acq_rel);
    bool ok = false;
    while (true) {
      if (TryTake(cost, take)) {
        ok = true;
        break;
      }
      if (give_up()) break;
      MutexLock lock(&mu_);
      // A Release between TryTake and here costs at most `poll`.
      freed_.WaitWithTimeout(&mu_, poll);
    }
    waiters_.fetch_sub(1, std::memory_order_acq_rel);
    return ok;
  }

  const int64_t limit_;
  std::atomic<int64_t> in_flight_{0};
  std::atomic<int> waiters_{0};
  Mutex mu_;
  CondVar freed_;
};

}  // namespace netrig

#endif  // NETRIG_HARNESS_DRIVE_IN_FLIGHT_H_
