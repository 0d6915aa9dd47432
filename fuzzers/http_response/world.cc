#include "fuzzers/http_response/world.h"

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "fuzzers/http_response/input.h"
#include "harness/base/mutex.h"
#include "harness/base/option_table.h"
#include "harness/check/live_objects.h"
#include "harness/http/http_client.h"
#include "harness/http/server/server.h"

namespace netrig::internal::http_response_fuzzer {

World* world = nullptr;

void Fatal(const std::string& what) {
  std::fprintf(stderr, "http_response fuzzer: %s\n", what.c_str());
  std::abort();
}

namespace {

// An empty SETTINGS frame and a SETTINGS ACK, as the server's scripted HTTP/2 mode sends them.
constexpr char kSettingsAndAck[] = {0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0};

netrig::ScriptedResponse Answer(const netrig::ScriptedRequest& request) {
  netrig::ScriptedResponse response;
  std::shared_ptr<netrig::HttpTask> to_cancel;
  netrig::HttpSession* to_abort = nullptr;
  {
    netrig::MutexLock lock(&world->mu);
    const bool this_input = request.connection_index >= world->first_connection;
    if (this_input && (world->cancel_on_request != nullptr || world->abort_on_request != nullptr)) {
      to_cancel = std::move(world->cancel_on_request);
      to_abort = std::exchange(world->abort_on_request, nullptr);
      world->cancelling = true;
    }
    response.then = world->then;
    response.split_at_structure = world->split_at_structure;
    if (world->protocol == Protocol::kH1) {
      response.bytes = world->bytes;
      response.pause_after = world->splits;
    } else if (request.protocol == netrig::HttpProtocol::kHttp2) {
      if (world->protocol == Protocol::kH2Upgrade && this_input &&
          !world->primer_connection_taken) {
        // The primer's prior-knowledge connection: no answer, keep its stream in flight.
        world->primer_connection_taken = true;
        response.then = netrig::ScriptedResponse::Then::kKeepOpen;
      } else {
        response.bytes = world->bytes;
        response.pause_after = world->splits;
      }
    } else {
      response.bytes =
          "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n";
      response.bytes.append(kSettingsAndAck, sizeof(kSettingsAndAck));
      for (size_t at : world->splits) response.pause_after.push_back(response.bytes.size() + at);
      response.bytes += world->bytes;
    }
  }
  // Outside the lock: a cancel may complete the task, whose callback takes the input's lock.
  if (to_cancel != nullptr || to_abort != nullptr) {
    if (to_cancel != nullptr) to_cancel->Cancel();
    to_cancel.reset();
    if (to_abort != nullptr) to_abort->InvalidateAndCancel();
    netrig::MutexLock lock(&world->mu);
    world->cancelling = false;
    world->cancel_done.SignalAll();
  }
  return response;
}

void StopWorld() {
  if (world == nullptr) return;
  world->client.reset();
  if (world->server) world->server->Stop();
  delete world;
  world = nullptr;
}

}  // namespace

void InitWorld() {
  if (world != nullptr) return;
  world = new World;
  if (const char* name = std::getenv("NETRIG_HTTP_CLIENT"); name != nullptr && *name != '\0') {
    world->client_name = name;
  }
  if (const char* verbose = std::getenv("NETRIG_HTTP_RESPONSE_VERBOSE"); verbose != nullptr) {
    world->verbose = *verbose != '\0' && *verbose != '0';
  }
  absl::StatusOr<std::unique_ptr<netrig::HttpClient>> client =
      netrig::MakeHttpClient(world->client_name);
  if (!client.ok()) {
    Fatal(absl::StrCat("NETRIG_HTTP_CLIENT=", netrig::option_internal::Quote(world->client_name),
                       ": ", client.status().ToString()));
  }
  world->client = *std::move(client);
  world->server = std::make_unique<netrig::HttpServer>();
  if (absl::Status started = world->server->Start(); !started.ok()) {
    Fatal(absl::StrCat("server: ", started.ToString()));
  }
  world->server->SetScriptedResponse(Answer);
  world->live_baseline = netrig::LiveObjectsSnapshot();
  std::atexit(StopWorld);
}

}  // namespace netrig::internal::http_response_fuzzer
