// h2c routing of the reference session (kUpgrade and kEither; kPriorKnowledge gives every
// transfer a fresh connection of its own and needs none of this).
//
// Why the session chooses the connection itself. libcurl 7.88 groups connections by the host
// name and port it connects to (a "bundle") and keeps one flag per bundle: "can multiplex".
// Once any connection in the bundle is HTTP/2, an h2c transfer may join any busy connection
// of the bundle (url.c, ConnectionExists), also an HTTP/1.1 one: one serving an HTTP/1.1 task,
// or one still waiting for its Upgrade's 101 (curl PR #11557, fixed in 8.2). Such a transfer
// never starts (a timeout with 0 bytes), or its request goes out in the middle of the other
// one and the server gives up on the connection (the server saw "bad client magic"). A
// fault-free `--http mixed` run lost 60-125 tasks per 8 s that way; h2c with cancels some too.
//
// So each h2c connection gets a bundle of its own: its transfers connect to an alias name
// (CURLOPT_CONNECT_TO "::ALIAS:") that CURLOPT_RESOLVE maps to the origin's address. An alias
// holds one connection, opened by one transfer (the opener: prior knowledge on a fresh
// connection in kEither, an Upgrade in kUpgrade). The others for the origin are held back
// until the opener is through (its request is about to go out in kEither, where libcurl
// switches to HTTP/2 right after; it ended, in kUpgrade, where the switch waits for the 101),
// then join it, up to max_concurrent_streams; beyond that, or once its connection closed, the
// next transfer opens another alias. A held task is cancelled, invalidated or timed out like
// any running one (it is in running_, only not in the multi handle).
//
// A URL naming a host rather than an address (or an IPv6 address with a zone, which
// CURLOPT_RESOLVE does not take) keeps its own name and the old hazard: aliasing it would mean
// resolving it here. netrig's embedded server is always an address.
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "harness/http/curl/session_internal.h"
#include "harness/http/http_client.h"

namespace netrig::internal::curl_session {

SessionCore::H2cOrigin& SessionCore::H2cOriginOf(const std::string& name) {
  auto [it, inserted] = h2c_origins_.try_emplace(name);
  H2cOrigin& origin = it->second;
  if (!inserted) return origin;
  CURLU* url = curl_url();
  char* host = nullptr;
  char* port = nullptr;
  if (url != nullptr && curl_url_set(url, CURLUPART_URL, name.c_str(), 0) == CURLUE_OK &&
      curl_url_get(url, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
      curl_url_get(url, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK) {
    origin.host = host;
    origin.port = port;
    // An IPv4 address, or an IPv6 one without a zone: CURLOPT_RESOLVE refuses "[fe80::1%25lo]"
    // as an address, and an alias it cannot resolve would fail every h2c task.
    in_addr ipv4;
    in6_addr ipv6;
    absl::string_view inner = origin.host;
    origin.address_literal =
        inet_pton(AF_INET, origin.host.c_str(), &ipv4) == 1 ||
        (absl::ConsumePrefix(&inner, "[") && absl::ConsumeSuffix(&inner, "]") &&
         inet_pton(AF_INET6, std::string(inner).c_str(), &ipv6) == 1);
  }
  curl_free(host);
  curl_free(port);
  curl_url_cleanup(url);
  return origin;
}

bool SessionCore::RouteH2cTask(const std::shared_ptr<CurlTask>& task) {
  H2cOrigin& origin = H2cOriginOf(task->h2c_origin_);
  const int max_streams = options_.max_concurrent_streams > 0 ? options_.max_concurrent_streams
                                                              : 100;  // libcurl's default.
  if (origin.current >= 0 && !origin.gate_open) {
    origin.held.push_back(task);
    return false;
  }
  if (origin.current >= 0 && origin.aliases[origin.current].in_flight >= max_streams) {
    origin.current = -1;  // Full: it keeps its transfers; new ones open another.
  }
  if (origin.current < 0) {
    // An alias that is not retired has been through its opener: join one with room left.
    for (size_t i = 0; i < origin.aliases.size(); ++i) {
      if (!origin.aliases[i].retired && origin.aliases[i].in_flight < max_streams) {
        origin.current = static_cast<int>(i);
        origin.gate_open = true;
        break;
      }
    }
  }
  if (origin.current < 0) {
    // Reuse an alias whose connection is gone and whose transfers all left; else a new one.
    int index = -1;
    for (size_t i = 0; i < origin.aliases.size(); ++i) {
      if (origin.aliases[i].retired && origin.aliases[i].in_flight == 0) {
        index = static_cast<int>(i);
        break;
      }
    }
    if (index < 0) {
      index = static_cast<int>(origin.aliases.size());
      H2cAlias& alias = origin.aliases.emplace_back();
      if (origin.address_literal) {
        std::string name = absl::StrCat("h2c-", index, "-");
        for (char c : origin.host) name.push_back(absl::ascii_isalnum(c) ? c : '-');
        absl::StrAppend(&name, ".netrig.invalid");
        alias.connect_to = curl_slist_append(nullptr, absl::StrCat("::", name, ":").c_str());
        alias.resolve = curl_slist_append(
            nullptr, absl::StrCat(name, ":", origin.port, ":", origin.host).c_str());
        if (alias.connect_to == nullptr || alias.resolve == nullptr) alias.Free();
      }
    }
    origin.aliases[index].retired = false;
    origin.current = index;
    origin.gate_open = false;
    task->h2c_opener_ = true;
    if (options_.h2c_mode == H2cMode::kEither) {
      curl_easy_setopt(task->easy_, CURLOPT_HTTP_VERSION,
                       static_cast<long>(CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE));
      curl_easy_setopt(task->easy_, CURLOPT_FRESH_CONNECT, 1L);
    }
  }
  H2cAlias& alias = origin.aliases[origin.current];
  if (alias.connect_to != nullptr) {
    curl_easy_setopt(task->easy_, CURLOPT_CONNECT_TO, alias.connect_to);
    curl_easy_setopt(task->easy_, CURLOPT_RESOLVE, alias.resolve);
  }
  task->h2c_alias_ = origin.current;
  ++alias.in_flight;
  return true;
}

void SessionCore::H2cOpenerConnected(CurlTask* task, ConnectionRecord& connection) {
  connection.h2c_origin = task->h2c_origin_;
  connection.h2c_alias = task->h2c_alias_;
  if (options_.h2c_mode != H2cMode::kEither) return;  // An Upgrade is through when it ends.
  task->h2c_opener_ = false;
  H2cOrigin& origin = h2c_origins_[task->h2c_origin_];
  if (origin.current == task->h2c_alias_) OpenH2cGate(origin);
}

void SessionCore::ReleaseH2cRoute(CurlTask* task) {
  H2cOrigin& origin = h2c_origins_[task->h2c_origin_];
  const int index = task->h2c_alias_;
  task->h2c_alias_ = -1;
  --origin.aliases[index].in_flight;
  if (!task->h2c_opener_) return;
  task->h2c_opener_ = false;
  if (task->connection_id_ == 0) {
    // It ended before its request went out (cancelled, refused): no connection to join.
    origin.aliases[index].retired = true;
    if (origin.current == index) origin.current = -1;
  }
  // Either way the held tasks go on: to the opener's connection, or one of them opens anew.
  OpenH2cGate(origin);
}

void SessionCore::RetireH2cAlias(const std::string& name, int index) {
  auto it = h2c_origins_.find(name);
  if (it == h2c_origins_.end()) return;
  H2cOrigin& origin = it->second;
  origin.aliases[index].retired = true;
  if (origin.current != index) return;
  origin.current = -1;
  OpenH2cGate(origin);  // Held tasks route again: the first opens a new connection.
}

void SessionCore::OpenH2cGate(H2cOrigin& origin) {
  origin.gate_open = true;
  for (auto& task : origin.held) h2c_released_.push_back(std::move(task));
  origin.held.clear();
}

void SessionCore::StartReleasedH2cTasks() {
  if (h2c_released_.empty()) return;
  std::vector<std::shared_ptr<CurlTask>> released;
  released.swap(h2c_released_);
  for (const auto& task : released) {
    // Cancelled, invalidated or overdue while held: already completed, easy handle returned.
    if (task->completed_ || task->easy_ == nullptr) continue;
    if (RouteH2cTask(task)) AddToMulti(task);
  }
}

}  // namespace netrig::internal::curl_session
