// The lifecycle ledger: every task, flow or datagram gets an id when it starts and must complete
// exactly once, before its deadline, and never after its scope (session, flow) was closed.
//
// Checks, each reported to the ViolationLog the moment it happens:
//   duplicate_completion   Complete() twice for one id (docs/field-notes.md story 1)
//   completion_after_close Complete() or Note() for an id whose scope was closed (a callback
//                          after invalidation finished)
//   unknown_completion     Complete() for an id never opened
//   open_at_close          CloseScope(scope, /*require_all_complete=*/true) with ids still open
// Overdue() lists open ids past their deadline with their last noted state; the Watchdog turns
// those into `stuck` violations.
//
// Hot-path cost: one uncontended lock of one of 16 shards per call. States are string literals.
//
// Example:
//   netrig::Ledger tasks(&violations, "task", absl::Seconds(10));
//   uint64_t id = tasks.Open(/*scope=*/session_id);
//   tasks.Note(id, "resumed");
//   ... on the completion callback:
//   tasks.Complete(id, "ok");
#ifndef NETRIG_HARNESS_CHECK_LEDGER_H_
#define NETRIG_HARNESS_CHECK_LEDGER_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "harness/base/mutex.h"
#include "harness/check/violation.h"

namespace netrig {

class Ledger {
 public:
  // `noun` names the items in messages ("task", "datagram", "flow"); must be a literal.
  Ledger(ViolationLog* violations, const char* noun, absl::Duration default_deadline);
  Ledger(const Ledger&) = delete;
  Ledger& operator=(const Ledger&) = delete;

  // Opens an item in `scope` (0: no scope) and returns its id (1, 2, ...).
  uint64_t Open(uint64_t scope = 0);
  uint64_t OpenWithDeadline(uint64_t scope, absl::Duration deadline);

  // Records the item's latest state (a literal), shown if it gets stuck.
  void Note(uint64_t id, const char* state);

  // Records the completion with its outcome (a literal). Returns true if this was the first and
  // only completion of an open item in an open scope; otherwise reports a violation.
  bool Complete(uint64_t id, const char* outcome);

  // Closes `scope`: later Complete/Note for its ids are violations. With require_all_complete,
  // ids of the scope still open are violations now (and are dropped from the ledger).
  void CloseScope(uint64_t scope, bool require_all_complete);

  struct Stuck {
    uint64_t id;
    uint64_t scope;
    const char* state;
    absl::Duration age;
  };
  // Open items whose deadline is before `now`, oldest first.
  std::vector<Stuck> Overdue(absl::Time now) const;

  const char* noun() const { return noun_; }
  uint64_t opened() const { return next_id_.load(std::memory_order_relaxed) - 1; }
  uint64_t completed() const { return completed_.load(std::memory_order_relaxed); }
  uint64_t duplicate_completions() const { return duplicates_.load(std::memory_order_relaxed); }
  uint64_t completions_after_close() const { return after_close_.load(std::memory_order_relaxed); }
  uint64_t outstanding() const;

 private:
  struct Entry {
    uint64_t scope;
    absl::Time opened;
    absl::Time deadline;
    const char* state;
  };
  struct Shard {
    mutable Mutex mu;
    absl::flat_hash_map<uint64_t, Entry> open ABSL_GUARDED_BY(mu);
    // Outcome of each completed id of this shard, indexed by id / kShards (nullptr: not done).
    std::vector<const char*> outcomes ABSL_GUARDED_BY(mu);
  };
  static constexpr uint64_t kShards = 16;

  Shard& ShardOf(uint64_t id) { return shards_[id % kShards]; }
  bool ScopeClosed(uint64_t scope) const;

  ViolationLog* const violations_;
  const char* const noun_;
  const absl::Duration default_deadline_;
  std::atomic<uint64_t> next_id_{1};
  std::atomic<uint64_t> completed_{0};
  std::atomic<uint64_t> duplicates_{0};
  std::atomic<uint64_t> after_close_{0};
  std::array<Shard, kShards> shards_;
  mutable Mutex scopes_mu_;
  absl::flat_hash_set<uint64_t> closed_scopes_ ABSL_GUARDED_BY(scopes_mu_);
  std::atomic<size_t> closed_scope_count_{0};
};

}  // namespace netrig

#endif  // NETRIG_HARNESS_CHECK_LEDGER_H_
