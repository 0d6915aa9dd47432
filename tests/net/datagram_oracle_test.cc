// The datagram-size oracle: every boundary as arithmetic, then the same boundaries held against the
// kernel's EMSGSIZE on loopback sockets, to the byte.
#include "harness/net/datagram_oracle.h"

#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "harness/net/endpoint.h"

namespace netrig {
namespace {

constexpr AddressFamily kV4 = AddressFamily::kIPv4;
constexpr AddressFamily kV6 = AddressFamily::kIPv6;

DatagramVerdict Check(uint64_t size, AddressFamily family, const DatagramPath& path) {
  absl::StatusOr<DatagramVerdict> verdict = CheckDatagram(size, family, path);
  EXPECT_TRUE(verdict.ok()) << verdict.status();
  return verdict.ok() ? *verdict : DatagramVerdict{};
}

// Asserts that `largest` fits and `largest + 1` breaks `kind` with value `largest`.
void ExpectBoundary(AddressFamily family, const DatagramPath& path, uint64_t largest,
                    DatagramLimitKind kind) {
  SCOPED_TRACE(absl::StrCat(AddressFamilyName(family), " ", path.ToString()));
  const DatagramVerdict at = Check(largest, family, path);
  EXPECT_TRUE(at.fits) << at.message;
  EXPECT_EQ(at.limit_kind, DatagramLimitKind::kNone);
  EXPECT_EQ(at.limit_bytes, 0u);
  const DatagramVerdict over = Check(largest + 1, family, path);
  EXPECT_FALSE(over.fits) << over.message;
  EXPECT_EQ(over.limit_kind, kind) << over.message;
  EXPECT_EQ(over.limit_bytes, largest) << over.message;
  EXPECT_TRUE(absl::StrContains(over.message, absl::StrCat(" ", largest, " ("))) << over.message;
  absl::StatusOr<DatagramLimit> binding = BindingLimit(family, path);
  ASSERT_TRUE(binding.ok()) << binding.status();
  EXPECT_EQ(binding->payload_bytes, largest);
  EXPECT_EQ(binding->kind, kind);
}

TEST(DatagramOracle, FamilyMaximumsWithoutDontFragment) {
  ExpectBoundary(kV4, DatagramPath::Loopback(), 65507, DatagramLimitKind::kFamilyMaximum);
  ExpectBoundary(kV6, DatagramPath::Loopback(), 65527, DatagramLimitKind::kFamilyMaximum);
  // Fragmentation allowed: the link MTU does not limit the payload.
  ExpectBoundary(kV4, DatagramPath::Interface(1500, false), 65507,
                 DatagramLimitKind::kFamilyMaximum);
  ExpectBoundary(kV6, DatagramPath::Interface(1280, false), 65527,
                 DatagramLimitKind::kFamilyMaximum);
}

TEST(DatagramOracle, PathMtuWithDontFragment) {
  ExpectBoundary(kV4, DatagramPath::Interface(1500, true), 1472,
                 DatagramLimitKind::kPathMtuDontFragment);
  ExpectBoundary(kV4, DatagramPath::Interface(9000, true), 8972,
                 DatagramLimitKind::kPathMtuDontFragment);
  ExpectBoundary(kV6, DatagramPath::Interface(1500, true), 1452,
                 DatagramLimitKind::kPathMtuDontFragment);
  ExpectBoundary(kV6, DatagramPath::Interface(9000, true), 8952,
                 DatagramLimitKind::kPathMtuDontFragment);
  ExpectBoundary(kV4, DatagramPath::Interface(kIPv4MinMtu, true), 40,
                 DatagramLimitKind::kPathMtuDontFragment);
  ExpectBoundary(kV6, DatagramPath::Interface(kIPv6MinMtu, true), 1232,
                 DatagramLimitKind::kPathMtuDontFragment);
}

TEST(DatagramOracle, LoopbackWithDontFragmentFollowsTheKernel) {
  // IPv4 caps the route MTU at 65535, so the path limit equals the family maximum; the family
  // maximum is reported on the tie.
  ExpectBoundary(kV4, DatagramPath::Loopback(true), 65507, DatagramLimitKind::kFamilyMaximum);
  // IPv6 keeps 65536: 65536 - 40 - 8.
  ExpectBoundary(kV6, DatagramPath::Loopback(true), 65488, DatagramLimitKind::kPathMtuDontFragment);
}

TEST(DatagramOracle, HugeMtusAreCappedAsTheKernelCapsThem) {
  ExpectBoundary(kV4, DatagramPath::Interface(65535, true), 65507,
                 DatagramLimitKind::kFamilyMaximum);
  ExpectBoundary(kV4, DatagramPath::Interface(std::numeric_limits<uint32_t>::max(), true), 65507,
                 DatagramLimitKind::kFamilyMaximum);
  ExpectBoundary(kV6, DatagramPath::Interface(65574, true), 65526,
                 DatagramLimitKind::kPathMtuDontFragment);
  ExpectBoundary(kV6, DatagramPath::Interface(65575, true), 65527,
                 DatagramLimitKind::kFamilyMaximum);
  ExpectBoundary(kV6, DatagramPath::Interface(std::numeric_limits<uint32_t>::max(), true), 65527,
                 DatagramLimitKind::kFamilyMaximum);
}

TEST(DatagramOracle, BufferLimit) {
  ExpectBoundary(kV4, DatagramPath::Loopback().WithBuffer(4096), 4096, DatagramLimitKind::kBuffer);
  ExpectBoundary(kV6, DatagramPath::Loopback(true).WithBuffer(512), 512,
                 DatagramLimitKind::kBuffer);
  ExpectBoundary(kV4, DatagramPath::Loopback().WithBuffer(0), 0, DatagramLimitKind::kBuffer);
  // A buffer larger than another limit does not bind.
  ExpectBoundary(kV4, DatagramPath::Loopback().WithBuffer(1 << 20), 65507,
                 DatagramLimitKind::kFamilyMaximum);
  ExpectBoundary(kV6, DatagramPath::Interface(1500, true).WithBuffer(2048), 1452,
                 DatagramLimitKind::kPathMtuDontFragment);
  // Ties go to the earlier limit: family, then path, then buffer.
  ExpectBoundary(kV4, DatagramPath::Interface(1500, true).WithBuffer(1472), 1472,
                 DatagramLimitKind::kPathMtuDontFragment);
  ExpectBoundary(kV4, DatagramPath::Loopback().WithBuffer(65507), 65507,
                 DatagramLimitKind::kFamilyMaximum);
}

TEST(DatagramOracle, ExtremesAndEmptyPayload) {
  for (AddressFamily family : {kV4, kV6}) {
    for (const DatagramPath& path :
         {DatagramPath::Loopback(), DatagramPath::Loopback(true),
          DatagramPath::Interface(1500, true), DatagramPath::Loopback().WithBuffer(0)}) {
      EXPECT_TRUE(Check(0, family, path).fits);
      const DatagramVerdict huge = Check(std::numeric_limits<uint64_t>::max(), family, path);
      EXPECT_FALSE(huge.fits);
      EXPECT_TRUE(absl::StrContains(huge.message, "18446744073709551615")) << huge.message;
    }
  }
}

TEST(DatagramOracle, MessagesReadAsArithmetic) {
  EXPECT_EQ(Check(1473, kV4, DatagramPath::Interface(1500, true)).message,
            "payload 1473 bytes exceeds the path MTU limit 1472 (MTU 1500 \u2212 20 IPv4 \u2212 8 "
            "UDP, don't-fragment set)");
  EXPECT_EQ(Check(65508, kV4, DatagramPath::Loopback()).message,
            "payload 65508 bytes exceeds the IPv4 maximum 65507 (65535 \u2212 20 IPv4 \u2212 8 "
            "UDP)");
  EXPECT_EQ(Check(65528, kV6, DatagramPath::Loopback()).message,
            "payload 65528 bytes exceeds the IPv6 maximum 65527 (65535 IPv6 payload length "
            "\u2212 8 UDP, no jumbograms)");
  EXPECT_EQ(Check(65489, kV6, DatagramPath::Loopback(true)).message,
            "payload 65489 bytes exceeds the path MTU limit 65488 (loopback MTU 65536 \u2212 40 "
            "IPv6 \u2212 8 UDP, don't-fragment set)");
  EXPECT_EQ(Check(1, kV4, DatagramPath::Loopback().WithBuffer(0)).message,
            "payload 1 byte exceeds the buffer limit 0 (buffer 0 bytes)");
  EXPECT_EQ(Check(1472, kV4, DatagramPath::Interface(1500, true)).message,
            "payload 1472 bytes fits (largest 1472: path MTU limit, MTU 1500 \u2212 20 IPv4 "
            "\u2212 8 UDP, don't-fragment set)");
  absl::StatusOr<std::vector<DatagramLimit>> limits =
      ApplicableLimits(kV4, DatagramPath::Interface(100000, true));
  ASSERT_TRUE(limits.ok());
  ASSERT_EQ(limits->size(), 2u);
  EXPECT_EQ((*limits)[1].derivation,
            "MTU 100000 capped at 65535 by IPv4 \u2212 20 IPv4 \u2212 8 UDP, don't-fragment set");
  EXPECT_EQ((*limits)[1].quoted_bytes, 100000u);
}

TEST(DatagramOracle, ApplicableLimitsListsEachOnceInOrder) {
  absl::StatusOr<std::vector<DatagramLimit>> none = ApplicableLimits(kV6, DatagramPath::Loopback());
  ASSERT_TRUE(none.ok());
  ASSERT_EQ(none->size(), 1u);
  EXPECT_EQ((*none)[0].kind, DatagramLimitKind::kFamilyMaximum);
  EXPECT_EQ((*none)[0].quoted_bytes, 65535u);
  absl::StatusOr<std::vector<DatagramLimit>> all =
      ApplicableLimits(kV6, DatagramPath::Interface(9000, true).WithBuffer(100));
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].kind, DatagramLimitKind::kFamilyMaximum);
  EXPECT_EQ((*all)[1].kind, DatagramLimitKind::kPathMtuDontFragment);
  EXPECT_EQ((*all)[1].payload_bytes, 8952u);
  EXPECT_EQ((*all)[1].quoted_bytes, 9000u);
  EXPECT_EQ((*all)[2].kind, DatagramLimitKind::kBuffer);
}

TEST(DatagramOracle, RefusesPathsItCannotJudge) {
  absl::StatusOr<DatagramVerdict> unspecified =
      CheckDatagram(10, AddressFamily::kUnspecified, DatagramPath::Loopback());
  EXPECT_EQ(unspecified.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(unspecified.status().message(), "unspecified"));
  absl::StatusOr<DatagramVerdict> tiny_v4 =
      CheckDatagram(10, kV4, DatagramPath::Interface(kIPv4MinMtu - 1, true));
  EXPECT_EQ(tiny_v4.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(tiny_v4.status().message(), "MTU 67 is below the IPv4 minimum 68"))
      << tiny_v4.status();
  // The minimum holds with or without don't-fragment.
  absl::StatusOr<DatagramVerdict> tiny_v6 =
      CheckDatagram(10, kV6, DatagramPath::Interface(kIPv6MinMtu - 1, false));
  EXPECT_EQ(tiny_v6.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(JudgeRejection(10, kV6, DatagramPath::Interface(1279, true), {}).ok());
}

TEST(DatagramOracle, Names) {
  EXPECT_EQ(DatagramLimitKindName(DatagramLimitKind::kNone), "none");
  EXPECT_EQ(DatagramLimitKindName(DatagramLimitKind::kFamilyMaximum), "family maximum");
  EXPECT_EQ(DatagramLimitKindName(DatagramLimitKind::kPathMtuDontFragment),
            "path MTU with don't-fragment");
  EXPECT_EQ(DatagramLimitKindName(DatagramLimitKind::kBuffer), "buffer");
  EXPECT_EQ(RejectionFindingName(RejectionFinding::kRejectedDatagramThatFits),
            "rejected a datagram that fits");
  EXPECT_EQ(DatagramPath::Interface(1500, true).WithBuffer(9).ToString(),
            "MTU 1500, don't-fragment, buffer 9");
  EXPECT_EQ(DatagramPath::Loopback().ToString(), "loopback MTU 65536, fragmentation allowed");
}

// --- Rejections ---------------------------------------------------------------------------------

RejectionJudgement Judge(uint64_t size, AddressFamily family, const DatagramPath& path,
                         DatagramRejection rejection) {
  absl::StatusOr<RejectionJudgement> judgement = JudgeRejection(size, family, path, rejection);
  EXPECT_TRUE(judgement.ok()) << judgement.status();
  return judgement.ok() ? *judgement : RejectionJudgement{};
}

DatagramRejection Message(std::string text) {
  DatagramRejection rejection;
  rejection.message = std::move(text);
  return rejection;
}

DatagramRejection Claim(std::optional<DatagramLimitKind> kind, std::optional<uint64_t> bytes) {
  DatagramRejection rejection;
  rejection.claimed_kind = kind;
  rejection.claimed_limit_bytes = bytes;
  return rejection;
}

DatagramRejection Errno(int error_number) {
  DatagramRejection rejection;
  rejection.error_number = error_number;
  return rejection;
}

TEST(JudgeRejection, StoryTwoSmallDatagramCalledTooLarge) {
  for (uint64_t size : {50, 120, 200}) {
    const RejectionJudgement j =
        Judge(size, kV6, DatagramPath::Loopback(), Message("The datagram was too large"));
    EXPECT_EQ(j.finding, RejectionFinding::kRejectedDatagramThatFits) << j.message;
    EXPECT_FALSE(j.names_true_limit());
    EXPECT_TRUE(j.oracle.fits);
    EXPECT_TRUE(absl::StrContains(j.message, "rejected a datagram that fits")) << j.message;
  }
}

TEST(JudgeRejection, KernelErrno) {
  const RejectionJudgement over = Judge(65508, kV4, DatagramPath::Loopback(), Errno(EMSGSIZE));
  EXPECT_EQ(over.finding, RejectionFinding::kTrueButUnnamed) << over.message;
  EXPECT_TRUE(over.names_true_limit());
  EXPECT_EQ(over.oracle.limit_bytes, 65507u);
  EXPECT_EQ(Judge(65507, kV4, DatagramPath::Loopback(), Errno(EMSGSIZE)).finding,
            RejectionFinding::kRejectedDatagramThatFits);
  EXPECT_EQ(Judge(65507, kV4, DatagramPath::Loopback(), Errno(ECONNREFUSED)).finding,
            RejectionFinding::kNotASizeRejection);
  EXPECT_EQ(Judge(99999, kV4, DatagramPath::Loopback(), Errno(ECONNREFUSED)).finding,
            RejectionFinding::kNotASizeRejection);
}

TEST(JudgeRejection, OwnMessagesNameTheTrueLimit) {
  struct Case {
    uint64_t size;
    AddressFamily family;
    DatagramPath path;
  };
  for (const Case& c :
       {Case{1473, kV4, DatagramPath::Interface(1500, true)},
        Case{8953, kV6, DatagramPath::Interface(9000, true)},
        Case{65508, kV4, DatagramPath::Loopback(true)}, Case{65528, kV6, DatagramPath::Loopback()},
        Case{65489, kV6, DatagramPath::Loopback(true)},
        Case{4097, kV4, DatagramPath::Loopback().WithBuffer(4096)},
        Case{1, kV6, DatagramPath::Loopback().WithBuffer(0)}}) {
    const DatagramVerdict verdict = Check(c.size, c.family, c.path);
    ASSERT_FALSE(verdict.fits);
    const RejectionJudgement j = Judge(c.size, c.family, c.path, Message(verdict.message));
    EXPECT_EQ(j.finding, RejectionFinding::kTrueLimit) << verdict.message << " -> " << j.message;
    EXPECT_EQ(j.claim.kind, verdict.limit_kind) << verdict.message;
    EXPECT_EQ(j.claim.limit_bytes, verdict.limit_bytes) << verdict.message;
  }
}

TEST(JudgeRejection, WrongLimits) {
  const DatagramPath mtu1500 = DatagramPath::Interface(1500, true);
  // Wrong value.
  RejectionJudgement j = Judge(1473, kV4, mtu1500, Message("Message too long (max 1400)"));
  EXPECT_EQ(j.finding, RejectionFinding::kWrongLimit) << j.message;
  EXPECT_TRUE(absl::StrContains(j.message, "1472")) << j.message;
  // IPv4 numbers on an IPv6 path.
  j = Judge(1473, kV6, mtu1500, Claim(DatagramLimitKind::kPathMtuDontFragment, 1472));
  EXPECT_EQ(j.finding, RejectionFinding::kWrongLimit) << j.message;
  // A limit that does not apply here.
  j = Judge(1473, kV4, mtu1500, Claim(DatagramLimitKind::kBuffer, std::nullopt));
  EXPECT_EQ(j.finding, RejectionFinding::kWrongLimit) << j.message;
  EXPECT_TRUE(absl::StrContains(j.message, "does not apply")) << j.message;
  // A limit that applies but that the payload does not break.
  j = Judge(5000, kV4, mtu1500.WithBuffer(8192), Message("exceeds the buffer limit 8192"));
  EXPECT_EQ(j.finding, RejectionFinding::kWrongLimit) << j.message;
  EXPECT_TRUE(absl::StrContains(j.message, "does not exceed")) << j.message;
  // The family maximum quoted for the wrong family.
  j = Judge(70000, kV6, DatagramPath::Loopback(), Claim(DatagramLimitKind::kFamilyMaximum, 65507));
  EXPECT_EQ(j.finding, RejectionFinding::kWrongLimit) << j.message;
  EXPECT_FALSE(j.names_true_limit());
}

TEST(JudgeRejection, TrueLimitsInOtherWords) {
  const DatagramPath mtu1500 = DatagramPath::Interface(1500, true);
  // The link MTU names the path limit as well as the payload figure does.
  EXPECT_EQ(Judge(1473, kV4, mtu1500, Message("datagram too large for MTU 1500")).finding,
            RejectionFinding::kTrueLimit);
  EXPECT_EQ(Judge(1473, kV4, mtu1500, Message("EMSGSIZE: 1473 > 1472")).finding,
            RejectionFinding::kTrueLimit);
  // A limit the payload breaks, though not the smallest one, is still true.
  EXPECT_EQ(Judge(70000, kV4, mtu1500, Claim(DatagramLimitKind::kFamilyMaximum, 65507)).finding,
            RejectionFinding::kTrueLimit);
  EXPECT_EQ(Judge(70000, kV4, mtu1500, Claim(std::nullopt, 65535)).finding,
            RejectionFinding::kTrueLimit);
  // Kind right, no value.
  const RejectionJudgement unnamed =
      Judge(1473, kV4, mtu1500, Message("exceeds the path MTU with don't-fragment set"));
  EXPECT_EQ(unnamed.finding, RejectionFinding::kTrueButUnnamed) << unnamed.message;
  EXPECT_TRUE(unnamed.names_true_limit());
  // Not a size claim at all.
  EXPECT_EQ(Judge(1473, kV4, mtu1500, Message("connection refused")).finding,
            RejectionFinding::kNotASizeRejection);
}

TEST(ParseRejectionMessage, KindAndValue) {
  RejectionClaim claim = ParseRejectionMessage("maximum transmission unit is 1500", 1600);
  EXPECT_TRUE(claim.size_related);
  EXPECT_EQ(claim.kind, DatagramLimitKind::kPathMtuDontFragment);
  EXPECT_EQ(claim.limit_bytes, 1500u);
  claim = ParseRejectionMessage("payload 5000 larger than receive buffer (4096)", 5000);
  EXPECT_EQ(claim.kind, DatagramLimitKind::kBuffer);
  EXPECT_EQ(claim.limit_bytes, 4096u);
  claim = ParseRejectionMessage("Message too long", 70000);
  EXPECT_TRUE(claim.size_related);
  EXPECT_FALSE(claim.kind.has_value());
  EXPECT_FALSE(claim.limit_bytes.has_value());
  claim = ParseRejectionMessage("size 99999999999999999999999 over max 65507", 70000);
  EXPECT_EQ(claim.kind, DatagramLimitKind::kFamilyMaximum);
  EXPECT_EQ(claim.limit_bytes, 65507u);
  claim = ParseRejectionMessage("", 1);
  EXPECT_FALSE(claim.size_related);
}

// --- The kernel, on loopback ---------------------------------------------------------------------

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

uint32_t LoopbackMtu() {
  FileDescriptor fd(socket(AF_INET, SOCK_DGRAM, 0));
  ifreq request{};
  std::strncpy(request.ifr_name, "lo", IFNAMSIZ - 1);
  if (fd.get() < 0 || ioctl(fd.get(), SIOCGIFMTU, &request) != 0) return kLoopbackMtu;
  return static_cast<uint32_t>(request.ifr_mtu);
}

enum class DontFragment { kOff, kPmtudiscDo, kDontfrag };

struct KernelCase {
  AddressFamily family;
  DontFragment dont_fragment;
  const char* name;
};

// Keeps ctest names readable and stable (no raw bytes of the parameter).
void PrintTo(const KernelCase& c, std::ostream* os) { *os << c.name; }

class LoopbackKernel : public ::testing::TestWithParam<KernelCase> {
 protected:
  void SetUp() override {
    const KernelCase& c = GetParam();
    const bool v4 = c.family == kV4;
    absl::StatusOr<Endpoint> address = Endpoint::Parse(v4 ? "127.0.0.1:0" : "[::1]:0");
    ASSERT_TRUE(address.ok()) << address.status();
    absl::StatusOr<SocketAddress> bind_to = address->ToSockaddr();
    ASSERT_TRUE(bind_to.ok()) << bind_to.status();
    const int domain = v4 ? AF_INET : AF_INET6;
    receiver_.emplace(socket(domain, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sender_.emplace(socket(domain, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!v4 && receiver_->get() < 0) GTEST_SKIP() << "no IPv6 on this host: " << strerror(errno);
    ASSERT_GE(receiver_->get(), 0) << strerror(errno);
    ASSERT_GE(sender_->get(), 0) << strerror(errno);
    if (bind(receiver_->get(), bind_to->get(), bind_to->length) != 0) {
      if (!v4) GTEST_SKIP() << "cannot bind ::1 (IPv6 disabled on lo?): " << strerror(errno);
      FAIL() << "bind 127.0.0.1: " << strerror(errno);
    }
    const int rcvbuf = 1 << 20;
    setsockopt(receiver_->get(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    peer_.length = sizeof(peer_.storage);
    ASSERT_EQ(getsockname(receiver_->get(), peer_.get(), &peer_.length), 0) << strerror(errno);

    const int on = 1;
    switch (c.dont_fragment) {
      case DontFragment::kOff:
        break;
      case DontFragment::kPmtudiscDo: {
        const int mode = v4 ? IP_PMTUDISC_DO : IPV6_PMTUDISC_DO;
        ASSERT_EQ(setsockopt(sender_->get(), v4 ? IPPROTO_IP : IPPROTO_IPV6,
                             v4 ? IP_MTU_DISCOVER : IPV6_MTU_DISCOVER, &mode, sizeof(mode)),
                  0)
            << strerror(errno);
        break;
      }
      case DontFragment::kDontfrag:
        ASSERT_FALSE(v4) << "IPV6_DONTFRAG is IPv6 only";
        ASSERT_EQ(setsockopt(sender_->get(), IPPROTO_IPV6, IPV6_DONTFRAG, &on, sizeof(on)), 0)
            << strerror(errno);
        break;
    }
    path_ = DatagramPath::Loopback(c.dont_fragment != DontFragment::kOff);
    path_.mtu = LoopbackMtu();
    payload_.assign(70000, 'n');
  }

  // 0 when the kernel took the datagram, errno otherwise.
  int Send(uint64_t size) {
    const ssize_t sent =
        sendto(sender_->get(), payload_.data(), size, 0, peer_.get(), peer_.length);
    if (sent < 0) return errno;
    EXPECT_EQ(static_cast<uint64_t>(sent), size);
    return 0;
  }

  void Drain() {
    std::vector<char> buffer(payload_.size());
    while (recv(receiver_->get(), buffer.data(), buffer.size(), MSG_DONTWAIT) >= 0) {
    }
  }

  std::optional<FileDescriptor> receiver_, sender_;
  SocketAddress peer_;
  DatagramPath path_;
  std::vector<char> payload_;
};

TEST_P(LoopbackKernel, EmsgsizeBoundaryEqualsTheOracle) {
  const AddressFamily family = GetParam().family;
  absl::StatusOr<DatagramLimit> binding = BindingLimit(family, path_);
  ASSERT_TRUE(binding.ok()) << binding.status();
  const uint64_t largest = binding->payload_bytes;
  if (path_.mtu == kLoopbackMtu) {
    // The figures the brief names, independent of the oracle's arithmetic.
    const uint64_t expected =
        family == kV4 ? 65507 : (GetParam().dont_fragment == DontFragment::kOff ? 65527 : 65488);
    EXPECT_EQ(largest, expected);
  }
  for (uint64_t size : {uint64_t{0}, uint64_t{1}, uint64_t{1472}, uint64_t{1473}, largest - 1,
                        largest, largest + 1, largest + 2, uint64_t{65507}, uint64_t{65508},
                        uint64_t{65527}, uint64_t{65528}, uint64_t{70000}}) {
    const int error = Send(size);
    const DatagramVerdict verdict = Check(size, family, path_);
    EXPECT_EQ(error == 0, verdict.fits)
        << "size " << size << ": kernel says " << (error == 0 ? "ok" : strerror(error))
        << ", oracle says " << verdict.message;
    if (error != 0) {
      EXPECT_EQ(error, EMSGSIZE) << "size " << size;
      absl::StatusOr<RejectionJudgement> judgement =
          JudgeRejection(size, family, path_, Errno(error));
      ASSERT_TRUE(judgement.ok());
      EXPECT_TRUE(judgement->names_true_limit()) << judgement->message;
    }
  }
  // The kernel's boundary found without the oracle's help: a binary search over [0, 70000].
  uint64_t low = 0, high = payload_.size();  // Send(low) succeeds, Send(high) fails.
  ASSERT_EQ(Send(low), 0);
  ASSERT_EQ(Send(high), EMSGSIZE);
  while (high - low > 1) {
    const uint64_t mid = low + (high - low) / 2;
    (Send(mid) == 0 ? low : high) = mid;
  }
  EXPECT_EQ(low, largest) << "kernel boundary " << low << " vs oracle " << binding->derivation;
  RecordProperty("kernel_largest_payload", static_cast<int>(low));
}

TEST_P(LoopbackKernel, LargestFittingDatagramArrivesWhole) {
  absl::StatusOr<DatagramLimit> binding = BindingLimit(GetParam().family, path_);
  ASSERT_TRUE(binding.ok());
  Drain();
  ASSERT_EQ(Send(binding->payload_bytes), 0);
  pollfd ready{receiver_->get(), POLLIN, 0};
  ASSERT_EQ(poll(&ready, 1, 5000), 1) << "the datagram did not arrive within 5 s";
  std::vector<char> buffer(payload_.size());
  const ssize_t got = recv(receiver_->get(), buffer.data(), buffer.size(), 0);
  ASSERT_EQ(got, static_cast<ssize_t>(binding->payload_bytes));
  EXPECT_EQ(std::memcmp(buffer.data(), payload_.data(), got), 0);
}

INSTANTIATE_TEST_SUITE_P(
    Loopback, LoopbackKernel,
    ::testing::Values(KernelCase{kV4, DontFragment::kOff, "IPv4"},
                      KernelCase{kV4, DontFragment::kPmtudiscDo, "IPv4_PMTUDISC_DO"},
                      KernelCase{kV6, DontFragment::kOff, "IPv6"},
                      KernelCase{kV6, DontFragment::kDontfrag, "IPv6_DONTFRAG"},
                      KernelCase{kV6, DontFragment::kPmtudiscDo, "IPv6_PMTUDISC_DO"}),
    [](const ::testing::TestParamInfo<KernelCase>& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace netrig
