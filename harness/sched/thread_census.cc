#include "harness/sched/thread_census.h"

#include <execinfo.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <csignal>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "absl/debugging/symbolize.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "harness/base/tsan_ignore.h"
#include "harness/sched/thread.h"

namespace netrig {
namespace internal {

constexpr int kMaxFrames = 48;

struct CensusRecord {
  // Written under census_mu when the record is (re)claimed, read under it.
  std::string id;
  std::string name;
  bool netrig_thread = false;
  pid_t tid = 0;
  bool in_use = false;
  // Written by the owning thread (relaxed: the census must not order threads), read by anyone.
  std::atomic<const char*> last_point{nullptr};
  std::atomic<int64_t> callback_since_ns{0};  // 0: not in a watched callback.
  std::atomic<const char*> callback_what{nullptr};
  // Owning thread only, but a record outlives its thread and the next owner's claim is hidden
  // from TSan (census_mu is invisible to it): relaxed atomic, so that reuse is not a race.
  std::atomic<int> callback_depth{0};
  // The stack slot: the capturer bumps `requested`, the handler fills `frames` and then publishes
  // `answered` = requested (release), the capturer reads after an acquire of `answered`.
  std::atomic<uint64_t> requested{0};
  std::atomic<uint64_t> answered{0};
  std::array<void*, kMaxFrames> frames{};
  int frame_count = 0;
};

thread_local CensusRecord* census_record = nullptr;

namespace {

// Every thread takes census_mu when it joins and when it ends. Seen by TSan, that lock would
// order each thread's end before the next thread's start, and hide the races of a
// thread-per-task client between them (a result written by an ending task thread, read by the
// next one without a lock). So each census_mu section is a TsanInvisibleScope: its
// synchronization and its memory accesses (the books it guards, touched only under it) are
// ignored.
//
// A plain std::mutex, not netrig::Mutex: a controlled scheduler (controlled.h) makes every
// netrig::Mutex operation a step of its schedule, and the census, taken at each thread's start
// and end, would add steps whose order is timing (a replay's trace differed from its run's).
std::mutex census_mu;
// Records are never freed: a thread that ends leaves its record for the next one to claim, so a
// thread-per-task client does not grow the list without bound.
std::vector<CensusRecord*>& Records() {
  static auto* const records = new std::vector<CensusRecord*>();
  return *records;
}

// Gives the record back when the thread ends.
struct Leave {
  ~Leave() {
    CensusRecord* record = census_record;
    if (record == nullptr) return;
    TsanInvisibleScope invisible;
    std::lock_guard<std::mutex> lock(census_mu);
    record->in_use = false;
    record->last_point.store(nullptr, std::memory_order_relaxed);
    record->callback_since_ns.store(0, std::memory_order_relaxed);
    record->callback_what.store(nullptr, std::memory_order_relaxed);
    census_record = nullptr;
  }
};

int StackSignal() { return SIGRTMIN + 7; }

void OnStackSignal(int, siginfo_t*, void*) {
  const int saved_errno = errno;
  CensusRecord* record = census_record;
  if (record != nullptr) {
    const uint64_t wanted = record->requested.load(std::memory_order_acquire);
    // A late duplicate (a request that timed out, delivered now): the slot already holds the
    // answer to the latest request, which its capturer may be reading.
    if (record->answered.load(std::memory_order_relaxed) >= wanted) {
      errno = saved_errno;
      return;
    }
    record->frame_count = backtrace(record->frames.data(), kMaxFrames);
    record->answered.store(wanted, std::memory_order_release);
  }
  errno = saved_errno;
}

void InstallStackHandler() {
  static const bool installed = [] {
    void* warm[4];
    (void)backtrace(warm, 4);  // Loads the unwinder now, never inside the handler.
    struct sigaction action = {};
    action.sa_sigaction = OnStackSignal;
    action.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&action.sa_mask);
    sigaction(StackSignal(), &action, nullptr);
    return true;
  }();
  (void)installed;
}

// `skip`: leading frames that are netrig's own capture (the handler and the signal trampoline).
std::string Symbolized(void* const* frames, int count, int skip) {
  std::string out;
  for (int i = skip; i < count; ++i) {
    char name[512];
    // A return address points after the call: look up the byte before it (not for frame 0).
    const uintptr_t pc = reinterpret_cast<uintptr_t>(frames[i]);
    const bool found =
        absl::Symbolize(reinterpret_cast<void*>(i == 0 ? pc : pc - 1), name, sizeof(name));
    absl::StrAppendFormat(&out, "    #%d 0x%x %s\n", i - skip, pc, found ? name : "??");
  }
  return out;
}

ThreadSnapshot SnapshotLocked(const CensusRecord& record, int64_t now_ns) {
  ThreadSnapshot snapshot;
  snapshot.id = record.id;
  snapshot.name = record.name;
  snapshot.netrig_thread = record.netrig_thread;
  snapshot.tid = record.tid;
  const char* point = record.last_point.load(std::memory_order_relaxed);
  snapshot.last_point = point != nullptr ? point : "";
  const int64_t since = record.callback_since_ns.load(std::memory_order_relaxed);
  if (since != 0) {
    snapshot.callback = record.callback_what.load(std::memory_order_relaxed);
    snapshot.in_callback_for = absl::Nanoseconds(now_ns - since);
  }
  return snapshot;
}

}  // namespace

CensusRecord* JoinCensus(bool netrig_thread) {
  if (census_record != nullptr) return census_record;
  thread_local Leave leave;
  (void)leave;
  TsanInvisibleScope invisible;
  std::lock_guard<std::mutex> lock(census_mu);
  CensusRecord* record = nullptr;
  for (CensusRecord* candidate : Records()) {
    if (!candidate->in_use) {
      record = candidate;
      break;
    }
  }
  if (record == nullptr) {
    record = new CensusRecord();
    Records().push_back(record);
  }
  record->in_use = true;
  record->id = CurrentThreadId();
  record->name = CurrentThreadName();
  record->netrig_thread = netrig_thread;
  record->tid = static_cast<pid_t>(syscall(SYS_gettid));
  census_record = record;
  return record;
}

void NoteSchedulePoint(const char* point) {
  CensusRecord* record = census_record;
  if (record == nullptr) record = JoinCensus();
  record->last_point.store(point, std::memory_order_relaxed);
}

}  // namespace internal

WatchedCallback::WatchedCallback(const char* what) : record_(internal::JoinCensus()) {
  outermost_ = record_->callback_depth.fetch_add(1, std::memory_order_relaxed) == 0;
  if (outermost_) {
    record_->callback_what.store(what, std::memory_order_relaxed);
    record_->callback_since_ns.store(absl::GetCurrentTimeNanos(), std::memory_order_relaxed);
  }
}

WatchedCallback::~WatchedCallback() {
  record_->callback_depth.fetch_sub(1, std::memory_order_relaxed);
  if (outermost_) record_->callback_since_ns.store(0, std::memory_order_relaxed);
}

std::vector<ThreadSnapshot> ThreadsInCallbackLongerThan(absl::Duration limit) {
  const int64_t now_ns = absl::GetCurrentTimeNanos();
  const int64_t before_ns = now_ns - absl::ToInt64Nanoseconds(limit);
  std::vector<ThreadSnapshot> out;
  TsanInvisibleScope invisible;
  std::lock_guard<std::mutex> lock(internal::census_mu);
  for (const internal::CensusRecord* record : internal::Records()) {
    if (!record->in_use) continue;
    const int64_t since = record->callback_since_ns.load(std::memory_order_relaxed);
    if (since != 0 && since < before_ns) out.push_back(internal::SnapshotLocked(*record, now_ns));
  }
  return out;
}

std::vector<ThreadSnapshot> CaptureThreadStacks(absl::Duration timeout) {
  internal::InstallStackHandler();
  const int64_t now_ns = absl::GetCurrentTimeNanos();
  const pid_t self = static_cast<pid_t>(syscall(SYS_gettid));
  std::vector<ThreadSnapshot> out;
  // Held throughout: a thread cannot leave the census (and end) while it is being signalled.
  TsanInvisibleScope invisible;
  std::lock_guard<std::mutex> lock(internal::census_mu);
  std::vector<internal::CensusRecord*> asked;
  std::vector<uint64_t> tickets;
  for (internal::CensusRecord* record : internal::Records()) {
    if (!record->in_use) continue;
    out.push_back(internal::SnapshotLocked(*record, now_ns));
    if (record->tid == self) {
      void* frames[internal::kMaxFrames];
      const int count = backtrace(frames, internal::kMaxFrames);
      out.back().has_stack = true;
      out.back().stack = internal::Symbolized(frames, count, /*skip=*/0);
      asked.push_back(nullptr);
      tickets.push_back(0);
      continue;
    }
    const uint64_t ticket = record->requested.fetch_add(1, std::memory_order_acq_rel) + 1;
    asked.push_back(record);
    tickets.push_back(ticket);
    syscall(SYS_tgkill, getpid(), record->tid, internal::StackSignal());
  }
  const absl::Time give_up = absl::Now() + timeout;
  for (size_t i = 0; i < asked.size(); ++i) {
    internal::CensusRecord* record = asked[i];
    if (record == nullptr) continue;
    while (record->answered.load(std::memory_order_acquire) < tickets[i] && absl::Now() < give_up) {
      absl::SleepFor(absl::Milliseconds(1));
    }
    if (record->answered.load(std::memory_order_acquire) >= tickets[i]) {
      out[i].has_stack = true;
      // Frame 0 is the handler, frame 1 the kernel's signal trampoline.
      out[i].stack = internal::Symbolized(record->frames.data(), record->frame_count,
                                          std::min(2, record->frame_count));
    } else {
      out[i].stack =
          "    (no stack: the thread did not answer the stack signal in time; a sanitizer may "
          "hold signals back while a thread waits in a call it does not treat as blocking)\n";
    }
  }
  return out;
}

std::string FormatThreadSnapshots(const std::vector<ThreadSnapshot>& threads) {
  std::string out;
  for (const ThreadSnapshot& thread : threads) {
    absl::StrAppendFormat(&out, "  thread %s \"%s\" (tid %d, %s)", thread.id, thread.name,
                          thread.tid,
                          thread.netrig_thread ? "netrig thread" : "not a netrig thread");
    absl::StrAppend(&out, ", last schedule point ",
                    thread.last_point.empty() ? "(none)" : thread.last_point);
    if (thread.callback != nullptr) {
      absl::StrAppend(
          &out, ", in ", thread.callback, " callback for ",
          absl::FormatDuration(absl::Trunc(thread.in_callback_for, absl::Milliseconds(1))));
    }
    absl::StrAppend(&out, "\n", thread.stack);
  }
  return out;
}

}  // namespace netrig
