// Running a child process with a timeout, its output in a file (optionally echoed as it arrives),
// and Ctrl-C forwarded: the building block of `netrig fuzz` and the nightly job.
//
// The child runs in its own process group, so a terminal Ctrl-C reaches only netrig, which then
// forwards SIGINT to the whole group (libFuzzer's fork-mode workers included) and waits for it.
// It also dies with netrig (PR_SET_PDEATHSIG): killing netrig, even with SIGKILL, leaves no
// orphan child.
//
// Example:
//   netrig::InterruptFlag interrupt;  // SIGINT/SIGTERM now set a flag instead of killing us.
//   netrig::ChildOptions options;
//   options.argv = {"build/fuzz/fuzzers/endpoint_parse_fuzzer", "-max_total_time=60", "corpus"};
//   options.output_path = "artifacts/endpoint_parse/fuzz.log";
//   options.echo_output = true;
//   options.timeout = absl::Seconds(90);
//   options.interrupts = interrupt.counter();
//   absl::StatusOr<netrig::ChildResult> result = netrig::RunChild(options);
#ifndef NETRIG_HARNESS_FINDINGS_CHILD_PROCESS_H_
#define NETRIG_HARNESS_FINDINGS_CHILD_PROCESS_H_

#include <atomic>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace netrig {

struct ChildOptions {
  // argv[0] is looked up in PATH when it has no slash.
  std::vector<std::string> argv;
  // Empty: inherit ours.
  std::string working_dir;
  // stdout and stderr both go to this file (created or truncated). Empty: inherit ours.
  std::string output_path;
  // Copies the output file to our stderr while the child runs (needs output_path).
  bool echo_output = false;
  // Added to (or replacing in) our environment.
  std::vector<std::pair<std::string, std::string>> extra_env;
  // After this, the child's group gets SIGINT, then SIGKILL after kill_grace.
  absl::Duration timeout = absl::InfiniteDuration();
  absl::Duration kill_grace = absl::Seconds(10);
  // When this counter rises above `interrupts_baseline` (a new Ctrl-C), SIGINT is forwarded to
  // the child's group once; the child then has kill_grace to exit before SIGKILL.
  const std::atomic<int>* interrupts = nullptr;
  // The count that means "not interrupted"; unset: the counter's value at RunChild's start (a
  // caller that keeps going after an interrupt, such as a fuzz session's drain). Set it to 0 when
  // any interrupt since the InterruptFlag was made must stop the child: one that came before
  // RunChild started is not lost then.
  std::optional<int> interrupts_baseline;
};

struct ChildResult {
  bool exited = false;  // Normal exit: exit_code is valid.
  int exit_code = -1;
  int term_signal = 0;  // Killed by this signal (when !exited).
  bool timed_out = false;
  bool interrupted = false;  // SIGINT was forwarded because of ChildOptions::interrupts.
  absl::Duration elapsed;

  bool ok() const { return exited && exit_code == 0; }
  // "exit 0", "exit 77", "signal 9 (timed out after 5s)", ...
  std::string Describe() const;
};

// Starts the child and waits for it. An error status means it could not be started (bad argv,
// missing binary, unwritable output file); anything the child does is in ChildResult.
absl::StatusOr<ChildResult> RunChild(const ChildOptions& options);

// While alive, SIGINT, SIGTERM and SIGHUP count up instead of terminating the process, so that a
// first Ctrl-C can stop one step and a second the next; the previous handlers come back on
// destruction. One instance at a time.
class InterruptFlag {
 public:
  InterruptFlag();
  ~InterruptFlag();
  InterruptFlag(const InterruptFlag&) = delete;
  InterruptFlag& operator=(const InterruptFlag&) = delete;

  const std::atomic<int>* counter() const;
  int count() const { return counter()->load(std::memory_order_acquire); }
  // For tests and for code that wants to stop as if Ctrl-C had been pressed.
  void Raise();
};

}  // namespace netrig

#endif  // NETRIG_HARNESS_FINDINGS_CHILD_PROCESS_H_
