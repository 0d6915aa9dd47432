// The task side of the `netrig http` workload (http_stress.h): spawning, cancelling, sessions,
// observers, completions, and the reaper that destroys retired sessions. HttpStress
// (http_stress.cc) owns one HttpStressWorkload per run and drives its Operate. Not a public API.
//
// Threading: spawner threads (the driver core calls Operate; each touches only its own Slot), the
// client's threads (completions and observer callbacks), the delayed canceller's thread, and the
// reaper thread. Shared state is atomics or guarded by the Mutex named in its ABSL_GUARDED_BY.
#ifndef NETRIG_HARNESS_WORKLOADS_HTTP_HTTP_TASKS_H_
#define NETRIG_HARNESS_WORKLOADS_HTTP_HTTP_TASKS_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "harness/base/mutex.h"
#include "harness/check/ledger.h"
#include "harness/check/violation.h"
#include "harness/drive/in_flight.h"
#include "harness/drive/latency_histogram.h"
#include "harness/drive/seeds.h"
#include "harness/http/http_client.h"
#include "harness/http/server/fault_plan.h"
#include "harness/sched/thread.h"
#include "harness/workloads/http/delayed_canceller.h"
#include "harness/workloads/http/http_stress.h"
#include "nlohmann/json.hpp"

namespace netrig::internal::http_stress {

// Outcome names as literals, for the ledger (HttpErrorKindName's views are literals too, but
// the ledger wants NUL-terminated const char*).
inline constexpr std::array<const char*, kHttpErrorKindCount> kOutcomeNames = {
    "none",      "cancelled", "timeout",         "connect",   "reset",
    "truncated", "protocol",  "invalid_request", "too_large", "other"};

const char* OutcomeName(HttpErrorKind kind);

// When a task drawn for cancellation is cancelled.
enum class CancelMoment { kBeforeResume, kAfterResume, kAfterDelay, kAfterCompletion };
inline constexpr int kCancelMoments = 4;
inline constexpr std::array<const char*, kCancelMoments> kCancelMomentNames = {
    "before_resume", "after_resume", "after_delay", "after_completion"};

// The task side of the workload: spawning, cancelling, sessions, observers, completions.
class HttpStressWorkload {
 public:
  // `planner` (null: none) draws each task's server fault plan, sent as X-Netrig-Fault. Every
  // session is made with `session_options` (the target's h2c mode).
  HttpStressWorkload(const HttpStressOptions& options, uint64_t seed, std::string url,
                     std::unique_ptr<HttpClient> client, ViolationLog* violations,
                     const FaultPlanner* planner, const HttpSessionOptions& session_options);
  ~HttpStressWorkload();

  void set_end(absl::Time end) { end_ = end; }
  // Tasks that start at or after `from` (the end of a --no_path_at_start window plus a grace)
  // are counted apart: a client that recovered completes some of them successfully.
  void set_recovery_from(absl::Time from) { recovery_from_ = from; }
  uint64_t tasks_after_recovery_point() const { return after_recovery_point_.load(); }
  uint64_t ok_after_recovery_point() const { return ok_after_recovery_point_.load(); }
  const Ledger& ledger() const { return tasks_; }
  const LatencyHistogram& latency() const { return latency_; }

  void Operate(int worker, uint64_t index, absl::Time intended_start);
  std::string StatusFragment();

  // After Drive(): invalidates every spawner's session (tasks finish; with `cancel`, after an
  // interruption or a violation, they are cancelled), waits until all sessions are invalidated
  // and destroyed (bounded; a second Ctrl-C cancels what is left at once), and fires the pending
  // cancels.
  void Drain(bool cancel);

  // Client-side states of the tasks the watchdog found stuck.
  void PrintStuckStates(FILE* out);

  void DropClient() { client_.reset(); }
  // How long a client's callback into the workload may run before the watchdog calls it a hang.
  static constexpr absl::Duration kCallbackHangAfter = absl::Seconds(3);
  nlohmann::json Counters() const;

  uint64_t tasks_started() const { return tasks_started_.load(); }
  uint64_t cancelled() const { return cancelled_.load(); }
  // Ledger entries closed because MakeTask refused them (never started, so never completed).
  uint64_t not_created() const { return not_created_.load(); }
  uint64_t errors() const { return errors_.load(); }
  uint64_t by_kind(int i) const { return by_kind_[i].load(); }
  // Tasks that asked for `requested` and succeeded over `negotiated` (0: HTTP/1.1, 1: h2c).
  uint64_t ok_by_version(int requested, int negotiated) const {
    return ok_by_version_[requested][negotiated].load();
  }
  // The first failed task, for messages: "task 812 (asked h2c, came as http1.1, connection 3):
  // truncated: transfer closed with 1024 bytes remaining to read"; empty before any.
  std::string first_failure() const;
  uint64_t failed_by_requested(int requested) const {
    return failed_by_requested_[requested].load();
  }
  int64_t in_flight() const { return in_flight_.in_flight(); }

 private:
  // A session as its callbacks see it. The session object outlives every callback of it: it is
  // destroyed by the reaper only once its invalidation completed, after which nothing of it is
  // called back (http_client.h).
  struct SessionLink {
    HttpSession* session = nullptr;
    uint64_t scope = 0;
    // A completion invalidated the session (--reentrant): the spawner retires it without a
    // second invalidation, and the reaper closes its ledger scope once the session reports
    // invalidation (closing it from the callback would race the spawner opening a task in it).
    std::atomic<bool> invalidated_from_callback{false};
    // Follow-ups made from observer callbacks and not completed yet (kMaxObserverFollowUpsOpen).
    std::atomic<int> observer_follow_ups_open{0};
  };
  // At most this many observer-made follow-ups open per session. A better-path event goes to
  // every established connection to the peer, and each follow-up opens or readies a connection
  // that raises such events again: unbounded, 5% of them made follow-ups faster than the session
  // could run them (a run of the reference client spent its event thread delivering them, every
  // task stuck). Completions need no bound: a follow-up never re-enters.
  static constexpr int kMaxObserverFollowUpsOpen = 4;
  struct TaskRecord {
    uint64_t ledger_id = 0;
    absl::Time start;
    bool cancel_after_completion = false;
    HttpVersion requested = HttpVersion::kHttp11;
    std::atomic<int> completions{0};
    // Both under live_mu_: the completion can run before MakeTask() has returned (a callback
    // invalidated the session, which cancels every task it holds, resumed or not).
    std::weak_ptr<HttpTask> task;
    bool completed = false;
    std::shared_ptr<SessionLink> link;
    // The task's re-entrance stream (DeriveSeed of its identity), and its fault-plan key.
    uint64_t reenter_seed = 0;
    uint64_t fault_key = 0;
    // Made from a callback: holds no in-flight budget and does not re-enter again.
    bool follow_up = false;
    bool from_observer = false;  // Counted in link->observer_follow_ups_open until it completes.
  };
  struct LiveTask {
    std::weak_ptr<HttpTask> task;
    uint64_t scope = 0;
  };
  // One per spawner thread, touched only by it.
  struct Slot {
    std::unique_ptr<HttpSession> session;
    std::shared_ptr<SessionLink> link;
    uint64_t scope = 0;
    int tasks_in_session = 0;
    uint64_t sessions = 0;
    std::vector<ObserverId> observers;
    uint64_t seed = 0;  // The spawner's stream; each task draws from DeriveSeed(seed, n).
    uint64_t worker = 0;
    uint64_t tasks = 0;  // Tasks this spawner made so far.
  };
  struct Retiring {
    std::unique_ptr<HttpSession> session;
    uint64_t scope;
    absl::Time since;
    bool close_scope_when_reaped = false;  // Invalidated from a callback (SessionLink).
  };

  void OnComplete(TaskRecord& record, const HttpResult& result);
  // --reentrant: calls back into the record's session from its completion.
  void Reenter(TaskRecord& record);
  // A follow-up task in `link`'s session, made and resumed from a callback. False if the
  // session refused it (being invalidated).
  bool MakeFollowUp(const std::shared_ptr<SessionLink>& link, HttpVersion version, uint64_t seed,
                    uint64_t fault_key, bool from_observer = false);
  // Cancels an in-flight task of `scope` other than `except` (from a callback); false if none.
  bool CancelAnotherTask(uint64_t scope, uint64_t except);
  void OnObserverEvent(const std::shared_ptr<SessionLink>& link, uint64_t seed);
  bool ReentryAllowed() const;
  // Closes the ledger entry of a task MakeTask refused (counted in not_created()).
  void CloseNotCreated(uint64_t ledger_id);
  HttpVersion PickVersion(OperationRandom& rng);
  bool EnsureSession(Slot& slot);
  // Starts invalidating the slot's session; the reaper destroys it once invalidated.
  void Retire(Slot& slot, bool cancel);
  void MaybeTouchObservers(Slot& slot, OperationRandom& rng);
  // Records a task MakeTask() returned, unless it completed already.
  void TrackLive(TaskRecord& record, uint64_t scope, const std::shared_ptr<HttpTask>& task);
  // Destroys retired sessions once invalidated. A session whose invalidation never completes
  // is reported and deliberately leaked: destroying it would block forever.
  void ReapLoop();

  // A copy: after a hang this object outlives the run's options (KeepAliveForWedgedThreads).
  const HttpStressOptions options_;
  const std::string url_;
  const FaultPlanner* const planner_;
  const HttpSessionOptions session_options_;
  std::unique_ptr<HttpClient> client_;
  ViolationLog* const violations_;
  Ledger tasks_;
  LatencyHistogram latency_;
  InFlightBudget in_flight_;  // Tasks; bounded by --concurrency in closed loop.
  DelayedCanceller canceller_;
  std::vector<Slot> slots_;
  absl::Time end_ = absl::InfiniteFuture();
  absl::Time recovery_from_ = absl::InfiniteFuture();
  std::atomic<uint64_t> after_recovery_point_{0};
  std::atomic<uint64_t> ok_after_recovery_point_{0};

  std::atomic<uint64_t> next_scope_{1};
  std::atomic<uint64_t> tasks_started_{0};
  std::atomic<uint64_t> cancelled_{0};
  std::atomic<uint64_t> errors_{0};
  std::array<std::atomic<uint64_t>, kHttpErrorKindCount> by_kind_{};
  // Outcomes by version: [requested][negotiated] for successes, [requested] for failures.
  std::array<std::array<std::atomic<uint64_t>, 2>, 2> ok_by_version_{};
  std::array<std::atomic<uint64_t>, 2> failed_by_requested_{};
  // Written once by the completion that claims it, read after `first_failure_ready_`.
  std::atomic<bool> first_failure_claimed_{false};
  std::atomic<bool> first_failure_ready_{false};
  std::string first_failure_;
  std::array<std::atomic<uint64_t>, kCancelMoments> cancels_by_moment_{};
  std::atomic<int> sessions_created_{0};
  std::atomic<uint64_t> sessions_finished_{0};
  std::atomic<uint64_t> sessions_cancelled_{0};
  std::atomic<uint64_t> observers_added_{0};
  std::atomic<uint64_t> observers_removed_{0};
  std::atomic<uint64_t> viability_events_{0};
  std::atomic<uint64_t> better_path_events_{0};
  std::atomic<uint64_t> stuck_sessions_{0};
  // --reentrant: what callbacks did inside the client.
  std::atomic<uint64_t> reentrant_completions_{0};
  std::atomic<uint64_t> follow_ups_{0};
  std::atomic<uint64_t> follow_ups_refused_{0};
  std::atomic<uint64_t> observer_follow_ups_capped_{0};
  std::atomic<uint64_t> not_created_{0};
  std::atomic<uint64_t> cancels_from_callbacks_{0};
  std::atomic<uint64_t> invalidations_from_callbacks_{0};
  std::atomic<uint64_t> reentrant_observer_events_{0};
  std::atomic<uint64_t> observer_event_number_{0};

  Mutex live_mu_;
  absl::flat_hash_map<uint64_t, LiveTask> live_tasks_ ABSL_GUARDED_BY(live_mu_);

  Mutex reap_mu_;
  std::vector<Retiring> retiring_ ABSL_GUARDED_BY(reap_mu_);
  bool reaper_stopping_ ABSL_GUARDED_BY(reap_mu_) = false;
  absl::Time escalate_deadline_ ABSL_GUARDED_BY(reap_mu_) = absl::InfiniteFuture();
  Thread reaper_;
};

}  // namespace netrig::internal::http_stress

#endif  // NETRIG_HARNESS_WORKLOADS_HTTP_HTTP_TASKS_H_
