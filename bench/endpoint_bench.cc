// Endpoint parse and format over a mix of every text form, plus sockaddr conversion.
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "harness/net/endpoint.h"

namespace {

const std::vector<std::string>& Inputs() {
  static const auto* const inputs = new std::vector<std::string>{
      "example.com:443",
      "Sub.Example.COM:8443",
      "1.2.3.4:53",
      "[2001:db8::1]:443",
      "[fe80::1%lo]:5353",
      "fe80::7:afff:fea1:edb8%en5.54442",
      "[fe80:15::7:afff:fea1:edb8]:57395",
      "[fd6e:8a96:a57d::2]:57398",
      "[::ffff:1.2.3.4]:80",
      "IPv4#e5b4bb04:443",
  };
  return *inputs;
}

const std::vector<std::string>& BadInputs() {
  static const auto* const inputs = new std::vector<std::string>{
      "example.com:65536", "host.123:80", "[2001:db8::1]", "2001:db8::1:443", "1.2.3.4%eth0:80",
  };
  return *inputs;
}

std::vector<netrig::Endpoint> Parsed() {
  std::vector<netrig::Endpoint> endpoints;
  for (const auto& text : Inputs()) endpoints.push_back(*netrig::Endpoint::Parse(text));
  return endpoints;
}

void BM_ParseMix(benchmark::State& state) {
  const auto& inputs = Inputs();
  size_t i = 0;
  for (auto _ : state) {
    auto e = netrig::Endpoint::Parse(inputs[i++ % inputs.size()]);
    benchmark::DoNotOptimize(e);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ParseMix);

void BM_ParseErrors(benchmark::State& state) {
  const auto& inputs = BadInputs();
  size_t i = 0;
  for (auto _ : state) {
    auto e = netrig::Endpoint::Parse(inputs[i++ % inputs.size()]);
    benchmark::DoNotOptimize(e);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ParseErrors);

void BM_FormatMix(benchmark::State& state) {
  const auto endpoints = Parsed();
  size_t i = 0;
  for (auto _ : state) {
    std::string text = endpoints[i++ % endpoints.size()].ToString();
    benchmark::DoNotOptimize(text);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FormatMix);

void BM_SockaddrRoundTrip(benchmark::State& state) {
  std::vector<netrig::SocketAddress> addresses;
  for (const auto& e : Parsed()) {
    if (auto sa = e.ToSockaddr(); sa.ok()) addresses.push_back(*sa);
  }
  size_t i = 0;
  for (auto _ : state) {
    const auto& sa = addresses[i++ % addresses.size()];
    auto e = netrig::Endpoint::FromSockaddr(sa.get(), sa.length);
    auto back = e->ToSockaddr();
    benchmark::DoNotOptimize(back);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SockaddrRoundTrip);

}  // namespace
