// Violations: what broke, where, and the recipe that replays it.
//
// A run creates one ViolationLog with its recipe (every option and seed that decides its
// behaviour); every check in the run reports into it. Reports are thread-safe. The first
// `max_kept` violations are kept whole, the rest are counted.
//
// Example:
//   netrig::ViolationLog violations({{"command", "udp"}, {"seed", 42}});
//   violations.Report("duplicate_completion", "task 17 completed twice (ok, then cancelled)");
//   if (!violations.empty()) WriteReport(violations.ToJson());
#ifndef NETRIG_HARNESS_CHECK_VIOLATION_H_
#define NETRIG_HARNESS_CHECK_VIOLATION_H_

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "harness/base/mutex.h"
#include "nlohmann/json.hpp"

namespace netrig {

struct Violation {
  std::string kind;     // Machine-readable class: "duplicate_completion", "silent_loss", ...
  std::string message;  // One sentence a person can act on, naming the ids involved.
  absl::Time at;
};

class ViolationLog {
 public:
  explicit ViolationLog(nlohmann::json recipe = nlohmann::json::object(), size_t max_kept = 100);

  void Report(absl::string_view kind, std::string message);

  bool empty() const { return total_.load(std::memory_order_acquire) == 0; }
  uint64_t total() const { return total_.load(std::memory_order_acquire); }
  std::vector<Violation> Kept() const;
  // Number of violations per kind, all of them (kept or not).
  std::vector<std::pair<std::string, uint64_t>> CountsByKind() const;

  nlohmann::json recipe() const;
  void set_recipe(nlohmann::json recipe);

  // [{"kind":..., "message":..., "replay": <recipe>}, ...]
  nlohmann::json ToJson() const;

 private:
  const size_t max_kept_;
  std::atomic<uint64_t> total_{0};
  mutable Mutex mu_;
  nlohmann::json recipe_ ABSL_GUARDED_BY(mu_);
  std::vector<Violation> kept_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<std::string, uint64_t>> counts_ ABSL_GUARDED_BY(mu_);
};

}  // namespace netrig

#endif  // NETRIG_HARNESS_CHECK_VIOLATION_H_
