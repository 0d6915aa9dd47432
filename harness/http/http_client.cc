#include "harness/http/http_client.h"

#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "harness/base/mutex.h"
#include "harness/http/curl/buggy_clients.h"
#include "harness/http/curl/session.h"

namespace netrig {
namespace {

struct Entry {
  std::string description;
  HttpClientFactory factory;
};

struct Registry {
  Mutex mu;
  std::map<std::string, Entry, std::less<>> entries ABSL_GUARDED_BY(mu);
};

// Never destroyed: registrations may run during static initialization and lookups during exit.
Registry& GetRegistry() {
  static Registry* const registry = new Registry;
  return *registry;
}

absl::Status AddEntry(absl::string_view name, absl::string_view description,
                      HttpClientFactory factory) {
  if (name.empty()) return absl::InvalidArgumentError("an HTTP client name must not be empty");
  if (!factory) {
    return absl::InvalidArgumentError(absl::StrCat("HTTP client '", name, "' has no factory"));
  }
  Registry& registry = GetRegistry();
  MutexLock lock(&registry.mu);
  auto [it, inserted] = registry.entries.try_emplace(
      std::string(name), Entry{std::string(description), std::move(factory)});
  if (!inserted) {
    return absl::AlreadyExistsError(
        absl::StrCat("an HTTP client named '", name, "' is already registered"));
  }
  return absl::OkStatus();
}

// The built-in clients are added here, explicitly, rather than by static registration objects
// in their own files: those would be dropped by the linker from a static library.
void EnsureBuiltins() {
  static std::once_flag once;
  std::call_once(once, [] {
    (void)AddEntry("curl", "netrig's reference libcurl task session (multi interface)",
                   [] { return NewCurlClient(); });
    for (const SeededHttpBug& bug : SeededHttpBugs()) {
      const std::string name = bug.client_name;
      (void)AddEntry(name,
                     absl::StrCat("seeded bug (story ", bug.story, ", found by ", bug.detector,
                                  "): ", bug.summary),
                     [name] { return NewBuggyHttpClient(name); });
    }
  });
}

}  // namespace

absl::Status RegisterHttpClient(absl::string_view name, absl::string_view description,
                                HttpClientFactory factory) {
  EnsureBuiltins();
  return AddEntry(name, description, std::move(factory));
}

absl::StatusOr<std::unique_ptr<HttpClient>> MakeHttpClient(absl::string_view name) {
  EnsureBuiltins();
  HttpClientFactory factory;
  {
    Registry& registry = GetRegistry();
    MutexLock lock(&registry.mu);
    auto it = registry.entries.find(name);
    if (it != registry.entries.end()) factory = it->second.factory;
  }
  if (!factory) {
    std::vector<std::string> names;
    for (const HttpClientEntry& entry : HttpClientNames()) names.push_back(entry.name);
    return absl::NotFoundError(
        absl::StrCat("unknown HTTP client '", name, "'; registered: ", absl::StrJoin(names, ", ")));
  }
  return factory();
}

std::vector<HttpClientEntry> HttpClientNames() {
  EnsureBuiltins();
  Registry& registry = GetRegistry();
  MutexLock lock(&registry.mu);
  std::vector<HttpClientEntry> names;
  for (const auto& [name, entry] : registry.entries) names.push_back({name, entry.description});
  return names;
}

namespace internal {

HttpClientRegistration::HttpClientRegistration(const char* name, const char* description,
                                               HttpClientFactory factory) {
  const absl::Status status = RegisterHttpClient(name, description, std::move(factory));
  if (!status.ok()) {
    std::fprintf(stderr, "netrig: NETRIG_REGISTER_HTTP_CLIENT: %s\n",
                 std::string(status.message()).c_str());
    std::abort();
  }
}

}  // namespace internal

absl::string_view HttpVersionName(HttpVersion version) {
  return version == HttpVersion::kH2cPriorKnowledge ? "h2c" : "http1.1";
}

absl::StatusOr<HttpVersion> ParseHttpVersion(absl::string_view name) {
  if (name == "http1.1" || name == "1.1" || name == "http/1.1") return HttpVersion::kHttp11;
  if (name == "h2c" || name == "h2" || name == "2") return HttpVersion::kH2cPriorKnowledge;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown HTTP version '", name, "' (expected http1.1 or h2c)"));
}

absl::string_view HttpErrorKindName(HttpErrorKind kind) {
  switch (kind) {
    case HttpErrorKind::kNone:
      return "none";
    case HttpErrorKind::kCancelled:
      return "cancelled";
    case HttpErrorKind::kTimeout:
      return "timeout";
    case HttpErrorKind::kConnect:
      return "connect";
    case HttpErrorKind::kReset:
      return "reset";
    case HttpErrorKind::kTruncated:
      return "truncated";
    case HttpErrorKind::kProtocol:
      return "protocol";
    case HttpErrorKind::kInvalidRequest:
      return "invalid_request";
    case HttpErrorKind::kTooLarge:
      return "too_large";
    case HttpErrorKind::kOther:
      return "other";
  }
  return "other";
}

}  // namespace netrig
