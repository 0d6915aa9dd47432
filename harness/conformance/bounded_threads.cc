#include "harness/conformance/bounded_threads.h"

#include <utility>

#include "absl/time/clock.h"

namespace netrig::conformance::internal {

BoundedThreads::~BoundedThreads() {
  for (std::thread& thread : threads_) {
    if (thread.joinable()) thread.detach();
  }
}

void BoundedThreads::Start(std::function<void()> body) {
  threads_.emplace_back([done = done_, body = std::move(body)] {
    body();
    MutexLock lock(&done->mu);
    ++done->finished;
    done->changed.SignalAll();
  });
}

bool BoundedThreads::JoinWithin(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  bool all = false;
  {
    MutexLock lock(&done_->mu);
    while (done_->finished < static_cast<int>(threads_.size())) {
      const absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) break;
      done_->changed.WaitWithTimeout(&done_->mu, left);
    }
    all = done_->finished == static_cast<int>(threads_.size());
  }
  for (std::thread& thread : threads_) {
    if (!thread.joinable()) continue;
    if (all) {
      thread.join();
    } else {
      thread.detach();  // Still blocked in the client under test: leave it, report it.
    }
  }
  return all;
}

int BoundedThreads::Finished() const {
  MutexLock lock(&done_->mu);
  return done_->finished;
}

}  // namespace netrig::conformance::internal
