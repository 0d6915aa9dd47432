#include "harness/check/live_objects.h"

#include <algorithm>
#include <map>

namespace netrig {
namespace {
// Counters are constructed during static initialization, possibly before main() and from
// several translation units: a lock-free push onto an intrusive list needs no constructed mutex.
std::atomic<LiveCounter*> counters_head{nullptr};
}  // namespace

LiveCounter::LiveCounter(const char* type) : type_(type) {
  LiveCounter* head = counters_head.load(std::memory_order_acquire);
  do {
    next_ = head;
  } while (!counters_head.compare_exchange_weak(head, this, std::memory_order_acq_rel));
}

std::vector<std::pair<std::string, int64_t>> LiveObjectsSnapshot() {
  std::map<std::string, int64_t> by_type;  // Two counters may share a type name: sum them.
  for (LiveCounter* c = counters_head.load(std::memory_order_acquire); c != nullptr; c = c->next_) {
    by_type[c->type()] += c->live();
  }
  return {by_type.begin(), by_type.end()};
}

std::vector<std::pair<std::string, uint64_t>> LiveObjectsCreated() {
  std::map<std::string, uint64_t> by_type;
  for (LiveCounter* c = counters_head.load(std::memory_order_acquire); c != nullptr; c = c->next_) {
    by_type[c->type()] += c->created();
  }
  return {by_type.begin(), by_type.end()};
}

std::vector<std::pair<std::string, int64_t>> LiveObjectsChangedSince(
    const std::vector<std::pair<std::string, int64_t>>& baseline) {
  std::map<std::string, int64_t> before(baseline.begin(), baseline.end());
  std::vector<std::pair<std::string, int64_t>> changed;
  for (const auto& [type, live] : LiveObjectsSnapshot()) {
    const auto it = before.find(type);
    const int64_t delta = live - (it == before.end() ? 0 : it->second);
    if (delta != 0) changed.emplace_back(type, delta);
  }
  return changed;
}

}  // namespace netrig
