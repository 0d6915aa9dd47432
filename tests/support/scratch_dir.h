// A fresh temporary directory for one test, removed with everything in it when the test ends.
//
// Example:
//   netrig::testing::ScratchDir dir;
//   const std::string report = dir.File("report.json");
#ifndef NETRIG_TESTS_SUPPORT_SCRATCH_DIR_H_
#define NETRIG_TESTS_SUPPORT_SCRATCH_DIR_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace netrig::testing {

class ScratchDir {
 public:
  ScratchDir();
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::string& path() const { return path_; }
  // path()/name
  std::string File(absl::string_view name) const;
  // The names of the entries in path(), sorted (dot files included).
  std::vector<std::string> Entries() const;

 private:
  std::string path_;
};

}  // namespace netrig::testing

#endif  // NETRIG_TESTS_SUPPORT_SCRATCH_DIR_H_
