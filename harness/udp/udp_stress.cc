#include "harness/udp/udp_stress.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "harness/check/live_objects.h"
#include "harness/drive/seeds.h"
#include "harness/sched/schedule_point.h"
#include "harness/udp/udp_stress_internal.h"

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

namespace internal::udp_stress {

void UdpStress::ReportViolation(absl::string_view kind, std::string message) {
  {
    // Past 200 of a kind the message adds nothing; the count still goes up.
    MutexLock lock(&reported_mu_);
    if (++reported_by_kind_[std::string(kind)] > 200) message = "(same as above)";
  }
  violations_->Report(kind, std::move(message));
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
  const HarnessLosses harness = HarnessLossesNow();
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
      {"harness losses", absl::StrFormat("%d (kernel drops: relay %d, echo peer %d; echo send "
                                         "errors %d)",
                                         harness.total(), harness.relay_kernel_drops,
                                         harness.echo_kernel_drops, harness.echo_send_errors)},
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
  while (true) {
    const absl::Time now = absl::Now();
    bool drained = true;
    for (Instance* instance : retiring_) {
      if (!DrainOver(instance, now)) drained = false;
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

UdpStress::HarnessLosses UdpStress::HarnessLossesNow() const {
  HarnessLosses losses;
  for (const auto& relay : relays_) {
    for (RelayDirection direction : {RelayDirection::kToPeer, RelayDirection::kToClient}) {
      losses.relay_kernel_drops += relay->counters(direction).dropped_by_kernel;
    }
  }
  if (echo_ != nullptr) {
    losses.echo_kernel_drops = echo_->kernel_drops();
    losses.echo_send_errors = echo_->echo_errors();
  }
  return losses;
}

nlohmann::json UdpStress::BuildReport(const DriveResult& drive, absl::Duration total) const {
  const double seconds = std::max(1e-9, absl::ToDoubleSeconds(drive.elapsed));
  const uint64_t sent = Get(counters_.accepted) + Get(counters_.queued);
  nlohmann::json seeds = nlohmann::json::object();
  for (const char* name : {"sizes", "bounce", "chaos", "source", "faults", "perturb"}) {
    seeds[name] = DeriveSeed(options_.seed, name);
  }
  const HarnessLosses harness = HarnessLossesNow();
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
                       {"truncated", c.truncated},
                       {"dropped_by_kernel", c.dropped_by_kernel}});
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
      {"harness_losses",
       {{"relay_kernel_drops", harness.relay_kernel_drops},
        {"echo_kernel_drops", harness.echo_kernel_drops},
        {"echo_send_errors", harness.echo_send_errors}}},
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

}  // namespace internal::udp_stress

absl::StatusOr<UdpStressResult> RunUdpStress(const UdpStressOptions& options,
                                             ViolationLog* violations) {
  auto stress = std::make_unique<internal::udp_stress::UdpStress>(options, violations);
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
