// Real MTU paths (docs/field-notes.md story 6): two network namespaces joined by a veth pair at MTU 1500
// and then 9000, IPv4 and IPv6, sending with IP_PMTUDISC_DO / IPV6_DONTFRAG from namespace A to B.
// The kernel's EMSGSIZE boundary must equal the datagram-size oracle to the byte, and the largest
// datagram that fits must arrive whole. Needs root and iproute2; skipped (never passed) without.
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "harness/net/datagram_oracle.h"
#include "harness/net/test_namespace.h"

namespace netrig {
namespace {

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() {
    if (fd_ >= 0) close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

// Creates the pair, or says why the test must skip (no root, no `ip`, no privilege).
std::unique_ptr<TestNamespacePair> MakePairOrSkipReason(uint32_t mtu, std::string* skip_reason) {
  if (absl::Status available = TestNamespacePair::CheckAvailable(); !available.ok()) {
    *skip_reason = std::string(available.message());
    return nullptr;
  }
  absl::StatusOr<std::unique_ptr<TestNamespacePair>> pair = TestNamespacePair::Create({.mtu = mtu});
  if (pair.status().code() == absl::StatusCode::kUnavailable) {
    *skip_reason = std::string(pair.status().message());
    return nullptr;
  }
  EXPECT_TRUE(pair.ok()) << pair.status();
  return pair.ok() ? std::move(*pair) : nullptr;
}

struct PathCase {
  AddressFamily family;
  const char* name;
};

// Keeps ctest names readable and stable (no raw bytes of the parameter).
void PrintTo(const PathCase& c, std::ostream* os) { *os << c.name; }

class MtuPath : public ::testing::TestWithParam<PathCase> {
 protected:
  void SetUp() override {
    std::string skip_reason;
    pair_ = MakePairOrSkipReason(1500, &skip_reason);
    if (!skip_reason.empty()) GTEST_SKIP() << skip_reason;
    ASSERT_NE(pair_, nullptr);
  }

  // Sender in A (don't-fragment as asked), receiver bound in B; both made inside their namespace.
  void OpenSockets(bool dont_fragment) {
    const bool v4 = GetParam().family == AddressFamily::kIPv4;
    const int domain = v4 ? AF_INET : AF_INET6;
    absl::StatusOr<int> receiver = pair_->SocketIn(NamespaceSide::kB, domain, SOCK_DGRAM);
    absl::StatusOr<int> sender = pair_->SocketIn(NamespaceSide::kA, domain, SOCK_DGRAM);
    ASSERT_TRUE(receiver.ok()) << receiver.status();
    ASSERT_TRUE(sender.ok()) << sender.status();
    receiver_ = std::make_unique<FileDescriptor>(*receiver);
    sender_ = std::make_unique<FileDescriptor>(*sender);

    absl::StatusOr<Endpoint> bind_to = pair_->Address(NamespaceSide::kB, GetParam().family, 0);
    ASSERT_TRUE(bind_to.ok()) << bind_to.status();
    absl::StatusOr<SocketAddress> bind_address = bind_to->ToSockaddr();
    ASSERT_TRUE(bind_address.ok()) << bind_address.status();
    ASSERT_EQ(bind(receiver_->get(), bind_address->get(), bind_address->length), 0)
        << strerror(errno);
    const int rcvbuf = 4 << 20;
    setsockopt(receiver_->get(), SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf));
    peer_.length = sizeof(peer_.storage);
    ASSERT_EQ(getsockname(receiver_->get(), peer_.get(), &peer_.length), 0) << strerror(errno);

    if (dont_fragment) {
      if (v4) {
        const int mode = IP_PMTUDISC_DO;
        ASSERT_EQ(setsockopt(sender_->get(), IPPROTO_IP, IP_MTU_DISCOVER, &mode, sizeof(mode)), 0)
            << strerror(errno);
      } else {
        const int on = 1;
        ASSERT_EQ(setsockopt(sender_->get(), IPPROTO_IPV6, IPV6_DONTFRAG, &on, sizeof(on)), 0)
            << strerror(errno);
      }
    }
    payload_.resize(70000);
    for (size_t i = 0; i < payload_.size(); ++i) payload_[i] = static_cast<char>(i * 7 + 1);
  }

  int Send(uint64_t size) {
    const ssize_t sent =
        sendto(sender_->get(), payload_.data(), size, 0, peer_.get(), peer_.length);
    return sent < 0 ? errno : 0;
  }

  // Empties B's queue so the next receive sees only what is sent next.
  void Drain() {
    std::vector<char> buffer(payload_.size());
    while (recv(receiver_->get(), buffer.data(), buffer.size(), MSG_DONTWAIT) >= 0) {
    }
  }

  // Sends `size` bytes and expects them whole at B within 5 s.
  void ExpectArrives(uint64_t size) {
    Drain();
    ASSERT_EQ(Send(size), 0) << "size " << size;
    pollfd ready{receiver_->get(), POLLIN, 0};
    ASSERT_EQ(poll(&ready, 1, 5000), 1) << size << " bytes did not arrive at B within 5 s";
    std::vector<char> buffer(payload_.size());
    const ssize_t got = recv(receiver_->get(), buffer.data(), buffer.size(), 0);
    ASSERT_EQ(got, static_cast<ssize_t>(size));
    EXPECT_EQ(std::memcmp(buffer.data(), payload_.data(), size), 0);
  }

  // Checks the kernel's boundary against the oracle and the figure the brief names; returns the
  // kernel's largest accepted payload.
  uint64_t CheckBoundary(bool dont_fragment, uint64_t expected_largest) {
    const AddressFamily family = GetParam().family;
    const DatagramPath path = DatagramPath::Interface(pair_->mtu(), dont_fragment);
    absl::StatusOr<DatagramLimit> binding = BindingLimit(family, path);
    EXPECT_TRUE(binding.ok()) << binding.status();
    if (!binding.ok()) return 0;
    EXPECT_EQ(binding->payload_bytes, expected_largest) << binding->derivation;
    const uint64_t largest = binding->payload_bytes;
    for (uint64_t size : {uint64_t{0}, largest - 1, largest, largest + 1, largest + 2,
                          uint64_t{kIPv4MaxPayload}, uint64_t{kIPv4MaxPayload + 1},
                          uint64_t{kIPv6MaxPayload}, uint64_t{kIPv6MaxPayload + 1}}) {
      const int error = Send(size);
      absl::StatusOr<DatagramVerdict> verdict = CheckDatagram(size, family, path);
      EXPECT_TRUE(verdict.ok());
      if (!verdict.ok()) continue;
      EXPECT_EQ(error == 0, verdict->fits)
          << "size " << size << ": kernel " << (error == 0 ? "accepted" : strerror(error))
          << ", oracle: " << verdict->message;
      if (error != 0) {
        EXPECT_EQ(error, EMSGSIZE) << "size " << size;
      }
    }
    // The kernel's boundary, searched without the oracle.
    uint64_t low = 0, high = payload_.size();
    EXPECT_EQ(Send(low), 0);
    EXPECT_EQ(Send(high), EMSGSIZE);
    while (high - low > 1) {
      const uint64_t mid = low + (high - low) / 2;
      (Send(mid) == 0 ? low : high) = mid;
    }
    EXPECT_EQ(low, largest) << "kernel " << low << " vs oracle " << binding->derivation;
    std::printf(
        "[ figures  ] %s MTU %u %s: kernel accepts up to %llu, EMSGSIZE from %llu; "
        "oracle %llu (%s)\n",
        GetParam().name, pair_->mtu(), dont_fragment ? "don't-fragment" : "fragmentation allowed",
        static_cast<unsigned long long>(low), static_cast<unsigned long long>(high),
        static_cast<unsigned long long>(largest), binding->derivation.c_str());
    return low;
  }

  std::unique_ptr<TestNamespacePair> pair_;
  std::unique_ptr<FileDescriptor> receiver_, sender_;
  SocketAddress peer_;
  std::vector<char> payload_;
};

TEST_P(MtuPath, DontFragmentBoundaryAt1500Then9000) {
  const bool v4 = GetParam().family == AddressFamily::kIPv4;
  OpenSockets(/*dont_fragment=*/true);
  if (HasFatalFailure()) return;

  ASSERT_EQ(pair_->mtu(), 1500u);
  const uint64_t at1500 = CheckBoundary(true, v4 ? 1472 : 1452);
  ExpectArrives(at1500);
  ExpectArrives(at1500 - 1);
  std::printf("[ figures  ] %s MTU 1500: %llu- and %llu-byte datagrams arrived whole at B\n",
              GetParam().name, static_cast<unsigned long long>(at1500),
              static_cast<unsigned long long>(at1500 - 1));

  ASSERT_TRUE(pair_->SetMtu(9000).ok());
  for (NamespaceSide side : {NamespaceSide::kA, NamespaceSide::kB}) {
    absl::StatusOr<uint32_t> mtu = pair_->InterfaceMtu(side);
    ASSERT_TRUE(mtu.ok()) << mtu.status();
    EXPECT_EQ(*mtu, 9000u);
  }
  const uint64_t at9000 = CheckBoundary(true, v4 ? 8972 : 8952);
  ExpectArrives(at9000);
  ExpectArrives(at9000 - 1);
  std::printf("[ figures  ] %s MTU 9000: %llu- and %llu-byte datagrams arrived whole at B\n",
              GetParam().name, static_cast<unsigned long long>(at9000),
              static_cast<unsigned long long>(at9000 - 1));
}

TEST_P(MtuPath, WithoutDontFragmentOnlyTheFamilyMaximumHolds) {
  const bool v4 = GetParam().family == AddressFamily::kIPv4;
  OpenSockets(/*dont_fragment=*/false);
  if (HasFatalFailure()) return;
  const uint64_t largest = CheckBoundary(false, v4 ? kIPv4MaxPayload : kIPv6MaxPayload);
  // Fragmented across the 1500-byte link and reassembled in B.
  ExpectArrives(largest);
}

INSTANTIATE_TEST_SUITE_P(Veth, MtuPath,
                         ::testing::Values(PathCase{AddressFamily::kIPv4, "IPv4"},
                                           PathCase{AddressFamily::kIPv6, "IPv6"}),
                         [](const ::testing::TestParamInfo<PathCase>& info) {
                           return std::string(info.param.name);
                         });

TEST(TestNamespacePair, TeardownDeletesBothNamespaces) {
  std::string skip_reason;
  std::unique_ptr<TestNamespacePair> pair = MakePairOrSkipReason(1500, &skip_reason);
  if (!skip_reason.empty()) GTEST_SKIP() << skip_reason;
  ASSERT_NE(pair, nullptr);
  const std::string a = "/run/netns/" + pair->end(NamespaceSide::kA).netns;
  const std::string b = "/run/netns/" + pair->end(NamespaceSide::kB).netns;
  EXPECT_TRUE(std::filesystem::exists(a));
  EXPECT_TRUE(std::filesystem::exists(b));
  EXPECT_NE(a, b);
  EXPECT_NE(pair->end(NamespaceSide::kA).netns.find(std::to_string(getpid())), std::string::npos);
  // Each side sees its own veth end and not the other's.
  absl::StatusOr<std::string> links = pair->RunCommandIn(NamespaceSide::kA, {"ip", "-o", "link"});
  ASSERT_TRUE(links.ok()) << links.status();
  EXPECT_NE(links->find(pair->end(NamespaceSide::kA).interface), std::string::npos) << *links;
  EXPECT_EQ(links->find(pair->end(NamespaceSide::kB).interface + ":"), std::string::npos) << *links;
  pair.reset();
  EXPECT_FALSE(std::filesystem::exists(a));
  EXPECT_FALSE(std::filesystem::exists(b));
}

TEST(TestNamespacePair, RunCommandReportsFailures) {
  absl::StatusOr<std::string> missing = RunCommand({"netrig-no-such-program"});
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  absl::StatusOr<std::string> failing = RunCommand({"sh", "-c", "echo out; echo err >&2; exit 3"});
  ASSERT_FALSE(failing.ok());
  EXPECT_NE(failing.status().message().find("exit 3"), absl::string_view::npos) << failing.status();
  EXPECT_NE(failing.status().message().find("err"), absl::string_view::npos) << failing.status();
  absl::StatusOr<std::string> ok = RunCommand({"sh", "-c", "echo hello"});
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(*ok, "hello\n");
}

}  // namespace
}  // namespace netrig
