// Controlled scheduling: the threads netrig starts run one at a time, and a strategy (random,
// PCT, POS, or the replay of a recorded schedule) picks which one runs at every scheduling
// point. Every choice is recorded (thread and point), so a schedule is data: replayed strictly,
// checked for determinism, shrunk.
//
// What is a scheduling point: every SchedulePoint(name), netrig::Mutex lock (a shadow lock: the
// real mutex is then taken uncontended, so TSan and -Wthread-safety still see it), netrig::CondVar
// waits and their timeouts, netrig::Thread spawn, start, exit and join, harness sleeps, and the
// return of every blocking probe the harness makes (netrig::Poll). Only steps where two or more
// threads could run are choices; only choices are recorded.
//
// Blocking the scheduler does not know about never hangs a run: a watchdog hands the baton on when
// its holder has been blocked in the kernel for `blocked_handoff`, records the handoff (replay
// repeats it) and counts it as control leakage. Threads netrig did not start run free
// (uncontrolled).
//
// Time is virtual while a scheduler runs: netrig::Now() advances 50 us per scheduling step and
// jumps to the next deadline when every thread waits, so a 2 s drain costs no wall time.
//
// Sanitizers: the scheduler's own code is built without TSan instrumentation and every entry
// ignores synchronization and memory accesses (AnnotateIgnoreSync/Reads/WritesBegin), so the
// baton never creates a happens-before edge and its books are never reported: a race the
// schedule orders is still a race to TSan, and a correct program stays clean
// (tests/sched/controlled_tsan_test.cc and tests/sched/controlled_test.cc under the tsan preset).
//
// Example:
//   netrig::ControlledOptions options;
//   options.strategy = netrig::ScheduleStrategy::kPct;
//   options.seed = 42;
//   netrig::ControlledScheduler scheduler(options);
//   scheduler.Begin();                 // the calling thread holds the baton
//   netrig::Thread a("a", [] { ... }), b("b", [] { ... });
//   a.join();
//   b.join();
//   netrig::ScheduleTrace trace = scheduler.End();
//   // Later, strict replay: the same strategy and seed, plus the recorded choices.
//   options.replay = trace.steps;
//   options.replay_threads = trace.threads;
//   options.replay_points = trace.points;
//   // -> the same interleaving, or trace.divergence names the first step that could not follow.
#ifndef NETRIG_HARNESS_SCHED_CONTROLLED_H_
#define NETRIG_HARNESS_SCHED_CONTROLLED_H_

#include <poll.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace netrig {

enum class ScheduleStrategy { kRandom, kPct, kPos, kReplay };

// "random", "pct", "pos", "replay".
absl::string_view ScheduleStrategyName(ScheduleStrategy strategy);

// One choice: the thread that ran (an index into ScheduleTrace::threads) and the point it had
// stopped at (an index into ScheduleTrace::points).
struct ScheduleStep {
  uint32_t thread = 0;
  uint32_t point = 0;
  bool operator==(const ScheduleStep&) const = default;
};

// Something that happened outside the strategy's choices, recorded so that replay repeats it.
struct ScheduleEvent {
  enum Kind { kWatchdogHandoff, kRejoin, kTimer, kDivergence, kDeadlock, kStepLimit };
  Kind kind = kTimer;
  uint64_t step = 0;    // The number of choices made before it.
  uint32_t thread = 0;  // Index into ScheduleTrace::threads.
  std::string detail;
  bool operator==(const ScheduleEvent&) const = default;
};
absl::string_view ScheduleEventKindName(ScheduleEvent::Kind kind);
// The kind named `name` (ScheduleEventKindName's inverse); false for an unknown name.
bool ScheduleEventKindNamed(absl::string_view name, ScheduleEvent::Kind* kind);
// The strategy named `name` ("random", "pct", "pos", "replay"); false for an unknown name.
bool ScheduleStrategyNamed(absl::string_view name, ScheduleStrategy* strategy);

// Where a strict replay first could not follow its recording.
struct ScheduleDivergence {
  uint64_t step = 0;            // The choice number (0-based).
  std::string expected_thread;  // The recorded thread id ("t0.3").
  std::string expected_point;   // The point it had stopped at in the recording.
  std::string actual;           // What the replay found: "t0.3@mutex.lock", "t0.3 not runnable
                                // (joining at thread.join)", "no choice left", ...
  std::string enabled;          // The threads that could run, "t0.1@io.poll, t0.3@mutex.lock".
  bool operator==(const ScheduleDivergence&) const = default;
};

struct ScheduleTrace {
  ScheduleStrategy strategy = ScheduleStrategy::kRandom;
  uint64_t seed = 0;
  int pct_depth = 0;
  std::vector<uint64_t> change_points;  // PCT: the choice numbers where priorities changed.
  // Stable ids in registration order: the controlling thread's ("t0"), then parent.k for the
  // k-th child a thread spawned under control ("t0.3"), whatever ran before control began.
  std::vector<std::string> threads;
  std::vector<std::string> points;  // Point names, in order of first use.
  std::vector<ScheduleStep> steps;  // One per choice.
  std::vector<ScheduleEvent> events;
  uint64_t max_enabled = 0;           // The largest number of threads that could run at once.
  uint64_t watchdog_handoffs = 0;     // Control leakage.
  uint64_t uncontrolled_enables = 0;  // Wake-ups that came from threads netrig does not control.
  // Strict replay: whether recorded choices were forced, and how many were followed.
  bool strict_replay = false;
  uint64_t replayed_steps = 0;
  bool diverged = false;  // Replay: the recorded schedule could not be followed.
  uint64_t divergence_step = 0;
  // "at step 640: expected t0.4@io.poll, actual t0.4@mutex.lock; enabled {...}".
  std::string divergence;
  ScheduleDivergence divergence_detail;
  // FNV-1a over the steps and events (divergence events excepted: a replay that follows its
  // recording to the end has the recording's hash): equal traces have equal hashes.
  uint64_t Hash() const;
  bool operator==(const ScheduleTrace&) const = default;
};

struct ControlledOptions {
  ScheduleStrategy strategy = ScheduleStrategy::kRandom;
  uint64_t seed = 0;
  int pct_depth = 3;
  // PCT picks its d-1 change points in [1, k]; 0: 2000 (learn it from a first run's trace).
  uint64_t pct_k = 0;
  // Strict replay (non-empty `replay`, or kReplay): the recorded choices are forced one by one,
  // each matched by thread id and point name (not by index). `strategy` and `seed` should be the
  // recording's: the strategy runs underneath, its state kept in step, and takes over after the
  // last recorded choice or at the first divergence (kReplay: random underneath).
  std::vector<ScheduleStep> replay;
  std::vector<std::string> replay_threads;  // The recording's thread ids, to map indices.
  std::vector<std::string> replay_points;   // Its point names (empty: points are not checked).
  // The recording's events: timers, handoffs and rejoins must come at the same steps too.
  std::vector<ScheduleEvent> replay_events;
  // Past this many choices the scheduler stops controlling (livelock guard), recorded.
  uint64_t step_limit = 1'000'000;
  // The baton holder blocked in the kernel this long (twice) is handed off.
  absl::Duration blocked_handoff = absl::Milliseconds(2);
  // Every controlled thread blocked, nothing timed, no wake-up from outside for this long (real
  // time): a deadlock, reported through `on_deadlock` and the trace, then control ends.
  absl::Duration deadlock_after = absl::Seconds(3);
  std::function<void(const std::string& description)> on_deadlock;
};

class ControlledScheduler {
 public:
  explicit ControlledScheduler(ControlledOptions options);
  ~ControlledScheduler();
  ControlledScheduler(const ControlledScheduler&) = delete;
  ControlledScheduler& operator=(const ControlledScheduler&) = delete;

  // Takes control: the calling thread becomes the first controlled thread and holds the baton.
  // Only one scheduler runs at a time in a process.
  void Begin();
  // Gives control up: every thread still controlled runs free again. Returns the trace.
  ScheduleTrace End();
  // The trace so far, control going on (for a process about to die: a sanitizer's report): as it
  // stood when the report began (MarkSanitizerReport), else now. Gives up after `patience` when
  // the scheduler's lock stays taken (nullopt).
  std::optional<ScheduleTrace> Snapshot(absl::Duration patience);

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Whether a controlled scheduler is running and the calling thread is one of its threads.
bool UnderControl();

// A sanitizer's report begins (ASan's __asan_on_error, in base/sanitizer_defaults.cc): the running
// scheduler keeps its trace as it stands, for Snapshot.
void MarkSanitizerReport();

// Pointer-keyed containers (a client's observer set, Abseil's per-process hash seed) iterate in
// an order that follows heap addresses, and address space layout randomization moves those on
// every run (measured: 2 of 10 controlled `bug-observer-leak` episodes diverged on replay with
// ASLR on; both replayed 5 of 5 under `setarch -R`). A controlled run therefore re-executes once
// (/proc/self/exe, the same argv) with ADDR_NO_RANDOMIZE, as `setarch -R` does; children, strict
// replays included, inherit it. Returns when ASLR is already off or cannot be turned off (then
// the run goes on with it, and only address-dependent orders may differ on replay).
void ReexecWithoutAddressRandomization(char** argv);
// Whether this process runs with address space layout randomization off.
bool AddressRandomizationOff();

// poll(2) as a scheduling point: under control, a non-blocking probe; when nothing is ready the
// caller waits (in harness time, up to `timeout_ms`; -1: no limit) while other threads run, and
// probes again after each of their steps. Without a scheduler it is poll(2).
int Poll(pollfd* fds, unsigned long count, int timeout_ms);

// The same for any wait that can be asked without blocking (epoll_wait with timeout 0,
// curl_multi_poll with timeout 0 and a look at a command queue): under control, calls `probe`
// until it returns non-zero, waiting between probes as Poll does, and returns its last result
// (0 at the timeout). Only for UnderControl() callers; others make their blocking call.
int ProbeUntil(const std::function<int()>& probe, int timeout_ms, absl::string_view point);

}  // namespace netrig

#endif  // NETRIG_HARNESS_SCHED_CONTROLLED_H_
