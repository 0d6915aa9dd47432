// Live-object counters: per type, how many objects exist right now. At the end of a session or
// run every counter must be back to zero; a counter that is not names the leaking type (field
// notes story 3: connections kept alive by observers).
//
// This is the public API for a user's own client too. Declare one counter per type at namespace
// scope, and give each counted object a LiveToken (a member, so it lives exactly as long as its
// owner):
//
//   netrig::LiveCounter kConnectionCounter("my-client.connection");
//   class Connection {
//     netrig::LiveToken live_{kConnectionCounter};
//   };
//   ...
//   EXPECT_EQ(kConnectionCounter.live(), 0);
//   for (const auto& [type, live] : netrig::LiveObjectsSnapshot()) ...
//
// Every counter of the program is checked by `netrig udp` and `netrig http` (drive/stress_run.h):
// each must be back at its value from before the run once every object of the run was released,
// or the run reports a `live_objects` violation naming the type and how many are left; the JSON
// report lists every counted type and how many objects of it the run created
// (`live_objects_counted`), so a user can see that their counters were covered. Name counters
// "<client>.<type>" ("my-flow.socket", "my-client.task"); netrig's own are "udp.*" and "http.*".
// Count what a leak would keep alive: sessions, tasks, connections, flows, sockets, per-peer
// state, observer registrations.
#ifndef NETRIG_HARNESS_CHECK_LIVE_OBJECTS_H_
#define NETRIG_HARNESS_CHECK_LIVE_OBJECTS_H_

#include <atomic>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace netrig {

class LiveCounter {
 public:
  // `type` must outlive the counter (a string literal). Registers itself for snapshots; counters
  // live for the whole process (declare them at namespace scope).
  explicit LiveCounter(const char* type);
  LiveCounter(const LiveCounter&) = delete;
  LiveCounter& operator=(const LiveCounter&) = delete;

  const char* type() const { return type_; }
  int64_t live() const { return live_.load(std::memory_order_acquire); }
  uint64_t created() const { return created_.load(std::memory_order_relaxed); }

  void Increment() {
    live_.fetch_add(1, std::memory_order_acq_rel);
    created_.fetch_add(1, std::memory_order_relaxed);
  }
  void Decrement() { live_.fetch_sub(1, std::memory_order_acq_rel); }

 private:
  friend std::vector<std::pair<std::string, int64_t>> LiveObjectsSnapshot();
  friend std::vector<std::pair<std::string, uint64_t>> LiveObjectsCreated();
  const char* const type_;
  std::atomic<int64_t> live_{0};
  std::atomic<uint64_t> created_{0};
  LiveCounter* next_ = nullptr;
};

// A member that counts its owner: constructed with the owner, destroyed with it.
class LiveToken {
 public:
  explicit LiveToken(LiveCounter& counter) : counter_(&counter) { counter_->Increment(); }
  LiveToken(const LiveToken& other) : counter_(other.counter_) { counter_->Increment(); }
  LiveToken& operator=(const LiveToken&) { return *this; }
  ~LiveToken() { counter_->Decrement(); }

 private:
  LiveCounter* const counter_;
};

// Every registered counter as (type, live), sorted by type.
std::vector<std::pair<std::string, int64_t>> LiveObjectsSnapshot();

// Every registered counter as (type, objects created since the program started), sorted by type.
std::vector<std::pair<std::string, uint64_t>> LiveObjectsCreated();

// Types whose live count differs from `baseline` (taken with LiveObjectsSnapshot() before a run),
// as (type, live now - live at baseline). Empty means nothing leaked.
std::vector<std::pair<std::string, int64_t>> LiveObjectsChangedSince(
    const std::vector<std::pair<std::string, int64_t>>& baseline);

}  // namespace netrig

#endif  // NETRIG_HARNESS_CHECK_LIVE_OBJECTS_H_
