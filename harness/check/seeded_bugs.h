// Every seeded bug netrig ships, for both halves, in one table: what it is, the failure story it
// mirrors (docs/field-notes.md), what must find it and in which preset. The flows and clients
// themselves live with their half (udp/bug_flows.cc, http/curl/buggy_clients.cc) and take their
// descriptions from here; the `bugs` tests run each one and expect exactly this detector, and a
// test holds the registries and this table to each other.
//
// Example:
//   for (const netrig::SeededBug& bug : netrig::SeededBugs()) {
//     if (bug.half == "udp") RunNetrigUdp({"--flow", bug.name}) ...
//   }
#ifndef NETRIG_HARNESS_CHECK_SEEDED_BUGS_H_
#define NETRIG_HARNESS_CHECK_SEEDED_BUGS_H_

#include <vector>

#include "absl/strings/string_view.h"

namespace netrig {

struct SeededBug {
  // "udp" (a flow: --flow NAME), "http" (a client: --client NAME) or "domain" (a domain matcher:
  // --matcher NAME).
  absl::string_view half;
  absl::string_view name;     // "bug-address-too-large", ...
  absl::string_view story;    // The story number in docs/field-notes.md.
  absl::string_view summary;  // What the bug does.
  // What finds it: a violation kind of the catalogue (violation_kinds.h), or "asan" / "tsan" for
  // a sanitizer report (exit 81 / 84).
  absl::string_view found_as;
  // The preset whose detector fits: "any", "asan" or "tsan".
  absl::string_view preset;
  // Arguments the bug needs to show, added to the workload's usual ones (empty: none).
  absl::string_view provoke = "";
};

const std::vector<SeededBug>& SeededBugs();
// nullptr when `name` is not a seeded bug.
const SeededBug* FindSeededBug(absl::string_view name);

}  // namespace netrig

#endif  // NETRIG_HARNESS_CHECK_SEEDED_BUGS_H_
