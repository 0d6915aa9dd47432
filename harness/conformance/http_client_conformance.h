// HTTP client conformance: the contract of harness/http/http_client.h as properties a registered
// client must hold, each a function that returns OK or a Status naming what broke, and a
// GoogleTest suite that runs every property against a client picked by its registry name.
//
// Every property runs against netrig's embedded loopback server (harness/http/server, 100-byte
// bodies, `/fault/...` paths for delays and slow bodies), once per HTTP version the client claims,
// and takes a second or two on a correct client:
//   CompletesTasksWithRealResults      resumed tasks (some answered after 100 ms) complete once
//                                      each, with status 200, the whole body, their own task id
//   CancelBeforeResume                 completes once as kCancelled without a connection; a later
//                                      Resume() or Cancel() calls nothing back
//   CancelMidTransfer                  a cancel while waiting for the headers, and one in the
//                                      middle of a slow body, complete once as kCancelled before
//                                      the response could have ended
//   CancelAfterCompletion              calls nothing back
//   CancelAtEveryMoment                cancels swept from right after Resume() to after the
//                                      response: each task completes exactly once, cancelled or
//                                      with the real response, never with anything else
//   ExactlyOnceUnderConcurrentResumeAndCancel  tasks made and resumed from 4 threads, cancelled at
//                                      random from 2 more: exactly one completion each, none
//                                      after invalidation
//   FinishTasksAndInvalidate           resumed tasks finish with real results, tasks never resumed
//                                      complete as kCancelled, MakeTask and AddConnectionObserver
//                                      fail with FailedPrecondition once invalidation began, the
//                                      callback runs once, nothing is called back after it
//   InvalidateAndCancel                running tasks complete as kCancelled, then as above
//   EscalationAndLateCallbacks         WaitUntilInvalidated times out (false) while a task runs;
//                                      InvalidateAndCancel after FinishTasksAndInvalidate still
//                                      cancels; every callback given, also after invalidation
//                                      completed, runs exactly once
//   DestroyingASessionCancelsItsTasks  destroying a session completes its tasks as kCancelled;
//                                      task handles outlive it harmlessly
//   SessionDestroyedFromItsOwnCallback destroying the session inside a completion callback neither
//                                      deadlocks nor crashes
//   RemovedObserverIsNotCalledAgain    an observer removed is not called again
//
// In a test file of your project (link netrig::conformance and your client's registration):
//
//   #include "harness/conformance/http_client_conformance.h"
//
//   INSTANTIATE_HTTP_CLIENT_CONFORMANCE(Mine, "my-client");
//
//   // A client that only speaks HTTP/1.1:
//   netrig::conformance::HttpClientConformanceOptions Http1Only() {
//     netrig::conformance::HttpClientConformanceOptions claims;
//     claims.versions = {netrig::HttpVersion::kHttp11};
//     return claims;
//   }
//   INSTANTIATE_HTTP_CLIENT_CONFORMANCE(MineHttp1, "my-client", Http1Only());
//
// The tests are named PREFIX/PREFIXHttpClientConformance.Holds/PROPERTY, e.g.
// Mine/MineHttpClientConformance.Holds/CancelAtEveryMoment.
//
// Or call a property yourself:
//   absl::Status held = netrig::conformance::CheckHttpCancelAtEveryMoment("my-client", {});
#ifndef NETRIG_HARNESS_CONFORMANCE_HTTP_CLIENT_CONFORMANCE_H_
#define NETRIG_HARNESS_CONFORMANCE_HTTP_CLIENT_CONFORMANCE_H_

#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"
#include "harness/conformance/not_applicable.h"
#include "harness/http/http_client.h"

namespace netrig::conformance {

// What the client claims; each property runs once per claimed version.
struct HttpClientConformanceOptions {
  std::vector<HttpVersion> versions = {HttpVersion::kHttp11, HttpVersion::kH2cPriorKnowledge};
  HttpSessionOptions session_options;
};

// One property: OK when `client` holds it, otherwise a Status saying what broke first.
using HttpPropertyCheck = absl::Status (*)(absl::string_view client,
                                           const HttpClientConformanceOptions& options);

absl::Status CheckHttpCompletesTasksWithRealResults(absl::string_view client,
                                                    const HttpClientConformanceOptions& options);
absl::Status CheckHttpCancelBeforeResume(absl::string_view client,
                                         const HttpClientConformanceOptions& options);
absl::Status CheckHttpCancelMidTransfer(absl::string_view client,
                                        const HttpClientConformanceOptions& options);
absl::Status CheckHttpCancelAfterCompletion(absl::string_view client,
                                            const HttpClientConformanceOptions& options);
absl::Status CheckHttpCancelAtEveryMoment(absl::string_view client,
                                          const HttpClientConformanceOptions& options);
absl::Status CheckHttpExactlyOnceUnderConcurrentResumeAndCancel(
    absl::string_view client, const HttpClientConformanceOptions& options);
absl::Status CheckHttpFinishTasksAndInvalidate(absl::string_view client,
                                               const HttpClientConformanceOptions& options);
absl::Status CheckHttpInvalidateAndCancel(absl::string_view client,
                                          const HttpClientConformanceOptions& options);
absl::Status CheckHttpEscalationAndLateCallbacks(absl::string_view client,
                                                 const HttpClientConformanceOptions& options);
absl::Status CheckHttpDestroyingASessionCancelsItsTasks(
    absl::string_view client, const HttpClientConformanceOptions& options);
absl::Status CheckHttpSessionDestroyedFromItsOwnCallback(
    absl::string_view client, const HttpClientConformanceOptions& options);
absl::Status CheckHttpRemovedObserverIsNotCalledAgain(absl::string_view client,
                                                      const HttpClientConformanceOptions& options);

struct HttpProperty {
  const char* name;  // "CancelAtEveryMoment": the test name.
  HttpPropertyCheck check;
};
// Every property above, in that order.
const std::vector<HttpProperty>& HttpProperties();

struct HttpClientConformanceCase {
  std::string client;
  HttpClientConformanceOptions options;
  HttpProperty property;
};
std::vector<HttpClientConformanceCase> HttpClientConformanceCases(
    absl::string_view client, const HttpClientConformanceOptions& options = {});
std::string HttpClientConformanceCaseName(
    const ::testing::TestParamInfo<HttpClientConformanceCase>& info);
void PrintTo(const HttpClientConformanceCase& test_case, std::ostream* out);

// The suite's fixture; INSTANTIATE_HTTP_CLIENT_CONFORMANCE derives one per instantiation.
class HttpClientConformanceTest : public ::testing::TestWithParam<HttpClientConformanceCase> {
 protected:
  void CheckProperty();
};

}  // namespace netrig::conformance

// INSTANTIATE_HTTP_CLIENT_CONFORMANCE(Prefix, "client name" [, HttpClientConformanceOptions{...}]):
// at namespace scope, once per client; Prefix is an identifier unique in the test binary.
#define INSTANTIATE_HTTP_CLIENT_CONFORMANCE(prefix, client_name, ...)                             \
  class prefix##HttpClientConformance : public ::netrig::conformance::HttpClientConformanceTest { \
  };                                                                                              \
  TEST_P(prefix##HttpClientConformance, Holds) { CheckProperty(); }                               \
  INSTANTIATE_TEST_SUITE_P(prefix, prefix##HttpClientConformance,                                 \
                           ::testing::ValuesIn(::netrig::conformance::HttpClientConformanceCases( \
                               client_name __VA_OPT__(, ) __VA_ARGS__)),                          \
                           ::netrig::conformance::HttpClientConformanceCaseName)

#endif  // NETRIG_HARNESS_CONFORMANCE_HTTP_CLIENT_CONFORMANCE_H_
