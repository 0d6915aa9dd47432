// Running one udp_flow input (udp_flow_fuzzer.cc lists the properties): Run executes a parsed
// program against the world's flow and echo server, holds every datagram to the datagram-size
// oracle, and aborts through Fatal with the program and the operation that broke a property.
#ifndef NETRIG_FUZZERS_UDP_FLOW_RUN_H_
#define NETRIG_FUZZERS_UDP_FLOW_RUN_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "fuzzers/udp_flow/program.h"
#include "fuzzers/udp_flow/world.h"
#include "harness/net/address_family.h"
#include "harness/net/datagram_oracle.h"
#include "harness/net/endpoint.h"
#include "harness/udp/flow.h"

namespace netrig::internal::udp_flow_fuzzer {

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

  void Execute();

 private:
  [[noreturn]] void Fail(const std::string& what);

  DatagramPath Path() const { return DatagramPath::Loopback(program_.dont_fragment); }

  static AddressFamily FamilyOf(unsigned bit) {
    return bit == kV4Bit ? AddressFamily::kIPv4 : AddressFamily::kIPv6;
  }

  bool Fits(uint64_t size, unsigned bit) const;
  Target Encode(Encoding encoding) const;
  std::string MakePayload(uint64_t size);
  void Write(Encoding encoding, uint64_t size);
  void Echo(Encoding encoding);
  void Send(const Target& target, std::string payload);
  unsigned SourceFamily(const Endpoint& source) const;
  // Takes one datagram the flow read: it must be owed, intact, from the echo server.
  void Accept(Datagram datagram);
  size_t SentOwed() const;
  // Reads until `want` owed echoes arrived (or none is owed), waiting at most kEchoWaitCap.
  void ReadOwed(size_t want);
  void CheckClosedRead();
  void Back();
  void DiscardStrays();

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

}  // namespace netrig::internal::udp_flow_fuzzer

#endif  // NETRIG_FUZZERS_UDP_FLOW_RUN_H_
