// netrig::Mutex, netrig::MutexLock and netrig::CondVar: the one mutex used for state shared
// across threads.
//
// Why not absl::Mutex: Debian's prebuilt Abseil is not TSan-instrumented, so TSan cannot see
// absl::Mutex acquire/release and reports races on data it guards. std::mutex goes through
// pthreads, which TSan intercepts. libstdc++'s std::mutex carries no thread-safety annotations,
// so this wrapper adds them: clang's -Wthread-safety then checks ABSL_GUARDED_BY at compile
// time what TSan checks at run time.
//
// Example:
//   class Counter {
//    public:
//     void Add() { netrig::MutexLock lock(&mu_); ++n_; }
//    private:
//     netrig::Mutex mu_;
//     int n_ ABSL_GUARDED_BY(mu_) = 0;
//   };
#ifndef NETRIG_HARNESS_BASE_MUTEX_H_
#define NETRIG_HARNESS_BASE_MUTEX_H_

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"
#include "harness/base/sync_hooks.h"

namespace netrig {

class ABSL_LOCKABLE Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  // Under a controlled scheduler (harness/sched/controlled.h) a lock is also a scheduling point:
  // the scheduler grants it in its books first, so the real lock is then taken uncontended.
  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() {
    if (const internal::SyncHooks* hooks = internal::ActiveSyncHooks()) hooks->before_lock(this);
    mu_.lock();
  }
  void Unlock() ABSL_UNLOCK_FUNCTION() {
    mu_.unlock();
    if (const internal::SyncHooks* hooks = internal::ActiveSyncHooks()) hooks->after_unlock(this);
  }
  bool TryLock() ABSL_EXCLUSIVE_TRYLOCK_FUNCTION(true) {
    const bool acquired = mu_.try_lock();
    if (const internal::SyncHooks* hooks = internal::ActiveSyncHooks()) {
      hooks->after_try_lock(this, acquired);
    }
    return acquired;
  }
  // Documents (and tells the analysis) that the caller holds the lock.
  void AssertHeld() const ABSL_ASSERT_EXCLUSIVE_LOCK() {}

 private:
  friend class CondVar;
  std::mutex mu_;
};

class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() ABSL_UNLOCK_FUNCTION() { mu_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* const mu_;
};

// A condition variable bound to netrig::Mutex. Wait* must be called with `mu` held.
class CondVar {
 public:
  void Wait(Mutex* mu) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Returns false on timeout.
  bool WaitWithTimeout(Mutex* mu, absl::Duration timeout) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  void Signal() {
    cv_.notify_one();
    if (const internal::SyncHooks* hooks = internal::ActiveSyncHooks())
      hooks->cond_signal(this, false);
  }
  void SignalAll() {
    cv_.notify_all();
    if (const internal::SyncHooks* hooks = internal::ActiveSyncHooks())
      hooks->cond_signal(this, true);
  }

 private:
  std::condition_variable cv_;
};

}  // namespace netrig

#endif  // NETRIG_HARNESS_BASE_MUTEX_H_
