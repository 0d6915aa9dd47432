#include <algorithm>
#include <atomic>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "harness/drive/seeds.h"
#include "harness/sched/clock.h"
#include "harness/sched/schedule_point.h"
#include "harness/workloads/udp/udp_stress_internal.h"

namespace netrig::internal::udp_stress {

// ---- Chaos: path events, reopen, retire -----------------------------------------------------

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
  instance->retired_at = netrig::Now();
  instance->drain_inflight_seen = -1;
  instance->drain_progress_at = instance->retired_at;
  instance->retired.store(true, std::memory_order_release);
  if (graceful) {
    retiring_.push_back(instance);
  } else {
    CloseAndFinalize(instance);  // mid-traffic: reads and writes may be in flight right now
  }
}

bool UdpStress::DrainOver(Instance* instance, absl::Time now) {
  const int64_t inflight = instance->inflight.load(std::memory_order_acquire);
  if (inflight <= 0) return true;
  if (inflight != instance->drain_inflight_seen) {
    instance->drain_inflight_seen = inflight;
    instance->drain_progress_at = now;
  }
  return now - instance->drain_progress_at > options_.drain ||
         now - instance->retired_at > 5 * options_.drain;
}

void UdpStress::CloseAndFinalize(Instance* instance) {
  instance->closing.store(true, std::memory_order_release);
  SchedulePoint("udp_stress.close");
  instance->flow->Close();
  if (instance->reader.joinable()) instance->reader.join();
  while (instance->users.load(std::memory_order_acquire) > 0) {
    netrig::SleepFor(absl::Microseconds(100));
  }
  Finalize(instance);
}

void UdpStress::Finalize(Instance* instance) {
  const DeliveryLedger::Closing closing = ledger_.Close(instance);
  path_->RemoveLive(instance);
  instance->flow.reset();
  Add(counters_.lost, closing.lost);
  Add(counters_.abandoned, closing.abandoned);
  if (closing.lost > 0) {
    const HarnessLosses harness = HarnessLossesNow();
    // A --peer netrig does not own may drop what it cannot keep up with. Its socket's drops,
    // where this namespace can read them, excuse as many losses; where they cannot be read, no
    // loss can be called the flow's.
    if (harness.external_peers &&
        (!harness.external_peer_drops.has_value() || Get(counters_.lost) <= harness.total())) {
      Add(counters_.lost_not_blamed, closing.lost);
      return;
    }
    // Said, not subtracted: which datagrams the harness lost is unknown.
    std::string harness_note;
    if (harness.total() > 0) {
      harness_note = absl::StrFormat(
          "; the harness or the peer lost %d datagram(s) so far in this run (kernel drops: %s), "
          "so up to that many of these may not be the flow's: rerun with a lower --rate",
          harness.total(), harness.Describe());
    }
    std::vector<std::string> encodings;
    for (const auto& [name, count] : closing.lost_by_encoding) {
      encodings.push_back(absl::StrCat(name, " x", count));
    }
    std::vector<std::string> ids;
    for (uint32_t seq : closing.first_lost) ids.push_back(absl::StrCat(instance->id, ":", seq));
    ReportViolation(
        "silent_loss",
        absl::StrFormat("flow '%s' (instance %d): %d of %d accepted datagrams never came back "
                        "(the drain waited until none had come back for %s) and no relay fault "
                        "accounts for them; %d of them "
                        "were accepted while the path was down (the flow should have rejected or "
                        "queued them visibly); endpoints: %s; first ids: %s%s",
                        options_.flow, instance->id, closing.lost, closing.accepted,
                        absl::FormatDuration(options_.drain), closing.lost_while_down,
                        absl::StrJoin(encodings, ", "), absl::StrJoin(ids, ", "), harness_note));
  }
}

void UdpStress::ChaosLoop() {
  std::mt19937_64 rng(DeriveSeed(seed_, "chaos"));
  const absl::Duration tick = absl::Milliseconds(5);
  const bool window = options_.no_path_at_start > absl::ZeroDuration();
  absl::Time next_path_event = window ? path_appears_
                               : options_.path_events > absl::ZeroDuration()
                                   ? start_ + options_.path_events
                                   : absl::InfiniteFuture();
  auto reopen_gap = [&] { return absl::Milliseconds(150 + static_cast<int64_t>(rng() % 750)); };
  absl::Time next_reopen = options_.reopen ? start_ + reopen_gap() : absl::InfiniteFuture();
  bool path_up = !window;
  int reopens = 0;
  while (!stopping_.load(std::memory_order_acquire)) {
    // During a --no_path_at_start window only reopens and drains are due: a coarser tick.
    const absl::Duration to_path = path_appears_ - netrig::Now();
    netrig::SleepFor(!path_up && to_path > tick ? std::min(10 * tick, to_path) : tick);
    const absl::Time now = netrig::Now();
    if (now >= next_path_event) {
      path_up = !path_up;
      path_->Set(path_up);
      next_path_event = options_.path_events > absl::ZeroDuration() ? now + options_.path_events
                                                                    : absl::InfiniteFuture();
    }
    path_->CheckWaiting(now);
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
      if (DrainOver(instance, now)) {
        CloseAndFinalize(instance);
        it = retiring_.erase(it);
      } else {
        ++it;
      }
    }
  }
  if (!path_up) path_->Set(true);
}

}  // namespace netrig::internal::udp_stress
