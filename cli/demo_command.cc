// `netrig demo`: a short tour of endpoints and the datagram-size oracle, the foundation every
// driver and fuzzer checks against.
#include <cstdio>

#include "absl/strings/str_format.h"
#include "harness/net/datagram_oracle.h"
#include "harness/net/endpoint.h"
#include "cli/command.h"

namespace netrig::cli {

int RunDemo(const std::vector<std::string>& args) {
  if (!args.empty()) {
    PrintError("demo", "takes no arguments");
    return kExitUsage;
  }
  std::printf("Endpoints seen in the field, parsed and printed canonically:\n");
  for (absl::string_view text :
       {"fe80::7:afff:fea1:edb8%en5.54442", "[fe80:15::7:afff:fea1:edb8]:57395",
        "[fd6e:8a96:a57d::2]:57398", "IPv4#e5b4bb04:443", "example.com:443", "1.2.3.4:53",
        "[::ffff:1.2.3.4]:80"}) {
    absl::StatusOr<Endpoint> endpoint = Endpoint::Parse(text);
    if (!endpoint.ok()) {
      absl::PrintF("  %-36s error: %s\n", text, endpoint.status().message());
      return kExitFinding;  // Every field-note string must parse.
    }
    absl::PrintF("  %-36s -> %-36s (%s, %s)\n", text, endpoint->ToString(),
                 EndpointKindName(endpoint->kind()), AddressFamilyName(endpoint->family()));
  }

  std::printf("\nThe datagram-size oracle at every limit:\n");
  struct Case {
    uint64_t size;
    AddressFamily family;
    DatagramPath path;
  };
  const Case cases[] = {
      {100, AddressFamily::kIPv6, DatagramPath::Loopback()},
      {65507, AddressFamily::kIPv4, DatagramPath::Loopback()},
      {65508, AddressFamily::kIPv4, DatagramPath::Loopback()},
      {65528, AddressFamily::kIPv6, DatagramPath::Loopback()},
      {1472, AddressFamily::kIPv4, DatagramPath::Interface(1500, true)},
      {1473, AddressFamily::kIPv4, DatagramPath::Interface(1500, true)},
      {1473, AddressFamily::kIPv4, DatagramPath::Interface(1500, false)},
      {8953, AddressFamily::kIPv6, DatagramPath::Interface(9000, true)},
      {600, AddressFamily::kIPv4, DatagramPath::Loopback().WithBuffer(512)},
  };
  for (const Case& c : cases) {
    absl::StatusOr<DatagramVerdict> verdict = CheckDatagram(c.size, c.family, c.path);
    if (!verdict.ok()) {
      absl::PrintF("  error: %s\n", verdict.status().message());
      return kExitFinding;
    }
    absl::PrintF("  %s %5d bytes, %s:\n      %s\n", AddressFamilyName(c.family), c.size,
                 c.path.ToString(), verdict->message);
  }

  std::printf(
      "\nA client that rejects a 100-byte datagram as \"too large\" (docs/field-notes.md story 2):\n");
  DatagramRejection rejection;
  rejection.message = "The datagram was too large";
  absl::StatusOr<RejectionJudgement> judgement =
      JudgeRejection(100, AddressFamily::kIPv6, DatagramPath::Loopback(), rejection);
  if (!judgement.ok()) return kExitFinding;
  absl::PrintF("  %s\n", judgement->message);
  return kExitOk;
}

}  // namespace netrig::cli
