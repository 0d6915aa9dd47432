#include "fuzzers/udp_flow/world.h"

#include <net/if.h>
#include <netdb.h>
#include <sys/socket.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "harness/base/option_table.h"
#include "harness/udp/flow.h"
#include "harness/udp/peers/echo_server.h"

namespace netrig::internal::udp_flow_fuzzer {

World* world = nullptr;

void Fatal(const std::string& what) {
  std::fprintf(stderr, "udp_flow fuzzer: %s\n", what.c_str());
  std::abort();
}

namespace {

void StopWorld() {
  if (world == nullptr) return;
  for (auto& flow : world->flows) {
    if (flow) flow->Close();
    flow.reset();
  }
  if (world->echo) world->echo->Stop();
  delete world;
  world = nullptr;
}

unsigned ResolveFamilies(const char* host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* results = nullptr;
  if (::getaddrinfo(host, nullptr, &hints, &results) != 0) return 0;
  unsigned families = 0;
  for (addrinfo* r = results; r != nullptr; r = r->ai_next) {
    if (r->ai_family == AF_INET) families |= kV4Bit;
    if (r->ai_family == AF_INET6) families |= kV6Bit;
  }
  ::freeaddrinfo(results);
  return families;
}

}  // namespace

void InitWorld() {
  if (world != nullptr) return;
  world = new World;
  if (const char* name = std::getenv("NETRIG_FLOW"); name != nullptr && *name != '\0') {
    world->flow_name = name;
  }
  if (netrig::FindFlow(world->flow_name) == nullptr) {
    std::string known;
    for (const netrig::FlowRegistration* r : netrig::RegisteredFlows()) {
      absl::StrAppend(&known, " ", r->name);
    }
    Fatal(absl::StrCat("NETRIG_FLOW=", netrig::option_internal::Quote(world->flow_name),
                       " is not a registered flow; known:", known));
  }
  absl::StatusOr<std::unique_ptr<netrig::EchoServer>> echo = netrig::EchoServer::Start({});
  if (!echo.ok()) Fatal(absl::StrCat("echo server: ", echo.status().ToString()));
  world->echo = *std::move(echo);
  world->port = world->echo->port();
  world->has_ipv6 = world->echo->ipv6_endpoint().has_value();
  world->localhost_families = ResolveFamilies("localhost");
  if (!world->has_ipv6) world->localhost_families &= kV4Bit;
  world->loopback_index = ::if_nametoindex("lo");
  std::atexit(StopWorld);
}

netrig::Flow* EnsureFlow(bool dont_fragment) {
  std::unique_ptr<netrig::Flow>& flow = world->flows[dont_fragment ? 1 : 0];
  if (flow && flow->state() == netrig::FlowState::kClosed) flow.reset();
  if (!flow) {
    netrig::FlowOptions options;
    options.dont_fragment = dont_fragment;
    absl::StatusOr<std::unique_ptr<netrig::Flow>> created =
        netrig::CreateFlow(world->flow_name, options);
    if (!created.ok()) Fatal(absl::StrCat("CreateFlow: ", created.status().ToString()));
    flow = *std::move(created);
  }
  return flow.get();
}

}  // namespace netrig::internal::udp_flow_fuzzer
