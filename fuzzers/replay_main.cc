// Standalone runner for a libFuzzer target: runs LLVMFuzzerTestOneInput once per file, so that
// every corpus replays without libFuzzer (any compiler, any sanitizer, TSan included).
//
//   endpoint_parse_replay [--timeout_per_input_s=N] PATH...
//
// PATH is a file or a directory (read recursively, files in sorted order). The process exits 0
// when every input ran; on a crash, a sanitizer report or a timeout it names the input and exits
// non-zero (the sanitizer's code, 70 for a timeout, 2 for bad arguments).
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/strip.h"
#include "harness/base/crash_context.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
extern "C" __attribute__((weak)) int LLVMFuzzerInitialize(int* argc, char*** argv);

namespace {

std::string current_context;

void OnTimeout(int) {
  static const char kMessage[] = "netrig replay: timeout\n";
  write(STDERR_FILENO, kMessage, sizeof(kMessage) - 1);
  netrig::PrintCrashContext();
  _exit(70);
}

int Usage(const char* message) {
  std::fprintf(stderr,
               "error: %s\nusage: replay [--timeout_per_input_s=N] PATH...\n"
               "Runs the fuzz target once per file (directories are read recursively).\n",
               message);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  int timeout_s = 0;
  std::vector<std::filesystem::path> roots;
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (absl::ConsumePrefix(&arg, "--timeout_per_input_s=")) {
      if (!absl::SimpleAtoi(arg, &timeout_s) || timeout_s < 0) return Usage("bad timeout");
    } else if (absl::StartsWith(arg, "-")) {
      continue;  // libFuzzer flags (-runs=0, ...) are accepted and ignored.
    } else {
      roots.emplace_back(std::string(arg));
    }
  }
  if (roots.empty()) return Usage("no corpus path given");

  std::vector<std::filesystem::path> files;
  for (const auto& root : roots) {
    std::error_code error;
    if (std::filesystem::is_directory(root, error)) {
      for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
        if (entry.is_regular_file()) files.push_back(entry.path());
      }
    } else if (std::filesystem::is_regular_file(root, error)) {
      files.push_back(root);
    } else {
      std::fprintf(stderr, "error: %s is neither a file nor a directory\n", root.c_str());
      return 2;
    }
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) return Usage("the corpus is empty: a replay that runs nothing proves nothing");

  if (LLVMFuzzerInitialize != nullptr) LLVMFuzzerInitialize(&argc, &argv);
  netrig::InstallCrashContextSignalHandlers();
  ::signal(SIGALRM, OnTimeout);

  for (const auto& file : files) {
    std::ifstream in(file, std::ios::binary);
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    current_context = "replaying " + file.string();
    netrig::SetCrashContext(current_context.c_str());
    if (timeout_s > 0) alarm(static_cast<unsigned>(timeout_s));
    // A copy sized exactly, as libFuzzer does, so ASan sees reads past the end.
    std::unique_ptr<uint8_t[]> copy(new uint8_t[bytes.size()]);
    std::copy(bytes.begin(), bytes.end(), copy.get());
    LLVMFuzzerTestOneInput(copy.get(), bytes.size());
    alarm(0);
  }
  netrig::SetCrashContext(nullptr);
  std::printf("replay: %zu inputs ran without a finding\n", files.size());
  return 0;
}
