// `netrig udp|http --html` and `netrig report`, driven as a user would: the real binary.
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/support/run_netrig.h"
#include "tests/support/scratch_dir.h"

namespace netrig {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::ReadFileForTest;
using testing::RunNetrig;
using testing::ScratchDir;

// The page without its footer (which names where the report came from).
std::string WithoutFooter(const std::string& page) { return page.substr(0, page.find("<footer>")); }

TEST(ReportCommandTest, ARunsPageAndTheOneDrawnFromItsReportAreTheSame) {
  ScratchDir dir;
  const testing::CommandRun run =
      RunNetrig({"udp", "--duration=1500ms", "--seed=7", "--json", dir.File("run.json"), "--html",
                 dir.File("run.html"), "--finding_dir", dir.File("findings")});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const std::string page = ReadFileForTest(dir.File("run.html"));
  EXPECT_THAT(page, HasSubstr("<h1>netrig udp: socket, seed 7</h1>"));
  EXPECT_THAT(page, HasSubstr("class=\"chart timeline rates\""));
  EXPECT_THAT(page, Not(HasSubstr("no per-second series")));
  EXPECT_THAT(page, HasSubstr("netrig udp --flow=socket --duration=1.5s"));
  const nlohmann::json report = nlohmann::json::parse(ReadFileForTest(dir.File("run.json")));
  ASSERT_TRUE(report.contains("series"));
  EXPECT_GE(report["series"]["t_s"].size(), 1u);
  EXPECT_GT(report["series"]["started"][0].get<uint64_t>(), 0u);
  EXPECT_FALSE(report["latency_us"]["buckets"].empty());

  const testing::CommandRun drawn =
      RunNetrig({"report", dir.File("run.json"), "-o", dir.File("again.html")});
  ASSERT_EQ(drawn.exit_code, 0) << drawn.err;
  EXPECT_EQ(WithoutFooter(ReadFileForTest(dir.File("again.html"))), WithoutFooter(page));
}

TEST(ReportCommandTest, BadInputsAreExitTwoWithOneClearLine) {
  ScratchDir dir;
  std::ofstream(dir.File("broken.json")) << "{\"command\": \"udp\", ";
  std::ofstream(dir.File("other.json")) << "{\"hello\": 1}";
  {
    // Past the 64 MiB bound of json_input.h.
    std::ofstream huge(dir.File("huge.json"));
    const std::string chunk(1 << 20, ' ');
    for (int i = 0; i < 65; ++i) huge << chunk;
  }
  struct Case {
    std::vector<std::string> args;
    std::string error;
  };
  for (const Case& c : std::vector<Case>{
           {{"report", dir.File("missing.json"), "-o", dir.File("x.html")}, "missing.json"},
           {{"report", dir.File("broken.json"), "-o", dir.File("x.html")}, "JSON"},
           {{"report", dir.File("other.json"), "-o", dir.File("x.html")}, "not a netrig run"},
           {{"report", dir.File("huge.json"), "-o", dir.File("x.html")}, "huge.json"},
           {{"report", dir.path(), "-o", dir.File("x.html")}, "error: netrig report"},
           {{"report", dir.File("other.json")}, "usage: netrig report"},
           {{"report", "-o", dir.File("x.html")}, "usage: netrig report"},
       }) {
    const testing::CommandRun run = RunNetrig(c.args);
    EXPECT_EQ(run.exit_code, 2) << c.args[1] << "\n" << run.err;
    EXPECT_THAT(run.err, HasSubstr(c.error)) << c.args[1];
    EXPECT_EQ(std::count(run.err.begin(), run.err.end(), '\n'), 1) << run.err;
  }
  EXPECT_FALSE(std::ifstream(dir.File("x.html")).good());  // nothing written on an error
}

TEST(ReportCommandTest, NeverClobbersADirectoryOrADeviceAndRefusesOneFileForTwoOutputs) {
  ScratchDir dir;
  std::ofstream(dir.File("run.json")) << R"({"command": "udp", "seed": 1})";
  const testing::CommandRun to_dir = RunNetrig({"report", dir.File("run.json"), "-o", dir.path()});
  EXPECT_EQ(to_dir.exit_code, 2);
  const testing::CommandRun to_null =
      RunNetrig({"report", dir.File("run.json"), "-o", "/dev/null"});
  EXPECT_EQ(to_null.exit_code, 0) << to_null.err;  // written in place, /dev/null stays a device
  const testing::CommandRun to_stdout = RunNetrig({"report", dir.File("run.json"), "-o", "-"});
  EXPECT_EQ(to_stdout.exit_code, 0);
  EXPECT_THAT(to_stdout.out, HasSubstr("no per-second series in this report"));

  const testing::CommandRun same = RunNetrig(
      {"udp", "--duration=1s", "--json", dir.File("a.json"), "--html", dir.File("a.json")});
  EXPECT_EQ(same.exit_code, 2);
  EXPECT_THAT(same.err, HasSubstr("--json and --html name the same file"));
  const testing::CommandRun html_dir = RunNetrig({"http", "--duration=1s", "--html", dir.path()});
  EXPECT_EQ(html_dir.exit_code, 2);
  EXPECT_THAT(html_dir.err, HasSubstr("--html"));
}

}  // namespace
}  // namespace netrig
