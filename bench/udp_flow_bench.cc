// Datagrams per second through the `socket` flow against a bare sendmmsg/recvmmsg loop, in the
// same binary and run, on loopback.
//
// Both sides do the same work per iteration on one thread: send a batch of 32 datagrams from one
// UDP socket to another on 127.0.0.1, then receive all 32. The flow does it through the Flow
// interface (Write with per-datagram endpoints and results; Read returning owned payloads tagged
// with their source endpoint), the bare loop with prebuilt mmsghdr arrays and one reusable
// buffer. items_per_second counts datagrams delivered.
//
//   build/default/bench/udp_flow_bench --benchmark_repetitions=3 --benchmark_min_time=1
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "harness/net/address_family.h"
#include "harness/net/endpoint.h"
#include "harness/udp/flow.h"
#include "harness/udp/socket_util.h"

namespace {

constexpr int kBatch = 32;

void BM_SocketFlow(benchmark::State& state) {
  const size_t size = static_cast<size_t>(state.range(0));
  netrig::FlowOptions options;
  options.batch = kBatch;
  absl::StatusOr<std::unique_ptr<netrig::Flow>> writer = netrig::CreateFlow("socket", options);
  absl::StatusOr<std::unique_ptr<netrig::Flow>> reader = netrig::CreateFlow("socket", options);
  if (!writer.ok() || !reader.ok()) {
    state.SkipWithError("cannot open the socket flows");
    return;
  }
  netrig::Endpoint destination = (*reader)->LocalEndpoints().front();  // 127.0.0.1:PORT
  std::vector<netrig::Datagram> batch(kBatch);
  for (netrig::Datagram& d : batch) d = {destination, std::string(size, 'x')};
  uint64_t delivered = 0;
  for (auto _ : state) {
    std::vector<netrig::WriteResult> results = (*writer)->Write(batch);
    benchmark::DoNotOptimize(results.data());
    int received = 0;
    while (received < kBatch) {
      absl::StatusOr<std::vector<netrig::Datagram>> read =
          (*reader)->Read(kBatch - received, absl::Seconds(1));
      if (!read.ok() || read->empty()) {
        state.SkipWithError("a datagram was lost on loopback");
        return;
      }
      received += static_cast<int>(read->size());
    }
    delivered += static_cast<uint64_t>(received);
  }
  state.SetItemsProcessed(static_cast<int64_t>(delivered));
  state.SetBytesProcessed(static_cast<int64_t>(delivered * size));
}

void BM_BareSendmmsgRecvmmsg(benchmark::State& state) {
  const size_t size = static_cast<size_t>(state.range(0));
  absl::StatusOr<netrig::internal::UniqueFd> sender =
      netrig::internal::BindUdp(netrig::AddressFamily::kIPv4, 0);
  absl::StatusOr<netrig::internal::UniqueFd> receiver =
      netrig::internal::BindUdp(netrig::AddressFamily::kIPv4, 0);
  if (!sender.ok() || !receiver.ok()) {
    state.SkipWithError("cannot bind loopback sockets");
    return;
  }
  const int buffer_bytes = 4 << 20;  // as the socket flow sets
  for (int fd : {sender->get(), receiver->get()}) {
    ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buffer_bytes, sizeof(buffer_bytes));
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer_bytes, sizeof(buffer_bytes));
  }
  absl::StatusOr<netrig::Endpoint> local = netrig::internal::LocalEndpoint(receiver->get());
  absl::StatusOr<netrig::SocketAddress> to = local->ToSockaddr();
  std::string payload(size, 'x');
  iovec send_iov{payload.data(), size};
  mmsghdr send_headers[kBatch] = {};
  for (mmsghdr& h : send_headers) {
    h.msg_hdr.msg_name = to->get();
    h.msg_hdr.msg_namelen = to->length;
    h.msg_hdr.msg_iov = &send_iov;
    h.msg_hdr.msg_iovlen = 1;
  }
  std::vector<char> receive_buffer(kBatch * 65536);
  iovec receive_iov[kBatch];
  sockaddr_storage names[kBatch];
  mmsghdr receive_headers[kBatch];
  uint64_t delivered = 0;
  for (auto _ : state) {
    int sent = 0;
    while (sent < kBatch) {
      const int n = ::sendmmsg(sender->get(), send_headers + sent, kBatch - sent, 0);
      if (n < 0 && errno != EINTR) {
        state.SkipWithError("sendmmsg failed");
        return;
      }
      if (n > 0) sent += n;
    }
    int received = 0;
    while (received < kBatch) {
      pollfd fd{receiver->get(), POLLIN, 0};
      if (::poll(&fd, 1, 1000) <= 0) {
        state.SkipWithError("a datagram was lost on loopback");
        return;
      }
      const int want = kBatch - received;
      for (int i = 0; i < want; ++i) {
        receive_iov[i] = {receive_buffer.data() + i * 65536, 65536};
        receive_headers[i].msg_hdr = {};
        receive_headers[i].msg_hdr.msg_name = &names[i];
        receive_headers[i].msg_hdr.msg_namelen = sizeof(names[i]);
        receive_headers[i].msg_hdr.msg_iov = &receive_iov[i];
        receive_headers[i].msg_hdr.msg_iovlen = 1;
      }
      const int n = ::recvmmsg(receiver->get(), receive_headers, want, MSG_DONTWAIT, nullptr);
      if (n > 0) received += n;
    }
    delivered += static_cast<uint64_t>(received);
  }
  state.SetItemsProcessed(static_cast<int64_t>(delivered));
  state.SetBytesProcessed(static_cast<int64_t>(delivered * size));
}

BENCHMARK(BM_SocketFlow)->Arg(100)->Arg(1400)->UseRealTime();
BENCHMARK(BM_BareSendmmsgRecvmmsg)->Arg(100)->Arg(1400)->UseRealTime();

}  // namespace
