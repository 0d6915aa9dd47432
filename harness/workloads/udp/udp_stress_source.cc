#include <sys/socket.h>

#include <algorithm>
#include <deque>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "harness/drive/seeds.h"
#include "harness/sched/schedule_point.h"
#include "harness/workloads/udp/udp_stress_internal.h"
#include "harness/sched/clock.h"

namespace netrig::internal::udp_stress {

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
  std::mt19937_64 rng(DeriveSeed(seed_, "source"));
  auto gap = [&](int low_ms, int high_ms) {
    return absl::Milliseconds(low_ms + static_cast<int64_t>(rng() % (high_ms - low_ms)));
  };
  absl::Time next_switch = netrig::Now() + gap(50, 250);
  absl::Time next_open = netrig::Now();
  while (!stopping_.load(std::memory_order_acquire)) {
    netrig::SleepFor(absl::Milliseconds(5));
    const absl::Time now = netrig::Now();
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
  const absl::Time until = netrig::Now() + std::max(options_.wake_deadline, options_.drain);
  while (netrig::Now() < until) {
    bool settled = true;
    for (auto& peer : peers_) {
      if (peer->reported) continue;
      if (!peer->delivered || (peer->echo_expected && !peer->echo_received) ||
          (peer->flow != nullptr && !peer->hello_read)) {
        settled = false;
      }
    }
    if (settled) break;
    netrig::SleepFor(absl::Milliseconds(5));
    SourceTick(netrig::Now(), /*opening=*/false);
  }
  CheckSourcePeers(netrig::Now());
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

}  // namespace netrig::internal::udp_stress
