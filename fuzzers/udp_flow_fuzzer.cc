// Fuzz target: a UDP flow through real loopback sockets, held to the datagram-size oracle.
//
// The flow comes from the registry: NETRIG_FLOW=NAME (default "socket"), so a user's registered
// flow is fuzzed the same way. Its peer is an in-process UDP echo server (127.0.0.1 and ::1, one
// port), started once. The flows (one without and one with don't-fragment) are created once and
// reused across inputs: each input starts by bringing the path back and discarding stray
// datagrams, and ends with every echo it is owed received.
//
// Input: one operation per line (unknown lines are ignored, at most 64 operations run):
//   mtu N            the MTU the custom mutator aims sizes at (1500: 1472/1473, 1452/1453)
//   df               use the don't-fragment flow (IP_PMTUDISC_DO / IPV6_DONTFRAG)
//   write ENC SIZE   send SIZE bytes (at most 70000) to the echo server, encoded as ENC
//   read [N]         read until N (default all) owed echoes arrived
//   echo ENC         send the oldest datagram read so far back to its source, the source
//                    endpoint exactly as read (ENC "asread"), text round-tripped ("roundtrip"),
//                    or re-encoded as ENC with the source's port
//   lost | back      path events (the flow enters / leaves "waiting")
//   close | reopen   close the flow (after its owed echoes arrived); open a new one
// ENC: v4 "127.0.0.1:P", v6 "[::1]:P", v6dot "::1.P", mapped "[::ffff:127.0.0.1]:P",
//      scoped "[::1%lo]:P", scopenum "[::1%<index of lo>]:P", host "localhost:P",
//      redacted4 "IPv4#7f000001:P", redacted6 "IPv6#…01:P" (must be refused, not for size),
//      linklocal "[fe80::1%lo]:P" (no peer there: anything but a false size claim is fine),
//      asread, roundtrip (the last source read; v4 before any read).
//
// Properties, per datagram, with the oracle on the loopback path (65536, don't-fragment as set):
//   - a datagram that fits is accepted (or queued while waiting) and comes back intact, from the
//     echo server's address in the family it was sent in, exactly once;
//   - a rejection of a datagram that does not fit names a true limit with its value
//     (JudgeRejection: kTrueLimit); a fitting one is never rejected (while waiting: never for its
//     size); redacted endpoints are refused, never for their size;
//   - after close, writes are rejected and reads fail; nothing crashes.
// Endpoints that name both families (host, mapped) are judged against either family's limits.
//
// Bounds and waits: at most 64 operations and 1 MiB of payload per input; before a write that
// would leave more than 512 KiB or 32 echoes owed, the owed echoes are read first (so socket
// buffers never overflow, which would be a loss the flow is not to blame for). Echo waits are
// bounded polls: loopback delivery is immediate, so an echo missing after 5 s is a loss, not a
// slow peer. No decision depends on the clock: every wait ends when the owed echoes arrived.
//
// The custom mutator parses the text, then moves a size onto or across one of the oracle's
// boundaries (65507/65508, 65527/65528, 65488/65489, MTU - 28/27 and - 48/47 for the chosen MTU,
// 0-1, 50-200), swaps an encoding, inserts/deletes/duplicates operations, changes the MTU or
// don't-fragment, or hands the bytes to LLVMFuzzerMutate.
#include <net/if.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "harness/net/datagram_oracle.h"
#include "harness/net/endpoint.h"
#include "harness/udp/peers/echo_server.h"
#include "harness/udp/flow.h"

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size)
    __attribute__((weak));

namespace {

using netrig::AddressFamily;
using netrig::Datagram;
using netrig::DatagramPath;
using netrig::Endpoint;
using netrig::WriteResult;

constexpr size_t kMaxOperations = 64;
constexpr uint64_t kMaxSize = 70000;
constexpr uint64_t kMaxInputPayloadBytes = 1 << 20;
constexpr uint64_t kMaxOwedBytes = 512 << 10;
constexpr size_t kMaxOwedDatagrams = 32;
constexpr size_t kMaxReadPool = 16;
constexpr absl::Duration kEchoWaitCap = absl::Seconds(5);

// ---------------------------------------------------------------------------------------------
// The input language.

enum class Encoding {
  kV4,
  kV6,
  kV6Dot,
  kMapped,
  kScoped,
  kScopeNumber,
  kHost,
  kRedacted4,
  kRedacted6,
  kLinkLocal,
  kAsRead,
  kRoundTrip,
};
constexpr std::array<absl::string_view, 12> kEncodingNames = {
    "v4",   "v6",        "v6dot",     "mapped",    "scoped", "scopenum",
    "host", "redacted4", "redacted6", "linklocal", "asread", "roundtrip"};

enum class OpKind { kWrite, kRead, kEcho, kLost, kBack, kClose, kReopen };

struct Operation {
  OpKind kind = OpKind::kRead;
  Encoding encoding = Encoding::kV4;
  uint64_t size = 0;  // write: payload bytes; read: how many echoes (0 = all owed)
};

struct Program {
  uint32_t mtu = 1500;
  bool dont_fragment = false;
  std::vector<Operation> operations;
};

std::optional<Encoding> ParseEncoding(absl::string_view word) {
  for (size_t i = 0; i < kEncodingNames.size(); ++i) {
    if (word == kEncodingNames[i]) return static_cast<Encoding>(i);
  }
  return std::nullopt;
}

uint64_t ParseNumber(absl::string_view word, uint64_t max) {
  uint64_t value = 0;
  for (char c : word) {
    if (c < '0' || c > '9') break;
    value = std::min<uint64_t>(value * 10 + static_cast<uint64_t>(c - '0'), max);
  }
  return value;
}

Program ParseProgram(absl::string_view text) {
  Program program;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    std::vector<absl::string_view> words =
        absl::StrSplit(line, absl::ByAnyChar(" \t\r"), absl::SkipEmpty());
    if (words.empty()) continue;
    const absl::string_view verb = words[0];
    Operation op;
    if (verb == "mtu" && words.size() > 1) {
      program.mtu = static_cast<uint32_t>(ParseNumber(words[1], 65536));
      continue;
    } else if (verb == "df") {
      program.dont_fragment = true;
      continue;
    } else if (verb == "write" && words.size() > 2) {
      std::optional<Encoding> encoding = ParseEncoding(words[1]);
      if (!encoding) continue;
      op = {OpKind::kWrite, *encoding, ParseNumber(words[2], kMaxSize)};
    } else if (verb == "read") {
      op.kind = OpKind::kRead;
      if (words.size() > 1) op.size = ParseNumber(words[1], kMaxOwedDatagrams);
    } else if (verb == "echo" && words.size() > 1) {
      std::optional<Encoding> encoding = ParseEncoding(words[1]);
      if (!encoding) continue;
      op = {OpKind::kEcho, *encoding, 0};
    } else if (verb == "lost") {
      op.kind = OpKind::kLost;
    } else if (verb == "back") {
      op.kind = OpKind::kBack;
    } else if (verb == "close") {
      op.kind = OpKind::kClose;
    } else if (verb == "reopen") {
      op.kind = OpKind::kReopen;
    } else {
      continue;
    }
    if (program.operations.size() < kMaxOperations) program.operations.push_back(op);
  }
  return program;
}

std::string FormatOperation(const Operation& op) {
  const absl::string_view encoding = kEncodingNames[static_cast<size_t>(op.encoding)];
  switch (op.kind) {
    case OpKind::kWrite:
      return absl::StrCat("write ", encoding, " ", op.size);
    case OpKind::kRead:
      return op.size == 0 ? "read" : absl::StrCat("read ", op.size);
    case OpKind::kEcho:
      return absl::StrCat("echo ", encoding);
    case OpKind::kLost:
      return "lost";
    case OpKind::kBack:
      return "back";
    case OpKind::kClose:
      return "close";
    case OpKind::kReopen:
      return "reopen";
  }
  return "";
}

std::string SerializeProgram(const Program& program) {
  std::string text = absl::StrCat("mtu ", program.mtu, "\n");
  if (program.dont_fragment) text += "df\n";
  for (const Operation& op : program.operations) absl::StrAppend(&text, FormatOperation(op), "\n");
  return text;
}

// ---------------------------------------------------------------------------------------------
// Process-wide state: the echo server and the two flows, reused across inputs.

enum FamilyBit : unsigned { kV4Bit = 1, kV6Bit = 2 };

struct World {
  std::string flow_name = "socket";
  std::unique_ptr<netrig::EchoServer> echo;
  uint16_t port = 0;
  bool has_ipv6 = false;
  unsigned localhost_families = 0;         // what "localhost" resolves to here
  unsigned loopback_index = 0;             // if_nametoindex("lo")
  std::unique_ptr<netrig::Flow> flows[2];  // [dont_fragment]
};

World* world = nullptr;

[[noreturn]] void Fatal(const std::string& what) {
  std::fprintf(stderr, "udp_flow fuzzer: %s\n", what.c_str());
  std::abort();
}

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
    Fatal(
        absl::StrCat("NETRIG_FLOW=", world->flow_name, " is not a registered flow; known:", known));
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

// ---------------------------------------------------------------------------------------------
// One input.

// An encoded destination and what the oracle should judge it as.
struct Target {
  std::optional<Endpoint> endpoint;  // nullopt: this encoding is not available on this host
  unsigned families = 0;             // families the datagram may travel in (echo expected)
  bool must_refuse = false;          // redacted: refused, never for size
  bool no_peer = false;              // linklocal: nothing there, no echo owed
};

struct Owed {
  std::string payload;
  unsigned families = 0;
  bool queued = false;  // queued while waiting: owed once the path is back
};

class Run {
 public:
  explicit Run(const Program& program) : program_(program) {}

  void Execute() {
    flow_ = EnsureFlow(program_.dont_fragment);
    flow_->OnPathEvent(netrig::PathEvent::kPathBack);
    DiscardStrays();
    for (step_ = 0; step_ < program_.operations.size(); ++step_) {
      const Operation& op = program_.operations[step_];
      switch (op.kind) {
        case OpKind::kWrite:
          Write(op.encoding, op.size);
          break;
        case OpKind::kRead:
          if (!closed_) ReadOwed(op.size == 0 ? owed_.size() : op.size);
          if (closed_) CheckClosedRead();
          break;
        case OpKind::kEcho:
          Echo(op.encoding);
          break;
        case OpKind::kLost:
          flow_->OnPathEvent(netrig::PathEvent::kPathLost);
          waiting_ = !closed_;
          break;
        case OpKind::kBack:
          flow_->OnPathEvent(netrig::PathEvent::kPathBack);
          Back();
          break;
        case OpKind::kClose:
          if (!closed_) ReadOwed(owed_.size());
          flow_->Close();
          closed_ = true;
          waiting_ = false;
          owed_.clear();
          if (flow_->state() != netrig::FlowState::kClosed)
            Fail("state is not closed after Close()");
          break;
        case OpKind::kReopen:
          if (!closed_) {
            ReadOwed(owed_.size());
            flow_->Close();
          }
          flow_ = EnsureFlow(program_.dont_fragment);
          closed_ = false;
          waiting_ = false;
          owed_.clear();
          break;
      }
    }
    step_ = program_.operations.size();
    if (!closed_) {
      flow_->OnPathEvent(netrig::PathEvent::kPathBack);
      Back();
      ReadOwed(owed_.size());
    }
  }

 private:
  [[noreturn]] void Fail(const std::string& what) {
    std::string trace;
    for (size_t i = 0; i < program_.operations.size(); ++i) {
      absl::StrAppend(&trace, i == step_ ? "  > " : "    ", FormatOperation(program_.operations[i]),
                      "\n");
    }
    Fatal(absl::StrCat("flow \"", world->flow_name, "\" broke a property at operation ", step_,
                       " (mtu ", program_.mtu, program_.dont_fragment ? ", don't-fragment" : "",
                       "):\n  ", what, "\nprogram:\n", trace));
  }

  DatagramPath Path() const { return DatagramPath::Loopback(program_.dont_fragment); }

  static AddressFamily FamilyOf(unsigned bit) {
    return bit == kV4Bit ? AddressFamily::kIPv4 : AddressFamily::kIPv6;
  }

  bool Fits(uint64_t size, unsigned bit) const {
    absl::StatusOr<netrig::DatagramVerdict> verdict =
        netrig::CheckDatagram(size, FamilyOf(bit), Path());
    if (!verdict.ok()) Fatal(absl::StrCat("oracle: ", verdict.status().ToString()));
    return verdict->fits;
  }

  Target Encode(Encoding encoding) const {
    const uint16_t port = world->port;
    Target target;
    auto parse = [&](const std::string& text, unsigned families) {
      absl::StatusOr<Endpoint> endpoint = Endpoint::Parse(text);
      if (!endpoint.ok())
        Fatal(absl::StrCat("cannot parse ", text, ": ", endpoint.status().ToString()));
      target.endpoint = *std::move(endpoint);
      target.families = families;
    };
    const bool v6 = world->has_ipv6;
    switch (encoding) {
      case Encoding::kAsRead:
      case Encoding::kRoundTrip:
      case Encoding::kV4:
        parse(absl::StrCat("127.0.0.1:", port), kV4Bit);
        break;
      case Encoding::kV6:
        if (v6) parse(absl::StrCat("[::1]:", port), kV6Bit);
        break;
      case Encoding::kV6Dot:
        if (v6) parse(absl::StrCat("::1.", port), kV6Bit);
        break;
      case Encoding::kMapped:
        // A dual-stack flow may send it as IPv6; the socket flow sends it as IPv4.
        parse(absl::StrCat("[::ffff:127.0.0.1]:", port), v6 ? (kV4Bit | kV6Bit) : kV4Bit);
        break;
      case Encoding::kScoped:
        if (v6 && world->loopback_index != 0) parse(absl::StrCat("[::1%lo]:", port), kV6Bit);
        break;
      case Encoding::kScopeNumber:
        if (v6 && world->loopback_index != 0) {
          parse(absl::StrCat("[::1%", world->loopback_index, "]:", port), kV6Bit);
        }
        break;
      case Encoding::kHost:
        if (world->localhost_families != 0) {
          parse(absl::StrCat("localhost:", port), world->localhost_families);
        }
        break;
      case Encoding::kRedacted4:
        parse(absl::StrCat("IPv4#7f000001:", port), kV4Bit);
        target.must_refuse = true;
        break;
      case Encoding::kRedacted6:
        parse(absl::StrCat("IPv6#00000000000000000000000000000001:", port), kV6Bit);
        target.must_refuse = true;
        break;
      case Encoding::kLinkLocal:
        if (v6 && world->loopback_index != 0) parse(absl::StrCat("[fe80::1%lo]:", port), kV6Bit);
        target.no_peer = true;
        break;
    }
    return target;
  }

  std::string MakePayload(uint64_t size) {
    ++sequence_;
    std::string payload(size, '\0');
    for (uint64_t i = 0; i < size; ++i) {
      payload[i] = static_cast<char>((sequence_ * 131 + i * 7 + (i >> 8)) & 0xff);
    }
    for (uint64_t i = 0; i < std::min<uint64_t>(size, 4); ++i) {
      payload[i] = static_cast<char>((sequence_ >> (8 * i)) & 0xff);
    }
    return payload;
  }

  void Write(Encoding encoding, uint64_t size) {
    if (payload_bytes_ + size > kMaxInputPayloadBytes) return;
    Target target = Encode(encoding);
    if (encoding == Encoding::kAsRead || encoding == Encoding::kRoundTrip) {
      if (last_source_) {
        target.endpoint = *last_source_;
        target.families = last_source_families_;
        if (encoding == Encoding::kRoundTrip) {
          absl::StatusOr<Endpoint> again = Endpoint::Parse(last_source_->ToString());
          if (!again.ok() || *again != *last_source_) {
            Fail(absl::StrCat("source endpoint ", last_source_->ToString(),
                              " does not round-trip through its text form"));
          }
        }
      }
    }
    if (!target.endpoint) return;
    Send(target, MakePayload(size));
  }

  void Echo(Encoding encoding) {
    if (pool_.empty()) return;
    Datagram read = std::move(pool_.front());
    pool_.erase(pool_.begin());
    if (payload_bytes_ + read.payload.size() > kMaxInputPayloadBytes) return;
    Target target;
    if (encoding == Encoding::kAsRead) {
      target.endpoint = read.endpoint;
      target.families = SourceFamily(read.endpoint);
    } else if (encoding == Encoding::kRoundTrip) {
      absl::StatusOr<Endpoint> again = Endpoint::Parse(read.endpoint.ToString());
      if (!again.ok() || *again != read.endpoint) {
        Fail(absl::StrCat("source endpoint ", read.endpoint.ToString(),
                          " does not round-trip through its text form"));
      }
      target.endpoint = *std::move(again);
      target.families = SourceFamily(read.endpoint);
    } else {
      target = Encode(encoding);
    }
    if (!target.endpoint) return;
    Send(target, std::move(read.payload));
  }

  void Send(const Target& target, std::string payload) {
    const uint64_t size = payload.size();
    if (!closed_ && !target.no_peer && !target.must_refuse &&
        (owed_bytes_ + size > kMaxOwedBytes || owed_.size() >= kMaxOwedDatagrams)) {
      ReadOwed(owed_.size());
    }
    payload_bytes_ += size;
    std::vector<Datagram> datagrams(1);
    datagrams[0].endpoint = *target.endpoint;
    datagrams[0].payload = std::move(payload);
    std::vector<WriteResult> results = flow_->Write(datagrams);
    if (results.size() != 1)
      Fail(absl::StrCat("Write returned ", results.size(), " results for 1"));
    const WriteResult& result = results[0];
    const std::string what = absl::StrCat(size, " bytes to ", target.endpoint->ToString());

    unsigned fitting = 0;
    for (unsigned bit : {kV4Bit, kV6Bit}) {
      if ((target.families & bit) && Fits(size, bit)) fitting |= bit;
    }
    const bool fits_all = fitting == target.families;

    if (closed_) {
      if (!result.rejected())
        Fail(absl::StrCat("write of ", what, " after Close() was not rejected"));
      return;
    }
    if (!result.rejected()) {
      if (target.must_refuse) {
        Fail(absl::StrCat("a redacted endpoint was accepted: ", what));
      }
      if (fitting == 0) {
        Fail(absl::StrCat("accepted ", what, ", which the oracle says cannot fit"));
      }
      if (!target.no_peer) {
        const bool queued = waiting_ && result.outcome == WriteResult::Outcome::kQueued;
        owed_.push_back({datagrams[0].payload, fitting, queued});
        if (!queued) owed_bytes_ += size;
      }
      return;
    }
    // Rejected: judge it against every family the endpoint may travel in.
    netrig::DatagramRejection rejection;
    if (result.limit_kind != netrig::DatagramLimitKind::kNone) {
      rejection.claimed_kind = result.limit_kind;
      rejection.claimed_limit_bytes = result.limit_bytes;
    }
    rejection.message = std::string(result.error.message());
    if (result.error.ok()) Fail(absl::StrCat("rejected ", what, " with an OK status"));
    bool true_limit = false;
    bool false_size_claim = false;
    std::string judgements;
    for (unsigned bit : {kV4Bit, kV6Bit}) {
      if ((target.families & bit) == 0) continue;
      absl::StatusOr<netrig::RejectionJudgement> judgement =
          netrig::JudgeRejection(size, FamilyOf(bit), Path(), rejection);
      if (!judgement.ok()) Fatal(absl::StrCat("JudgeRejection: ", judgement.status().ToString()));
      true_limit |= judgement->finding == netrig::RejectionFinding::kTrueLimit;
      false_size_claim |= judgement->finding == netrig::RejectionFinding::kWrongLimit ||
                          judgement->finding == netrig::RejectionFinding::kRejectedDatagramThatFits;
      absl::StrAppend(&judgements, "\n  ", netrig::AddressFamilyName(FamilyOf(bit)), ": ",
                      judgement->message);
    }
    if (true_limit) return;
    const std::string why = absl::StrCat("rejected ", what, ": \"", rejection.message, "\" (kind ",
                                         netrig::DatagramLimitKindName(result.limit_kind), ", ",
                                         result.limit_bytes, ")", judgements);
    if (target.must_refuse || target.no_peer || waiting_) {
      if (false_size_claim) Fail(absl::StrCat("false size claim: ", why));
      return;
    }
    if (fits_all) Fail(absl::StrCat("a datagram that fits was rejected: ", why));
    Fail(absl::StrCat("the rejection does not name a true limit: ", why));
  }

  unsigned SourceFamily(const Endpoint& source) const {
    if (source.family() == AddressFamily::kIPv4) return kV4Bit;
    const absl::Span<const uint8_t> bytes = source.address_bytes();
    static constexpr uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (bytes.size() == 16 && std::memcmp(bytes.data(), kMappedPrefix, 12) == 0) return kV4Bit;
    return kV6Bit;
  }

  // Takes one datagram the flow read: it must be owed, intact, from the echo server.
  void Accept(Datagram datagram) {
    const Endpoint& source = datagram.endpoint;
    if (source.kind() != netrig::EndpointKind::kAddress || source.port() != world->port) {
      Fail(absl::StrCat("read a datagram from ", source.ToString(),
                        ", which is not the echo server (port ", world->port, ")"));
    }
    const unsigned family = SourceFamily(source);
    if (datagram.truncated) {
      Fail(absl::StrCat("read a truncated datagram (", datagram.payload.size(), " bytes) from ",
                        source.ToString()));
    }
    // Payloads are unique per input except the shortest ones (0 bytes are all alike), so the
    // match prefers an owed datagram of the source's family and a sent one over a queued one.
    std::optional<size_t> match;
    int match_rank = -1;
    for (size_t i = 0; i < owed_.size(); ++i) {
      if (owed_[i].payload.size() != datagram.payload.size() ||
          owed_[i].payload != datagram.payload) {
        continue;
      }
      const int rank = ((owed_[i].families & family) != 0 ? 2 : 0) + (owed_[i].queued ? 0 : 1);
      if (rank > match_rank) {
        match = i;
        match_rank = rank;
      }
    }
    if (match) {
      const Owed& owed = owed_[*match];
      if ((owed.families & family) == 0) {
        Fail(absl::StrCat("a datagram of ", datagram.payload.size(), " bytes came back from ",
                          source.ToString(), ", a family it was not sent in"));
      }
      if (owed.queued) {
        Fail("a datagram queued while waiting arrived while the path was still lost");
      }
      owed_bytes_ -= owed.payload.size();
      owed_.erase(owed_.begin() + static_cast<std::ptrdiff_t>(*match));
      last_source_ = source;
      last_source_families_ = family;
      if (pool_.size() < kMaxReadPool) pool_.push_back(std::move(datagram));
      return;
    }
    Fail(absl::StrCat("read a datagram of ", datagram.payload.size(), " bytes from ",
                      source.ToString(), " that was never sent, was altered, or came twice"));
  }

  size_t SentOwed() const {
    size_t count = 0;
    for (const Owed& o : owed_) count += o.queued ? 0 : 1;
    return count;
  }

  // Reads until `want` owed echoes arrived (or none is owed), waiting at most kEchoWaitCap.
  void ReadOwed(size_t want) {
    want = std::min(want, SentOwed());
    const absl::Time deadline = absl::Now() + kEchoWaitCap;
    size_t got = 0;
    while (true) {
      const absl::Duration wait = got < want
                                      ? std::max(deadline - absl::Now(), absl::ZeroDuration())
                                      : absl::ZeroDuration();
      absl::StatusOr<std::vector<Datagram>> read = flow_->Read(64, wait);
      if (!read.ok()) Fail(absl::StrCat("Read failed on an open flow: ", read.status().ToString()));
      for (Datagram& datagram : *read) Accept(std::move(datagram));
      got += read->size();
      if (read->empty() && got >= want) return;
      if (got < want && absl::Now() >= deadline) {
        Fail(absl::StrCat(SentOwed(), " accepted datagram(s) never came back within ",
                          absl::FormatDuration(kEchoWaitCap), " (silent loss); first owed: ",
                          owed_.empty() ? 0 : owed_.front().payload.size(), " bytes"));
      }
    }
  }

  void CheckClosedRead() {
    absl::StatusOr<std::vector<Datagram>> read = flow_->Read(1, absl::ZeroDuration());
    if (read.ok()) Fail("Read on a closed flow did not fail");
  }

  void Back() {
    waiting_ = false;
    for (Owed& o : owed_) {
      if (o.queued) {
        o.queued = false;
        owed_bytes_ += o.payload.size();
      }
    }
  }

  void DiscardStrays() {
    for (int i = 0; i < 64; ++i) {
      absl::StatusOr<std::vector<Datagram>> read = flow_->Read(64, absl::ZeroDuration());
      if (!read.ok() || read->empty()) return;
    }
  }

  const Program& program_;
  netrig::Flow* flow_ = nullptr;
  size_t step_ = 0;
  bool closed_ = false;
  bool waiting_ = false;
  uint64_t sequence_ = 0;
  uint64_t payload_bytes_ = 0;
  uint64_t owed_bytes_ = 0;
  std::vector<Owed> owed_;
  std::vector<Datagram> pool_;
  std::optional<Endpoint> last_source_;
  unsigned last_source_families_ = kV4Bit;
};

// ---------------------------------------------------------------------------------------------
// The custom mutator.

std::vector<uint64_t> BoundarySizes(uint32_t mtu) {
  std::vector<uint64_t> sizes = {65507, 65508, 65527, 65528, 65488, 65489, 65535, 65536, 0, 1};
  if (mtu > 48) {
    for (uint64_t s : {mtu - 28ULL, mtu - 27ULL, mtu - 48ULL, mtu - 47ULL}) sizes.push_back(s);
  }
  return sizes;
}

Operation RandomOperation(std::mt19937_64& rng, const Program& program) {
  Operation op;
  op.kind = static_cast<OpKind>(rng() % 7);
  if (rng() % 2 == 0) op.kind = OpKind::kWrite;  // writes carry the interesting sizes
  op.encoding = static_cast<Encoding>(rng() % kEncodingNames.size());
  if (op.kind == OpKind::kWrite) {
    const std::vector<uint64_t> sizes = BoundarySizes(program.mtu);
    op.size = rng() % 2 ? sizes[rng() % sizes.size()] : 50 + rng() % 151;
  } else if (op.kind == OpKind::kRead) {
    op.size = rng() % 3 == 0 ? 1 + rng() % 4 : 0;
  }
  return op;
}

size_t MutateProgram(uint8_t* data, size_t size, size_t max_size, unsigned seed) {
  std::mt19937_64 rng(seed);
  Program program = ParseProgram(absl::string_view(reinterpret_cast<const char*>(data), size));
  std::vector<size_t> writes;
  std::vector<size_t> with_encoding;
  for (size_t i = 0; i < program.operations.size(); ++i) {
    const OpKind kind = program.operations[i].kind;
    if (kind == OpKind::kWrite) writes.push_back(i);
    if (kind == OpKind::kWrite || kind == OpKind::kEcho) with_encoding.push_back(i);
  }
  switch (rng() % 10) {
    case 0:
    case 1:  // A size onto a boundary, or near it.
      if (!writes.empty()) {
        const std::vector<uint64_t> sizes = BoundarySizes(program.mtu);
        uint64_t s = sizes[rng() % sizes.size()];
        if (rng() % 4 == 0) s = s + (rng() % 5) - 2;
        program.operations[writes[rng() % writes.size()]].size = std::min(s, kMaxSize);
        break;
      }
      [[fallthrough]];
    case 2: {  // Across the nearest boundary (or a small field-note size).
      if (writes.empty()) {
        program.operations.push_back(RandomOperation(rng, program));
        break;
      }
      Operation& op = program.operations[writes[rng() % writes.size()]];
      if (rng() % 3 == 0) {
        op.size = 50 + rng() % 151;
        break;
      }
      uint64_t nearest = 0;
      for (uint64_t b : BoundarySizes(program.mtu)) {
        const auto distance = [&](uint64_t x) { return x > op.size ? x - op.size : op.size - x; };
        if (distance(b) < distance(nearest)) nearest = b;
      }
      op.size = op.size <= nearest ? nearest + 1 : nearest;
      break;
    }
    case 3:  // Swap an encoding.
      if (!with_encoding.empty()) {
        program.operations[with_encoding[rng() % with_encoding.size()]].encoding =
            static_cast<Encoding>(rng() % kEncodingNames.size());
        break;
      }
      [[fallthrough]];
    case 4:  // Insert an operation.
      if (program.operations.size() < kMaxOperations) {
        program.operations.insert(
            program.operations.begin() +
                static_cast<std::ptrdiff_t>(rng() % (program.operations.size() + 1)),
            RandomOperation(rng, program));
      }
      break;
    case 5:  // Delete, duplicate or swap operations.
      if (!program.operations.empty()) {
        const size_t i = rng() % program.operations.size();
        const size_t j = rng() % program.operations.size();
        switch (rng() % 3) {
          case 0:
            program.operations.erase(program.operations.begin() + static_cast<std::ptrdiff_t>(i));
            break;
          case 1:
            if (program.operations.size() < kMaxOperations) {
              program.operations.insert(program.operations.begin() + static_cast<std::ptrdiff_t>(i),
                                        program.operations[i]);
            }
            break;
          default:
            std::swap(program.operations[i], program.operations[j]);
        }
      }
      break;
    case 6: {  // The chosen MTU.
      static constexpr uint32_t kMtus[] = {1280, 1500, 9000, 576, 68, 1492, 65535, 65536};
      program.mtu = rng() % 4 == 0 ? 68 + static_cast<uint32_t>(rng() % 65469)
                                   : kMtus[rng() % std::size(kMtus)];
      break;
    }
    case 7:
      program.dont_fragment = !program.dont_fragment;
      break;
    default:  // The rest: libFuzzer's own byte mutations on the text.
      if (LLVMFuzzerMutate != nullptr) return LLVMFuzzerMutate(data, size, max_size);
      program.operations.push_back(RandomOperation(rng, program));
  }
  std::string text = SerializeProgram(program);
  while (text.size() > max_size && !program.operations.empty()) {
    program.operations.pop_back();
    text = SerializeProgram(program);
  }
  if (text.size() > max_size) return size;
  std::memcpy(data, text.data(), text.size());
  return text.size();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  InitWorld();
  return 0;
}

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size,
                                          unsigned int seed) {
  return MutateProgram(data, size, max_size, seed);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  InitWorld();
  const Program program =
      ParseProgram(absl::string_view(reinterpret_cast<const char*>(data), size));
  Run(program).Execute();
  return 0;
}
