#include "harness/check/violation.h"

#include "absl/time/clock.h"
#include "harness/sched/clock.h"

namespace netrig {

ViolationLog::ViolationLog(nlohmann::json recipe, size_t max_kept)
    : max_kept_(max_kept), recipe_(std::move(recipe)) {}

void ViolationLog::Report(absl::string_view kind, std::string message) {
  MutexLock lock(&mu_);
  total_.fetch_add(1, std::memory_order_acq_rel);
  bool counted = false;
  for (auto& [name, count] : counts_) {
    if (name == kind) {
      ++count;
      counted = true;
      break;
    }
  }
  if (!counted) counts_.emplace_back(std::string(kind), 1);
  if (kept_.size() < max_kept_)
    kept_.push_back({std::string(kind), std::move(message), netrig::Now()});
}

std::vector<Violation> ViolationLog::Kept() const {
  MutexLock lock(&mu_);
  return kept_;
}

std::vector<std::pair<std::string, uint64_t>> ViolationLog::CountsByKind() const {
  MutexLock lock(&mu_);
  return counts_;
}

nlohmann::json ViolationLog::recipe() const {
  MutexLock lock(&mu_);
  return recipe_;
}

void ViolationLog::set_recipe(nlohmann::json recipe) {
  MutexLock lock(&mu_);
  recipe_ = std::move(recipe);
}

nlohmann::json ViolationLog::ToJson() const {
  MutexLock lock(&mu_);
  nlohmann::json list = nlohmann::json::array();
  for (const auto& violation : kept_) {
    list.push_back({{"kind", violation.kind},
                    {"message", violation.message},
                    {"at", absl::FormatTime(absl::RFC3339_full, violation.at, absl::UTCTimeZone())},
                    {"replay", recipe_}});
  }
  return list;
}

}  // namespace netrig
