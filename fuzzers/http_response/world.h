// The http_response fuzzer's process-wide state: the client under test (NETRIG_HTTP_CLIENT,
// default "curl"), the embedded server whose scripted answer is the current input's bytes, the
// live-object baseline, and what the script does on this input's first request (cancel a task or
// abort the session from the server's thread). Created once, shared by every input.
#ifndef NETRIG_FUZZERS_HTTP_RESPONSE_WORLD_H_
#define NETRIG_FUZZERS_HTTP_RESPONSE_WORLD_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "fuzzers/http_response/input.h"
#include "harness/base/mutex.h"
#include "harness/http/http_client.h"
#include "harness/http/server/server.h"

namespace netrig::internal::http_response_fuzzer {

// ---------------------------------------------------------------------------------------------
// Process-wide: the server, the client, and what the server's script answers right now.

struct World {
  std::string client_name = "curl";
  bool verbose = false;  // NETRIG_HTTP_RESPONSE_VERBOSE=1: one line per completed task.
  std::unique_ptr<netrig::HttpServer> server;
  std::unique_ptr<netrig::HttpClient> client;
  std::vector<std::pair<std::string, int64_t>> live_baseline;

  // What the script answers; set by each input before its session starts.
  netrig::Mutex mu;
  Protocol protocol ABSL_GUARDED_BY(mu) = Protocol::kH1;
  std::string bytes ABSL_GUARDED_BY(mu);
  std::vector<size_t> splits ABSL_GUARDED_BY(mu);
  bool split_at_structure ABSL_GUARDED_BY(mu) = false;
  netrig::ScriptedResponse::Then then ABSL_GUARDED_BY(mu) = netrig::ScriptedResponse::Then::kClose;
  uint64_t first_connection ABSL_GUARDED_BY(mu) = 0;  // Connections before it are an old input's.
  bool primer_connection_taken ABSL_GUARDED_BY(mu) = false;
  std::shared_ptr<netrig::HttpTask> cancel_on_request ABSL_GUARDED_BY(mu);
  // "abort": the session to invalidate on the first request (cleared before it is destroyed).
  netrig::HttpSession* abort_on_request ABSL_GUARDED_BY(mu) = nullptr;
  // The script holds the task (or session) while it cancels it; the input waits for that before
  // it drops the session and checks for leaks.
  bool cancelling ABSL_GUARDED_BY(mu) = false;
  netrig::CondVar cancel_done;
};

extern World* world;

// Prints "http_response fuzzer: <what>" and aborts.
[[noreturn]] void Fatal(const std::string& what);
// Creates the world once (a no-op afterwards); the server stops at exit.
void InitWorld();

}  // namespace netrig::internal::http_response_fuzzer

#endif  // NETRIG_FUZZERS_HTTP_RESPONSE_WORLD_H_
