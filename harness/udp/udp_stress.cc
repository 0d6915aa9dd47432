#include "harness/udp/udp_stress.h"

#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cinttypes>
#include <cstring>
#include <deque>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <thread>

#include "absl/cleanup/cleanup.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "harness/base/mutex.h"
#include "harness/check/live_objects.h"
#include "harness/drive/driver.h"
#include "harness/drive/latency_histogram.h"
#include "harness/drive/seeds.h"
#include "harness/net/datagram_oracle.h"
#include "harness/sched/schedule_point.h"
#include "harness/udp/dns_upstream.h"
#include "harness/udp/echo_server.h"
#include "harness/udp/flow.h"
#include "harness/udp/socket_util.h"

namespace netrig {

absl::string_view FamilyChoiceName(FamilyChoice family) {
  switch (family) {
    case FamilyChoice::kIPv4:
      return "ipv4";
    case FamilyChoice::kIPv6:
      return "ipv6";
    case FamilyChoice::kBoth:
      break;
  }
  return "both";
}

absl::StatusOr<FamilyChoice> ParseFamilyChoice(absl::string_view text) {
  if (text == "ipv4") return FamilyChoice::kIPv4;
  if (text == "ipv6") return FamilyChoice::kIPv6;
  if (text == "both") return FamilyChoice::kBoth;
  return absl::InvalidArgumentError(
      absl::StrCat("--family must be ipv4, ipv6 or both, not '", text, "'"));
}

absl::StatusOr<RelayFaults> ParseFaultSpec(absl::string_view spec) {
  RelayFaults faults;
  const std::string text = absl::AsciiStrToLower(absl::StripAsciiWhitespace(spec));
  if (text == "none" || text.empty()) return faults;
  if (text == "mild" || text == "default") {
    faults.drop = 0.005;
    faults.duplicate = 0.005;
    faults.reorder = 0.01;
    faults.delay = 0.01;
    faults.truncate = 0.002;
    faults.max_delay = absl::Milliseconds(10);
    return faults;
  }
  for (absl::string_view item : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(item, '=');
    const absl::string_view key = absl::StripAsciiWhitespace(kv.first);
    const absl::string_view value = absl::StripAsciiWhitespace(kv.second);
    if (key == "max_delay") {
      if (!absl::ParseDuration(value, &faults.max_delay) ||
          faults.max_delay < absl::ZeroDuration()) {
        return absl::InvalidArgumentError(
            absl::StrCat("--faults: max_delay '", value, "' is not a duration like 20ms"));
      }
      continue;
    }
    double* target = key == "drop"        ? &faults.drop
                     : key == "duplicate" ? &faults.duplicate
                     : key == "reorder"   ? &faults.reorder
                     : key == "delay"     ? &faults.delay
                     : key == "truncate"  ? &faults.truncate
                                          : nullptr;
    if (target == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--faults: unknown item '", item,
          "' (use none, mild, or drop=P,duplicate=P,reorder=P,delay=P,truncate=P,max_delay=D)"));
    }
    if (!absl::SimpleAtod(value, target) || *target < 0 || *target > 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("--faults: '", item, "' needs a probability between 0 and 1 after '='"));
    }
  }
  return faults;
}

namespace {

// ---- The datagram header: who sent it, when, and what it should look like. -------------------
// Bytes 0-1 "NR", byte 2 left alone (a DNS responder flips its QR bit), byte 3 version.
constexpr size_t kHeaderBytes = 32;
constexpr uint8_t kHeaderVersion = 1;

struct Header {
  uint32_t run_tag = 0;
  uint32_t instance = 0;
  uint32_t seq = 0;
  uint32_t length = 0;
  int64_t sent_ns = 0;  // intended start, ns since the epoch
  uint8_t encoding = 0;
  uint8_t hop = 0;
  uint8_t target = 0;
};

void PutHeader(char* p, const Header& h) {
  p[0] = 'N';
  p[1] = 'R';
  p[2] = 0;
  p[3] = static_cast<char>(kHeaderVersion);
  std::memcpy(p + 4, &h.run_tag, 4);
  std::memcpy(p + 8, &h.instance, 4);
  std::memcpy(p + 12, &h.seq, 4);
  std::memcpy(p + 16, &h.length, 4);
  std::memcpy(p + 20, &h.sent_ns, 8);
  p[28] = static_cast<char>(h.encoding);
  p[29] = static_cast<char>(h.hop);
  p[30] = static_cast<char>(h.target);
  p[31] = 0;
}

bool GetHeader(absl::string_view p, uint32_t run_tag, Header* h) {
  if (p.size() < kHeaderBytes || p[0] != 'N' || p[1] != 'R' ||
      static_cast<uint8_t>(p[3]) != kHeaderVersion) {
    return false;
  }
  std::memcpy(&h->run_tag, p.data() + 4, 4);
  if (h->run_tag != run_tag) return false;
  std::memcpy(&h->instance, p.data() + 8, 4);
  std::memcpy(&h->seq, p.data() + 12, 4);
  std::memcpy(&h->length, p.data() + 16, 4);
  std::memcpy(&h->sent_ns, p.data() + 20, 8);
  h->encoding = static_cast<uint8_t>(p[28]);
  h->hop = static_cast<uint8_t>(p[29]);
  h->target = static_cast<uint8_t>(p[30]);
  return true;
}

char FillByte(uint32_t instance, uint32_t seq) {
  return static_cast<char>(seq * 131u + instance * 7u + 1u);
}

void FillBody(std::string& payload, char fill) {
  if (payload.size() > kHeaderBytes) {
    std::memset(payload.data() + kHeaderBytes, fill, payload.size() - kHeaderBytes);
  }
}

// Samples the body (first, middle, last byte): cheap, and catches mixed-up or mangled payloads.
bool BodyIntact(absl::string_view p, char fill) {
  if (p.size() <= kHeaderBytes) return true;
  return p[kHeaderBytes] == fill && p[(kHeaderBytes + p.size()) / 2] == fill &&
         p[p.size() - 1] == fill;
}

// A conservative estimate of what a datagram occupies in a socket queue (payload plus the
// kernel's per-packet overhead; large loopback packets can take twice their size).
int64_t QueueCost(size_t size) {
  return size < 4096 ? static_cast<int64_t>(size) + 1536 : 2 * static_cast<int64_t>(size) + 4096;
}
// What may be in flight at once across all flows: well under every socket buffer on the path
// (4 MiB requested, so no queue on the way can overflow and lose a datagram nobody counted.
constexpr int64_t kInFlightBudget = 3 << 20;

// ---- Per-datagram states, one byte per id. ---------------------------------------------------
enum IdState : uint8_t {
  kFree = 0,
  kInFlight = 1,
  kDelivered = 2,
  kRejected = 3,
  kDropped = 4,    // a counted relay fault dropped it (or the relay failed to forward it)
  kTruncated = 5,  // a counted relay fault cut it
  kAbandoned = 6,  // in flight when the flow was closed abruptly, or sent after it was retired
  kLost = 7,       // silent loss
};
constexpr uint8_t kStateMask = 0x07;
constexpr uint8_t kPathDownFlag = 0x08;  // accepted while the path was down
constexpr uint8_t EncodingOf(uint8_t s) { return s >> 4; }

constexpr uint32_t kChunkBits = 16;
constexpr uint32_t kChunkIds = 1u << kChunkBits;
constexpr uint32_t kMaxChunks = 256;
constexpr uint32_t kMaxIdsPerInstance = kChunkIds * kMaxChunks;  // 16M; then the flow rotates
constexpr uint32_t kMaxInstances = 4096;

// The states of one flow instance's datagrams, allocated in 64k chunks as ids are used.
class IdTable {
 public:
  IdTable() {
    for (auto& chunk : chunks_) chunk.store(nullptr, std::memory_order_relaxed);
  }
  ~IdTable() { Release(); }
  IdTable(const IdTable&) = delete;
  IdTable& operator=(const IdTable&) = delete;

  std::atomic<uint8_t>* Find(uint32_t seq) const {
    if ((seq >> kChunkBits) >= kMaxChunks) return nullptr;
    std::atomic<uint8_t>* chunk = chunks_[seq >> kChunkBits].load(std::memory_order_acquire);
    return chunk == nullptr ? nullptr : &chunk[seq & (kChunkIds - 1)];
  }
  std::atomic<uint8_t>* Get(uint32_t seq) {
    const uint32_t index = seq >> kChunkBits;
    if (index >= kMaxChunks) return nullptr;
    std::atomic<uint8_t>* chunk = chunks_[index].load(std::memory_order_acquire);
    if (chunk == nullptr) {
      auto* fresh = new std::atomic<uint8_t>[kChunkIds]();
      if (chunks_[index].compare_exchange_strong(chunk, fresh, std::memory_order_acq_rel)) {
        chunk = fresh;
      } else {
        delete[] fresh;
      }
    }
    return &chunk[seq & (kChunkIds - 1)];
  }
  // Only when no thread can look ids up any more.
  void Release() {
    for (auto& chunk : chunks_) delete[] chunk.exchange(nullptr);
  }

 private:
  std::array<std::atomic<std::atomic<uint8_t>*>, kMaxChunks> chunks_;
};

// Endpoint encodings (at most 16: the id state keeps 4 bits).
enum Encoding : uint8_t {
  kIPv4Numeric,
  kIPv4FromText,
  kIPv4Mapped,
  kIPv6Numeric,
  kIPv6ScopedName,
  kIPv6ScopedIndex,
  kHostName,
  kAsRead,
  kReencodedMapped,
  kReencodedScoped,
  kReencodedHost,
  kReencodedText,
  kEncodingCount,
};
constexpr const char* kEncodingNames[kEncodingCount] = {
    "ipv4 numeric",
    "ipv4 from text",
    "ipv4-mapped ipv6",
    "ipv6 numeric",
    "ipv6 scoped by name",
    "ipv6 scoped by index",
    "host name",
    "as read",
    "re-encoded as ipv4-mapped",
    "re-encoded scoped",
    "re-encoded as host name",
    "re-encoded via text",
};
const char* EncodingName(uint8_t encoding) {
  return encoding < kEncodingCount ? kEncodingNames[encoding] : "unknown encoding";
}

struct EncodedEndpoint {
  Encoding encoding;
  uint8_t target;  // index into targets_
  Endpoint endpoint;
};

bool IsMapped(const Endpoint& e) {
  if (e.kind() != EndpointKind::kAddress || e.family() != AddressFamily::kIPv6) return false;
  absl::Span<const uint8_t> b = e.address_bytes();
  if (b.size() != 16) return false;
  for (int i = 0; i < 10; ++i) {
    if (b[i] != 0) return false;
  }
  return b[10] == 0xff && b[11] == 0xff;
}

// The address bytes an endpoint reaches, IPv4-mapped unmapped (empty for host and redacted).
absl::Span<const uint8_t> UnmappedAddress(const Endpoint& e) {
  if (e.kind() != EndpointKind::kAddress) return {};
  absl::Span<const uint8_t> bytes = e.address_bytes();
  return IsMapped(e) ? bytes.subspan(12) : bytes;
}

// Same address and port, mapped or not, any scope.
bool SameAddress(const Endpoint& a, const Endpoint& b) {
  if (a.port() != b.port()) return false;
  const absl::Span<const uint8_t> x = UnmappedAddress(a);
  const absl::Span<const uint8_t> y = UnmappedAddress(b);
  return !x.empty() && x.size() == y.size() && std::memcmp(x.data(), y.data(), x.size()) == 0;
}

struct Counters {
  std::atomic<uint64_t> written{0};
  std::atomic<uint64_t> accepted{0};
  std::atomic<uint64_t> queued{0};
  std::atomic<uint64_t> bytes_sent{0};
  std::atomic<uint64_t> delivered{0};
  std::atomic<uint64_t> delivered_truncated{0};
  std::atomic<uint64_t> duplicates{0};
  std::atomic<uint64_t> fault_dropped{0};
  std::atomic<uint64_t> fault_truncated{0};
  std::atomic<uint64_t> rejected{0};
  std::atomic<uint64_t> rejected_family_maximum{0};
  std::atomic<uint64_t> rejected_path_mtu{0};
  std::atomic<uint64_t> rejected_buffer{0};
  std::atomic<uint64_t> rejected_over_path_limit{0};
  std::atomic<uint64_t> rejected_waiting{0};
  std::atomic<uint64_t> rejected_closing{0};
  std::atomic<uint64_t> rejected_other{0};
  std::atomic<uint64_t> wrongly_rejected{0};
  std::atomic<uint64_t> wrong_limit{0};
  std::atomic<uint64_t> unnamed_limit{0};
  std::atomic<uint64_t> lost{0};
  std::atomic<uint64_t> abandoned{0};
  std::atomic<uint64_t> strays{0};
  std::atomic<uint64_t> bounces{0};
  std::atomic<uint64_t> budget_stalls{0};
  std::atomic<uint64_t> flows_opened{0};
  std::atomic<uint64_t> reopens{0};
  std::atomic<uint64_t> path_events{0};
  std::atomic<uint64_t> read_errors{0};
  // Flow source.
  std::atomic<uint64_t> peers_opened{0};
  std::atomic<uint64_t> peers_delivered{0};
  std::atomic<uint64_t> source_sleeps{0};
  std::atomic<uint64_t> source_wakes{0};
  std::atomic<uint64_t> source_echoes{0};
};

void Add(std::atomic<uint64_t>& counter, uint64_t n = 1) {
  counter.fetch_add(n, std::memory_order_relaxed);
}
uint64_t Get(const std::atomic<uint64_t>& counter) {
  return counter.load(std::memory_order_relaxed);
}

// One flow object under test, from open to finalization.
struct Instance {
  uint32_t id = 0;
  int slot = 0;
  std::unique_ptr<Flow> flow;
  IdTable ids;
  std::atomic<uint32_t> next_seq{0};
  std::atomic<int64_t> inflight_cost{0};
  std::atomic<int64_t> inflight{0};
  std::atomic<int> users{0};  // writers inside Write() on this instance
  std::atomic<bool> closing{false};
  std::atomic<bool> retired{false};
  std::atomic<bool> full{false};
  // Set by whoever retires it (the chaos thread, or the main thread at the end).
  uint32_t retire_seq = std::numeric_limits<uint32_t>::max();
  bool graceful = true;
  absl::Time retired_at;
  std::thread reader;
  Mutex hook_mu;
  bool finalized ABSL_GUARDED_BY(hook_mu) = false;
  // Ids of which a relay fault cut a copy (another copy, a relay duplicate, may arrive whole).
  absl::flat_hash_set<uint32_t> cut_copies ABSL_GUARDED_BY(hook_mu);
};

struct Slot {
  Mutex mu;
  Instance* current ABSL_GUARDED_BY(mu) = nullptr;
};

struct WorkerState {
  explicit WorkerState(uint64_t seed) : rng(seed) {}
  std::mt19937_64 rng;
  std::vector<Datagram> datagrams;
  std::vector<uint8_t> encodings;
  std::vector<uint8_t> targets;
};

// A peer of the flow source: a client socket whose first datagram should open a flow.
struct SourcePeer {
  uint64_t number = 0;
  internal::UniqueFd socket;
  std::string key;  // canonical text of the client's local endpoint
  absl::Time opened;
  // How long the source has been awake since this peer's first datagram: a flow must reach the
  // handler within wake_deadline of that (a source that never really wakes piles it up).
  absl::Duration awake_waited;
  bool delivered = false;
  bool reported = false;
  std::unique_ptr<Flow> flow;
  bool hello_read = false;
  bool echo_expected = false;
  bool echo_received = false;
  absl::Time echo_deadline = absl::InfiniteFuture();
  absl::Time close_at = absl::InfiniteFuture();
};

class UdpStress : public Workload {
 public:
  UdpStress(const UdpStressOptions& options, ViolationLog* violations)
      : options_(options), violations_(violations) {}
  ~UdpStress() override { Teardown(); }

  absl::Status Setup();
  absl::StatusOr<UdpStressResult> Run();

  void Operate(int worker, uint64_t index, absl::Time intended_start) override;
  std::string StatusFragment() override;

 private:
  struct Judgement {
    enum Kind { kTrueLimit, kExcused, kWronglyRejected, kWrongLimit, kUnnamed } kind;
    DatagramLimitKind limit = DatagramLimitKind::kNone;
    std::string explanation;
  };

  absl::Status SetupPeers();
  absl::Status SetupEncodings();
  void SetupSizes();
  std::vector<AddressFamily> JudgeFamilies(const Endpoint& endpoint) const;
  uint64_t DrawSize(std::mt19937_64& rng, AddressFamily family) const;

  absl::StatusOr<Instance*> OpenInstance(int slot);
  Instance* Pin(Slot& slot);
  void ReaderLoop(Instance* instance);
  // Returns true when `datagram` settled its id as delivered (first copy back).
  bool Deliver(Instance* instance, Datagram& datagram, std::mt19937_64& rng,
               std::vector<Datagram>& bounces, std::vector<uint8_t>& bounce_encodings);
  void WriteBounces(Instance* instance, std::vector<Datagram>& bounces,
                    const std::vector<uint8_t>& encodings);
  // Accounts for the write results of datagrams [0, n) sent with ids base_seq... on `instance`.
  void SettleWrite(Instance* instance, absl::Span<const Datagram> datagrams,
                   absl::Span<const WriteResult> results, uint32_t base_seq,
                   absl::Span<const uint8_t> encodings, bool path_overlap);
  Judgement Judge(const Datagram& datagram, const WriteResult& result, bool excusable) const;
  void Release(Instance* instance, int64_t cost);
  void OnRelayFault(absl::string_view payload, const char* fault);
  bool WaitForBudget(int64_t cost);

  void ChaosLoop();
  void SetPath(bool up);
  void CheckWaiting(absl::Time now);
  void Reopen(int slot, bool graceful);
  void Retire(Instance* instance, bool graceful);
  void CloseAndFinalize(Instance* instance);
  void Finalize(Instance* instance);

  void SourceLoop();
  void SourceTick(absl::Time now, bool opening);
  void OpenSourcePeer(absl::Time now);
  void CheckSourcePeers(absl::Time now);

  void ReportViolation(absl::string_view kind, std::string message);
  void Teardown();
  nlohmann::json BuildReport(const DriveResult& drive, absl::Duration total) const;

  const UdpStressOptions options_;
  ViolationLog* const violations_;
  const FlowRegistration* registration_ = nullptr;
  FlowOptions flow_options_;
  RelayFaults faults_;
  bool use_relay_ = false;
  uint32_t run_tag_ = 0;
  int op_batch_ = 1;

  std::unique_ptr<EchoServer> echo_;
  std::unique_ptr<DnsUpstream> upstream_;
  std::vector<std::unique_ptr<FaultRelay>> relays_;
  std::vector<Endpoint> targets_;  // where flows send: relay fronts, echo, or --peer
  std::vector<AddressFamily> target_families_;
  std::vector<EncodedEndpoint> encodings_;
  std::vector<AddressFamily> localhost_families_;
  DatagramPath judge_path_;
  std::vector<uint64_t> boundary_sizes_[2];  // per family: IPv4, IPv6
  std::vector<std::pair<std::string, std::string>> seeds_;

  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<std::unique_ptr<WorkerState>> workers_;
  Mutex instances_mu_;
  std::vector<std::unique_ptr<Instance>> owned_ ABSL_GUARDED_BY(instances_mu_);
  std::array<std::atomic<Instance*>, kMaxInstances> instance_table_{};
  std::atomic<uint32_t> next_instance_{0};
  int max_reopens_ = 0;

  // Path state. Writers read path_down_/path_epoch_ around each Write(); the epoch moves on
  // every event, so a write that overlapped a path-down period knows it.
  Mutex path_mu_;
  std::atomic<bool> path_down_{false};
  std::atomic<uint64_t> path_epoch_{0};
  std::vector<Instance*> live_ ABSL_GUARDED_BY(path_mu_);
  std::map<Instance*, absl::Time> must_leave_waiting_ ABSL_GUARDED_BY(path_mu_);

  std::atomic<int64_t> inflight_cost_{0};
  std::atomic<uint64_t> progress_{0};
  std::atomic<bool> stopping_{false};
  absl::Time start_;
  absl::Time traffic_end_;

  std::thread chaos_;
  std::vector<Instance*> retiring_;  // chaos thread only

  // Flow source (story 4).
  std::unique_ptr<FlowSource> source_;
  std::thread source_thread_;
  Mutex source_mu_;
  std::deque<std::pair<std::unique_ptr<Flow>, Endpoint>> handed_ ABSL_GUARDED_BY(source_mu_);
  std::vector<std::unique_ptr<SourcePeer>> peers_;  // source thread only
  std::vector<Endpoint> source_endpoints_;
  std::atomic<bool> source_asleep_{false};              // written by the source thread only
  uint64_t next_peer_ = 0;                              // source thread only
  absl::Time last_source_tick_ = absl::InfinitePast();  // source thread only

  Counters counters_;
  LatencyHistogram latency_;
  std::vector<std::pair<std::string, int64_t>> live_baseline_;
  std::map<std::string, uint64_t> reported_by_kind_;  // under reported_mu_
  Mutex reported_mu_;
  bool torn_down_ = false;
  bool ran_ = false;
};

void UdpStress::ReportViolation(absl::string_view kind, std::string message) {
  {
    // Past 200 of a kind the message adds nothing; the count still goes up.
    MutexLock lock(&reported_mu_);
    if (++reported_by_kind_[std::string(kind)] > 200) message = "(same as above)";
  }
  violations_->Report(kind, std::move(message));
}

// ---- Setup -------------------------------------------------------------------------------------

absl::Status UdpStress::SetupPeers() {
  const bool want4 = options_.family != FamilyChoice::kIPv6;
  const bool want6 = options_.family != FamilyChoice::kIPv4;
  std::vector<Endpoint> peers;
  if (options_.peers.empty()) {
    absl::StatusOr<std::unique_ptr<EchoServer>> echo =
        EchoServer::Start({.threads = 2, .batch = 32});
    if (!echo.ok()) return echo.status();
    echo_ = std::move(*echo);
    if (want4) peers.push_back(echo_->ipv4_endpoint());
    if (want6 && echo_->ipv6_endpoint()) peers.push_back(*echo_->ipv6_endpoint());
    if (peers.empty())
      return absl::FailedPreconditionError("this host has no ::1 for --family=ipv6");
  } else {
    for (const Endpoint& peer : options_.peers) {
      if (peer.kind() != EndpointKind::kAddress) {
        return absl::InvalidArgumentError(
            absl::StrCat("--peer ", peer.ToString(), " must be a numeric address endpoint"));
      }
      const AddressFamily family = IsMapped(peer) ? AddressFamily::kIPv4 : peer.family();
      if ((family == AddressFamily::kIPv4 && want4) || (family == AddressFamily::kIPv6 && want6)) {
        peers.push_back(peer);
      }
    }
    if (peers.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("no --peer of the family --family=", FamilyChoiceName(options_.family)));
    }
  }
  const bool model_mtu = options_.peers.empty() && options_.mtu > 0 && options_.dont_fragment;
  use_relay_ = options_.peers.empty() &&
               (faults_.any() || options_.path_events > absl::ZeroDuration() || model_mtu);
  for (const Endpoint& peer : peers) {
    const AddressFamily family = peer.family();
    if (!use_relay_) {
      targets_.push_back(peer);
      target_families_.push_back(family);
      continue;
    }
    RelayOptions relay;
    relay.peer = peer;
    relay.faults = faults_;
    relay.seed = DeriveSeed(DeriveSeed(options_.seed, "faults"), AddressFamilyName(family));
    relay.max_clients = static_cast<int>(kMaxInstances) + 64;
    if (model_mtu) {
      absl::StatusOr<DatagramLimit> limit =
          BindingLimit(family, DatagramPath::Interface(options_.mtu, /*dont_fragment=*/true));
      if (!limit.ok()) return limit.status();
      relay.faults.mtu_payload = limit->payload_bytes;
    }
    relay.on_fault = [this](RelayDirection, absl::string_view payload, const char* fault) {
      OnRelayFault(payload, fault);
    };
    absl::StatusOr<std::unique_ptr<FaultRelay>> started = FaultRelay::Start(relay);
    if (!started.ok()) return started.status();
    targets_.push_back((*started)->endpoint());
    target_families_.push_back(family);
    relays_.push_back(std::move(*started));
  }
  absl::StatusOr<std::unique_ptr<DnsUpstream>> upstream = DnsUpstream::Start({});
  if (!upstream.ok()) return upstream.status();
  upstream_ = std::move(*upstream);

  flow_options_.batch = options_.batch;
  flow_options_.dont_fragment = options_.dont_fragment;
  flow_options_.dns_upstream = upstream_->ipv4_endpoint();
  flow_options_.loopback_only = options_.peers.empty();
  for (const Endpoint& local : options_.bind) {
    if (local.kind() != EndpointKind::kAddress) {
      return absl::InvalidArgumentError(
          absl::StrCat("--bind ", local.ToString(), " must be a numeric address"));
    }
    (local.family() == AddressFamily::kIPv4 ? flow_options_.bind_ipv4 : flow_options_.bind_ipv6) =
        local;
  }
  return absl::OkStatus();
}

absl::Status UdpStress::SetupEncodings() {
  // How this host resolves "localhost", as a flow would (first answer decides where it goes).
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* results = nullptr;
  std::optional<AddressFamily> localhost_first;
  if (::getaddrinfo("localhost", nullptr, &hints, &results) == 0) {
    for (addrinfo* r = results; r != nullptr; r = r->ai_next) {
      const AddressFamily family = r->ai_family == AF_INET    ? AddressFamily::kIPv4
                                   : r->ai_family == AF_INET6 ? AddressFamily::kIPv6
                                                              : AddressFamily::kUnspecified;
      if (family == AddressFamily::kUnspecified) continue;
      if (!localhost_first) localhost_first = family;
      if (std::find(localhost_families_.begin(), localhost_families_.end(), family) ==
          localhost_families_.end()) {
        localhost_families_.push_back(family);
      }
    }
    ::freeaddrinfo(results);
  }
  std::string scope = options_.scope_interface;
  if (scope.empty() && options_.peers.empty()) scope = "lo";
  const unsigned scope_index = scope.empty() ? 0 : ::if_nametoindex(scope.c_str());

  for (size_t t = 0; t < targets_.size(); ++t) {
    const Endpoint& target = targets_[t];
    const uint8_t index = static_cast<uint8_t>(t);
    auto add = [&](Encoding encoding, absl::StatusOr<Endpoint> endpoint) {
      if (endpoint.ok()) encodings_.push_back({encoding, index, *std::move(endpoint)});
    };
    const std::string port = absl::StrCat(target.port());
    if (target_families_[t] == AddressFamily::kIPv4) {
      add(kIPv4Numeric, target);
      add(kIPv4FromText, Endpoint::Parse(absl::StrCat(target.host(), ":", port)));
      add(kIPv4Mapped, Endpoint::Parse(absl::StrCat("[::ffff:", target.host(), "]:", port)));
    } else {
      add(kIPv6Numeric, target);
      if (scope_index != 0) {
        add(kIPv6ScopedName,
            Endpoint::Parse(absl::StrCat("[", target.host(), "%", scope, "]:", port)));
        add(kIPv6ScopedIndex,
            Endpoint::Parse(absl::StrCat(target.host(), "%", scope_index, ".", port)));
      }
    }
    const bool loopback_target = target.host() == "127.0.0.1" || target.host() == "::1";
    if (loopback_target && localhost_first == target_families_[t]) {
      add(kHostName, Endpoint::Parse(absl::StrCat("localhost:", port)));
    }
  }
  if (encodings_.empty()) return absl::InternalError("no endpoint encoding could be built");
  return absl::OkStatus();
}

void UdpStress::SetupSizes() {
  if (options_.peers.empty()) {
    judge_path_ = DatagramPath::Loopback(options_.dont_fragment);
  } else {
    judge_path_ =
        DatagramPath::Interface(options_.mtu > 0 ? options_.mtu : 1500, options_.dont_fragment);
  }
  for (AddressFamily family : {AddressFamily::kIPv4, AddressFamily::kIPv6}) {
    std::vector<uint64_t>& sizes = boundary_sizes_[family == AddressFamily::kIPv6 ? 1 : 0];
    std::vector<uint64_t> limits;
    absl::StatusOr<std::vector<DatagramLimit>> applicable = ApplicableLimits(family, judge_path_);
    if (applicable.ok()) {
      for (const DatagramLimit& limit : *applicable) limits.push_back(limit.payload_bytes);
    }
    if (options_.peers.empty() && options_.mtu > 0) {
      absl::StatusOr<DatagramLimit> modeled =
          BindingLimit(family, DatagramPath::Interface(options_.mtu, options_.dont_fragment));
      if (modeled.ok()) limits.push_back(modeled->payload_bytes);
    }
    for (uint64_t limit : limits) {
      for (uint64_t size : {limit - 1, limit, limit + 1}) {
        if (size >= kHeaderBytes && std::find(sizes.begin(), sizes.end(), size) == sizes.end()) {
          sizes.push_back(size);
        }
      }
    }
    if (sizes.empty()) sizes.push_back(1400);
  }
}

std::vector<AddressFamily> UdpStress::JudgeFamilies(const Endpoint& endpoint) const {
  switch (endpoint.kind()) {
    case EndpointKind::kAddress:
      // Mapped endpoints leave as IPv4 from a socket flow; a flow may also treat them as IPv6.
      if (IsMapped(endpoint)) return {AddressFamily::kIPv4, AddressFamily::kIPv6};
      return {endpoint.family()};
    case EndpointKind::kHost:
      if (!localhost_families_.empty()) return localhost_families_;
      return {AddressFamily::kIPv4, AddressFamily::kIPv6};
    case EndpointKind::kRedacted:
      break;
  }
  return {endpoint.family()};
}

uint64_t UdpStress::DrawSize(std::mt19937_64& rng, AddressFamily family) const {
  if (options_.size > 0) return options_.size;
  const uint64_t r = rng() % 100;
  if (r < 45) return 50 + rng() % 151;  // story 2: 50-200 byte datagrams
  if (r < 55) return 201 + rng() % 1200;
  const std::vector<uint64_t>& sizes = boundary_sizes_[family == AddressFamily::kIPv6 ? 1 : 0];
  return sizes[rng() % sizes.size()];
}

absl::Status UdpStress::Setup() {
  if (options_.threads < 1 || options_.threads > 256) {
    return absl::InvalidArgumentError("--threads must be between 1 and 256");
  }
  if (options_.flows < 1 || options_.flows > 64) {
    return absl::InvalidArgumentError("--flows must be between 1 and 64");
  }
  if (options_.batch < 1 || options_.batch > 256) {
    return absl::InvalidArgumentError("--batch must be between 1 and 256");
  }
  if (options_.rate < 0) return absl::InvalidArgumentError("--rate must be 0 or positive");
  if (options_.size != 0 && (options_.size < kHeaderBytes || options_.size > 65535)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--size must be 0 (the limit-seeking mix) or between ", kHeaderBytes, " and 65535"));
  }
  if (options_.bounce < 0 || options_.bounce > 1) {
    return absl::InvalidArgumentError("--bounce must be between 0 and 1");
  }
  if (options_.duration <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--duration must be positive");
  }
  if (options_.mtu != 0 && options_.mtu < kIPv4MinMtu) {
    return absl::InvalidArgumentError(absl::StrCat("--mtu must be 0 or at least ", kIPv4MinMtu));
  }
  registration_ = FindFlow(options_.flow);
  if (registration_ == nullptr) {
    std::vector<std::string> names;
    for (const FlowRegistration* r : RegisteredFlows()) names.push_back(r->name);
    return absl::NotFoundError(absl::StrCat("no flow named '", options_.flow,
                                            "'; known flows: ", absl::StrJoin(names, ", ")));
  }
  absl::StatusOr<RelayFaults> faults = ParseFaultSpec(options_.faults);
  if (!faults.ok()) return faults.status();
  faults_ = *faults;
  if (!options_.peers.empty()) faults_ = RelayFaults{};  // no relay on an external path

  live_baseline_ = LiveObjectsSnapshot();
  run_tag_ = static_cast<uint32_t>(DeriveSeed(options_.seed, "run_tag")) | 1u;
  if (absl::Status s = SetupPeers(); !s.ok()) return s;
  if (absl::Status s = SetupEncodings(); !s.ok()) return s;
  SetupSizes();

  op_batch_ = options_.rate > 0
                  ? std::clamp(static_cast<int>(options_.rate / 200), 1, options_.batch)
                  : options_.batch;
  rlimit files{};
  ::getrlimit(RLIMIT_NOFILE, &files);
  // Each flow instance costs a few descriptors here and one per relay; stay well inside.
  max_reopens_ = static_cast<int>(
      std::min<uint64_t>(kMaxInstances - 2 * static_cast<uint64_t>(options_.flows) - 8,
                         files.rlim_cur > 512 ? (files.rlim_cur - 256) / 6 : 32));

  for (int w = 0; w < options_.threads; ++w) {
    auto state = std::make_unique<WorkerState>(DeriveSeed(DeriveSeed(options_.seed, "sizes"), w));
    state->datagrams.resize(options_.batch);
    for (Datagram& d : state->datagrams) d.endpoint = encodings_[0].endpoint;
    state->encodings.resize(options_.batch);
    state->targets.resize(options_.batch);
    workers_.push_back(std::move(state));
  }
  for (int s = 0; s < options_.flows; ++s) slots_.push_back(std::make_unique<Slot>());
  start_ = absl::Now();
  for (int s = 0; s < options_.flows; ++s) {
    absl::StatusOr<Instance*> instance = OpenInstance(s);
    if (!instance.ok()) {
      return absl::Status(
          instance.status().code(),
          absl::StrCat("cannot open flow '", options_.flow, "': ", instance.status().message()));
    }
    MutexLock lock(&slots_[s]->mu);
    slots_[s]->current = *instance;
  }
  if (options_.sleep_wake && registration_->source) {
    absl::StatusOr<std::unique_ptr<FlowSource>> source =
        CreateFlowSource(options_.flow, flow_options_);
    if (!source.ok()) return source.status();
    source_ = std::move(*source);
    source_endpoints_ = source_->LocalEndpoints();
    absl::Status started = source_->Start([this](std::unique_ptr<Flow> flow, const Endpoint& peer) {
      SchedulePoint("udp_stress.handler");
      MutexLock lock(&source_mu_);
      handed_.emplace_back(std::move(flow), peer);
    });
    if (!started.ok()) return started;
  }
  return absl::OkStatus();
}

// ---- Flow instances ----------------------------------------------------------------------------

absl::StatusOr<Instance*> UdpStress::OpenInstance(int slot) {
  const uint32_t id = next_instance_.fetch_add(1);
  if (id >= kMaxInstances) return absl::ResourceExhaustedError("too many flow instances");
  auto owned = std::make_unique<Instance>();
  Instance* instance = owned.get();
  instance->id = id;
  instance->slot = slot;
  {
    MutexLock lock(&path_mu_);
    absl::StatusOr<std::unique_ptr<Flow>> flow = CreateFlow(options_.flow, flow_options_);
    if (!flow.ok()) return flow.status();
    instance->flow = std::move(*flow);
    if (path_down_.load(std::memory_order_acquire)) {
      instance->flow->OnPathEvent(PathEvent::kPathLost);
    }
    live_.push_back(instance);
  }
  Add(counters_.flows_opened);
  instance_table_[id].store(instance, std::memory_order_release);
  {
    MutexLock lock(&instances_mu_);
    owned_.push_back(std::move(owned));
  }
  instance->reader = std::thread([this, instance] { ReaderLoop(instance); });
  return instance;
}

Instance* UdpStress::Pin(Slot& slot) {
  MutexLock lock(&slot.mu);
  Instance* instance = slot.current;
  if (instance != nullptr) instance->users.fetch_add(1, std::memory_order_acq_rel);
  return instance;
}

void UdpStress::Release(Instance* instance, int64_t cost) {
  instance->inflight_cost.fetch_sub(cost, std::memory_order_relaxed);
  instance->inflight.fetch_sub(1, std::memory_order_release);
  inflight_cost_.fetch_sub(cost, std::memory_order_relaxed);
  progress_.fetch_add(1, std::memory_order_relaxed);
}

bool UdpStress::WaitForBudget(int64_t cost) {
  if (inflight_cost_.load(std::memory_order_relaxed) + cost <= kInFlightBudget) return true;
  uint64_t progress = progress_.load(std::memory_order_relaxed);
  absl::Time last_progress = absl::Now();
  for (int spins = 0;; ++spins) {
    if (stopping_.load(std::memory_order_relaxed) || StopRequested()) return false;
    const int64_t inflight = inflight_cost_.load(std::memory_order_relaxed);
    if (inflight + cost <= kInFlightBudget || inflight <= 0) return true;
    if (spins < 50) {
      std::this_thread::yield();
    } else {
      absl::SleepFor(absl::Microseconds(50));
    }
    const absl::Time now = absl::Now();
    if (now >= traffic_end_) return false;
    const uint64_t seen = progress_.load(std::memory_order_relaxed);
    if (seen != progress) {
      progress = seen;
      last_progress = now;
    } else if (now - last_progress > absl::Seconds(1)) {
      // Nothing comes back: do not pile more on; the drain will tell what was lost.
      Add(counters_.budget_stalls);
      return false;
    }
  }
}

// ---- Writers -----------------------------------------------------------------------------------

void UdpStress::Operate(int worker, uint64_t index, absl::Time intended_start) {
  WorkerState& w = *workers_[worker];
  const int n = op_batch_;
  Slot& slot = *slots_[index % slots_.size()];
  int64_t cost = 0;
  for (int i = 0; i < n; ++i) {
    const EncodedEndpoint& e = encodings_[w.rng() % encodings_.size()];
    Datagram& d = w.datagrams[i];
    if (!(d.endpoint == e.endpoint)) d.endpoint = e.endpoint;
    d.payload.resize(DrawSize(w.rng, target_families_[e.target]));
    w.encodings[i] = e.encoding;
    w.targets[i] = e.target;
    cost += QueueCost(d.payload.size());
  }
  if (!WaitForBudget(cost)) return;
  Instance* instance = Pin(slot);
  if (instance == nullptr) return;
  absl::Cleanup unpin = [instance] { instance->users.fetch_sub(1, std::memory_order_acq_rel); };
  const uint32_t base = instance->next_seq.fetch_add(static_cast<uint32_t>(n));
  if (base >= kMaxIdsPerInstance - static_cast<uint32_t>(n)) {
    instance->full.store(true, std::memory_order_relaxed);  // the chaos thread rotates it
    return;
  }
  const bool down = path_down_.load(std::memory_order_acquire);
  const uint64_t epoch = path_epoch_.load(std::memory_order_acquire);
  const int64_t sent_ns = absl::ToUnixNanos(intended_start);
  for (int i = 0; i < n; ++i) {
    Datagram& d = w.datagrams[i];
    const uint32_t seq = base + static_cast<uint32_t>(i);
    Header h;
    h.run_tag = run_tag_;
    h.instance = instance->id;
    h.seq = seq;
    h.length = static_cast<uint32_t>(d.payload.size());
    h.sent_ns = sent_ns;
    h.encoding = w.encodings[i];
    h.target = w.targets[i];
    PutHeader(d.payload.data(), h);
    FillBody(d.payload, FillByte(instance->id, seq));
    instance->ids.Get(seq)->store(
        static_cast<uint8_t>(kInFlight | (down ? kPathDownFlag : 0) | (w.encodings[i] << 4)),
        std::memory_order_release);
  }
  instance->inflight_cost.fetch_add(cost, std::memory_order_relaxed);
  instance->inflight.fetch_add(n, std::memory_order_relaxed);
  inflight_cost_.fetch_add(cost, std::memory_order_relaxed);
  SchedulePoint("udp_stress.write");
  const std::vector<WriteResult> results =
      instance->flow->Write(absl::MakeConstSpan(w.datagrams.data(), n));
  const bool overlap = down || path_epoch_.load(std::memory_order_acquire) != epoch;
  Add(counters_.written, n);
  SettleWrite(instance, absl::MakeConstSpan(w.datagrams.data(), n), results, base,
              absl::MakeConstSpan(w.encodings.data(), n), overlap);
  // While the path is down a writer keeps trying, but not in a tight loop of rejections.
  if (path_down_.load(std::memory_order_relaxed)) absl::SleepFor(absl::Milliseconds(1));
}

void UdpStress::SettleWrite(Instance* instance, absl::Span<const Datagram> datagrams,
                            absl::Span<const WriteResult> results, uint32_t base_seq,
                            absl::Span<const uint8_t> encodings, bool path_overlap) {
  uint64_t accepted = 0;
  uint64_t queued = 0;
  uint64_t bytes = 0;
  for (size_t i = 0; i < datagrams.size(); ++i) {
    // A flow that returns fewer results than datagrams accepted the rest, by the contract's
    // silence; the ledger then holds it to that.
    if (i >= results.size() || !results[i].rejected()) {
      ++(i < results.size() && results[i].outcome == WriteResult::Outcome::kQueued ? queued
                                                                                   : accepted);
      bytes += datagrams[i].payload.size();
      continue;
    }
    const uint32_t seq = base_seq + static_cast<uint32_t>(i);
    const Datagram& d = datagrams[i];
    std::atomic<uint8_t>* state = instance->ids.Find(seq);
    uint8_t s = state->load(std::memory_order_acquire);
    bool settled = false;
    while ((s & kStateMask) == kInFlight) {
      if (state->compare_exchange_weak(s, static_cast<uint8_t>((s & ~kStateMask) | kRejected),
                                       std::memory_order_acq_rel)) {
        settled = true;
        break;
      }
    }
    Add(counters_.rejected);
    if (settled) {
      Release(instance, QueueCost(d.payload.size()));
    } else {
      ReportViolation("rejected_but_delivered",
                      absl::StrFormat("flow '%s' (instance %d) rejected datagram %d:%d (%d bytes "
                                      "to %s, %s) with \"%s\", yet it reached the peer",
                                      options_.flow, instance->id, instance->id, seq,
                                      d.payload.size(), d.endpoint.ToString(),
                                      EncodingName(encodings[i]), results[i].error.message()));
      continue;
    }
    const bool closing = instance->closing.load(std::memory_order_acquire);
    const Judgement j = Judge(d, results[i], path_overlap || closing);
    switch (j.kind) {
      case Judgement::kTrueLimit:
        Add(j.limit == DatagramLimitKind::kFamilyMaximum         ? counters_.rejected_family_maximum
            : j.limit == DatagramLimitKind::kPathMtuDontFragment ? counters_.rejected_path_mtu
                                                                 : counters_.rejected_buffer);
        if (j.limit == DatagramLimitKind::kPathMtuDontFragment) {
          Add(counters_.rejected_over_path_limit);
        }
        break;
      case Judgement::kExcused:
        Add(closing ? counters_.rejected_closing : counters_.rejected_waiting);
        break;
      case Judgement::kWronglyRejected:
      case Judgement::kWrongLimit:
      case Judgement::kUnnamed: {
        const char* kind = j.kind == Judgement::kWronglyRejected ? "wrongly_rejected"
                           : j.kind == Judgement::kWrongLimit    ? "wrong_limit"
                                                                 : "unnamed_limit";
        Add(j.kind == Judgement::kWronglyRejected ? counters_.wrongly_rejected
            : j.kind == Judgement::kWrongLimit    ? counters_.wrong_limit
                                                  : counters_.unnamed_limit);
        ReportViolation(
            kind,
            absl::StrFormat(
                "flow '%s' rejected a %d-byte datagram to %s (%s endpoint, %s) with \"%s\"%s: "
                "%s [datagram %d:%d, flow %s, path %s]",
                options_.flow, d.payload.size(), d.endpoint.ToString(),
                EndpointKindName(d.endpoint.kind()), EncodingName(encodings[i]),
                results[i].error.message(),
                results[i].limit_kind == DatagramLimitKind::kNone
                    ? ""
                    : absl::StrFormat(" (claimed limit: %s %d)",
                                      DatagramLimitKindName(results[i].limit_kind),
                                      results[i].limit_bytes),
                j.explanation, instance->id, seq, FlowStateName(instance->flow->state()),
                judge_path_.ToString()));
        break;
      }
    }
  }
  Add(counters_.accepted, accepted);
  Add(counters_.queued, queued);
  Add(counters_.bytes_sent, bytes);
}

UdpStress::Judgement UdpStress::Judge(const Datagram& datagram, const WriteResult& result,
                                      bool excusable) const {
  DatagramRejection rejection;
  rejection.message = std::string(result.error.message());
  if (result.limit_kind != DatagramLimitKind::kNone) {
    rejection.claimed_kind = result.limit_kind;
    rejection.claimed_limit_bytes = result.limit_bytes;
  }
  const uint64_t size = datagram.payload.size();
  std::vector<RejectionJudgement> judgements;
  for (AddressFamily family : JudgeFamilies(datagram.endpoint)) {
    absl::StatusOr<RejectionJudgement> j = JudgeRejection(size, family, judge_path_, rejection);
    if (j.ok()) judgements.push_back(*std::move(j));
  }
  if (judgements.empty()) return {Judgement::kExcused, DatagramLimitKind::kNone, ""};
  for (const RejectionJudgement& j : judgements) {
    if (j.finding == RejectionFinding::kTrueLimit) {
      return {Judgement::kTrueLimit,
              j.claim.kind.value_or(result.limit_kind != DatagramLimitKind::kNone
                                        ? result.limit_kind
                                        : j.oracle.limit_kind),
              ""};
    }
  }
  for (const RejectionJudgement& j : judgements) {
    if (j.finding == RejectionFinding::kTrueButUnnamed) {
      return {Judgement::kUnnamed, DatagramLimitKind::kNone,
              absl::StrCat("the rejection does not name the limit and its value; ", j.message)};
    }
  }
  bool all_fit = true;
  bool none_fit = true;
  bool all_not_size = true;
  for (const RejectionJudgement& j : judgements) {
    all_fit = all_fit && j.oracle.fits;
    none_fit = none_fit && !j.oracle.fits;
    all_not_size = all_not_size && j.finding == RejectionFinding::kNotASizeRejection;
  }
  const RejectionJudgement& first = judgements.front();
  if (all_not_size) {
    if (excusable) return {Judgement::kExcused, DatagramLimitKind::kNone, ""};
    if (all_fit) {
      return {Judgement::kWronglyRejected, DatagramLimitKind::kNone,
              absl::StrCat("the flow was ready and the datagram fits: ", first.oracle.message)};
    }
    if (none_fit) {
      return {Judgement::kUnnamed, DatagramLimitKind::kNone,
              absl::StrCat("the rejection does not say the datagram is too large; ",
                           first.oracle.message)};
    }
    return {Judgement::kExcused, DatagramLimitKind::kNone, ""};
  }
  if (all_fit) {
    return {Judgement::kWronglyRejected, DatagramLimitKind::kNone,
            absl::StrCat("rejected as too large, but ", first.message)};
  }
  return {Judgement::kWrongLimit, DatagramLimitKind::kNone, first.message};
}

// ---- Readers -----------------------------------------------------------------------------------

void UdpStress::ReaderLoop(Instance* instance) {
  std::mt19937_64 rng(DeriveSeed(DeriveSeed(options_.seed, "bounce"), instance->id));
  std::vector<Datagram> bounces;
  std::vector<uint8_t> bounce_encodings;
  const size_t max_read = static_cast<size_t>(std::max(64, options_.batch * 4));
  while (true) {
    absl::StatusOr<std::vector<Datagram>> read =
        instance->flow->Read(max_read, absl::Milliseconds(50));
    if (!read.ok()) {
      if (instance->closing.load(std::memory_order_acquire)) return;
      Add(counters_.read_errors);
      if (Get(counters_.read_errors) <= 1) {
        ReportViolation("read_failed",
                        absl::StrFormat("flow '%s' (instance %d) Read() failed while open: %s",
                                        options_.flow, instance->id, read.status().ToString()));
      }
      absl::SleepFor(absl::Milliseconds(5));
      continue;
    }
    uint64_t delivered = 0;
    for (Datagram& d : *read) delivered += Deliver(instance, d, rng, bounces, bounce_encodings);
    Add(counters_.delivered, delivered);
    if (!bounces.empty()) WriteBounces(instance, bounces, bounce_encodings);
  }
}

bool UdpStress::Deliver(Instance* instance, Datagram& d, std::mt19937_64& rng,
                        std::vector<Datagram>& bounces, std::vector<uint8_t>& bounce_encodings) {
  Header h;
  if (!GetHeader(d.payload, run_tag_, &h) || h.instance != instance->id) {
    // Cut below the header by a counted truncation, or meant for an earlier flow whose port the
    // kernel handed out again: nothing this flow owes.
    Add(counters_.strays);
    return false;
  }
  std::atomic<uint8_t>* state = instance->ids.Find(h.seq);
  if (state == nullptr || h.seq >= instance->next_seq.load(std::memory_order_acquire) ||
      h.target >= targets_.size()) {
    ReportViolation("corrupted_datagram",
                    absl::StrFormat("flow '%s' (instance %d) returned a datagram with id %d:%d "
                                    "that was never sent",
                                    options_.flow, instance->id, instance->id, h.seq));
    return false;
  }
  uint8_t s = state->load(std::memory_order_acquire);
  const bool cut = d.payload.size() != h.length;
  bool cut_copy = false;
  if (cut && (s & kStateMask) != kTruncated) {
    MutexLock lock(&instance->hook_mu);
    cut_copy = instance->cut_copies.contains(h.seq);
  }
  if (cut_copy) {
    Add(counters_.delivered_truncated);
    return false;
  }
  if ((cut && (s & kStateMask) != kTruncated) ||
      (!cut && !BodyIntact(d.payload, FillByte(instance->id, h.seq)))) {
    ReportViolation(
        "corrupted_datagram",
        absl::StrFormat("flow '%s' returned datagram %d:%d (%s) with %d bytes%s; %d were sent and "
                        "no relay fault cut it",
                        options_.flow, instance->id, h.seq, EncodingName(h.encoding),
                        d.payload.size(), cut ? "" : " and a changed body", h.length));
    return false;
  }
  // Came from where it was sent: the same address and port (mapped or not, any scope), or the
  // very endpoint written (flows such as dns-proxy hand back the endpoint as written).
  const Endpoint& target = targets_[h.target];
  const bool from_target = d.endpoint.kind() == EndpointKind::kHost
                               ? d.endpoint.port() == target.port()
                               : SameAddress(d.endpoint, target);
  if (!from_target) {
    ReportViolation("wrong_source_endpoint",
                    absl::StrFormat("flow '%s' tagged datagram %d:%d (sent to %s as %s) with "
                                    "source %s",
                                    options_.flow, instance->id, h.seq, target.ToString(),
                                    EncodingName(h.encoding), d.endpoint.ToString()));
  }
  while (true) {
    const uint8_t current = s & kStateMask;
    if (current == kInFlight || current == kDropped || (current == kTruncated && !cut)) {
      if (!state->compare_exchange_weak(s, static_cast<uint8_t>((s & ~kStateMask) | kDelivered),
                                        std::memory_order_acq_rel)) {
        continue;
      }
      if (current == kInFlight) {
        Release(instance, QueueCost(h.length));
        latency_.RecordMicros((absl::GetCurrentTimeNanos() - h.sent_ns) / 1000);
      }
      break;
    }
    if (current == kTruncated) {
      Add(counters_.delivered_truncated);
      return false;
    }
    if (current == kDelivered) {
      Add(counters_.duplicates);
      if (faults_.duplicate <= 0) {
        ReportViolation(
            "duplicate_delivery",
            absl::StrFormat("flow '%s' returned datagram %d:%d (%s) twice, and no "
                            "relay fault duplicates",
                            options_.flow, instance->id, h.seq, EncodingName(h.encoding)));
      }
      return false;
    }
    if (current == kRejected) {
      ReportViolation(
          "rejected_but_delivered",
          absl::StrFormat("flow '%s' rejected datagram %d:%d (%s), yet it came back", options_.flow,
                          instance->id, h.seq, EncodingName(h.encoding)));
    }
    return false;
  }
  // Story 2: write it back to the endpoint exactly as read, or re-encoded.
  if (options_.bounce <= 0 || h.hop >= 3 || instance->closing.load(std::memory_order_relaxed) ||
      stopping_.load(std::memory_order_relaxed) ||
      static_cast<double>(rng() % 1000) >= options_.bounce * 1000) {
    return true;
  }
  Encoding encoding = kAsRead;
  Endpoint to = d.endpoint;
  const uint64_t pick = rng() % 5;
  if (pick == 2) {
    absl::StatusOr<Endpoint> text = Endpoint::Parse(d.endpoint.ToString());
    if (text.ok()) {
      to = *std::move(text);
      encoding = kReencodedText;
    }
  } else if (pick == 3 && d.endpoint.kind() == EndpointKind::kAddress) {
    for (const EncodedEndpoint& e : encodings_) {
      if (e.target != h.target) continue;
      if ((e.encoding == kIPv4Mapped && target_families_[h.target] == AddressFamily::kIPv4) ||
          (e.encoding == kIPv6ScopedName && target_families_[h.target] == AddressFamily::kIPv6)) {
        to = e.endpoint;
        encoding = e.encoding == kIPv4Mapped ? kReencodedMapped : kReencodedScoped;
        break;
      }
    }
  } else if (pick == 4) {
    for (const EncodedEndpoint& e : encodings_) {
      if (e.target == h.target && e.encoding == kHostName) {
        to = e.endpoint;
        encoding = kReencodedHost;
        break;
      }
    }
  }
  Header next = h;
  next.hop = static_cast<uint8_t>(h.hop + 1);
  next.encoding = encoding;
  bounces.push_back({std::move(to), std::move(d.payload), false});
  bounce_encodings.push_back(encoding);
  // Header and seq are written in WriteBounces, once the ids are allocated.
  PutHeader(bounces.back().payload.data(), next);
  return true;
}

void UdpStress::WriteBounces(Instance* instance, std::vector<Datagram>& bounces,
                             const std::vector<uint8_t>& encodings) {
  const uint32_t n = static_cast<uint32_t>(bounces.size());
  const uint32_t base = instance->next_seq.fetch_add(n);
  if (base >= kMaxIdsPerInstance - n) {
    instance->full.store(true, std::memory_order_relaxed);
    bounces.clear();
    return;
  }
  const bool down = path_down_.load(std::memory_order_acquire);
  const uint64_t epoch = path_epoch_.load(std::memory_order_acquire);
  const int64_t now_ns = absl::GetCurrentTimeNanos();
  int64_t cost = 0;
  for (uint32_t i = 0; i < n; ++i) {
    Datagram& d = bounces[i];
    Header h;
    GetHeader(d.payload, run_tag_, &h);
    h.seq = base + i;
    h.sent_ns = now_ns;
    PutHeader(d.payload.data(), h);
    FillBody(d.payload, FillByte(instance->id, h.seq));
    instance->ids.Get(h.seq)->store(
        static_cast<uint8_t>(kInFlight | (down ? kPathDownFlag : 0) | (encodings[i] << 4)),
        std::memory_order_release);
    cost += QueueCost(d.payload.size());
  }
  // No budget wait here: a bounce replaces the datagram that just came back.
  instance->inflight_cost.fetch_add(cost, std::memory_order_relaxed);
  instance->inflight.fetch_add(n, std::memory_order_relaxed);
  inflight_cost_.fetch_add(cost, std::memory_order_relaxed);
  SchedulePoint("udp_stress.bounce");
  const std::vector<WriteResult> results = instance->flow->Write(bounces);
  const bool overlap = down || path_epoch_.load(std::memory_order_acquire) != epoch;
  Add(counters_.written, n);
  Add(counters_.bounces, n);
  SettleWrite(instance, bounces, results, base, encodings, overlap);
  bounces.clear();
}

// Called by the relay thread (under its lock) for each datagram a fault drops or cuts.
void UdpStress::OnRelayFault(absl::string_view payload, const char* fault) {
  Header h;
  if (!GetHeader(payload, run_tag_, &h) || h.instance >= kMaxInstances) return;
  Instance* instance = instance_table_[h.instance].load(std::memory_order_acquire);
  if (instance == nullptr) return;
  const bool truncate = std::strcmp(fault, "truncate") == 0;
  MutexLock lock(&instance->hook_mu);
  if (instance->finalized) return;
  std::atomic<uint8_t>* state = instance->ids.Find(h.seq);
  if (state == nullptr) return;
  // Cut copies may arrive after another copy (a relay duplicate) settled the id.
  if (truncate) instance->cut_copies.insert(h.seq);
  uint8_t s = state->load(std::memory_order_acquire);
  while ((s & kStateMask) == kInFlight) {
    if (state->compare_exchange_weak(
            s, static_cast<uint8_t>((s & ~kStateMask) | (truncate ? kTruncated : kDropped)),
            std::memory_order_acq_rel)) {
      Release(instance, QueueCost(h.length));
      Add(truncate ? counters_.fault_truncated : counters_.fault_dropped);
      return;
    }
  }
}

// ---- Chaos: path events, reopen, retire
// ----------------------------------------------------------

void UdpStress::SetPath(bool up) {
  MutexLock lock(&path_mu_);
  path_epoch_.fetch_add(1, std::memory_order_acq_rel);
  Add(counters_.path_events);
  if (!up) {
    path_down_.store(true, std::memory_order_release);
    for (auto& relay : relays_) relay->SetPathUp(false);
    must_leave_waiting_.clear();
    for (Instance* instance : live_) {
      if (!instance->closing.load(std::memory_order_acquire)) {
        instance->flow->OnPathEvent(PathEvent::kPathLost);
      }
    }
  } else {
    for (auto& relay : relays_) relay->SetPathUp(true);
    const absl::Time by = absl::Now() + options_.waiting_deadline;
    for (Instance* instance : live_) {
      if (instance->closing.load(std::memory_order_acquire)) continue;
      instance->flow->OnPathEvent(PathEvent::kPathBack);
      must_leave_waiting_[instance] = by;
    }
    path_down_.store(false, std::memory_order_release);
  }
  path_epoch_.fetch_add(1, std::memory_order_acq_rel);
}

void UdpStress::CheckWaiting(absl::Time now) {
  MutexLock lock(&path_mu_);
  for (auto it = must_leave_waiting_.begin(); it != must_leave_waiting_.end();) {
    Instance* instance = it->first;
    if (instance->closing.load(std::memory_order_acquire) ||
        instance->flow->state() != FlowState::kWaiting) {
      it = must_leave_waiting_.erase(it);
      continue;
    }
    if (now > it->second) {
      ReportViolation("stuck_waiting",
                      absl::StrFormat("flow '%s' (instance %d) is still \"waiting\" %s after the "
                                      "path came back",
                                      options_.flow, instance->id,
                                      absl::FormatDuration(options_.waiting_deadline)));
      it = must_leave_waiting_.erase(it);
      continue;
    }
    ++it;
  }
}

void UdpStress::Reopen(int slot, bool graceful) {
  absl::StatusOr<Instance*> fresh = OpenInstance(slot);
  if (!fresh.ok()) {
    ReportViolation("open_failed", absl::StrFormat("reopening flow '%s' failed: %s", options_.flow,
                                                   fresh.status().ToString()));
    return;
  }
  Instance* old;
  {
    MutexLock lock(&slots_[slot]->mu);
    old = slots_[slot]->current;
    slots_[slot]->current = *fresh;
  }
  Add(counters_.reopens);
  if (old != nullptr) Retire(old, graceful);
}

void UdpStress::Retire(Instance* instance, bool graceful) {
  instance->retire_seq = instance->next_seq.load(std::memory_order_acquire);
  instance->graceful = graceful;
  instance->retired_at = absl::Now();
  instance->retired.store(true, std::memory_order_release);
  if (graceful) {
    retiring_.push_back(instance);
  } else {
    CloseAndFinalize(instance);  // mid-traffic: reads and writes may be in flight right now
  }
}

void UdpStress::CloseAndFinalize(Instance* instance) {
  instance->closing.store(true, std::memory_order_release);
  SchedulePoint("udp_stress.close");
  instance->flow->Close();
  if (instance->reader.joinable()) instance->reader.join();
  while (instance->users.load(std::memory_order_acquire) > 0) {
    absl::SleepFor(absl::Microseconds(100));
  }
  Finalize(instance);
}

void UdpStress::Finalize(Instance* instance) {
  uint64_t lost = 0;
  uint64_t lost_while_down = 0;
  uint64_t abandoned = 0;
  uint64_t accepted = 0;
  std::map<std::string, uint64_t> lost_by_encoding;
  std::vector<uint32_t> sample;
  const uint32_t end =
      std::min(instance->next_seq.load(std::memory_order_acquire), kMaxIdsPerInstance);
  {
    MutexLock lock(&instance->hook_mu);
    for (uint32_t seq = 0; seq < end; ++seq) {
      std::atomic<uint8_t>* state = instance->ids.Find(seq);
      if (state == nullptr) {
        seq |= kChunkIds - 1;  // a chunk never used (ids past a full instance)
        continue;
      }
      const uint8_t s = state->load(std::memory_order_acquire);
      const uint8_t current = s & kStateMask;
      if (current != kFree && current != kRejected) ++accepted;
      if (current != kInFlight) continue;
      if (instance->graceful && seq < instance->retire_seq) {
        state->store(static_cast<uint8_t>((s & ~kStateMask) | kLost), std::memory_order_release);
        ++lost;
        if (s & kPathDownFlag) ++lost_while_down;
        ++lost_by_encoding[EncodingName(EncodingOf(s))];
        if (sample.size() < 5) sample.push_back(seq);
      } else {
        state->store(static_cast<uint8_t>((s & ~kStateMask) | kAbandoned),
                     std::memory_order_release);
        ++abandoned;
      }
    }
    inflight_cost_.fetch_sub(instance->inflight_cost.exchange(0), std::memory_order_relaxed);
    instance->inflight.store(0, std::memory_order_relaxed);
    instance->finalized = true;
    instance->ids.Release();
  }
  {
    MutexLock lock(&path_mu_);
    live_.erase(std::remove(live_.begin(), live_.end(), instance), live_.end());
    must_leave_waiting_.erase(instance);
  }
  instance->flow.reset();
  Add(counters_.lost, lost);
  Add(counters_.abandoned, abandoned);
  if (lost > 0) {
    std::vector<std::string> encodings;
    for (const auto& [name, count] : lost_by_encoding) {
      encodings.push_back(absl::StrCat(name, " x", count));
    }
    std::vector<std::string> ids;
    for (uint32_t seq : sample) ids.push_back(absl::StrCat(instance->id, ":", seq));
    ReportViolation(
        "silent_loss",
        absl::StrFormat("flow '%s' (instance %d): %d of %d accepted datagrams never came back "
                        "within the %s drain and no relay fault accounts for them; %d of them "
                        "were accepted while the path was down (the flow should have rejected or "
                        "queued them visibly); endpoints: %s; first ids: %s",
                        options_.flow, instance->id, lost, accepted,
                        absl::FormatDuration(options_.drain), lost_while_down,
                        absl::StrJoin(encodings, ", "), absl::StrJoin(ids, ", ")));
  }
}

void UdpStress::ChaosLoop() {
  std::mt19937_64 rng(DeriveSeed(options_.seed, "chaos"));
  const absl::Duration tick = absl::Milliseconds(5);
  absl::Time next_path_event = options_.path_events > absl::ZeroDuration()
                                   ? start_ + options_.path_events
                                   : absl::InfiniteFuture();
  auto reopen_gap = [&] { return absl::Milliseconds(150 + static_cast<int64_t>(rng() % 750)); };
  absl::Time next_reopen = options_.reopen ? start_ + reopen_gap() : absl::InfiniteFuture();
  bool path_up = true;
  int reopens = 0;
  while (!stopping_.load(std::memory_order_acquire)) {
    absl::SleepFor(tick);
    const absl::Time now = absl::Now();
    if (now >= next_path_event) {
      path_up = !path_up;
      SetPath(path_up);
      next_path_event = now + options_.path_events;
    }
    CheckWaiting(now);
    if (now >= next_reopen && reopens < max_reopens_) {
      ++reopens;
      Reopen(static_cast<int>(rng() % slots_.size()), /*graceful=*/rng() % 10 < 7);
      next_reopen = now + reopen_gap();
    }
    for (size_t s = 0; s < slots_.size() && reopens < max_reopens_; ++s) {
      Instance* current;
      {
        MutexLock lock(&slots_[s]->mu);
        current = slots_[s]->current;
      }
      if (current != nullptr && current->full.load(std::memory_order_relaxed)) {
        ++reopens;
        Reopen(static_cast<int>(s), /*graceful=*/true);
      }
    }
    for (auto it = retiring_.begin(); it != retiring_.end();) {
      Instance* instance = *it;
      if (instance->inflight.load(std::memory_order_acquire) <= 0 ||
          now - instance->retired_at > options_.drain) {
        CloseAndFinalize(instance);
        it = retiring_.erase(it);
      } else {
        ++it;
      }
    }
  }
  if (!path_up) SetPath(true);
}

// ---- Flow source: sleep/wake while flows open and close (story 4) -----------------------------

void UdpStress::OpenSourcePeer(absl::Time now) {
  std::vector<const Endpoint*> choices;
  for (const Endpoint& e : source_endpoints_) {
    if ((e.family() == AddressFamily::kIPv4 && options_.family != FamilyChoice::kIPv6) ||
        (e.family() == AddressFamily::kIPv6 && options_.family != FamilyChoice::kIPv4)) {
      choices.push_back(&e);
    }
  }
  if (choices.empty()) return;
  const Endpoint& to = *choices[next_peer_ % choices.size()];
  absl::StatusOr<internal::UniqueFd> socket = internal::BindUdp(to.family(), 0);
  if (!socket.ok()) return;
  absl::StatusOr<Endpoint> local = internal::LocalEndpoint(socket->get());
  absl::StatusOr<SocketAddress> address = to.ToSockaddr();
  if (!local.ok() || !address.ok()) return;
  auto peer = std::make_unique<SourcePeer>();
  peer->number = next_peer_++;
  peer->key = local->ToString();
  peer->opened = now;
  const std::string hello = absl::StrCat("NRSRC ", run_tag_, " ", peer->number);
  if (::sendto(socket->get(), hello.data(), hello.size(), 0, address->get(), address->length) < 0) {
    return;
  }
  peer->socket = std::move(*socket);
  Add(counters_.peers_opened);
  peers_.push_back(std::move(peer));
}

void UdpStress::SourceTick(absl::Time now, bool opening) {
  if (!source_asleep_.load(std::memory_order_relaxed) &&
      last_source_tick_ != absl::InfinitePast()) {
    for (auto& peer : peers_) {
      if (!peer->delivered) peer->awake_waited += now - last_source_tick_;
    }
  }
  last_source_tick_ = now;
  std::deque<std::pair<std::unique_ptr<Flow>, Endpoint>> handed;
  {
    MutexLock lock(&source_mu_);
    handed.swap(handed_);
  }
  for (auto& [flow, endpoint] : handed) {
    const std::string key = endpoint.ToString();
    SourcePeer* match = nullptr;
    for (auto& peer : peers_) {
      if (peer->key == key && !peer->delivered) match = peer.get();
    }
    if (match == nullptr) {
      flow->Close();  // a peer we no longer track (closed meanwhile)
      continue;
    }
    match->delivered = true;
    match->flow = std::move(flow);
    match->close_at = now + absl::Milliseconds(50 + static_cast<int64_t>(next_peer_ * 37 % 300));
    Add(counters_.peers_delivered);
  }
  for (auto& peer : peers_) {
    // The handed-out flow: read the hello, echo it back to the endpoint as read.
    if (peer->flow != nullptr && !peer->hello_read) {
      absl::StatusOr<std::vector<Datagram>> read = peer->flow->Read(4, absl::ZeroDuration());
      if (read.ok() && !read->empty()) {
        peer->hello_read = true;
        std::vector<Datagram> echo;
        echo.push_back({(*read)[0].endpoint, (*read)[0].payload, false});
        const std::vector<WriteResult> results = peer->flow->Write(echo);
        if (!results.empty() && results[0].rejected()) {
          const Judgement j = Judge(echo[0], results[0], /*excusable=*/false);
          if (j.kind != Judgement::kTrueLimit && j.kind != Judgement::kExcused) {
            Add(counters_.wrongly_rejected);
            ReportViolation(
                "wrongly_rejected",
                absl::StrFormat("flow source of '%s': a handed-out flow rejected "
                                "the %d-byte echo to %s (as read) with \"%s\": %s",
                                options_.flow, echo[0].payload.size(), echo[0].endpoint.ToString(),
                                results[0].error.message(), j.explanation));
          }
        } else {
          peer->echo_expected = true;
          peer->echo_deadline = now + options_.drain;
        }
      }
    }
    if (peer->echo_expected && !peer->echo_received && peer->socket.valid()) {
      char buffer[256];
      if (::recv(peer->socket.get(), buffer, sizeof(buffer), MSG_DONTWAIT) > 0) {
        peer->echo_received = true;
        Add(counters_.source_echoes);
      }
    }
  }
  CheckSourcePeers(now);
  // Close flows (and their peers) mid-traffic.
  for (auto it = peers_.begin(); it != peers_.end();) {
    SourcePeer& peer = **it;
    const bool echo_settled = !peer.echo_expected || peer.echo_received;
    if (peer.delivered && now >= peer.close_at && (echo_settled || now > peer.echo_deadline)) {
      SchedulePoint("udp_stress.source_close");
      if (peer.flow != nullptr) peer.flow->Close();
      peer.flow.reset();
      it = peers_.erase(it);
    } else {
      ++it;
    }
  }
  if (opening && peers_.size() < 48) OpenSourcePeer(now);
}

void UdpStress::CheckSourcePeers(absl::Time now) {
  for (auto& peer : peers_) {
    if (!peer->delivered && !peer->reported && peer->awake_waited > options_.wake_deadline) {
      peer->reported = true;
      ReportViolation(
          "flow_not_delivered_after_wake",
          absl::StrFormat(
              "flow source of '%s': peer %d (%s) sent its first datagram %s ago and "
              "its flow has not reached the handler although the source has been "
              "awake for %s since (deadline %s; %d wakes so far, %d of %d peers "
              "handed out)",
              options_.flow, peer->number, peer->key,
              absl::FormatDuration(absl::Trunc(now - peer->opened, absl::Milliseconds(1))),
              absl::FormatDuration(absl::Trunc(peer->awake_waited, absl::Milliseconds(1))),
              absl::FormatDuration(options_.wake_deadline), Get(counters_.source_wakes),
              Get(counters_.peers_delivered), Get(counters_.peers_opened)));
    }
    if (peer->echo_expected && !peer->echo_received && !peer->reported &&
        now > peer->echo_deadline) {
      peer->reported = true;
      Add(counters_.lost);
      ReportViolation("silent_loss",
                      absl::StrFormat("flow source of '%s': the echo a handed-out flow accepted "
                                      "for peer %d (%s) never arrived within %s",
                                      options_.flow, peer->number, peer->key,
                                      absl::FormatDuration(options_.drain)));
    }
  }
}

void UdpStress::SourceLoop() {
  std::mt19937_64 rng(DeriveSeed(options_.seed, "source"));
  auto gap = [&](int low_ms, int high_ms) {
    return absl::Milliseconds(low_ms + static_cast<int64_t>(rng() % (high_ms - low_ms)));
  };
  absl::Time next_switch = absl::Now() + gap(50, 250);
  absl::Time next_open = absl::Now();
  while (!stopping_.load(std::memory_order_acquire)) {
    absl::SleepFor(absl::Milliseconds(5));
    const absl::Time now = absl::Now();
    if (now >= next_switch) {
      if (source_asleep_) {
        SchedulePoint("udp_stress.wake");
        source_->Wake();
        source_asleep_ = false;
        Add(counters_.source_wakes);
        next_switch = now + gap(50, 250);
      } else {
        SchedulePoint("udp_stress.sleep");
        source_->Sleep();
        source_asleep_ = true;
        Add(counters_.source_sleeps);
        next_switch = now + gap(20, 120);
      }
    }
    const bool open = now >= next_open;
    if (open) next_open = now + gap(5, 40);
    SourceTick(now, open);
  }
  // The end: wake the source, then give every peer its deadline.
  if (source_asleep_) {
    source_->Wake();
    source_asleep_ = false;
    Add(counters_.source_wakes);
  }
  const absl::Time until = absl::Now() + std::max(options_.wake_deadline, options_.drain);
  while (absl::Now() < until) {
    bool settled = true;
    for (auto& peer : peers_) {
      if (peer->reported) continue;
      if (!peer->delivered || (peer->echo_expected && !peer->echo_received) ||
          (peer->flow != nullptr && !peer->hello_read)) {
        settled = false;
      }
    }
    if (settled) break;
    absl::SleepFor(absl::Milliseconds(5));
    SourceTick(absl::Now(), /*opening=*/false);
  }
  CheckSourcePeers(absl::Now());
  source_->Stop();
  {
    MutexLock lock(&source_mu_);
    handed_.clear();
  }
  for (auto& peer : peers_) {
    if (peer->flow != nullptr) peer->flow->Close();
  }
  peers_.clear();
}

// ---- Status, run, teardown, report -------------------------------------------------------------

std::string UdpStress::StatusFragment() {
  uint64_t waiting = 0;
  {
    MutexLock lock(&path_mu_);
    for (Instance* instance : live_) {
      if (!instance->closing.load() && instance->flow->state() == FlowState::kWaiting) ++waiting;
    }
  }
  std::string fragment = absl::StrFormat(
      "sent %s deliv %s rej %s fault %s in-flight %sB | reopen %d path %s waiting %d",
      HumanCount(static_cast<double>(Get(counters_.accepted) + Get(counters_.queued))),
      HumanCount(static_cast<double>(Get(counters_.delivered))),
      HumanCount(static_cast<double>(Get(counters_.rejected))),
      HumanCount(
          static_cast<double>(Get(counters_.fault_dropped) + Get(counters_.fault_truncated))),
      HumanCount(static_cast<double>(std::max<int64_t>(0, inflight_cost_.load()))),
      Get(counters_.reopens), path_down_.load() ? "down" : "up", waiting);
  if (source_ != nullptr) {
    absl::StrAppendFormat(&fragment, " | src %d/%d %s", Get(counters_.peers_delivered),
                          Get(counters_.peers_opened), source_asleep_ ? "asleep" : "awake");
  }
  return fragment;
}

absl::StatusOr<UdpStressResult> UdpStress::Run() {
  const ScheduleOptions previous_schedule = CurrentSchedule();
  if (options_.perturb) {
    ConfigureSchedule(
        {.mode = ScheduleMode::kPerturb, .seed = DeriveSeed(options_.seed, "perturb")});
  }
  absl::Cleanup restore_schedule = [&] { ConfigureSchedule(previous_schedule); };
  traffic_end_ = absl::Now() + options_.duration;
  chaos_ = std::thread([this] { ChaosLoop(); });
  if (source_ != nullptr) source_thread_ = std::thread([this] { SourceLoop(); });

  DriveOptions drive;
  drive.duration = options_.duration;
  drive.threads = options_.threads;
  drive.rate = options_.rate > 0 ? options_.rate / op_batch_ : 0;
  drive.status_interval = options_.status_interval;
  drive.status_out = options_.status_out;
  drive.stop_on_violation = options_.stop_on_violation;
  ran_ = true;
  const DriveResult result = Drive(drive, *this, violations_);
  Teardown();

  UdpStressResult out;
  out.report = BuildReport(result, absl::Now() - start_);
  out.violations = violations_->total();
  const double seconds = std::max(1e-9, absl::ToDoubleSeconds(result.elapsed));
  const uint64_t sent = Get(counters_.accepted) + Get(counters_.queued);
  out.summary = {
      {"flow", options_.flow},
      {"seed", absl::StrCat(options_.seed)},
      {"duration", absl::StrFormat("%.2fs (%s)", seconds, result.stop_reason)},
      {"datagrams sent",
       absl::StrFormat("%d (%s/s, %s)", sent, HumanCount(static_cast<double>(sent) / seconds),
                       HumanCount(static_cast<double>(Get(counters_.bytes_sent))) + "B")},
      {"delivered back",
       absl::StrFormat("%d (+%d truncated, %d duplicates)", Get(counters_.delivered),
                       Get(counters_.delivered_truncated), Get(counters_.duplicates))},
      {"dropped by fault", absl::StrFormat("%d (+%d truncated)", Get(counters_.fault_dropped),
                                           Get(counters_.fault_truncated))},
      {"rejected",
       absl::StrFormat("%d: true limit %d (family max %d, path MTU %d), while waiting "
                       "%d, while closing %d",
                       Get(counters_.rejected),
                       Get(counters_.rejected_family_maximum) + Get(counters_.rejected_path_mtu) +
                           Get(counters_.rejected_buffer),
                       Get(counters_.rejected_family_maximum), Get(counters_.rejected_path_mtu),
                       Get(counters_.rejected_waiting), Get(counters_.rejected_closing))},
      {"wrongly rejected", absl::StrCat(Get(counters_.wrongly_rejected))},
      {"silent loss", absl::StrCat(Get(counters_.lost))},
      {"flows",
       absl::StrFormat("%d opened, %d reopened, %d path events", Get(counters_.flows_opened),
                       Get(counters_.reopens), Get(counters_.path_events))},
      {"round trip", absl::StrFormat("p50 %d us, p99 %d us, max %d us", latency_.Percentile(50),
                                     latency_.Percentile(99), latency_.max_us())},
  };
  if (registration_->source && options_.sleep_wake) {
    out.summary.push_back(
        {"flow source",
         absl::StrFormat("%d peers, %d handed out, %d sleeps, %d wakes",
                         Get(counters_.peers_opened), Get(counters_.peers_delivered),
                         Get(counters_.source_sleeps), Get(counters_.source_wakes))});
  } else if (options_.sleep_wake) {
    out.summary.push_back({"flow source", "none registered for this flow: sleep/wake skipped"});
  }
  return out;
}

void UdpStress::Teardown() {
  if (torn_down_) return;
  torn_down_ = true;
  stopping_.store(true, std::memory_order_release);
  if (chaos_.joinable()) chaos_.join();  // brings the path back up on its way out
  // A flow must leave "waiting" within the deadline of the last path-back event.
  for (const absl::Time until = absl::Now() + options_.waiting_deadline + absl::Milliseconds(50);
       absl::Now() < until; absl::SleepFor(absl::Milliseconds(5))) {
    CheckWaiting(absl::Now());
    MutexLock lock(&path_mu_);
    if (must_leave_waiting_.empty()) break;
  }
  if (source_thread_.joinable()) source_thread_.join();
  if (source_ != nullptr) source_->Stop();
  // Retire every current flow gracefully; what does not come back within the drain is lost.
  for (auto& slot : slots_) {
    Instance* instance;
    {
      MutexLock lock(&slot->mu);
      instance = slot->current;
      slot->current = nullptr;
    }
    if (instance != nullptr) Retire(instance, /*graceful=*/true);
  }
  const absl::Time deadline = absl::Now() + options_.drain;
  while (absl::Now() < deadline) {
    bool drained = true;
    for (Instance* instance : retiring_) {
      if (instance->inflight.load(std::memory_order_acquire) > 0) drained = false;
    }
    if (drained) break;
    absl::SleepFor(absl::Milliseconds(2));
  }
  CheckWaiting(absl::Now());
  for (Instance* instance : retiring_) CloseAndFinalize(instance);
  retiring_.clear();
  for (auto& relay : relays_) relay->Stop();
  if (echo_ != nullptr) echo_->Stop();
  if (upstream_ != nullptr) upstream_->Stop();
  source_.reset();
  // Story 3: every flow object must be gone now.
  if (ran_) {
    for (const auto& [type, change] : LiveObjectsChangedSince(live_baseline_)) {
      if (!absl::StartsWith(type, "udp.") || change <= 0) continue;
      ReportViolation("leak", absl::StrFormat("%d %s object(s) still alive after every flow of "
                                              "'%s' was closed and released",
                                              change, type, options_.flow));
    }
  }
}

nlohmann::json UdpStress::BuildReport(const DriveResult& drive, absl::Duration total) const {
  const double seconds = std::max(1e-9, absl::ToDoubleSeconds(drive.elapsed));
  const uint64_t sent = Get(counters_.accepted) + Get(counters_.queued);
  nlohmann::json seeds = nlohmann::json::object();
  for (const char* name : {"sizes", "bounce", "chaos", "source", "faults", "perturb"}) {
    seeds[name] = DeriveSeed(options_.seed, name);
  }
  nlohmann::json relay = nlohmann::json::array();
  for (const auto& r : relays_) {
    for (RelayDirection direction : {RelayDirection::kToPeer, RelayDirection::kToClient}) {
      const RelayCounters c = r->counters(direction);
      relay.push_back({{"relay", r->endpoint().ToString()},
                       {"direction", std::string(RelayDirectionName(direction))},
                       {"received", c.received},
                       {"delivered", c.delivered},
                       {"dropped_by_fault", c.dropped_by_fault},
                       {"dropped_random", c.dropped_random},
                       {"dropped_mtu", c.dropped_mtu},
                       {"dropped_path_down", c.dropped_path_down},
                       {"send_errors", c.send_errors},
                       {"duplicates", c.duplicates},
                       {"truncated", c.truncated}});
    }
  }
  nlohmann::json counts = nlohmann::json::object();
  for (const auto& [kind, count] : violations_->CountsByKind()) counts[kind] = count;
  return {
      {"command", "udp"},
      {"flow", options_.flow},
      {"seed", options_.seed},
      {"seeds", seeds},
      {"args", UdpStressArgs(options_)},
      {"stop_reason", drive.stop_reason},
      {"duration_s", seconds},
      {"total_s", absl::ToDoubleSeconds(total)},
      {"datagrams_written", Get(counters_.written)},
      {"datagrams_sent", sent},
      {"datagrams_queued", Get(counters_.queued)},
      {"bytes_sent", Get(counters_.bytes_sent)},
      {"datagrams_delivered", Get(counters_.delivered)},
      {"datagrams_delivered_truncated", Get(counters_.delivered_truncated)},
      {"duplicates_delivered", Get(counters_.duplicates)},
      {"datagrams_dropped_by_fault", Get(counters_.fault_dropped) + Get(counters_.fault_truncated)},
      {"datagrams_truncated_by_fault", Get(counters_.fault_truncated)},
      {"datagrams_rejected", Get(counters_.rejected)},
      {"rejected_true_limit",
       {{"family_maximum", Get(counters_.rejected_family_maximum)},
        {"path_mtu_dont_fragment", Get(counters_.rejected_path_mtu)},
        {"buffer", Get(counters_.rejected_buffer)}}},
      {"rejected_while_waiting", Get(counters_.rejected_waiting)},
      {"rejected_while_closing", Get(counters_.rejected_closing)},
      {"wrongly_rejected", Get(counters_.wrongly_rejected)},
      {"wrong_limit", Get(counters_.wrong_limit)},
      {"unnamed_limit", Get(counters_.unnamed_limit)},
      {"silent_loss", Get(counters_.lost)},
      {"abandoned_at_close", Get(counters_.abandoned)},
      {"strays", Get(counters_.strays)},
      {"bounces", Get(counters_.bounces)},
      {"budget_stalls", Get(counters_.budget_stalls)},
      {"datagrams_per_sec", static_cast<double>(sent) / seconds},
      {"round_trips_per_sec", static_cast<double>(Get(counters_.delivered)) / seconds},
      {"latency_us", latency_.ToJson()},
      {"late_starts", drive.late_starts},
      {"flows_opened", Get(counters_.flows_opened)},
      {"reopens", Get(counters_.reopens)},
      {"path_events", Get(counters_.path_events)},
      {"path", judge_path_.ToString()},
      {"relay_used", use_relay_},
      {"relay", relay},
      {"echo", echo_ == nullptr ? nlohmann::json(nullptr)
                                : nlohmann::json{{"received", echo_->received()},
                                                 {"echoed", echo_->echoed()},
                                                 {"errors", echo_->echo_errors()}}},
      {"source",
       {{"peers_opened", Get(counters_.peers_opened)},
        {"peers_handed_out", Get(counters_.peers_delivered)},
        {"sleeps", Get(counters_.source_sleeps)},
        {"wakes", Get(counters_.source_wakes)},
        {"echoes", Get(counters_.source_echoes)}}},
      {"violation_counts", counts},
      {"violations", violations_->ToJson()},
  };
}

}  // namespace

absl::StatusOr<UdpStressResult> RunUdpStress(const UdpStressOptions& options,
                                             ViolationLog* violations) {
  auto stress = std::make_unique<UdpStress>(options, violations);
  if (absl::Status status = stress->Setup(); !status.ok()) return status;
  return stress->Run();
}

std::vector<std::string> UdpStressArgs(const UdpStressOptions& options) {
  auto join = [](const std::vector<Endpoint>& endpoints) {
    std::vector<std::string> texts;
    for (const Endpoint& e : endpoints) texts.push_back(e.ToString());
    return absl::StrJoin(texts, ",");
  };
  auto flag = [](absl::string_view name, bool value) {
    return absl::StrCat("--", name, "=", value ? "true" : "false");
  };
  std::vector<std::string> args = {
      absl::StrCat("--flow=", options.flow),
      absl::StrCat("--seed=", options.seed),
      absl::StrCat("--duration=", absl::FormatDuration(options.duration)),
      absl::StrCat("--threads=", options.threads),
      absl::StrCat("--flows=", options.flows),
      absl::StrCat("--rate=", options.rate),
      absl::StrCat("--batch=", options.batch),
      flag("perturb", options.perturb),
      absl::StrCat("--faults=", options.faults),
      absl::StrCat("--path_events=", absl::FormatDuration(options.path_events)),
      flag("sleep_wake", options.sleep_wake),
      flag("reopen", options.reopen),
      absl::StrCat("--mtu=", options.mtu),
      flag("dont_fragment", options.dont_fragment),
      absl::StrCat("--family=", FamilyChoiceName(options.family)),
      absl::StrCat("--size=", options.size),
      absl::StrCat("--bounce=", options.bounce),
      absl::StrCat("--drain=", absl::FormatDuration(options.drain)),
      absl::StrCat("--wake_deadline=", absl::FormatDuration(options.wake_deadline)),
      absl::StrCat("--waiting_deadline=", absl::FormatDuration(options.waiting_deadline)),
      flag("stop_on_violation", options.stop_on_violation),
  };
  if (!options.peers.empty()) args.push_back(absl::StrCat("--peer=", join(options.peers)));
  if (!options.bind.empty()) args.push_back(absl::StrCat("--bind=", join(options.bind)));
  if (!options.scope_interface.empty()) {
    args.push_back(absl::StrCat("--scope_interface=", options.scope_interface));
  }
  return args;
}

nlohmann::json UdpStressRecipe(const UdpStressOptions& options) {
  nlohmann::json seeds = nlohmann::json::object();
  for (const char* name : {"sizes", "bounce", "chaos", "source", "faults", "perturb"}) {
    seeds[name] = DeriveSeed(options.seed, name);
  }
  return {{"command", "udp"},
          {"args", UdpStressArgs(options)},
          {"seed", options.seed},
          {"perturb_seed", options.perturb ? nlohmann::json(DeriveSeed(options.seed, "perturb"))
                                           : nlohmann::json(nullptr)},
          {"seeds", seeds}};
}

}  // namespace netrig
