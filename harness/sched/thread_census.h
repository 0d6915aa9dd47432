// The thread census: every thread the harness knows of (each netrig::Thread from its start, and
// any other thread once it passes a schedule point or runs a callback the harness watches), with
// its id and name, the last schedule point it passed, and whether it is inside a watched callback
// and since when. The watchdog uses it to say *where* a hang is: for each involved thread its
// name, its last schedule point and its stack.
//
// Stacks: CaptureThreadStacks() sends each census thread a real-time signal; the handler writes
// backtrace() into the thread's preallocated slot (nothing is allocated or locked in the
// handler), and the caller symbolizes the frames afterwards, outside any handler. A thread that
// does not answer within the timeout is listed with "no stack" and the reason, never waited for
// longer: TSan defers an asynchronous signal until the thread's next intercepted call, so a
// thread blocked in a raw syscall (a futex) may never run the handler, and a thread may block
// the signal.
//
// Threads are counted, not synchronized: every field is a relaxed atomic written by its own
// thread, and the census lock (taken when a thread joins and when it ends) is invisible to TSan,
// so the census adds no happens-before edge between threads that TSan could miss races through.
//
// Example:
//   {
//     netrig::WatchedCallback in_callback("completion");  // around a client's callback
//     ...
//   }
//   for (const netrig::ThreadSnapshot& thread : netrig::CaptureThreadStacks(absl::Seconds(1))) {
//     std::printf("%s (%s) last point %s\n%s", thread.id.c_str(), thread.name.c_str(),
//                 thread.last_point.c_str(), thread.stack.c_str());
//   }
#ifndef NETRIG_HARNESS_SCHED_THREAD_CENSUS_H_
#define NETRIG_HARNESS_SCHED_THREAD_CENSUS_H_

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace netrig {

namespace internal {
struct CensusRecord;
// The calling thread's record, or null until it joined the census.
extern thread_local CensusRecord* census_record;
// Records `point` (a string literal) as the calling thread's last schedule point.
void NoteSchedulePoint(const char* point);
// Joins the calling thread to the census (idempotent). netrig::Thread calls it at start with
// `netrig_thread`; other threads join on their first schedule point or watched callback.
CensusRecord* JoinCensus(bool netrig_thread = false);
}  // namespace internal

// Marks the calling thread as running a client's callback into the harness (`what`, a literal)
// until destroyed. Nestable (the outermost entry time counts).
class WatchedCallback {
 public:
  explicit WatchedCallback(const char* what);
  ~WatchedCallback();
  WatchedCallback(const WatchedCallback&) = delete;
  WatchedCallback& operator=(const WatchedCallback&) = delete;

 private:
  internal::CensusRecord* record_;
  bool outermost_;
};

struct ThreadSnapshot {
  std::string id;              // "t0.1.3", or "x<tid>" for a thread netrig did not start.
  std::string name;            // "driver.0", "http.reaper", or "unregistered" / "main".
  bool netrig_thread = false;  // Started by netrig::Thread.
  int tid = 0;
  std::string last_point;          // "" if none passed yet.
  const char* callback = nullptr;  // The watched callback it is in, or null.
  absl::Duration in_callback_for;  // How long, when in one.
  bool has_stack = false;
  std::string stack;  // One "    #N 0xADDR function\n" line per frame, or why there is none.
};

// Threads in the census now whose outermost watched callback started before `now - limit`.
std::vector<ThreadSnapshot> ThreadsInCallbackLongerThan(absl::Duration limit);

// Every thread in the census with its stack, each waited for at most `timeout` in total.
std::vector<ThreadSnapshot> CaptureThreadStacks(absl::Duration timeout);

// Renders snapshots as the hang report's thread list.
std::string FormatThreadSnapshots(const std::vector<ThreadSnapshot>& threads);

}  // namespace netrig

#endif  // NETRIG_HARNESS_SCHED_THREAD_CENSUS_H_
