// DelayedCanceller: cancels HTTP tasks at given times from its own thread, for the `netrig
// http` workload's "after a random delay" and "after completion" cancel moments (http_tasks.h).
// Stop() fires every pending cancel at once; an Add() after Stop() cancels on the caller's
// thread. Not a public API.
#ifndef NETRIG_HARNESS_WORKLOADS_HTTP_DELAYED_CANCELLER_H_
#define NETRIG_HARNESS_WORKLOADS_HTTP_DELAYED_CANCELLER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <queue>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"
#include "harness/base/mutex.h"
#include "harness/http/http_client.h"
#include "harness/sched/thread.h"

namespace netrig::internal::http_stress {

// Cancels tasks at given times from its own thread ("after a random delay", "after completion").
class DelayedCanceller {
 public:
  DelayedCanceller() : thread_("http.canceller", [this] { Loop(); }) {}
  ~DelayedCanceller() { Stop(); }

  void Add(absl::Time when, std::shared_ptr<HttpTask> task);

  // Fires every pending cancel now and joins the thread.
  void Stop();

 private:
  struct Entry {
    absl::Time when;
    uint64_t sequence;
    std::shared_ptr<HttpTask> task;
    bool operator>(const Entry& other) const {
      return when != other.when ? when > other.when : sequence > other.sequence;
    }
  };

  void Loop();

  Mutex mu_;
  CondVar cv_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t sequence_ ABSL_GUARDED_BY(mu_) = 0;
  std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> queue_ ABSL_GUARDED_BY(mu_);
  Thread thread_;
};

}  // namespace netrig::internal::http_stress

#endif  // NETRIG_HARNESS_WORKLOADS_HTTP_DELAYED_CANCELLER_H_
