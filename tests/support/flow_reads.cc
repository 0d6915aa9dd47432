#include "tests/support/flow_reads.h"

#include <utility>

#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace netrig::testing {

std::vector<Datagram> ReadAtLeast(Flow& flow, size_t count) {
  std::vector<Datagram> all;
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (all.size() < count && absl::Now() < deadline) {
    absl::StatusOr<std::vector<Datagram>> got = flow.Read(64, absl::Milliseconds(200));
    if (!got.ok()) break;
    for (Datagram& d : *got) all.push_back(std::move(d));
  }
  return all;
}

}  // namespace netrig::testing
