#include "tests/support/run_netrig.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iterator>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "harness/findings/child_process.h"
#include "tests/support/paths.h"

namespace netrig::testing {

std::string ShellQuote(const std::string& arg) {
  std::string quoted = "'";
  for (char c : arg) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted += c;
    }
  }
  return quoted + "'";
}

size_t CountOccurrences(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

std::string ReadFileForTest(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

CommandRun RunNetrig(const std::vector<std::string>& args, absl::Duration timeout,
                     const std::vector<std::pair<std::string, std::string>>& env) {
  static int counter = 0;
  const std::string stem =
      absl::StrCat(::testing::TempDir(), "/run_netrig_", getpid(), "_", ++counter);
  const std::string out_path = stem + ".out";
  const std::string err_path = stem + ".err";
  std::string command = absl::StrCat("exec ", ShellQuote(NetrigBinary()));
  for (const std::string& arg : args) absl::StrAppend(&command, " ", ShellQuote(arg));
  absl::StrAppend(&command, " >", ShellQuote(out_path), " 2>", ShellQuote(err_path), " </dev/null");
  ChildOptions options;
  options.argv = {"/bin/sh", "-c", command};
  options.timeout = timeout;
  options.kill_grace = absl::Seconds(5);
  options.extra_env = env;
  CommandRun run;
  absl::StatusOr<ChildResult> result = RunChild(options);
  EXPECT_TRUE(result.ok()) << result.status();
  if (result.ok()) {
    run.exit_code = result->exited ? result->exit_code : -1;
    run.term_signal = result->term_signal;
    run.timed_out = result->timed_out;
  }
  run.out = ReadFileForTest(out_path);
  run.err = ReadFileForTest(err_path);
  std::remove(out_path.c_str());
  std::remove(err_path.c_str());
  return run;
}

}  // namespace netrig::testing
