#include "harness/http/curl/session.h"

#include <atomic>
#include <memory>
#include <utility>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "harness/check/live_objects.h"
#include "harness/http/curl/session_internal.h"
#include "harness/http/http_client.h"

namespace netrig {
namespace internal::curl_session {

LiveCounter kSessionCounter("http.session");
LiveCounter kTaskCounter("http.task");
LiveCounter kConnectionCounter("http.connection");
LiveCounter kObserverCounter("http.observer");
LiveCounter kRegistrationCounter("http.observer_registration");
EasyHandleCounters kEasyHandles;

namespace {

// ---------------------------------------------------------------------------------------------
// The public objects.

class CurlSession final : public HttpSession {
 public:
  explicit CurlSession(std::shared_ptr<SessionCore> core) : core_(std::move(core)) {}
  ~CurlSession() override { core_->Shutdown(); }

  absl::StatusOr<std::shared_ptr<HttpTask>> MakeTask(HttpRequest request,
                                                     HttpCompletion on_complete) override {
    return core_->MakeTask(std::move(request), std::move(on_complete));
  }
  void FinishTasksAndInvalidate(absl::AnyInvocable<void()> on_invalidated) override {
    core_->FinishTasksAndInvalidate(std::move(on_invalidated));
  }
  void InvalidateAndCancel(absl::AnyInvocable<void()> on_invalidated) override {
    core_->InvalidateAndCancel(std::move(on_invalidated));
  }
  bool WaitUntilInvalidated(absl::Duration timeout) override {
    return core_->WaitUntilInvalidated(timeout);
  }
  absl::StatusOr<ObserverId> AddConnectionObserver(ConnectionObserver observer) override {
    return core_->AddObserver(std::move(observer));
  }
  void RemoveConnectionObserver(ObserverId id) override { core_->RemoveObserver(id); }

 private:
  const std::shared_ptr<SessionCore> core_;
};

class CurlClient final : public HttpClient {
 public:
  CurlClient(const CurlClientOptions& options, std::shared_ptr<CurlShare> share)
      : options_(options), share_(std::move(share)) {}

  absl::StatusOr<std::unique_ptr<HttpSession>> NewSession(
      const HttpSessionOptions& options) override {
    auto core = std::make_shared<SessionCore>(options, options_, share_);
    if (absl::Status started = core->Start(); !started.ok()) return started;
    return std::make_unique<CurlSession>(std::move(core));
  }

 private:
  const CurlClientOptions options_;
  const std::shared_ptr<CurlShare> share_;
};

}  // namespace
}  // namespace internal::curl_session

absl::StatusOr<std::unique_ptr<HttpClient>> NewCurlClient(const CurlClientOptions& options) {
  if (absl::Status init = internal::curl_session::GlobalInit(); !init.ok()) return init;
  std::shared_ptr<internal::curl_session::CurlShare> share;
  if (options.share_dns || options.bugs.share_without_locks ||
      options.bugs.remember_unreachable_forever) {
    share = std::make_shared<internal::curl_session::CurlShare>(!options.bugs.share_without_locks);
    if (share->handle() == nullptr) return absl::InternalError("curl_share_init failed");
  }
  return std::make_unique<internal::curl_session::CurlClient>(options, std::move(share));
}

CurlLiveCounts CurlLiveObjects() {
  CurlLiveCounts counts;
  counts.sessions = internal::curl_session::kSessionCounter.live();
  counts.tasks = internal::curl_session::kTaskCounter.live();
  counts.connections = internal::curl_session::kConnectionCounter.live();
  counts.observers = internal::curl_session::kObserverCounter.live();
  counts.observer_registrations = internal::curl_session::kRegistrationCounter.live();
  return counts;
}

}  // namespace netrig

namespace netrig {

CurlEasyHandleCounts CurlEasyHandleCounters() {
  const internal::curl_session::EasyHandleCounters& counters = internal::curl_session::kEasyHandles;
  CurlEasyHandleCounts counts;
  counts.transfers_started = counters.transfers_started.load(std::memory_order_relaxed);
  counts.handles_created = counters.handles_created.load(std::memory_order_relaxed);
  counts.handles_destroyed = counters.handles_destroyed.load(std::memory_order_relaxed);
  counts.handles_pooled = counters.handles_pooled.load(std::memory_order_relaxed);
  return counts;
}

}  // namespace netrig
