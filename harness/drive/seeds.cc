#include "harness/drive/seeds.h"

#include <unistd.h>

#include "absl/time/clock.h"

namespace netrig {

uint64_t FreshSeed() {
  return MixSeed(static_cast<uint64_t>(absl::GetCurrentTimeNanos()) ^
                 (static_cast<uint64_t>(getpid()) << 32));
}

}  // namespace netrig
