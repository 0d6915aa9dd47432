#include "harness/base/shell_line.h"

#include <cstdio>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace netrig {
namespace {

TEST(QuoteForShell, PlainWordsStayAsTheyAre) {
  EXPECT_EQ(QuoteForShell("build/default/bin/netrig"), "build/default/bin/netrig");
  EXPECT_EQ(QuoteForShell("--finding_dir=/tmp/a,b:c@d%e+f"), "--finding_dir=/tmp/a,b:c@d%e+f");
}

TEST(QuoteForShell, SpecialWordsAreSingleQuoted) {
  EXPECT_EQ(QuoteForShell(""), "''");
  EXPECT_EQ(QuoteForShell("my findings/a.json"), "'my findings/a.json'");
  EXPECT_EQ(QuoteForShell("$(rm -rf ~)"), "'$(rm -rf ~)'");
  EXPECT_EQ(QuoteForShell("it's"), "'it'\\''s'");
}

// The real test of a quoting: a shell splits the line back into the same words.
TEST(ShellLine, AShellSplitsItBackIntoTheSameWords) {
  const std::vector<std::string> words = {
      "./my netrig", "replay", "it's a \"finding\".json", "", "--x=$HOME;`id`", "tab\there",
      "new\nline",   "*"};
  const std::string line = ShellLine(words);
  // printf '%s\0' WORDS... prints each word the shell parsed, NUL-terminated.
  FILE* shell = popen(("printf '%s\\0' " + line).c_str(), "r");
  ASSERT_NE(shell, nullptr);
  std::string out;
  char buffer[256];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), shell)) > 0) out.append(buffer, n);
  ASSERT_EQ(pclose(shell), 0) << line;
  std::vector<std::string> parsed;
  size_t start = 0;
  for (size_t at; (at = out.find('\0', start)) != std::string::npos; start = at + 1) {
    parsed.push_back(out.substr(start, at - start));
  }
  EXPECT_EQ(parsed, words) << line;
}

}  // namespace
}  // namespace netrig
