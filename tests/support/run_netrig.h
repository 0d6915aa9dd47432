// Runs the built `netrig` binary from a test, the way a user would: separate stdout and stderr,
// a timeout, extra environment. The one helper for every test that drives the real binary.
//
// Example:
//   netrig::testing::CommandRun run = netrig::testing::RunNetrig({"udp", "--threads=two"});
//   EXPECT_EQ(run.exit_code, 2);
//   EXPECT_THAT(run.err, HasSubstr("--threads"));
#ifndef NETRIG_TESTS_SUPPORT_RUN_NETRIG_H_
#define NETRIG_TESTS_SUPPORT_RUN_NETRIG_H_

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"

namespace netrig::testing {

struct CommandRun {
  int exit_code = -1;  // -1 when it did not exit normally (see term_signal, timed_out).
  int term_signal = 0;
  bool timed_out = false;
  std::string out;
  std::string err;
};

CommandRun RunNetrig(const std::vector<std::string>& args,
                     absl::Duration timeout = absl::Seconds(120),
                     const std::vector<std::pair<std::string, std::string>>& env = {});

// `arg` quoted for /bin/sh.
std::string ShellQuote(const std::string& arg);

// The contents of a file ("" when it cannot be read).
std::string ReadFileForTest(const std::string& path);

// How many times `needle` occurs in `text`, overlapping occurrences included (a page's marks,
// rows, SVG elements).
size_t CountOccurrences(const std::string& text, const std::string& needle);

}  // namespace netrig::testing

#endif  // NETRIG_TESTS_SUPPORT_RUN_NETRIG_H_
