// The controlled scheduler (controlled.h). One global mutex guards the scheduler's books; each
// controlled thread waits on its own condition variable until it holds the baton. This file is
// compiled without TSan instrumentation, and every entry into it ignores synchronization and
// memory accesses (IgnoreSync), so the baton never tells TSan that two threads are ordered (only
// the real netrig::Mutex locks and atomics of the code under test do), and the books, guarded
// by a lock TSan no longer sees, are not reported as racing. Code under test reached from here
// (a real mutex in CondWait, a blocking call when control ends, the deadlock callback) is run
// with the ignores lifted. tests/sched/controlled_tsan_test.cc keeps both halves true.
#include "harness/sched/controlled.h"

#include <dlfcn.h>
#include <poll.h>
#include <sys/personality.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "harness/base/sync_hooks.h"
#include "harness/base/tsan_ignore.h"
#include "harness/sched/clock.h"
#include "harness/sched/control_hooks.h"
#include "harness/sched/schedule_point.h"
#include "harness/sched/thread.h"

namespace netrig {

absl::string_view ScheduleStrategyName(ScheduleStrategy strategy) {
  switch (strategy) {
    case ScheduleStrategy::kRandom:
      return "random";
    case ScheduleStrategy::kPct:
      return "pct";
    case ScheduleStrategy::kPos:
      return "pos";
    case ScheduleStrategy::kReplay:
      return "replay";
  }
  return "random";
}

absl::string_view ScheduleEventKindName(ScheduleEvent::Kind kind) {
  switch (kind) {
    case ScheduleEvent::kWatchdogHandoff:
      return "watchdog_handoff";
    case ScheduleEvent::kRejoin:
      return "rejoin";
    case ScheduleEvent::kTimer:
      return "timer";
    case ScheduleEvent::kDivergence:
      return "divergence";
    case ScheduleEvent::kDeadlock:
      return "deadlock";
    case ScheduleEvent::kStepLimit:
      return "step_limit";
  }
  return "timer";
}

bool ScheduleEventKindNamed(absl::string_view name, ScheduleEvent::Kind* kind) {
  for (ScheduleEvent::Kind candidate :
       {ScheduleEvent::kWatchdogHandoff, ScheduleEvent::kRejoin, ScheduleEvent::kTimer,
        ScheduleEvent::kDivergence, ScheduleEvent::kDeadlock, ScheduleEvent::kStepLimit}) {
    if (ScheduleEventKindName(candidate) == name) {
      *kind = candidate;
      return true;
    }
  }
  return false;
}

bool ScheduleStrategyNamed(absl::string_view name, ScheduleStrategy* strategy) {
  for (ScheduleStrategy candidate : {ScheduleStrategy::kRandom, ScheduleStrategy::kPct,
                                     ScheduleStrategy::kPos, ScheduleStrategy::kReplay}) {
    if (ScheduleStrategyName(candidate) == name) {
      *strategy = candidate;
      return true;
    }
  }
  return false;
}

uint64_t ScheduleTrace::Hash() const {
  uint64_t hash = 0xcbf29ce484222325ULL;
  auto mix = [&hash](uint64_t value) {
    for (int i = 0; i < 8; ++i) {
      hash = (hash ^ ((value >> (8 * i)) & 0xff)) * 0x100000001b3ULL;
    }
  };
  for (const ScheduleStep& step : steps) {
    mix(step.thread);
    mix(step.point);
  }
  for (const ScheduleEvent& event : events) {
    if (event.kind == ScheduleEvent::kDivergence) continue;
    mix(event.kind);
    mix(event.step);
    mix(event.thread);
  }
  return hash;
}

namespace {

// How many IgnoreSync scopes this thread is inside (nonzero only in TSan builds).
thread_local int tsan_ignore_depth = 0;

// Makes the scheduler invisible to TSan for the scope (TSan builds). Synchronization is
// ignored because the baton must not order anything; memory accesses are ignored because the
// scheduler's books, guarded by a lock TSan no longer sees, are also touched by code this file
// does not own (inline std::map and string code instantiated in instrumented files, memcmp).
// Suspend() lets a real lock of the code under test be seen again inside the scope.
class IgnoreSync {
 public:
  IgnoreSync() { Resume(); }
  ~IgnoreSync() {
    if (active_) Suspend();
  }
  IgnoreSync(const IgnoreSync&) = delete;
  IgnoreSync& operator=(const IgnoreSync&) = delete;

  void Suspend() {
    active_ = false;
    --tsan_ignore_depth;
    EndTsanIgnores(/*accesses=*/true);
  }
  void Resume() {
    active_ = true;
    ++tsan_ignore_depth;
    BeginTsanIgnores(/*accesses=*/true);
  }

 private:
  bool active_ = false;
};

// Inside IgnoreSync scopes, around code that is not the scheduler's (a user's callback): TSan
// sees everything again.
class SeenByTsan {
 public:
  SeenByTsan() : depth_(tsan_ignore_depth) {
    for (int i = 0; i < depth_; ++i) EndTsanIgnores(/*accesses=*/true);
    tsan_ignore_depth = 0;
  }
  ~SeenByTsan() {
    tsan_ignore_depth = depth_;
    for (int i = 0; i < depth_; ++i) BeginTsanIgnores(/*accesses=*/true);
  }
  SeenByTsan(const SeenByTsan&) = delete;
  SeenByTsan& operator=(const SeenByTsan&) = delete;

 private:
  const int depth_;
};

// Virtual time advanced per scheduling step.
constexpr absl::Duration kStepTime = absl::Microseconds(50);
// Real time slept between probe rounds when every thread waits on I/O (growing to 1 ms).
constexpr absl::Duration kQuiescentProbePause = absl::Microseconds(100);
// Fruitless probe rounds before harness time jumps to the next deadline.
constexpr int kProbeRoundsBeforeTimers = 3;

enum class State {
  kRunnable,     // May be chosen.
  kBlockedLock,  // Waits for a shadow lock.
  kBlockedCond,  // Waits for a signal (and maybe a deadline).
  kBlockedJoin,  // Waits for another thread to exit.
  kIoWait,       // Probed, nothing ready: runnable again after another thread's step or deadline.
  kSleeping,     // Until a deadline.
  kExited,
  kExternal,  // Handed off while blocked outside the scheduler; rejoins at its next call.
};

const char* StateName(State state) {
  switch (state) {
    case State::kRunnable:
      return "runnable";
    case State::kBlockedLock:
      return "waiting for a lock";
    case State::kBlockedCond:
      return "waiting for a signal";
    case State::kBlockedJoin:
      return "joining";
    case State::kIoWait:
      return "waiting for I/O";
    case State::kSleeping:
      return "sleeping";
    case State::kExited:
      return "exited";
    case State::kExternal:
      return "blocked outside the scheduler";
  }
  return "?";
}

struct ControlledThread {
  uint32_t index = 0;
  // The scheduler's own id: the controlling thread's netrig id, then parent.k for the k-th
  // child a thread spawned under this scheduler. Unlike a netrig::Thread id it does not depend
  // on threads spawned before control began, so a recording made in one process (a test's
  // second run, a replay) names the same threads.
  std::string id;
  uint32_t spawned = 0;
  pid_t tid = 0;
  State state = State::kRunnable;
  std::condition_variable baton;
  const void* waiting_on = nullptr;
  absl::Time deadline = absl::InfiniteFuture();
  bool timed_out = false;
  uint64_t io_events_seen = 0;  // kIoWait: runnable again once events_ passes this.
  uint32_t point = 0;           // The point it stopped at last (index into points_).
  double priority = 0;          // PCT and POS.
  std::vector<ControlledThread*> joiners;
};

thread_local ControlledThread* current_thread = nullptr;

ControlledScheduler::Impl* active_scheduler = nullptr;

// The monotonic clocks a controlled thread reads (libcurl's timers, the embedded server's delay
// queue) while a scheduler controls: the real monotonic time when control began plus the virtual
// time elapsed since. Atomics, because clock_gettime is read from anywhere, the scheduler's own
// condition-variable waits included.
std::atomic<bool> virtual_monotonic_on{false};
std::atomic<int64_t> virtual_monotonic_ns{0};

using ClockGettime = int (*)(clockid_t, timespec*);

int SyscallClockGettime(clockid_t clock, timespec* ts) {
  return static_cast<int>(syscall(SYS_clock_gettime, clock, ts));
}

// The clock_gettime this executable's definition (below) hides: the C library's (or, in a
// build with shared sanitizer runtimes, the runtime's interceptor, which then calls the C
// library's).
int RealClockGettime(clockid_t clock, timespec* ts) {
  static std::atomic<ClockGettime> real{nullptr};
  ClockGettime call = real.load(std::memory_order_relaxed);
  if (call == nullptr) {
    call = reinterpret_cast<ClockGettime>(dlsym(RTLD_NEXT, "clock_gettime"));
    if (call == nullptr || call == &clock_gettime) call = &SyscallClockGettime;
    real.store(call, std::memory_order_relaxed);
  }
  return call(clock, ts);
}

int64_t RealMonotonicNs() {
  timespec ts{};
  RealClockGettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

bool IsMonotonicClock(clockid_t clock) {
  return clock == CLOCK_MONOTONIC || clock == CLOCK_MONOTONIC_COARSE ||
         clock == CLOCK_MONOTONIC_RAW || clock == CLOCK_BOOTTIME;
}

}  // namespace

class ControlledScheduler::Impl {
 public:
  explicit Impl(ControlledOptions options)
      : options_(std::move(options)), rng_(options_.seed ^ 0x6c62272e07bb0142ULL) {
    trace_.strategy = options_.strategy;
    trace_.seed = options_.seed;
    trace_.pct_depth = options_.strategy == ScheduleStrategy::kPct ? options_.pct_depth : 0;
    if (options_.strategy == ScheduleStrategy::kPct) {
      const uint64_t k = options_.pct_k > 0 ? options_.pct_k : 2000;
      for (int i = 1; i < options_.pct_depth; ++i) {
        change_points_.push_back(1 + rng_() % k);
      }
      std::sort(change_points_.begin(), change_points_.end());
      trace_.change_points = change_points_;
    }
    strict_ = !options_.replay.empty() || options_.strategy == ScheduleStrategy::kReplay;
    trace_.strict_replay = strict_;
    for (const ScheduleEvent& event : options_.replay_events) {
      if (event.kind != ScheduleEvent::kDivergence) replay_events_.push_back(event);
    }
  }

  // ---- Lifecycle ----

  void Begin() {
    IgnoreSync ignore;
    std::unique_lock<std::mutex> lock(mu_);
    active_scheduler = this;
    controlling_ = true;
    virtual_now_ = absl::Now();
    virtual_start_ = virtual_now_;
    monotonic_start_ns_ = RealMonotonicNs();
    virtual_monotonic_ns.store(monotonic_start_ns_, std::memory_order_relaxed);
    virtual_monotonic_on.store(true, std::memory_order_release);
    ControlledThread* main = Register(CurrentThreadId());
    main->tid = static_cast<pid_t>(syscall(SYS_gettid));
    current_thread = main;
    running_ = main;
    holder_outside_ = true;
    lock.unlock();
    InstallHooks();
    watchdog_ = std::thread([this] { WatchdogLoop(); });
  }

  ScheduleTrace End() {
    {
      IgnoreSync ignore;
      std::unique_lock<std::mutex> lock(mu_);
      ReleaseAllLocked();
      CheckReplayCompleteLocked();
      stop_watchdog_ = true;
      watchdog_wake_.notify_all();
    }
    if (watchdog_.joinable()) watchdog_.join();
    RemoveHooks();
    IgnoreSync ignore;
    std::unique_lock<std::mutex> lock(mu_);
    current_thread = nullptr;
    active_scheduler = nullptr;
    return trace_;
  }

  bool Controls() const { return controlling_.load(std::memory_order_acquire); }

  // A sanitizer began its report: keep the trace as it stands. The report takes long enough
  // for the watchdog to hand the reporting thread's baton on, and the choices made meanwhile
  // depend on how long printing takes, so a snapshot taken at death would differ run to run.
  void MarkReport() {
    IgnoreSync ignore;
    // try_lock: the report may come from inside the scheduler, its lock held.
    std::unique_lock<std::mutex> lock(mu_, std::try_to_lock);
    if (lock.owns_lock() && !at_report_.has_value()) at_report_ = trace_;
  }

  std::optional<ScheduleTrace> Snapshot(absl::Duration patience) {
    IgnoreSync ignore;
    const absl::Time give_up = absl::Now() + patience;
    std::unique_lock<std::mutex> lock(mu_, std::try_to_lock);
    while (!lock.owns_lock()) {
      if (absl::Now() > give_up) return std::nullopt;
      absl::SleepFor(absl::Milliseconds(1));
      lock.try_lock();
    }
    if (at_report_.has_value()) return at_report_;
    return trace_;
  }

  // ---- Hooks: threads ----

  void* OnSpawn(const std::string& /*netrig_id*/) {
    ControlledThread* self = current_thread;
    if (self == nullptr || !Controls()) return nullptr;
    IgnoreSync ignore;
    std::unique_lock<std::mutex> lock(mu_);
    if (!controlling_) return nullptr;
    // Registered now, runnable from the parent's next step (the spawn point, taken once the OS
    // thread exists: handing it the baton earlier would wait for a thread not yet started).
    return Register(absl::StrCat(self->id, ".", self->spawned++));
  }

  void OnStart(void* record) {
    auto* self = static_cast<ControlledThread*>(record);
    current_thread = self;
    IgnoreSync ignore;
    std::unique_lock<std::mutex> lock(mu_);
    self->tid = static_cast<pid_t>(syscall(SYS_gettid));
    WaitForBaton(lock, self);
  }

  void OnExit(void* record) {
    auto* self = static_cast<ControlledThread*>(record);
    IgnoreSync ignore;
    std::unique_lock<std::mutex> lock(mu_);
    current_thread = nullptr;
    if (!controlling_) return;
    Rejoin(lock, self);
    self->state = State::kExited;
    for (ControlledThread* joiner : self->joiners) {
      if (joiner->state == State::kBlockedJoin) joiner->state = State::kRunnable;
    }
    self->joiners.clear();
    if (running_ == self) HandOff(lock, self, /*wait=*/false);
  }

  void BeforeJoin(void* record) {
    auto* target = static_cast<ControlledThread*>(record);
    ControlledThread* self = current_thread;
    if (self == nullptr || target == nullptr) return;
    IgnoreSync ignore;
    std::unique_lock<std::mutex> lock(mu_);
    if (!controlling_) return;
    Rejoin(lock, self);
    self->point = Intern("thread.join");
    if (target->state != State::kExited) {
      self->state = State::kBlockedJoin;
      target->joiners.push_back(self);
    }
    Step(lock, self, nullptr);
  }

  // ---- Hooks: points, sleeps, probes ----

  void OnPoint(absl::string_view name) {
    ControlledThread* self = current_thread;
    if (self == nullptr) return;
    IgnoreSync ignore;
    std::unique_lock<std::mutex> lock(mu_);
    if (!controlling_) return;
    Rejoin(lock, self);
    Step(lock, self, name);
  }

  absl::Time Now() {
    IgnoreSync ignore;
    std::unique_lock<std::mutex> lock(mu_);
    return virtual_now_;
  }

  void SleepUntil(absl::Time when) {
    ControlledThread* self = current_thread;
    if (self == nullptr || !Controls()) {
      // A thread the scheduler does not run: real time passes for it, a little at a time.
      absl::SleepFor(std::min(absl::Milliseconds(1), std::max(absl::ZeroDuration(), when - Now())));
      return;
    }
    IgnoreSync ignore;
    std::unique_lock<std::mutex> lock(mu_);
    if (!controlling_) return;
    Rejoin(lock, self);
    self->point = Intern("sleep");
    if (when > virtual_now_) {
      self->state = State::kSleeping;
      self->deadline = when;
    }
    Step(lock, self, nullptr);
  }

  // Probes until `probe` reports something (or harness time passes `timeout_ms`), letting the
  // other threads run between probes. `blocking` is the call to make instead when control ends.
  int ProbeUntil(const std::function<int()>& probe, int timeout_ms, absl::string_view point,
                 const std::function<int()>& blocking) {
    ControlledThread* self = current_thread;
    if (self == nullptr || !Controls()) return blocking();
    absl::Time deadline = absl::InfiniteFuture();
    bool first = true;
    while (true) {
      const int ready = probe();
      if (ready != 0 || timeout_ms == 0) return ready;
      IgnoreSync ignore;
      std::unique_lock<std::mutex> lock(mu_);
      if (!controlling_) {
        lock.unlock();
        ignore.Suspend();
        return blocking();
      }
      Rejoin(lock, self);
      if (first) {
        first = false;
        if (timeout_ms > 0) deadline = virtual_now_ + absl::Milliseconds(timeout_ms);
      }
      if (virtual_now_ >= deadline) {
        // Timed out in harness time: one last step, then report nothing ready.
        Step(lock, self, point);
        return 0;
      }
      self->point = Intern(point);
      self->state = State::kIoWait;
      self->io_events_seen = events_;
      self->deadline = deadline;
      IdleStep(lock, self);
    }
  }

  // ---- Hooks: netrig::Mutex and netrig::CondVar ----

  void BeforeLock(const void* mutex) {
    ControlledThread* self = current_thread;
    if (self == nullptr) {
      // An uncontrolled thread will hold the real lock; nothing to book.
      return;
    }
    IgnoreSync ignore;
    std::unique_lock<std::mutex> lock(mu_);
    if (!controlling_) return;
    Rejoin(lock, self);
    self->point = Intern("mutex.lock");
    AcquireShadow(lock, self, mutex);
  }

  void AfterTryLock(const void* mutex, bool acquired) {
    ControlledThread* self = current_thread;
    if (self == nullptr || !acquired) return;
    IgnoreSync ignore;
    std::unique_lock<std::mutex> lock(mu_);
    if (!controlling_) return;
    shadow_owner_[mutex] = self;
  }

  void AfterUnlock(const void* mutex) {
    ControlledThread* self = current_thread;
    IgnoreSync ignore;
    std::unique_lock<std::mutex> lock(mu_);
    if (!controlling_) return;
    if (self == nullptr) {
      // A thread outside the scheduler let go of the real lock: a controlled thread blocked on
      // it in the kernel may go on; the books are the controlled threads' alone.
      ++trace_.uncontrolled_enables;
      outside_wake_.notify_all();
      return;
    }
    ReleaseShadow(mutex);
  }

  bool CondWait(const void* cond, const void* mutex, absl::Duration timeout, bool* signaled,
                void (*unlock)(void*), void (*relock)(void*), void* real_mutex) {
    ControlledThread* self = current_thread;
    if (self == nullptr || !Controls()) return false;
    IgnoreSync ignore;
    std::unique_lock<std::mutex> lock(mu_);
    if (!controlling_) return false;
    Rejoin(lock, self);
    // Book the wait first, so that a signal from a thread outside the scheduler that comes
    // right after the real unlock is not lost; then release the mutex, in the books and really.
    self->point = Intern("cond.wait");
    self->state = State::kBlockedCond;
    self->waiting_on = cond;
    self->timed_out = false;
    self->deadline =
        timeout == absl::InfiniteDuration() ? absl::InfiniteFuture() : virtual_now_ + timeout;
    cond_waiters_[cond].push_back(self);
    ReleaseShadow(mutex);
    lock.unlock();
    // The real mutex is the code under test's: TSan must see its release and reacquisition.
    ignore.Suspend();
    unlock(real_mutex);
    ignore.Resume();
    lock.lock();
    Step(lock, self, nullptr);
    *signaled = !self->timed_out;
    // Take the mutex back: the shadow first (it may have to wait), then the real one.
    self->point = Intern("mutex.lock");
    if (controlling_) AcquireShadow(lock, self, mutex);
    lock.unlock();
    ignore.Suspend();
    relock(real_mutex);
    return true;
  }

  void CondSignal(const void* cond, bool all) {
    IgnoreSync ignore;
    std::unique_lock<std::mutex> lock(mu_);
    if (!controlling_) return;
    if (current_thread == nullptr) ++trace_.uncontrolled_enables;
    auto it = cond_waiters_.find(cond);
    if (it == cond_waiters_.end()) return;
    std::vector<ControlledThread*>& waiters = it->second;
    while (!waiters.empty()) {
      ControlledThread* waiter = waiters.front();
      waiters.erase(waiters.begin());
      if (waiter->state == State::kBlockedCond && waiter->waiting_on == cond) {
        waiter->state = State::kRunnable;
        waiter->waiting_on = nullptr;
        if (!all) break;
      }
    }
    if (current_thread == nullptr) outside_wake_.notify_all();
  }

 private:
  // ---- Books ----

  ControlledThread* Register(const std::string& id) {
    auto thread = std::make_unique<ControlledThread>();
    thread->index = static_cast<uint32_t>(threads_.size());
    thread->id = id;
    thread->priority = NewPriority();
    trace_.threads.push_back(id);
    threads_.push_back(std::move(thread));
    return threads_.back().get();
  }

  uint32_t Intern(absl::string_view name) {
    auto it = point_index_.find(name);
    if (it != point_index_.end()) return it->second;
    const uint32_t index = static_cast<uint32_t>(trace_.points.size());
    trace_.points.emplace_back(name);
    point_index_.emplace(std::string(name), index);
    return index;
  }

  double NewPriority() { return std::uniform_real_distribution<double>(0, 1)(rng_); }

  // A thread handed off by the watchdog comes back: it queues as runnable for the baton.
  void Rejoin(std::unique_lock<std::mutex>& lock, ControlledThread* self) {
    if (self->state != State::kExternal) return;
    self->state = State::kRunnable;
    Record(ScheduleEvent::kRejoin, self, "");
    WaitForBaton(lock, self);
  }

  void AcquireShadow(std::unique_lock<std::mutex>& lock, ControlledThread* self,
                     const void* mutex) {
    while (controlling_) {
      auto it = shadow_owner_.find(mutex);
      if (it == shadow_owner_.end() || it->second == nullptr) {
        shadow_owner_[mutex] = self;
        // Taking a free lock is still a point (others may want it first).
        Step(lock, self, nullptr);
        if (shadow_owner_[mutex] == self) return;
        continue;
      }
      if (it->second == self) return;  // Recursive use: the real mutex will tell.
      self->state = State::kBlockedLock;
      self->waiting_on = mutex;
      Step(lock, self, nullptr);
    }
  }

  void ReleaseShadow(const void* mutex) {
    auto it = shadow_owner_.find(mutex);
    if (it != shadow_owner_.end()) it->second = nullptr;
    for (auto& thread : threads_) {
      if (thread->state == State::kBlockedLock && thread->waiting_on == mutex) {
        thread->state = State::kRunnable;
        thread->waiting_on = nullptr;
      }
    }
  }

  void Record(ScheduleEvent::Kind kind, const ControlledThread* thread, std::string detail) {
    trace_.events.push_back(
        {kind, trace_.steps.size(), thread != nullptr ? thread->index : 0, std::move(detail)});
    if (strict_ && !diverged_ && kind != ScheduleEvent::kDivergence) {
      CheckReplayEvent(trace_.events.back());
    }
  }

  void SetVirtualNow(absl::Time now) {
    virtual_now_ = now;
    virtual_monotonic_ns.store(
        monotonic_start_ns_ + absl::ToInt64Nanoseconds(virtual_now_ - virtual_start_),
        std::memory_order_relaxed);
  }

  // ---- Strict replay ----

  std::string ThreadName(uint32_t index, const std::vector<std::string>& names) const {
    return index < names.size() ? names[index] : absl::StrCat("#", index);
  }

  std::string EventName(const ScheduleEvent& event, const std::vector<std::string>& names) const {
    return absl::StrCat(ScheduleEventKindName(event.kind), " of ", ThreadName(event.thread, names),
                        " at step ", event.step);
  }

  // A timer, handoff or rejoin of the replay must be the recording's next one.
  void CheckReplayEvent(const ScheduleEvent& event) {
    const std::string actual = EventName(event, trace_.threads);
    if (replay_event_next_ >= replay_events_.size()) {
      DivergeAt(event.step, "(no more events)", "", absl::StrCat(actual, ", not in the recording"));
      return;
    }
    const ScheduleEvent& want = replay_events_[replay_event_next_++];
    const std::string expected_thread = ThreadName(want.thread, options_.replay_threads);
    if (want.kind != event.kind || want.step != event.step ||
        expected_thread != ThreadName(event.thread, trace_.threads)) {
      DivergeAt(
          event.step, expected_thread, ScheduleEventKindName(want.kind),
          absl::StrCat(actual, "; the recording has ", EventName(want, options_.replay_threads)));
    }
  }

  // When control ends: a replay that made fewer choices or events than its recording diverged
  // at its end.
  void CheckReplayCompleteLocked() {
    if (!strict_ || diverged_) return;
    const uint64_t made = trace_.steps.size();
    if (made < options_.replay.size()) {
      const ScheduleStep& want = options_.replay[made];
      DivergeAt(made, ThreadName(want.thread, options_.replay_threads), ReplayPointName(want.point),
                absl::StrCat("the run ended after ", made, " choices; the recording made ",
                             options_.replay.size()));
    } else if (replay_event_next_ < replay_events_.size()) {
      const ScheduleEvent& want = replay_events_[replay_event_next_];
      DivergeAt(want.step, ThreadName(want.thread, options_.replay_threads),
                ScheduleEventKindName(want.kind),
                absl::StrCat("the run ended without the recording's ",
                             EventName(want, options_.replay_threads)));
    }
  }

  std::string ReplayPointName(uint32_t point) const {
    if (options_.replay_points.empty()) return "";
    return point < options_.replay_points.size() ? options_.replay_points[point]
                                                 : absl::StrCat("#", point);
  }

  ControlledThread* ThreadWithId(absl::string_view id) const {
    for (const auto& thread : threads_) {
      if (thread->id == id) return thread.get();
    }
    return nullptr;
  }

  // The recorded choice number `choice` among `enabled`: the recorded thread, found by id, at the
  // recorded point; null (and the divergence recorded) when it cannot be followed.
  ControlledThread* Forced(uint64_t choice, const std::vector<ControlledThread*>& enabled) {
    if (choice >= options_.replay.size()) {
      DivergeAt(
          choice, "(none)", "",
          absl::StrCat("a choice past the recording's last (it made ", options_.replay.size(), ")"),
          &enabled);
      return nullptr;
    }
    const ScheduleStep& want = options_.replay[choice];
    const std::string expected_thread = ThreadName(want.thread, options_.replay_threads);
    const std::string expected_point = ReplayPointName(want.point);
    ControlledThread* thread = ThreadWithId(expected_thread);
    if (thread == nullptr) {
      DivergeAt(choice, expected_thread, expected_point,
                absl::StrCat(expected_thread, " does not exist"), &enabled);
      return nullptr;
    }
    const bool runnable = std::find(enabled.begin(), enabled.end(), thread) != enabled.end();
    if (!runnable) {
      DivergeAt(choice, expected_thread, expected_point,
                absl::StrCat(expected_thread, " not runnable (", StateName(thread->state), " at ",
                             PointName(thread->point), ")"),
                &enabled);
      return nullptr;
    }
    if (!expected_point.empty() && PointName(thread->point) != expected_point) {
      DivergeAt(choice, expected_thread, expected_point,
                absl::StrCat(expected_thread, "@", PointName(thread->point)), &enabled);
      return nullptr;
    }
    ++trace_.replayed_steps;
    return thread;
  }

  void DivergeAt(uint64_t step, absl::string_view expected_thread, absl::string_view expected_point,
                 absl::string_view actual,
                 const std::vector<ControlledThread*>* enabled = nullptr) {
    diverged_ = true;
    ScheduleDivergence& detail = trace_.divergence_detail;
    detail.step = step;
    detail.expected_thread = std::string(expected_thread);
    detail.expected_point = std::string(expected_point);
    detail.actual = std::string(actual);
    if (enabled != nullptr) {
      std::vector<std::string> names;
      for (const ControlledThread* thread : *enabled) {
        names.push_back(absl::StrCat(thread->id, "@", PointName(thread->point)));
      }
      detail.enabled = absl::StrJoin(names, ", ");
    }
    trace_.diverged = true;
    trace_.divergence_step = step;
    trace_.divergence = absl::StrCat(
        "at step ", step, ": expected ", expected_thread,
        expected_point.empty() ? "" : absl::StrCat("@", expected_point), ", actual ", actual,
        enabled != nullptr ? absl::StrCat("; enabled {", detail.enabled, "}") : "");
    Record(ScheduleEvent::kDivergence, nullptr, trace_.divergence);
  }

  bool Enabled(const ControlledThread& thread) const {
    if (thread.state == State::kRunnable) return true;
    if (thread.state == State::kIoWait) return events_ > thread.io_events_seen;
    return false;
  }

  // ---- The step: the current thread stopped at a point; pick who runs next ----

  // `name`: the point the caller stopped at (null: already set in self->point).
  void Step(std::unique_lock<std::mutex>& lock, ControlledThread* self, const char* name) {
    Step(lock, self, name == nullptr ? absl::string_view() : absl::string_view(name),
         name != nullptr);
  }
  void Step(std::unique_lock<std::mutex>& lock, ControlledThread* self, absl::string_view name,
            bool named = true) {
    if (named) self->point = Intern(name);
    if (!controlling_) return;
    SetVirtualNow(virtual_now_ + kStepTime);
    ++events_;
    HandOff(lock, self, /*wait=*/true);
  }
  // The step of a probe that found nothing ready: no work was done, so harness time does not
  // advance and no I/O waiter (the caller included) is given a reason to probe again. Otherwise
  // idle pollers wake each other after every probe: measured on `netrig udp`, 97% of a
  // million steps were idle re-probes, and under PCT the highest-priority poller re-enabled
  // itself forever.
  void IdleStep(std::unique_lock<std::mutex>& lock, ControlledThread* self) {
    if (!controlling_) return;
    HandOff(lock, self, /*wait=*/true);
  }

  // Chooses the next thread (self included when it may run) and passes the baton; with `wait`,
  // returns when self holds the baton again.
  void HandOff(std::unique_lock<std::mutex>& lock, ControlledThread* self, bool wait) {
    holder_outside_ = false;
    while (controlling_) {
      std::vector<ControlledThread*> enabled;
      for (auto& thread : threads_) {
        if (Enabled(*thread)) enabled.push_back(thread.get());
      }
      if (enabled.empty()) {
        if (!ResolveQuiescence(lock)) break;  // Control ended (deadlock or step limit).
        continue;
      }
      ControlledThread* next = enabled.size() == 1 ? enabled[0] : Choose(enabled);
      if (next->state == State::kIoWait) {
        next->state = State::kRunnable;  // Its re-probe.
      } else {
        quiescent_probes_ = 0;
      }
      if (enabled.size() > 1) {
        trace_.steps.push_back({next->index, next->point});
        trace_.max_enabled = std::max<uint64_t>(trace_.max_enabled, enabled.size());
        if (trace_.steps.size() >= options_.step_limit) {
          Record(ScheduleEvent::kStepLimit, next, "");
          ReleaseAllLocked();
          break;
        }
      }
      running_ = next;
      last_progress_ = absl::Now();
      if (next != self) next->baton.notify_one();
      break;
    }
    if (wait) WaitForBaton(lock, self);
  }

  void WaitForBaton(std::unique_lock<std::mutex>& lock, ControlledThread* self) {
    while (controlling_ && running_ != self) self->baton.wait(lock);
    // Back to the code under test: from here on a stall is the watchdog's business.
    if (running_ == self) holder_outside_ = true;
  }

  // Strict replay forces the recorded choice; the strategy still chooses first, so that its
  // state (random draws, PCT change points, POS priorities) stays in step with the recording's
  // and it can take over where the recording cannot be followed.
  ControlledThread* Choose(const std::vector<ControlledThread*>& enabled) {
    const uint64_t choice = trace_.steps.size();
    ControlledThread* chosen = StrategyChoice(enabled, choice);
    if (strict_ && !diverged_) {
      if (ControlledThread* forced = Forced(choice, enabled)) return forced;
    }
    return chosen;
  }

  ControlledThread* StrategyChoice(const std::vector<ControlledThread*>& enabled, uint64_t choice) {
    switch (options_.strategy) {
      case ScheduleStrategy::kReplay:
      case ScheduleStrategy::kRandom:
        return enabled[rng_() % enabled.size()];
      case ScheduleStrategy::kPct: {
        // A change point lowers the thread that ran last below every other.
        if (pct_next_change_ < change_points_.size() &&
            choice + 1 >= change_points_[pct_next_change_]) {
          ++pct_next_change_;
          if (running_ != nullptr) running_->priority = -static_cast<double>(choice + 1);
        }
        return *std::max_element(enabled.begin(), enabled.end(),
                                 [](const ControlledThread* a, const ControlledThread* b) {
                                   return a->priority < b->priority;
                                 });
      }
      case ScheduleStrategy::kPos: {
        ControlledThread* best =
            *std::max_element(enabled.begin(), enabled.end(),
                              [](const ControlledThread* a, const ControlledThread* b) {
                                return a->priority < b->priority;
                              });
        // Threads whose next step races with the chosen one (the same point) draw new
        // priorities; the chosen one too, once it has run.
        for (ControlledThread* thread : enabled) {
          if (thread == best || thread->point == best->point) thread->priority = NewPriority();
        }
        return best;
      }
    }
    return enabled[0];
  }

  // Nothing can run. Let I/O waiters probe again (a few rounds, with short real pauses for the
  // kernel and for threads outside the scheduler), then move harness time to the next deadline;
  // with no deadline, keep probing while anyone waits on I/O, else wait for a wake-up from
  // outside the scheduler, else report a deadlock. False: control has ended.
  bool ResolveQuiescence(std::unique_lock<std::mutex>& lock) {
    bool io_waiting = false;
    absl::Time earliest = absl::InfiniteFuture();
    for (auto& thread : threads_) {
      if (thread->state == State::kIoWait) io_waiting = true;
      if ((thread->state == State::kSleeping || thread->state == State::kBlockedCond ||
           thread->state == State::kIoWait) &&
          thread->deadline < earliest) {
        earliest = thread->deadline;
      }
    }
    // Real pauses and repeated rounds give the kernel and threads outside the scheduler time
    // to act. With no sign of either (no thread blocked outside, no wake-up from an uncontrolled
    // thread yet, and a deadline to move to), one round of probes decides: loopback delivery
    // completes inside the sender's call, so more rounds and pauses would only cost wall time,
    // and a long virtual window (the 90 s no-path start) would pay them at every timer.
    const bool outside_activity =
        trace_.uncontrolled_enables > 0 || earliest == absl::InfiniteFuture() ||
        std::any_of(threads_.begin(), threads_.end(),
                    [](const auto& thread) { return thread->state == State::kExternal; });
    const int rounds = outside_activity ? kProbeRoundsBeforeTimers : 1;
    if (io_waiting && (quiescent_probes_ < rounds || earliest == absl::InfiniteFuture())) {
      const absl::Duration pause =
          std::min(absl::Milliseconds(1), kQuiescentProbePause * (1 + quiescent_probes_));
      ++quiescent_probes_;
      if (outside_activity) {
        lock.unlock();
        absl::SleepFor(pause);
        lock.lock();
      }
      ++events_;  // Every I/O waiter probes again.
      return controlling_;
    }
    quiescent_probes_ = 0;
    if (earliest != absl::InfiniteFuture()) {
      SetVirtualNow(std::max(virtual_now_, earliest));
      for (auto& thread : threads_) {
        if (thread->deadline <= virtual_now_ &&
            (thread->state == State::kSleeping || thread->state == State::kBlockedCond ||
             thread->state == State::kIoWait)) {
          if (thread->state == State::kBlockedCond) {
            thread->timed_out = true;
            RemoveCondWaiter(thread.get());
          }
          thread->state = State::kRunnable;
          thread->deadline = absl::InfiniteFuture();
          Record(ScheduleEvent::kTimer, thread.get(), "");
        }
      }
      return true;
    }
    // Only a thread outside the scheduler can help now (an external thread, an uncontrolled
    // signal). Wait for it in real time, then call it a deadlock.
    const absl::Time give_up = absl::Now() + options_.deadlock_after;
    while (absl::Now() < give_up) {
      outside_wake_.wait_for(lock, std::chrono::milliseconds(10));
      if (!controlling_) return false;
      for (auto& thread : threads_) {
        if (Enabled(*thread) || thread->state == State::kExternal) return true;
      }
    }
    std::vector<std::string> states;
    for (auto& thread : threads_) {
      if (thread->state == State::kExited) continue;
      states.push_back(absl::StrCat(thread->id, " ", StateName(thread->state), " at ",
                                    PointName(thread->point)));
    }
    const std::string description = absl::StrCat(
        "deadlock: every controlled thread is blocked and nothing outside the scheduler woke one "
        "within ",
        absl::FormatDuration(options_.deadlock_after), ": ", absl::StrJoin(states, "; "));
    Record(ScheduleEvent::kDeadlock, nullptr, description);
    ReleaseAllLocked();
    if (options_.on_deadlock) {
      lock.unlock();
      {
        SeenByTsan seen;
        options_.on_deadlock(description);
      }
      lock.lock();
    }
    return false;
  }

  std::string PointName(uint32_t point) const {
    return point < trace_.points.size() ? trace_.points[point] : std::string("(start)");
  }

  void RemoveCondWaiter(ControlledThread* thread) {
    auto it = cond_waiters_.find(thread->waiting_on);
    if (it != cond_waiters_.end()) {
      auto& waiters = it->second;
      waiters.erase(std::remove(waiters.begin(), waiters.end(), thread), waiters.end());
    }
    thread->waiting_on = nullptr;
  }

  // Control ends: every thread runs free.
  void ReleaseAllLocked() {
    if (!controlling_) return;
    controlling_ = false;
    virtual_monotonic_on.store(false, std::memory_order_release);
    running_ = nullptr;
    for (auto& thread : threads_) thread->baton.notify_all();
    outside_wake_.notify_all();
  }

  // ---- Watchdog: a baton holder blocked in the kernel is handed off ----

  static char TaskState(pid_t tid) {
    std::ifstream stat(absl::StrCat("/proc/self/task/", tid, "/stat"));
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    const size_t close = text.rfind(')');
    return close == std::string::npos || close + 2 >= text.size() ? '?' : text[close + 2];
  }

  void WatchdogLoop() {
    IgnoreSync ignore;
    std::unique_lock<std::mutex> lock(mu_);
    uint64_t seen_events = events_;
    ControlledThread* seen_holder = running_;
    int blocked_checks = 0;
    while (!stop_watchdog_) {
      watchdog_wake_.wait_for(lock, absl::ToChronoNanoseconds(options_.blocked_handoff));
      if (stop_watchdog_ || !controlling_) continue;
      if (events_ != seen_events || running_ != seen_holder || running_ == nullptr ||
          !holder_outside_) {
        seen_events = events_;
        seen_holder = running_;
        blocked_checks = 0;
        continue;
      }
      ControlledThread* holder = running_;
      lock.unlock();
      const char state = TaskState(holder->tid);
      lock.lock();
      if (running_ != holder || events_ != seen_events || !holder_outside_) continue;
      if (state == 'S' || state == 'D') {
        if (++blocked_checks < 2) continue;
        blocked_checks = 0;
        holder->state = State::kExternal;
        ++trace_.watchdog_handoffs;
        Record(ScheduleEvent::kWatchdogHandoff, holder,
               absl::StrCat(PointName(holder->point), " state ", std::string(1, state)));
        ++events_;
        HandOff(lock, holder, /*wait=*/false);
        seen_events = events_;
        seen_holder = running_;
      } else {
        blocked_checks = 0;
      }
    }
  }

  // ---- Installing the hooks ----

  static const internal::ControlHooks kControlHooks;
  static const internal::SyncHooks kSyncHooks;

  class VirtualClock : public Clock {
   public:
    explicit VirtualClock(Impl* impl) : impl_(impl) {}
    absl::Time Now() override { return impl_->Now(); }
    void SleepUntil(absl::Time when) override { impl_->SleepUntil(when); }

   private:
    Impl* const impl_;
  };

  void InstallHooks() {
    clock_ = std::make_unique<VirtualClock>(this);
    SetHarnessClock(clock_.get());
    internal::sync_hooks.store(&kSyncHooks, std::memory_order_release);
    internal::control_hooks.store(&kControlHooks, std::memory_order_release);
    internal::EnableScheduleHooks(true);
  }

  void RemoveHooks() {
    internal::EnableScheduleHooks(false);
    internal::control_hooks.store(nullptr, std::memory_order_release);
    internal::sync_hooks.store(nullptr, std::memory_order_release);
    SetHarnessClock(nullptr);
  }

  const ControlledOptions options_;
  std::mt19937_64 rng_;
  std::vector<uint64_t> change_points_;
  size_t pct_next_change_ = 0;
  bool strict_ = false;
  bool diverged_ = false;
  std::optional<ScheduleTrace> at_report_;    // The trace when a sanitizer's report began.
  std::vector<ScheduleEvent> replay_events_;  // The recording's, divergences left out.
  size_t replay_event_next_ = 0;

  std::mutex mu_;
  std::atomic<bool> controlling_{false};
  std::vector<std::unique_ptr<ControlledThread>> threads_;
  ControlledThread* running_ = nullptr;
  // The baton holder is running the code under test (not inside the scheduler): only then may
  // the watchdog hand it off.
  bool holder_outside_ = false;
  std::map<std::string, uint32_t, std::less<>> point_index_;
  std::map<const void*, ControlledThread*> shadow_owner_;
  std::map<const void*, std::vector<ControlledThread*>> cond_waiters_;
  absl::Time virtual_now_;
  absl::Time virtual_start_;
  int64_t monotonic_start_ns_ = 0;
  uint64_t events_ = 0;
  int quiescent_probes_ = 0;
  absl::Time last_progress_;
  std::condition_variable outside_wake_;   // Something outside the scheduler happened.
  std::condition_variable watchdog_wake_;  // The watchdog should look again (or stop).
  ScheduleTrace trace_;

  std::thread watchdog_;
  bool stop_watchdog_ = false;
  std::unique_ptr<VirtualClock> clock_;
};

// The hook tables forward to the one active scheduler.
const internal::ControlHooks ControlledScheduler::Impl::kControlHooks = {
    [](const std::string& id) -> void* { return active_scheduler->OnSpawn(id); },
    [](void* record) { active_scheduler->OnStart(record); },
    [](void* record) { active_scheduler->OnExit(record); },
    [](void* record) { active_scheduler->BeforeJoin(record); },
    [](absl::string_view name) { active_scheduler->OnPoint(name); },
};

const internal::SyncHooks ControlledScheduler::Impl::kSyncHooks = {
    [](const void* mutex) { active_scheduler->BeforeLock(mutex); },
    [](const void* mutex, bool acquired) { active_scheduler->AfterTryLock(mutex, acquired); },
    [](const void* mutex) { active_scheduler->AfterUnlock(mutex); },
    [](const void* cond, const void* mutex, absl::Duration timeout, bool* signaled,
       void (*unlock)(void*), void (*lock)(void*), void* real_mutex) {
      return active_scheduler->CondWait(cond, mutex, timeout, signaled, unlock, lock, real_mutex);
    },
    [](const void* cond, bool all) { active_scheduler->CondSignal(cond, all); },
};

ControlledScheduler::ControlledScheduler(ControlledOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

ControlledScheduler::~ControlledScheduler() = default;

void ControlledScheduler::Begin() { impl_->Begin(); }

ScheduleTrace ControlledScheduler::End() { return impl_->End(); }

std::optional<ScheduleTrace> ControlledScheduler::Snapshot(absl::Duration patience) {
  return impl_->Snapshot(patience);
}

bool UnderControl() { return current_thread != nullptr && active_scheduler != nullptr; }

void MarkSanitizerReport() {
  if (ControlledScheduler::Impl* scheduler = active_scheduler) scheduler->MarkReport();
}

bool AddressRandomizationOff() {
  const int persona = personality(0xffffffff);
  return persona != -1 && (persona & ADDR_NO_RANDOMIZE) != 0;
}

void ReexecWithoutAddressRandomization(char** argv) {
  if (AddressRandomizationOff()) return;
  // Set before the exec: if the new image still runs randomized (a kernel or seccomp policy
  // that ignores the flag), it goes on rather than re-executing forever.
  constexpr const char* kTried = "NETRIG_ASLR_REEXEC";
  if (getenv(kTried) != nullptr) return;
  const int persona = personality(0xffffffff);
  if (persona == -1 || personality(persona | ADDR_NO_RANDOMIZE) == -1) return;
  setenv(kTried, "1", 1);
  execv("/proc/self/exe", argv);
  personality(persona);  // The exec failed: run as before.
}

int Poll(pollfd* fds, unsigned long count, int timeout_ms) {
  ControlledScheduler::Impl* scheduler = active_scheduler;
  if (scheduler == nullptr || current_thread == nullptr) return ::poll(fds, count, timeout_ms);
  return scheduler->ProbeUntil([&] { return ::poll(fds, count, 0); }, timeout_ms, "io.poll",
                               [&] { return ::poll(fds, count, timeout_ms); });
}

int ProbeUntil(const std::function<int()>& probe, int timeout_ms, absl::string_view point) {
  ControlledScheduler::Impl* scheduler = active_scheduler;
  if (scheduler == nullptr || current_thread == nullptr) return probe();
  // When control ends mid-wait, one more probe after a short real pause stands in for the
  // blocking call the caller would have made.
  return scheduler->ProbeUntil(probe, timeout_ms, point, [&] {
    const int ready = probe();
    if (ready == 0 && timeout_ms != 0) absl::SleepFor(absl::Milliseconds(1));
    return ready;
  });
}

}  // namespace netrig

// libcurl's timers (Curl_now), the embedded server's delay queue and std::chrono::steady_clock
// read CLOCK_MONOTONIC through clock_gettime. An executable's definition binds every shared
// library's call (libcurl's included) ahead of the C library's, so this one makes that time the
// scheduler's on the threads it controls: virtual, and so the same on every replay of a
// schedule. Everywhere else (threads netrig does not control, the scheduler's own timed waits,
// other clocks, no scheduler running) it is the real clock, at the cost of one relaxed load.
// Sanitizer runtimes define clock_gettime as a weak interceptor (clang's static runtimes) or in
// a library loaded after the executable (shared runtimes): either way this definition wins and
// RealClockGettime reaches the C library (tests/sched/controlled_test.cc checks both clocks in
// every preset).
// base/sanitizer_defaults.cc calls this from ASan's __asan_on_error, when a report begins.
extern "C" void NetrigOnSanitizerReport() { netrig::MarkSanitizerReport(); }

extern "C" int clock_gettime(clockid_t clock, timespec* ts) noexcept {
  if (netrig::virtual_monotonic_on.load(std::memory_order_relaxed) &&
      netrig::current_thread != nullptr && netrig::tsan_ignore_depth == 0 &&
      netrig::IsMonotonicClock(clock) && ts != nullptr) {
    const int64_t ns = netrig::virtual_monotonic_ns.load(std::memory_order_relaxed);
    ts->tv_sec = static_cast<time_t>(ns / 1'000'000'000);
    ts->tv_nsec = static_cast<long>(ns % 1'000'000'000);
    return 0;
  }
  return netrig::RealClockGettime(clock, ts);
}
