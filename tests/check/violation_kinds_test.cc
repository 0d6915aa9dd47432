// Every violation kind reported anywhere in the harness is in the catalogue, and the catalogue
// has no duplicates: one name per kind, used by both workloads, the README and finding files.
#include "harness/check/violation_kinds.h"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <set>
#include <string>

#include "gtest/gtest.h"
#include "tests/support/paths.h"

namespace netrig {
namespace {

TEST(ViolationCatalogue, NamesAreUniqueAndExplained) {
  std::set<std::string> names;
  for (const ViolationKindInfo& kind : ViolationCatalogue()) {
    EXPECT_TRUE(names.insert(std::string(kind.name)).second) << kind.name;
    EXPECT_FALSE(kind.meaning.empty()) << kind.name;
    EXPECT_TRUE(kind.scope == "any" || kind.scope == "udp" || kind.scope == "http" ||
                kind.scope == "domain")
        << kind.name;
  }
  EXPECT_TRUE(IsKnownViolationKind("silent_loss"));
  EXPECT_FALSE(IsKnownViolationKind("leak_of_something_else"));
}

TEST(ViolationCatalogue, EveryReportingSiteUsesACataloguedKind) {
  const std::regex report(R"re((?:Report|ReportViolation)\(\s*"([a-z_]+)")re");
  int sites = 0;
  for (const char* dir : {"harness", "fuzzers"}) {
    for (const auto& entry :
         std::filesystem::recursive_directory_iterator(testing::SourceDir() + "/" + dir)) {
      if (entry.path().extension() != ".cc") continue;
      std::ifstream in(entry.path());
      const std::string text((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
      for (auto it = std::sregex_iterator(text.begin(), text.end(), report);
           it != std::sregex_iterator(); ++it) {
        ++sites;
        EXPECT_TRUE(IsKnownViolationKind((*it)[1].str()))
            << (*it)[1].str() << " reported in " << entry.path() << " is not in the catalogue";
      }
    }
  }
  EXPECT_GT(sites, 15);
}

}  // namespace
}  // namespace netrig
