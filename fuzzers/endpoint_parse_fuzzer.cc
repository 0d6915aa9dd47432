// Fuzz target: Endpoint parsing from text and from raw socket-address bytes, with the round-trip
// properties of harness/net/endpoint.h checked on every input that parses.
//
// Inputs go through internal::ParseEndpoint / internal::EndpointFromSockaddr: Endpoint::Parse and
// FromSockaddr without the final absl::Status, whose two heap allocations per error took a fifth
// of this target's time under ASan (most inputs are errors). The parser and the message are the
// same; endpoint_test checks that the Status carries that message. The round trips below go
// through the public API.
//
// Input layout: the first byte chooses the mode (even: text, odd: sockaddr bytes); the rest is the
// text, or the socket address whose declared length is the rest's size.
//
// Properties (a violation prints both endpoints and aborts):
//   - parse(format(e)) == e and format(parse(format(e))) == format(e)   (canonical fixed point)
//   - from_sockaddr(to_sockaddr(e)) == e for address endpoints with no scope or a known one
//   - to_sockaddr refuses host and redacted endpoints and unknown interface names
//   - errors name their input and a position within it (at most its size)
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "harness/base/no_coverage.h"
#include "harness/net/endpoint.h"

namespace {

[[noreturn]] NETRIG_NO_COVERAGE void Violation(const char* property, const std::string& detail) {
  std::fprintf(stderr, "endpoint_parse: property violated: %s\n  %s\n", property, detail.c_str());
  std::abort();
}

// Checks the message names its input by a prefix compare: searching the message for the position
// (" at byte ") costs several intercepted memcmp calls per input and showed in the exec rate; the
// unit tests check messages exactly.
NETRIG_NO_COVERAGE void CheckError(const netrig::internal::EndpointError& error, size_t input_size,
                                   bool sockaddr_mode) {
  const absl::string_view prefix =
      sockaddr_mode ? "invalid socket address (" : "invalid endpoint \"";
  if (!absl::StartsWith(error.message(), prefix)) {
    Violation("errors name their input", std::string(error.message()));
  }
  if (error.position() > input_size) {
    Violation("error positions are within the input", std::string(error.message()));
  }
}

NETRIG_NO_COVERAGE void CheckEndpoint(const netrig::Endpoint& e) {
  const std::string canonical = e.ToString();
  absl::StatusOr<netrig::Endpoint> again = netrig::Endpoint::Parse(canonical);
  if (!again.ok()) Violation("the canonical form parses", again.status().ToString());
  if (*again != e) Violation("parse(format(e)) == e", canonical + " vs " + again->ToString());
  if (again->ToString() != canonical) {
    Violation("the canonical form is a fixed point", canonical + " -> " + again->ToString());
  }

  absl::StatusOr<netrig::SocketAddress> sa = e.ToSockaddr();
  const bool unknown_scope = !e.scope().empty() && e.scope_id() == 0;
  if (e.kind() != netrig::EndpointKind::kAddress || unknown_scope) {
    if (sa.ok()) Violation("to_sockaddr refuses non-address endpoints", canonical);
    return;
  }
  if (!sa.ok()) Violation("to_sockaddr accepts address endpoints", sa.status().ToString());
  absl::StatusOr<netrig::Endpoint> back = netrig::Endpoint::FromSockaddr(sa->get(), sa->length);
  if (!back.ok()) Violation("from_sockaddr(to_sockaddr(e)) parses", back.status().ToString());
  if (*back != e) {
    Violation("from_sockaddr(to_sockaddr(e)) == e", canonical + " vs " + back->ToString());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool sockaddr_mode = (data[0] & 1) != 0;
  const uint8_t* rest = data + 1;
  const size_t rest_size = size - 1;
  netrig::internal::EndpointError error;
  std::optional<netrig::Endpoint> e =
      sockaddr_mode
          ? netrig::internal::EndpointFromSockaddr(absl::MakeConstSpan(rest, rest_size), error)
          : netrig::internal::ParseEndpoint(
                absl::string_view(reinterpret_cast<const char*>(rest), rest_size), error);
  if (!e.has_value()) {
    CheckError(error, rest_size, sockaddr_mode);
    return 0;
  }
  CheckEndpoint(*e);
  return 0;
}
