// Baseline libFuzzer target for scripts/bench: the libc address conversions alone
// (inet_pton/inet_ntop), on the same inputs as fuzzers/endpoint_parse_fuzzer.cc, to compare that
// fuzzer's exec/s against. Built only in the fuzz preset, with the same flags; not a fuzz target
// of netrig (it finds nothing about netrig: no corpus, no replay test, not in targets.json).
//
// Same input layout as endpoint_parse: the first byte chooses the mode (even: text, odd:
// socket-address bytes); the rest is the text, or a socket address of the rest's size.
//   text:     inet_pton as IPv4, else as IPv6; an address that converts goes back through
//             inet_ntop (the round trip the endpoint fuzzer also does, via its own formatter).
//   sockaddr: an AF_INET or AF_INET6 address of full length goes through inet_ntop and back
//             through inet_pton.
//
//   cmake --preset fuzz && cmake --build build/fuzz --target inet_pton_baseline_fuzzer
//   build/fuzz/bench/inet_pton_baseline_fuzzer -runs=2000000 -dict=corpora/endpoint_parse.dict \
//       -max_len=512 COPY_OF_corpora/endpoint_parse
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace {

// The endpoint parser refuses longer text before converting anything.
constexpr size_t kMaxTextLength = 300;

void TextRoundTrip(const uint8_t* text, size_t size) {
  char buffer[kMaxTextLength + 1];
  if (size == 0 || size > kMaxTextLength) return;
  std::memcpy(buffer, text, size);
  buffer[size] = '\0';
  uint8_t address[16];
  char formatted[INET6_ADDRSTRLEN];
  int family = AF_INET;
  if (inet_pton(AF_INET, buffer, address) != 1) {
    family = AF_INET6;
    if (inet_pton(AF_INET6, buffer, address) != 1) return;
  }
  // A converted address always formats; abort like a violated property if libc says otherwise.
  if (inet_ntop(family, address, formatted, sizeof(formatted)) == nullptr) std::abort();
}

void SockaddrRoundTrip(const uint8_t* bytes, size_t size) {
  sockaddr_storage storage{};
  if (size < sizeof(sa_family_t) || size > sizeof(storage)) return;
  std::memcpy(&storage, bytes, size);
  char formatted[INET6_ADDRSTRLEN];
  uint8_t back[16];
  if (storage.ss_family == AF_INET && size == sizeof(sockaddr_in)) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&storage);
    if (inet_ntop(AF_INET, &in->sin_addr, formatted, sizeof(formatted)) == nullptr) std::abort();
    if (inet_pton(AF_INET, formatted, back) != 1) std::abort();
  } else if (storage.ss_family == AF_INET6 && size == sizeof(sockaddr_in6)) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&storage);
    if (inet_ntop(AF_INET6, &in6->sin6_addr, formatted, sizeof(formatted)) == nullptr) {
      std::abort();
    }
    if (inet_pton(AF_INET6, formatted, back) != 1) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  if ((data[0] & 1) != 0) {
    SockaddrRoundTrip(data + 1, size - 1);
  } else {
    TextRoundTrip(data + 1, size - 1);
  }
  return 0;
}
