#include "harness/workloads/udp/stress_datagram.h"

#include <cstring>

namespace netrig::internal::udp_stress {

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

void FillBody(std::string& payload, char fill) {
  if (payload.size() > kHeaderBytes) {
    std::memset(payload.data() + kHeaderBytes, fill, payload.size() - kHeaderBytes);
  }
}

bool BodyIntact(absl::string_view p, char fill) {
  if (p.size() <= kHeaderBytes) return true;
  return p[kHeaderBytes] == fill && p[(kHeaderBytes + p.size()) / 2] == fill &&
         p[p.size() - 1] == fill;
}

}  // namespace netrig::internal::udp_stress
