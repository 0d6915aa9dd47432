// A user's client reports its own live objects (check/live_objects.h) and both stress drivers
// check them as they check netrig's: a flow and an HTTP client written in this test, each with a
// counter of its own, come out clean when they release every object, and a twin that keeps one
// of its counted objects alive after the run is reported (`live_objects`, naming the user's
// type). Wrappers around netrig's reference flow and client, so only the counting differs.
#include <atomic>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "harness/base/mutex.h"
#include "harness/check/live_objects.h"
#include "harness/http/http_client.h"
#include "harness/udp/flow.h"
#include "harness/workloads/http/http_stress.h"
#include "harness/workloads/udp/udp_stress.h"

namespace netrig {
namespace {

using ::testing::HasSubstr;

// What a leaky client keeps after the run: reachable (a global), so LeakSanitizer has nothing to
// say; only the live-object counters can tell that it outlived its flow or session.
Mutex kept_mu;
std::vector<std::shared_ptr<void>>& Kept() {
  static auto* const kept = new std::vector<std::shared_ptr<void>>();
  return *kept;
}
// The next flow or session of a leaky client to be destroyed leaves its counted object behind.
std::atomic<bool> leak_next{false};

// The user's own per-flow and per-session state, each counted.
LiveCounter kTidyPeerBooks("test-user-flow.peer_book");
LiveCounter kLeakyPeerBooks("test-leaky-user-flow.peer_book");
LiveCounter kTidyLedgers("test-user-client.ledger");
LiveCounter kLeakyLedgers("test-leaky-user-client.ledger");

struct CountedState {
  explicit CountedState(LiveCounter& counter) : live(counter) {}
  LiveToken live;
};

// Hands `state` to the global keeper instead of letting it go, once per leak_next.
void MaybeKeep(std::shared_ptr<CountedState>& state, bool leaky) {
  if (!leaky || !leak_next.exchange(false)) return;
  MutexLock lock(&kept_mu);
  Kept().push_back(std::move(state));
}

class UserFlow : public Flow {
 public:
  UserFlow(std::unique_ptr<Flow> inner, bool leaky)
      : inner_(std::move(inner)),
        leaky_(leaky),
        state_(std::make_shared<CountedState>(leaky ? kLeakyPeerBooks : kTidyPeerBooks)) {}
  ~UserFlow() override { MaybeKeep(state_, leaky_); }

  absl::StatusOr<std::vector<Datagram>> Read(size_t max, absl::Duration timeout) override {
    return inner_->Read(max, timeout);
  }
  std::vector<WriteResult> Write(absl::Span<const Datagram> datagrams) override {
    return inner_->Write(datagrams);
  }
  void Close() override { inner_->Close(); }
  void OnPathEvent(PathEvent event) override { inner_->OnPathEvent(event); }
  FlowState state() const override { return inner_->state(); }
  std::vector<Endpoint> LocalEndpoints() const override { return inner_->LocalEndpoints(); }

 private:
  const std::unique_ptr<Flow> inner_;  // Holds its own LiveToken on kLiveFlows.
  const bool leaky_;
  std::shared_ptr<CountedState> state_;
};

FlowFactory UserFlowFactory(bool leaky) {
  return [leaky](const FlowOptions& options) -> absl::StatusOr<std::unique_ptr<Flow>> {
    absl::StatusOr<std::unique_ptr<Flow>> inner = CreateFlow("socket", options);
    if (!inner.ok()) return inner.status();
    return std::unique_ptr<Flow>(std::make_unique<UserFlow>(*std::move(inner), leaky));
  };
}

class UserSession : public HttpSession {
 public:
  UserSession(std::unique_ptr<HttpSession> inner, bool leaky)
      : inner_(std::move(inner)),
        leaky_(leaky),
        state_(std::make_shared<CountedState>(leaky ? kLeakyLedgers : kTidyLedgers)) {}
  ~UserSession() override { MaybeKeep(state_, leaky_); }

  absl::StatusOr<std::shared_ptr<HttpTask>> MakeTask(HttpRequest request,
                                                     HttpCompletion on_complete) override {
    return inner_->MakeTask(std::move(request), std::move(on_complete));
  }
  void FinishTasksAndInvalidate(absl::AnyInvocable<void()> on_invalidated) override {
    inner_->FinishTasksAndInvalidate(std::move(on_invalidated));
  }
  void InvalidateAndCancel(absl::AnyInvocable<void()> on_invalidated) override {
    inner_->InvalidateAndCancel(std::move(on_invalidated));
  }
  bool WaitUntilInvalidated(absl::Duration timeout) override {
    return inner_->WaitUntilInvalidated(timeout);
  }
  absl::StatusOr<ObserverId> AddConnectionObserver(ConnectionObserver observer) override {
    return inner_->AddConnectionObserver(std::move(observer));
  }
  void RemoveConnectionObserver(ObserverId id) override { inner_->RemoveConnectionObserver(id); }

 private:
  const std::unique_ptr<HttpSession> inner_;
  const bool leaky_;
  std::shared_ptr<CountedState> state_;
};

class UserClient : public HttpClient {
 public:
  UserClient(std::unique_ptr<HttpClient> inner, bool leaky)
      : inner_(std::move(inner)), leaky_(leaky) {}
  absl::StatusOr<std::unique_ptr<HttpSession>> NewSession(
      const HttpSessionOptions& options) override {
    absl::StatusOr<std::unique_ptr<HttpSession>> session = inner_->NewSession(options);
    if (!session.ok()) return session.status();
    return std::unique_ptr<HttpSession>(std::make_unique<UserSession>(*std::move(session), leaky_));
  }

 private:
  const std::unique_ptr<HttpClient> inner_;
  const bool leaky_;
};

HttpClientFactory UserClientFactory(bool leaky) {
  return [leaky]() -> absl::StatusOr<std::unique_ptr<HttpClient>> {
    absl::StatusOr<std::unique_ptr<HttpClient>> inner = MakeHttpClient("curl");
    if (!inner.ok()) return inner.status();
    return std::unique_ptr<HttpClient>(std::make_unique<UserClient>(*std::move(inner), leaky));
  };
}

NETRIG_REGISTER_FLOW("test-user-flow", "tests/: socket flow + a counted object per flow",
                     UserFlowFactory(false));
NETRIG_REGISTER_FLOW("test-leaky-user-flow", "tests/: as test-user-flow, one object kept",
                     UserFlowFactory(true));
NETRIG_REGISTER_HTTP_CLIENT("test-user-client", "tests/: curl + a counted object per session",
                            UserClientFactory(false));
NETRIG_REGISTER_HTTP_CLIENT("test-leaky-user-client", "tests/: as test-user-client, one kept",
                            UserClientFactory(true));

UdpStressOptions ShortUdp(const std::string& flow) {
  UdpStressOptions options;
  options.flow = flow;
  options.duration = absl::Milliseconds(1500);
  options.seed = 77;
  options.path_events = absl::Milliseconds(300);
  options.status_out = nullptr;
  options.summary_out = nullptr;
  options.finding_dir = "";
  return options;
}

HttpStressOptions ShortHttp(const std::string& client) {
  HttpStressOptions options;
  options.client = client;
  options.duration = absl::Milliseconds(1500);
  options.seed = 77;
  options.tasks_per_session = 50;  // Many sessions, so many counted objects, in a short run.
  options.status_out = nullptr;
  options.summary_out = nullptr;
  options.finding_dir = "";
  return options;
}

std::vector<std::string> Kinds(const StressResult& result) {
  std::vector<std::string> kinds;
  for (const auto& violation : result.violations) kinds.push_back(violation.kind);
  return kinds;
}

TEST(UserLiveObjects, AUdpFlowThatReleasesItsObjectsIsCleanAndItsCounterIsCovered) {
  absl::StatusOr<StressResult> result = RunUdpStress(ShortUdp("test-user-flow"));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 0) << result->DescribeViolations();
  const nlohmann::json& counted = result->report.at("live_objects_counted");
  // The user's counter was exercised (one object per flow) and checked with netrig's own.
  ASSERT_TRUE(counted.contains("test-user-flow.peer_book")) << counted.dump();
  EXPECT_GT(counted["test-user-flow.peer_book"].get<uint64_t>(), 1u) << counted.dump();
  EXPECT_LE(counted["test-user-flow.peer_book"].get<uint64_t>(),
            counted["udp.flow"].get<uint64_t>())
      << counted.dump();
  EXPECT_TRUE(result->report.at("live_objects_at_end").empty());
  EXPECT_EQ(kTidyPeerBooks.live(), 0);
}

TEST(UserLiveObjects, AUdpFlowThatKeepsOneOfItsObjectsIsCaught) {
  leak_next.store(true);
  absl::StatusOr<StressResult> result = RunUdpStress(ShortUdp("test-leaky-user-flow"));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 1);
  EXPECT_THAT(Kinds(*result), ::testing::Contains("live_objects"));
  EXPECT_EQ(result->report.at("live_objects_at_end"),
            nlohmann::json({{"test-leaky-user-flow.peer_book", 1}}))
      << result->report.at("live_objects_at_end").dump();
  for (const auto& violation : result->violations) {
    if (violation.kind == "live_objects") {
      EXPECT_THAT(violation.message, HasSubstr("1 test-leaky-user-flow.peer_book"));
    }
  }
  EXPECT_EQ(kLiveFlows.live(), 0);  // netrig's own flow objects were all released.
}

TEST(UserLiveObjects, AnHttpClientThatReleasesItsObjectsIsCleanAndItsCounterIsCovered) {
  absl::StatusOr<StressResult> result = RunHttpStress(ShortHttp("test-user-client"));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 0) << result->DescribeViolations();
  const nlohmann::json& counted = result->report.at("live_objects_counted");
  ASSERT_TRUE(counted.contains("test-user-client.ledger")) << counted.dump();
  EXPECT_GT(counted["test-user-client.ledger"].get<uint64_t>(), 1u) << counted.dump();
  EXPECT_LE(counted["test-user-client.ledger"].get<uint64_t>(),
            counted["http.session"].get<uint64_t>())
      << counted.dump();
  EXPECT_TRUE(result->report.at("live_objects_at_end").empty());
  EXPECT_EQ(kTidyLedgers.live(), 0);
}

TEST(UserLiveObjects, AnHttpClientThatKeepsOneOfItsObjectsIsCaught) {
  leak_next.store(true);
  absl::StatusOr<StressResult> result = RunHttpStress(ShortHttp("test-leaky-user-client"));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 1);
  EXPECT_THAT(Kinds(*result), ::testing::Contains("live_objects"));
  EXPECT_EQ(result->report.at("live_objects_at_end"),
            nlohmann::json({{"test-leaky-user-client.ledger", 1}}))
      << result->report.at("live_objects_at_end").dump();
}

}  // namespace
}  // namespace netrig
