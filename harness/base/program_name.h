// The running program as the user started it, for the commands netrig prints for them to run
// again: a stress run's replay line and `rerun: PROGRAM replay FILE`, the run page's replay
// commands, the nightly summary's. A user's own binary (examples/: netrig's main linked with
// their flow or client) must name itself there: `netrig replay FILE` cannot know a flow that is
// registered only in that binary ("no flow named ...").
//
// Example (in main(), before any thread starts):
//   netrig::SetProgramName(argv[0]);
//   ...
//   absl::StrCat(netrig::ProgramName(), " replay ", path);  // "./my_netrig replay f.json"
#ifndef NETRIG_HARNESS_BASE_PROGRAM_NAME_H_
#define NETRIG_HARNESS_BASE_PROGRAM_NAME_H_

#include <string>

#include "absl/strings/string_view.h"

namespace netrig {

// Records argv[0] as the command line gave it (a path, or a name found in PATH); "/proc/self/exe"
// (a run started by `replay`) as the file it links to. Call once from main() before any thread
// starts; an empty argv[0] keeps the default.
void SetProgramName(absl::string_view argv0);

// What SetProgramName recorded; "netrig" when it was never called (tests, library users).
const std::string& ProgramName();

// "PROGRAM replay FILE": the command that reruns the finding file `path`. `program`: the program
// that wrote it when known (a report's "program" field), else this program.
std::string FindingReplayCommand(absl::string_view path, absl::string_view program = "");

}  // namespace netrig

#endif  // NETRIG_HARNESS_BASE_PROGRAM_NAME_H_
