// netrig::Thread: every thread the harness starts goes through this one type, so that a
// scheduler can know it: each has a name and a stable id that does not depend on OS thread ids
// or timing. The main thread is "t0"; the k-th thread a thread "tX" starts is "tX.k". A thread
// netrig did not start (a client's own, libcurl's resolver) is "x<tid>" and runs free.
//
// ThreadAffinity is the checked form of "only the event thread runs this" (as Envoy's
// isThreadSafe()): bind it on the owning thread, check it where it matters; a call from any other
// thread aborts naming both.
//
// Example:
//   netrig::Thread reader("udp.reader", [this] { ReadLoop(); });
//   ...
//   reader.join();
//
//   netrig::ThreadAffinity event_thread_;            // member
//   event_thread_.BindToCurrent();                   // first thing in the event loop
//   event_thread_.Check("Session::DispatchLocked");  // in event-thread-only code
#ifndef NETRIG_HARNESS_SCHED_THREAD_H_
#define NETRIG_HARNESS_SCHED_THREAD_H_

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>

#include "absl/functional/any_invocable.h"

namespace netrig {

class Thread {
 public:
  Thread() = default;
  // Starts `body` on a new thread called `name` (shown in /proc, gdb and sanitizer reports; at
  // most 15 characters reach the kernel).
  Thread(std::string name, absl::AnyInvocable<void() &&> body);
  Thread(Thread&&) noexcept = default;
  Thread& operator=(Thread&& other) noexcept;
  Thread(const Thread&) = delete;
  Thread& operator=(const Thread&) = delete;
  // Like std::thread, a joinable Thread must be joined (or detached) before it is destroyed.
  ~Thread() = default;

  bool joinable() const { return thread_.joinable(); }
  // Under a controlled scheduler, joining is a scheduling step (the joiner waits while others
  // run until the thread has exited).
  void join();
  void detach() { thread_.detach(); }
  const std::string& id() const { return id_; }
  const std::string& name() const { return name_; }

 private:
  std::string id_;
  std::string name_;
  // The controlled scheduler's record of this thread, and which scheduler run it belongs to
  // (null: the thread runs free).
  void* control_record_ = nullptr;
  uint64_t control_epoch_ = 0;
  std::thread thread_;
};

// The calling thread's stable id ("t0", "t0.3", or "x<tid>" for a thread netrig did not start)
// and name.
const std::string& CurrentThreadId();
const std::string& CurrentThreadName();

class ThreadAffinity {
 public:
  // The calling thread becomes the owner.
  void BindToCurrent();
  // No owner any more (the owning thread is ending).
  void Unbind() { owner_.store(nullptr, std::memory_order_release); }
  bool IsCurrent() const;
  // Aborts, naming `what`, the owner and the caller, unless the caller is the owner (or no
  // thread is bound yet).
  void Check(const char* what) const;

 private:
  std::atomic<const void*> owner_{nullptr};
};

}  // namespace netrig

#endif  // NETRIG_HARNESS_SCHED_THREAD_H_
