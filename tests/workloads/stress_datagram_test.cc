// The `netrig udp` driver's datagram format and per-datagram states
// (harness/workloads/udp/stress_datagram.h, harness/workloads/udp/stress_ids.h): what the readers
// rely on to tell a datagram's origin and integrity.
#include "harness/workloads/udp/stress_datagram.h"

#include <atomic>
#include <cstdint>
#include <string>

#include "gtest/gtest.h"
#include "harness/workloads/udp/stress_ids.h"

namespace netrig::internal::udp_stress {
namespace {

Header SampleHeader() {
  Header h;
  h.run_tag = 0x12345679;
  h.instance = 7;
  h.seq = 123456;
  h.length = 300;
  h.sent_ns = 1'700'000'000'123'456'789;
  h.encoding = 5;
  h.hop = 2;
  h.target = 1;
  return h;
}

TEST(StressHeader, RoundTripsEveryField) {
  std::string payload(300, '\0');
  PutHeader(payload.data(), SampleHeader());
  Header h;
  ASSERT_TRUE(GetHeader(payload, 0x12345679, &h));
  const Header want = SampleHeader();
  EXPECT_EQ(h.run_tag, want.run_tag);
  EXPECT_EQ(h.instance, want.instance);
  EXPECT_EQ(h.seq, want.seq);
  EXPECT_EQ(h.length, want.length);
  EXPECT_EQ(h.sent_ns, want.sent_ns);
  EXPECT_EQ(h.encoding, want.encoding);
  EXPECT_EQ(h.hop, want.hop);
  EXPECT_EQ(h.target, want.target);
}

TEST(StressHeader, RefusesOtherRunsShortAndForeignPayloads) {
  std::string payload(kHeaderBytes, '\0');
  PutHeader(payload.data(), SampleHeader());
  Header h;
  EXPECT_FALSE(GetHeader(payload, 0x12345677, &h));  // another run
  EXPECT_FALSE(GetHeader(payload.substr(0, kHeaderBytes - 1), 0x12345679, &h));
  std::string foreign = payload;
  foreign[0] = 'X';
  EXPECT_FALSE(GetHeader(foreign, 0x12345679, &h));
  std::string version = payload;
  version[3] = static_cast<char>(kHeaderVersion + 1);
  EXPECT_FALSE(GetHeader(version, 0x12345679, &h));
}

TEST(StressHeader, IgnoresByteTwoThatADnsResponderFlips) {
  std::string payload(64, '\0');
  PutHeader(payload.data(), SampleHeader());
  payload[2] = static_cast<char>(0x80);
  Header h;
  EXPECT_TRUE(GetHeader(payload, 0x12345679, &h));
}

TEST(StressBody, FillIsSeenIntactAndChangesAreCaught) {
  const char fill = FillByte(3, 99);
  std::string payload(500, '\0');
  PutHeader(payload.data(), SampleHeader());
  FillBody(payload, fill);
  EXPECT_TRUE(BodyIntact(payload, fill));
  EXPECT_FALSE(BodyIntact(payload, static_cast<char>(fill + 1)));
  std::string last = payload;
  last.back() = static_cast<char>(fill + 1);
  EXPECT_FALSE(BodyIntact(last, fill));
  std::string middle = payload;
  middle[(kHeaderBytes + middle.size()) / 2] = static_cast<char>(fill + 1);
  EXPECT_FALSE(BodyIntact(middle, fill));
  // A header-only datagram has no body to check.
  std::string bare(kHeaderBytes, '\0');
  FillBody(bare, fill);
  EXPECT_EQ(bare, std::string(kHeaderBytes, '\0'));
  EXPECT_TRUE(BodyIntact(bare, fill));
}

TEST(StressBody, NeighbouringDatagramsFillDifferently) {
  EXPECT_NE(FillByte(1, 10), FillByte(1, 11));
  EXPECT_NE(FillByte(1, 10), FillByte(2, 10));
}

TEST(QueueCost, CoversThePayloadAndGrowsWithIt) {
  EXPECT_GT(QueueCost(0), 0);
  EXPECT_GE(QueueCost(4095), 4095);
  EXPECT_GE(QueueCost(65507), 2 * 65507);
  EXPECT_LT(QueueCost(100), QueueCost(1000));
  EXPECT_LT(QueueCost(4095), QueueCost(4096));
  EXPECT_LT(QueueCost(65507), kInFlightBudget);
}

TEST(IdTable, FindSeesOnlyChunksGetAllocated) {
  IdTable ids;
  EXPECT_EQ(ids.Find(0), nullptr);
  std::atomic<uint8_t>* state = ids.Get(5);
  ASSERT_NE(state, nullptr);
  EXPECT_EQ(state->load(), kFree);
  state->store(static_cast<uint8_t>(kInFlight | kPathDownFlag | (4 << 4)));
  EXPECT_EQ(ids.Find(5), state);
  EXPECT_EQ(ids.Find(kChunkIds - 1), ids.Get(kChunkIds - 1));  // same chunk
  EXPECT_EQ(ids.Find(kChunkIds), nullptr);                     // the next chunk is not in use
  const uint8_t s = ids.Find(5)->load();
  EXPECT_EQ(s & kStateMask, kInFlight);
  EXPECT_TRUE(s & kPathDownFlag);
  EXPECT_EQ(EncodingOf(s), 4);
  EXPECT_EQ(ids.Get(kMaxIdsPerInstance), nullptr);
  EXPECT_EQ(ids.Find(kMaxIdsPerInstance), nullptr);
  ids.Release();
  EXPECT_EQ(ids.Find(5), nullptr);
}

}  // namespace
}  // namespace netrig::internal::udp_stress
