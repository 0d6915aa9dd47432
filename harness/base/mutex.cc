#include "harness/base/mutex.h"

namespace netrig {
namespace internal {
std::atomic<const SyncHooks*> sync_hooks{nullptr};
}  // namespace internal

namespace {

void UnlockReal(void* mu) { static_cast<std::mutex*>(mu)->unlock(); }
void LockReal(void* mu) { static_cast<std::mutex*>(mu)->lock(); }

}  // namespace

void CondVar::Wait(Mutex* mu) {
  if (const internal::SyncHooks* hooks = internal::ActiveSyncHooks()) {
    bool signaled = false;
    if (hooks->cond_wait(this, mu, absl::InfiniteDuration(), &signaled, &UnlockReal, &LockReal,
                         &mu->mu_)) {
      return;
    }
  }
  std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
  cv_.wait(lock);
  lock.release();  // The caller still owns the mutex.
}

bool CondVar::WaitWithTimeout(Mutex* mu, absl::Duration timeout) {
  if (const internal::SyncHooks* hooks = internal::ActiveSyncHooks()) {
    bool signaled = false;
    if (hooks->cond_wait(this, mu, timeout, &signaled, &UnlockReal, &LockReal, &mu->mu_)) {
      return signaled;
    }
  }
  std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
  const auto status = cv_.wait_for(lock, absl::ToChronoNanoseconds(timeout));
  lock.release();
  return status == std::cv_status::no_timeout;
}

}  // namespace netrig
