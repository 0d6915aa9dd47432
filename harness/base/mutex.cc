#include "harness/base/mutex.h"

namespace netrig {

void CondVar::Wait(Mutex* mu) {
  std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
  cv_.wait(lock);
  lock.release();  // The caller still owns the mutex.
}

bool CondVar::WaitWithTimeout(Mutex* mu, absl::Duration timeout) {
  std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
  const auto status = cv_.wait_for(lock, absl::ToChronoNanoseconds(timeout));
  lock.release();
  return status == std::cv_status::no_timeout;
}

}  // namespace netrig
