#include "harness/check/ledger.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "harness/sched/clock.h"

namespace netrig {

Ledger::Ledger(ViolationLog* violations, const char* noun, absl::Duration default_deadline)
    : violations_(violations), noun_(noun), default_deadline_(default_deadline) {}

uint64_t Ledger::Open(uint64_t scope) { return OpenWithDeadline(scope, default_deadline_); }

uint64_t Ledger::OpenWithDeadline(uint64_t scope, absl::Duration deadline) {
  const uint64_t id = next_id_.fetch_add(1, std::memory_order_relaxed);
  const absl::Time now = netrig::Now();
  Shard& shard = ShardOf(id);
  MutexLock lock(&shard.mu);
  shard.open.emplace(id, Entry{scope, now, now + deadline, "opened"});
  return id;
}

bool Ledger::ScopeClosed(uint64_t scope) const {
  if (scope == 0 || closed_scope_count_.load(std::memory_order_acquire) == 0) return false;
  MutexLock lock(&scopes_mu_);
  return closed_scopes_.contains(scope);
}

void Ledger::Note(uint64_t id, const char* state) {
  Shard& shard = ShardOf(id);
  uint64_t scope = 0;
  {
    MutexLock lock(&shard.mu);
    auto it = shard.open.find(id);
    if (it == shard.open.end()) return;  // Notes after completion are harmless.
    it->second.state = state;
    scope = it->second.scope;
  }
  if (ScopeClosed(scope)) {
    after_close_.fetch_add(1, std::memory_order_relaxed);
    violations_->Report("completion_after_close",
                        absl::StrCat(noun_, " ", id, " changed state to '", state,
                                     "' after its scope ", scope, " was closed"));
  }
}

bool Ledger::Complete(uint64_t id, const char* outcome) {
  Shard& shard = ShardOf(id);
  uint64_t scope = 0;
  const char* first_outcome = nullptr;
  bool known = true;
  {
    MutexLock lock(&shard.mu);
    auto it = shard.open.find(id);
    if (it != shard.open.end()) {
      scope = it->second.scope;
      shard.open.erase(it);
      const size_t slot = id / kShards;
      if (shard.outcomes.size() <= slot) shard.outcomes.resize(slot + 1 + slot / 2, nullptr);
      shard.outcomes[slot] = outcome;
    } else {
      const size_t slot = id / kShards;
      if (id != 0 && id < next_id_.load() && slot < shard.outcomes.size() &&
          shard.outcomes[slot] != nullptr) {
        first_outcome = shard.outcomes[slot];
      } else {
        known = false;
      }
    }
  }
  if (first_outcome != nullptr) {
    duplicates_.fetch_add(1, std::memory_order_relaxed);
    violations_->Report("duplicate_completion",
                        absl::StrCat(noun_, " ", id, " completed twice: first '", first_outcome,
                                     "', then '", outcome, "'"));
    return false;
  }
  if (!known) {
    violations_->Report("unknown_completion",
                        absl::StrCat(noun_, " ", id, " completed ('", outcome,
                                     "') but was never opened or was dropped at scope close"));
    return false;
  }
  if (ScopeClosed(scope)) {
    after_close_.fetch_add(1, std::memory_order_relaxed);
    violations_->Report("completion_after_close",
                        absl::StrCat(noun_, " ", id, " completed ('", outcome,
                                     "') after its scope ", scope, " was closed"));
    return false;
  }
  completed_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void Ledger::CloseScope(uint64_t scope, bool require_all_complete) {
  {
    MutexLock lock(&scopes_mu_);
    closed_scopes_.insert(scope);
    closed_scope_count_.store(closed_scopes_.size(), std::memory_order_release);
  }
  if (!require_all_complete) return;
  for (Shard& shard : shards_) {
    std::vector<std::pair<uint64_t, const char*>> still_open;
    {
      MutexLock lock(&shard.mu);
      for (auto it = shard.open.begin(); it != shard.open.end();) {
        if (it->second.scope == scope) {
          still_open.emplace_back(it->first, it->second.state);
          shard.open.erase(it++);
        } else {
          ++it;
        }
      }
    }
    for (const auto& [id, state] : still_open) {
      violations_->Report("open_at_close",
                          absl::StrCat(noun_, " ", id, " was still open (last state '", state,
                                       "') when its scope ", scope, " finished closing"));
    }
  }
}

std::vector<Ledger::Stuck> Ledger::Overdue(absl::Time now) const {
  std::vector<Stuck> stuck;
  for (const Shard& shard : shards_) {
    MutexLock lock(&shard.mu);
    for (const auto& [id, entry] : shard.open) {
      if (entry.deadline < now) stuck.push_back({id, entry.scope, entry.state, now - entry.opened});
    }
  }
  std::sort(stuck.begin(), stuck.end(), [](const Stuck& a, const Stuck& b) { return a.id < b.id; });
  return stuck;
}

uint64_t Ledger::outstanding() const {
  uint64_t total = 0;
  for (const Shard& shard : shards_) {
    MutexLock lock(&shard.mu);
    total += shard.open.size();
  }
  return total;
}

}  // namespace netrig
