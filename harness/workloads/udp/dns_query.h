// The `netrig udp` driver's DNS peer mode (`--peer_protocol=dns`, udp_stress.h): its datagrams
// are well-formed DNS queries that a real DNS server (dnsmasq, a DNS-over-TCP upstream behind the
// dns-proxy flow) answers with its own reply, and each answer is matched to its query by DNS id
// and question (name, type, class).
//
// A query carries the driver's 32-byte datagram header (stress_datagram.h) in its name, as two
// 32-character hex labels in front of the zone: <hex>.<hex>[.<padding labels>].<zone>. The DNS id
// and the question type (A, AAAA or TXT) are derived from that header, so an answer names the
// query it claims to answer, and a wrong id or question for it is caught. One EDNS OPT record
// with a Padding option (RFC 7830) makes every size from DnsQueryMinSize(zone) up to 65535 bytes
// exact; even sequence numbers put as much of the size into the name (up to its 255-byte limit) as
// fits, odd ones all into the padding, so names of every length are sent.
//
// Example:
//   std::string payload(300, '\0');
//   PutDnsQuery(payload, header, "example.test");        // a 300-byte query
//   DnsAnswerMatch m = MatchDnsAnswer(answer, run_tag, "example.test");
//   if (m.verdict == DnsAnswerMatch::kMismatch) ...  // m.problem says what does not match
//
// Not a public API.
#ifndef NETRIG_HARNESS_WORKLOADS_UDP_DNS_QUERY_H_
#define NETRIG_HARNESS_WORKLOADS_UDP_DNS_QUERY_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "harness/workloads/udp/stress_datagram.h"

namespace netrig::internal::udp_stress {

// What dnsmasq 2.90 accepts over UDP by default (its --edns-packet-max, the DNS Flag Day 2020
// size); larger queries it drops unanswered. Over TCP it takes up to 65535.
constexpr uint64_t kDefaultDnsMaxQuery = 1232;

// OK when `zone` is a DNS name (labels of letters, digits and '-', 1-63 bytes each) short enough
// to leave room for the two header labels; the error names the zone and what is wrong.
absl::Status ValidateDnsZone(absl::string_view zone);

// The smallest query for `zone` (12-byte DNS header, the two hex labels and the zone, type and
// class, the OPT record with an empty Padding option): 111 bytes for "example.test".
size_t DnsQueryMinSize(absl::string_view zone);

// The DNS id and question type of the query that carries `h`.
uint16_t DnsIdFor(const Header& h);
uint16_t DnsTypeFor(const Header& h);

// Overwrites `payload` with the query that carries `h`, exactly payload.size() bytes
// (at least DnsQueryMinSize(zone), at most 65535).
void PutDnsQuery(std::string& payload, const Header& h, absl::string_view zone);

// Reads the header from the question name of a query or an answer of this run (`run_tag`); false
// when the message has no such question (not this run's, cut, or not DNS).
bool GetDnsHeader(absl::string_view message, uint32_t run_tag, Header* h);

struct DnsAnswerMatch {
  enum Verdict {
    kMatched,   // a response with the id and question of the query that carries `header`
    kNotOurs,   // no question of this run's in it: answers nothing this run asked
    kMismatch,  // names a query of this run, but is not its answer (see `problem`)
  };
  Verdict verdict = kNotOurs;
  Header header;        // of the query the question names (kMatched, kMismatch)
  std::string problem;  // kMismatch: e.g. "id 0x1a2b, but the query with this question had 0x3c4d"
};

// Matches `answer` to the query its question names: QR set, one question, the query's id, and its
// question byte for byte (the name compared case-insensitively, as DNS does).
DnsAnswerMatch MatchDnsAnswer(absl::string_view answer, uint32_t run_tag, absl::string_view zone);

}  // namespace netrig::internal::udp_stress

#endif  // NETRIG_HARNESS_WORKLOADS_UDP_DNS_QUERY_H_
