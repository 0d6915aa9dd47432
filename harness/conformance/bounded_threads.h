// BoundedThreads: threads that call into a client under test, which may block forever when the
// client is broken (a Close() that wakes no read, a Cancel() that deadlocks). The conformance
// properties must report that as a failure instead of hanging the test binary.
//
// Whatever the threads use must be kept alive by what the thread functions capture (a shared_ptr),
// since a thread still blocked at the deadline is detached and may return later.
//
// Example:
//   auto flow = std::shared_ptr<netrig::Flow>(std::move(opened));
//   netrig::conformance::internal::BoundedThreads readers;
//   readers.Start([flow] { (void)flow->Read(8, absl::Seconds(30)); });
//   flow->Close();
//   if (!readers.JoinWithin(absl::Seconds(5))) return absl::DeadlineExceededError("...");
#ifndef NETRIG_HARNESS_CONFORMANCE_BOUNDED_THREADS_H_
#define NETRIG_HARNESS_CONFORMANCE_BOUNDED_THREADS_H_

#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "harness/base/mutex.h"

namespace netrig::conformance::internal {

class BoundedThreads {
 public:
  BoundedThreads() = default;
  BoundedThreads(const BoundedThreads&) = delete;
  BoundedThreads& operator=(const BoundedThreads&) = delete;
  // Joins what finished; detaches the rest (JoinWithin was not called or timed out).
  ~BoundedThreads();

  void Start(std::function<void()> body);
  // True when every started thread returned within `timeout` (all are then joined); false
  // otherwise (all are then detached).
  bool JoinWithin(absl::Duration timeout);
  // How many threads returned so far.
  int Finished() const;

 private:
  struct Done {
    mutable Mutex mu;
    CondVar changed;
    int finished ABSL_GUARDED_BY(mu) = 0;
  };
  std::shared_ptr<Done> done_ = std::make_shared<Done>();
  std::vector<std::thread> threads_;
};

}  // namespace netrig::conformance::internal

#endif  // NETRIG_HARNESS_CONFORMANCE_BOUNDED_THREADS_H_
