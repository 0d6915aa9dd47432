#include "harness/http/http_client.h"

#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "harness/base/mutex.h"
#include "harness/check/seeded_bugs.h"
#include "harness/http/completion_under_lock_client.h"
#include "harness/http/curl/buggy_clients.h"
#include "harness/http/curl/session.h"
#include "harness/http/null_client.h"
#include "harness/http/raw_socket_client.h"

namespace netrig {
Registry<HttpClientRegistration>& HttpClientRegistry() {
  // Never destroyed: registrations run during static initialization, lookups during exit. The
  // built-ins are added here, explicitly, rather than by static objects in their own files,
  // which the linker would drop from a static library.
  static auto* const registry = new Registry<HttpClientRegistration>(
      "HTTP client", [](const Registry<HttpClientRegistration>::Adder& add) {
        (void)add({"curl", "netrig's reference libcurl task session (multi interface)",
                   [] { return NewCurlClient(); }});
        (void)add({"null",
                   "completes every task at once in process, status 200, no I/O: the harness's "
                   "own ceiling (null_client.h)",
                   [] { return NewNullHttpClient(); }});
        (void)add({"raw-socket",
                   "HTTP/1.1 over non-blocking sockets with its own parser, keep-alive, no "
                   "libcurl (raw_socket_client.h)",
                   [] { return NewRawSocketHttpClient(); }});
        {
          const SeededBug* seeded = FindSeededBug("bug-chunk-overread");
          (void)add({"bug-chunk-overread",
                     seeded == nullptr
                         ? std::string("seeded bug")
                         : absl::StrCat("seeded bug (story ", seeded->story, ", found as ",
                                        seeded->found_as, "): ", seeded->summary),
                     [] {
                       RawSocketClientOptions options;
                       options.bug_chunk_size_overread = true;
                       return NewRawSocketHttpClient(options);
                     }});
        }
        for (const SeededHttpBug& bug : SeededHttpBugs()) {
          const std::string name = bug.client_name;
          const SeededBug* seeded = FindSeededBug(name);
          (void)add({name,
                     seeded == nullptr
                         ? std::string("seeded bug")
                         : absl::StrCat("seeded bug (story ", seeded->story, ", found as ",
                                        seeded->found_as, "): ", seeded->summary),
                     [name] { return NewBuggyHttpClient(name); }});
        }
        // A seeded bug outside the libcurl session: its own small client.
        const SeededBug* locked = FindSeededBug("bug-completion-under-lock");
        (void)add({"bug-completion-under-lock",
                   locked == nullptr
                       ? std::string("seeded bug")
                       : absl::StrCat("seeded bug (story ", locked->story, ", found as ",
                                      locked->found_as, "): ", locked->summary),
                   [] { return NewCompletionUnderLockClient(); }});
      });
  return *registry;
}

absl::Status RegisterHttpClient(absl::string_view name, absl::string_view description,
                                HttpClientFactory factory) {
  if (!factory) {
    return absl::InvalidArgumentError(absl::StrCat("HTTP client '", name, "' has no factory"));
  }
  return HttpClientRegistry().Add(
      {std::string(name), std::string(description), std::move(factory)});
}

absl::StatusOr<std::unique_ptr<HttpClient>> MakeHttpClient(absl::string_view name) {
  const HttpClientRegistration* registration = HttpClientRegistry().Find(name);
  if (registration == nullptr) return HttpClientRegistry().NotFound(name);
  return registration->factory();
}

std::vector<HttpClientEntry> HttpClientNames() {
  std::vector<HttpClientEntry> names;
  for (const HttpClientRegistration* entry : HttpClientRegistry().All()) {
    names.push_back({entry->name, entry->description});
  }
  return names;
}

absl::string_view HttpVersionName(HttpVersion version) {
  return version == HttpVersion::kH2cPriorKnowledge ? "h2c" : "http1.1";
}

absl::StatusOr<HttpVersion> ParseHttpVersion(absl::string_view name) {
  if (name == "http1.1" || name == "1.1" || name == "http/1.1") return HttpVersion::kHttp11;
  if (name == "h2c" || name == "h2" || name == "2") return HttpVersion::kH2cPriorKnowledge;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown HTTP version '", name, "' (expected http1.1 or h2c)"));
}

absl::string_view H2cModeName(H2cMode mode) {
  switch (mode) {
    case H2cMode::kPriorKnowledge:
      return "prior";
    case H2cMode::kUpgrade:
      return "upgrade";
    case H2cMode::kEither:
      return "both";
  }
  return "both";
}

absl::StatusOr<H2cMode> ParseH2cMode(absl::string_view name) {
  if (name == "prior") return H2cMode::kPriorKnowledge;
  if (name == "upgrade") return H2cMode::kUpgrade;
  if (name == "both") return H2cMode::kEither;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown h2c mode '", name, "' (expected prior, upgrade or both)"));
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
