#include "harness/sched/thread.h"

#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "harness/sched/control_hooks.h"
#include "harness/sched/thread_census.h"

namespace netrig {
namespace {

struct Identity {
  Identity(std::string id_in, std::string name_in)
      : id(std::move(id_in)), name(std::move(name_in)) {}
  const std::string id;
  const std::string name;
  std::atomic<int> children{0};
};

thread_local Identity* current_identity = nullptr;

Identity& Current() {
  if (current_identity == nullptr) {
    // A thread netrig did not start: the process's main thread is t0, any other runs free.
    const pid_t tid = static_cast<pid_t>(syscall(SYS_gettid));
    static thread_local Identity unregistered(
        tid == getpid() ? std::string("t0") : absl::StrCat("x", tid),
        tid == getpid() ? "main" : "unregistered");
    current_identity = &unregistered;
  }
  return *current_identity;
}

}  // namespace

Thread::Thread(std::string name, absl::AnyInvocable<void() &&> body) {
  Identity& parent = Current();
  auto identity = std::make_shared<Identity>(
      absl::StrCat(parent.id, ".", parent.children.fetch_add(1, std::memory_order_relaxed)),
      std::move(name));
  id_ = identity->id;
  name_ = identity->name;
  const internal::ControlHooks* hooks = internal::ActiveControlHooks();
  void* record = hooks != nullptr ? hooks->on_spawn(id_) : nullptr;
  if (record != nullptr) {
    control_record_ = record;
    control_epoch_ = internal::control_epoch.load(std::memory_order_acquire);
  }
  thread_ = std::thread([identity, record, hooks, body = std::move(body)]() mutable {
    current_identity = identity.get();
    internal::JoinCensus(/*netrig_thread=*/true);
    prctl(PR_SET_NAME, identity->name.substr(0, 15).c_str(), 0, 0, 0);
    if (record != nullptr) hooks->on_start(record);
    std::move(body)();
    if (record != nullptr && internal::ActiveControlHooks() == hooks) hooks->on_exit(record);
    current_identity = nullptr;
  });
  if (record != nullptr) hooks->on_point("thread.spawn");
}

void Thread::join() {
  if (control_record_ != nullptr &&
      internal::control_epoch.load(std::memory_order_acquire) == control_epoch_) {
    if (const internal::ControlHooks* hooks = internal::ActiveControlHooks()) {
      hooks->before_join(control_record_);
    }
  }
  control_record_ = nullptr;
  thread_.join();
}

Thread& Thread::operator=(Thread&& other) noexcept {
  if (thread_.joinable()) std::terminate();  // As std::thread: never drop a running thread.
  id_ = std::move(other.id_);
  name_ = std::move(other.name_);
  control_record_ = std::exchange(other.control_record_, nullptr);
  control_epoch_ = other.control_epoch_;
  thread_ = std::move(other.thread_);
  return *this;
}

const std::string& CurrentThreadId() { return Current().id; }
const std::string& CurrentThreadName() { return Current().name; }

void ThreadAffinity::BindToCurrent() { owner_.store(&Current(), std::memory_order_release); }

bool ThreadAffinity::IsCurrent() const {
  return owner_.load(std::memory_order_acquire) == &Current();
}

void ThreadAffinity::Check(const char* what) const {
  const void* owner = owner_.load(std::memory_order_acquire);
  if (owner == nullptr || owner == &Current()) return;
  const auto* identity = static_cast<const Identity*>(owner);
  std::fprintf(stderr, "netrig: %s must run on thread %s (%s), not on %s (%s)\n", what,
               identity->id.c_str(), identity->name.c_str(), CurrentThreadId().c_str(),
               CurrentThreadName().c_str());
  std::abort();
}

}  // namespace netrig
