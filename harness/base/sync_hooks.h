// Hooks netrig::Mutex and netrig::CondVar call when a controlled scheduler is running
// (harness/sched/controlled.h), so that it can serialize the threads it controls through their
// locks and waits while the real primitive is still taken (TSan and -Wthread-safety keep seeing
// it). Without a scheduler the hooks cost one relaxed load per call. Base knows nothing of the
// scheduler: the sched layer installs the table.
#ifndef NETRIG_HARNESS_BASE_SYNC_HOOKS_H_
#define NETRIG_HARNESS_BASE_SYNC_HOOKS_H_

#include <atomic>

#include "absl/time/time.h"

namespace netrig::internal {

struct SyncHooks {
  // Before the real lock: may park the caller until the scheduler grants the lock.
  void (*before_lock)(const void* mutex);
  // After a real try-lock that succeeded (`acquired`) or not.
  void (*after_try_lock)(const void* mutex, bool acquired);
  // After the real unlock.
  void (*after_unlock)(const void* mutex);
  // Replaces the real wait when it returns true: the scheduler released `mutex` (really, and in
  // its books), parked the caller until a signal or `timeout` of harness time, and re-took
  // `mutex`. `*signaled` is false on timeout. `unlock`/`lock` take and release the real mutex.
  bool (*cond_wait)(const void* cond, const void* mutex, absl::Duration timeout, bool* signaled,
                    void (*unlock)(void*), void (*lock)(void*), void* real_mutex);
  // After the real notify.
  void (*cond_signal)(const void* cond, bool all);
};

extern std::atomic<const SyncHooks*> sync_hooks;

inline const SyncHooks* ActiveSyncHooks() { return sync_hooks.load(std::memory_order_relaxed); }

}  // namespace netrig::internal

#endif  // NETRIG_HARNESS_BASE_SYNC_HOOKS_H_
