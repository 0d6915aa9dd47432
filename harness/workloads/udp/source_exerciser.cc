#include "harness/workloads/udp/source_exerciser.h"

#include <sys/socket.h>

#include <algorithm>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "harness/drive/seeds.h"
#include "harness/sched/clock.h"
#include "harness/sched/schedule_point.h"
#include "harness/udp/socket_util.h"
#include "harness/workloads/udp/udp_stress_internal.h"

namespace netrig::internal::udp_stress {

absl::StatusOr<std::unique_ptr<SourceExerciser>> SourceExerciser::Start(
    std::unique_ptr<FlowSource> source, Context context) {
  std::unique_ptr<SourceExerciser> exerciser(
      new SourceExerciser(std::move(source), std::move(context)));
  SourceExerciser* self = exerciser.get();
  absl::Status started =
      self->source_->Start([self](std::unique_ptr<Flow> flow, const Endpoint& peer) {
        SchedulePoint("udp_stress.handler");
        MutexLock lock(&self->handed_mu_);
        self->handed_.emplace_back(std::move(flow), peer);
      });
  if (!started.ok()) return started;
  return exerciser;
}

SourceExerciser::SourceExerciser(std::unique_ptr<FlowSource> source, Context context)
    : context_(std::move(context)),
      options_(*context_.options),
      source_(std::move(source)),
      endpoints_(source_->LocalEndpoints()) {}

void SourceExerciser::StartThread() {
  thread_ = Thread("udp.source", [this] { Loop(); });
}

void SourceExerciser::Stop() {
  if (stopped_) return;
  stopped_ = true;
  RequestStop();
  if (thread_.joinable()) thread_.join();
  source_->Stop();
}

void SourceExerciser::OpenPeer(absl::Time now) {
  std::vector<const Endpoint*> choices;
  for (const Endpoint& e : endpoints_) {
    if ((e.family() == AddressFamily::kIPv4 && options_.family != FamilyChoice::kIPv6) ||
        (e.family() == AddressFamily::kIPv6 && options_.family != FamilyChoice::kIPv4)) {
      choices.push_back(&e);
    }
  }
  if (choices.empty()) return;
  const Endpoint& to = *choices[next_peer_ % choices.size()];
  absl::StatusOr<UniqueFd> socket = BindUdp(to.family(), 0);
  if (!socket.ok()) return;
  absl::StatusOr<Endpoint> local = LocalEndpoint(socket->get());
  absl::StatusOr<SocketAddress> address = to.ToSockaddr();
  if (!local.ok() || !address.ok()) return;
  auto peer = std::make_unique<Peer>();
  peer->number = next_peer_++;
  peer->local = *local;
  peer->key = local->ToString();
  peer->opened = now;
  const std::string hello = absl::StrCat("NRSRC ", context_.run_tag, " ", peer->number);
  if (::sendto(socket->get(), hello.data(), hello.size(), 0, address->get(), address->length) < 0) {
    return;
  }
  peer->socket = std::move(*socket);
  Add(context_.counters->peers_opened);
  peers_.push_back(std::move(peer));
}

// The handed-out flow: read the hello, echo it back to the endpoint as read.
void SourceExerciser::EchoOnHandedOutFlow(Peer& peer, absl::Time now) {
  absl::StatusOr<std::vector<Datagram>> read = peer.flow->Read(4, absl::ZeroDuration());
  if (!read.ok() || read->empty()) return;
  peer.hello_read = true;
  std::vector<Datagram> echo;
  echo.push_back({(*read)[0].endpoint, (*read)[0].payload, false});
  const std::vector<WriteResult> results = peer.flow->Write(echo);
  if (!results.empty() && results[0].rejected()) {
    if (std::optional<std::string> why = context_.wrong_rejection(echo[0], results[0])) {
      Add(context_.counters->wrongly_rejected);
      ReportViolation(
          "wrongly_rejected",
          absl::StrFormat("flow source of '%s': a handed-out flow rejected "
                          "the %d-byte echo to %s (as read) with \"%s\": %s",
                          options_.flow, echo[0].payload.size(), echo[0].endpoint.ToString(),
                          results[0].error.message(), *why));
    }
    return;
  }
  peer.echo_expected = true;
  peer.echo_deadline = now + options_.drain;
}

void SourceExerciser::Tick(absl::Time now, bool opening) {
  if (!asleep() && last_tick_ != absl::InfinitePast()) {
    for (auto& peer : peers_) {
      if (!peer->delivered) peer->awake_waited += now - last_tick_;
    }
  }
  last_tick_ = now;
  std::deque<std::pair<std::unique_ptr<Flow>, Endpoint>> handed;
  {
    MutexLock lock(&handed_mu_);
    handed.swap(handed_);
  }
  for (auto& [flow, endpoint] : handed) {
    Peer* match = nullptr;
    for (auto& peer : peers_) {
      if (SameAddress(peer->local, endpoint) && !peer->delivered) match = peer.get();
    }
    if (match == nullptr) {
      flow->Close();  // a peer we no longer track (closed meanwhile)
      continue;
    }
    match->delivered = true;
    match->flow = std::move(flow);
    match->close_at = now + absl::Milliseconds(50 + static_cast<int64_t>(next_peer_ * 37 % 300));
    Add(context_.counters->peers_delivered);
  }
  for (auto& peer : peers_) {
    if (peer->flow != nullptr && !peer->hello_read) EchoOnHandedOutFlow(*peer, now);
    if (peer->echo_expected && !peer->echo_received && peer->socket.valid()) {
      char buffer[256];
      if (::recv(peer->socket.get(), buffer, sizeof(buffer), MSG_DONTWAIT) > 0) {
        peer->echo_received = true;
        Add(context_.counters->source_echoes);
      }
    }
  }
  CheckPeers(now);
  // Close flows (and their peers) mid-traffic.
  for (auto it = peers_.begin(); it != peers_.end();) {
    Peer& peer = **it;
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
  if (opening && peers_.size() < 48) OpenPeer(now);
}

void SourceExerciser::CheckPeers(absl::Time now) {
  const Counters& counters = *context_.counters;
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
              absl::FormatDuration(options_.wake_deadline), Get(counters.source_wakes),
              Get(counters.peers_delivered), Get(counters.peers_opened)));
    }
    if (peer->echo_expected && !peer->echo_received && !peer->reported &&
        now > peer->echo_deadline) {
      peer->reported = true;
      Add(context_.counters->lost);
      ReportViolation("silent_loss",
                      absl::StrFormat("flow source of '%s': the echo a handed-out flow accepted "
                                      "for peer %d (%s) never arrived within %s",
                                      options_.flow, peer->number, peer->key,
                                      absl::FormatDuration(options_.drain)));
    }
  }
}

void SourceExerciser::Loop() {
  std::mt19937_64 rng(DeriveSeed(context_.seed, "source"));
  auto gap = [&](int low_ms, int high_ms) {
    return absl::Milliseconds(low_ms + static_cast<int64_t>(rng() % (high_ms - low_ms)));
  };
  Counters& counters = *context_.counters;
  absl::Time next_switch = netrig::Now() + gap(50, 250);
  absl::Time next_open = netrig::Now();
  while (!stopping_.load(std::memory_order_acquire)) {
    netrig::SleepFor(absl::Milliseconds(5));
    const absl::Time now = netrig::Now();
    if (now >= next_switch) {
      if (asleep()) {
        SchedulePoint("udp_stress.wake");
        source_->Wake();
        asleep_.store(false, std::memory_order_relaxed);
        Add(counters.source_wakes);
        next_switch = now + gap(50, 250);
      } else {
        SchedulePoint("udp_stress.sleep");
        source_->Sleep();
        asleep_.store(true, std::memory_order_relaxed);
        Add(counters.source_sleeps);
        next_switch = now + gap(20, 120);
      }
    }
    const bool open = now >= next_open;
    if (open) next_open = now + gap(5, 40);
    Tick(now, open);
  }
  // The end: wake the source, then give every peer its deadline.
  if (asleep()) {
    source_->Wake();
    asleep_.store(false, std::memory_order_relaxed);
    Add(counters.source_wakes);
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
    Tick(netrig::Now(), /*opening=*/false);
  }
  CheckPeers(netrig::Now());
  source_->Stop();
  {
    MutexLock lock(&handed_mu_);
    handed_.clear();
  }
  for (auto& peer : peers_) {
    if (peer->flow != nullptr) peer->flow->Close();
  }
  peers_.clear();
}

}  // namespace netrig::internal::udp_stress
