#include "harness/base/svg_chart.h"

#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "harness/base/markup.h"
#include "tests/support/run_netrig.h"

namespace netrig {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

size_t Count(const std::string& text, const std::string& needle) {
  return testing::CountOccurrences(text, needle);
}

TEST(MarkupEscapeTest, EscapesMarkupAndReplacesBytesThatAreNotText) {
  EXPECT_EQ(MarkupEscape("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;");
  EXPECT_EQ(MarkupEscape(std::string("a\x01\x1b[31mb", 8)), "a??[31mb");
  EXPECT_EQ(MarkupEscape("caf\xc3\xa9"), "caf\xc3\xa9");  // UTF-8 kept
  EXPECT_EQ(MarkupEscape("\xff\xc3"), "??");              // not UTF-8
}

TEST(SvgChartTest, DrawsLinesBandsAndLinkedMarks) {
  ChartSpec spec;
  spec.title = "ops/s";
  spec.bands.push_back({.from = 1, .to = 2, .color = "#f00", .label = "path down"});
  spec.marks.push_back({.x = 1.5, .label = "silent_loss", .href = "#violation-1"});
  const std::string svg = SvgChart(spec, {{.name = "started", .x = {1, 2, 3}, .y = {10, 20, 15}}});
  EXPECT_THAT(svg, HasSubstr("<svg xmlns=\"http://www.w3.org/2000/svg\""));
  EXPECT_EQ(Count(svg, "<polyline class=\"series\""), 1u);
  EXPECT_EQ(Count(svg, "<rect class=\"band\""), 1u);
  EXPECT_THAT(svg, HasSubstr("<a class=\"mark\" href=\"#violation-1\">"));
  EXPECT_THAT(svg, HasSubstr("<title>silent_loss</title>"));
  EXPECT_THAT(svg, Not(HasSubstr("no data")));
  // Three points in the polyline.
  const size_t points = svg.find("points=\"");
  ASSERT_NE(points, std::string::npos);
  const std::string list = svg.substr(points, svg.find('"', points + 8) - points);
  EXPECT_EQ(Count(list, ","), 3u);
}

TEST(SvgChartTest, EscapesEveryTextAndLeavesOutValuesItCannotDraw) {
  ChartSpec spec;
  spec.title = "<b>t</b>";
  spec.log_y = true;
  spec.marks.push_back({.x = 1, .label = "\"><script>x</script>", .href = "#v\"><x"});
  const std::string svg =
      SvgChart(spec, {{.name = "<img src=x>", .x = {1, 2, 3, 4}, .y = {std::nan(""), -1, 0, 5}}});
  EXPECT_THAT(svg, Not(HasSubstr("<script")));
  EXPECT_THAT(svg, Not(HasSubstr("<img")));
  EXPECT_THAT(svg, Not(HasSubstr("<b>")));
  EXPECT_THAT(svg, HasSubstr("&lt;b&gt;t&lt;/b&gt;"));
  EXPECT_THAT(svg, Not(HasSubstr("nan")));
  EXPECT_THAT(svg, Not(HasSubstr("inf")));
}

TEST(SvgChartTest, ALegendThatDoesNotFitTheTitleRowGetsRowsOfItsOwn) {
  ChartSpec spec;
  spec.title = "injected faults/s by kind";
  spec.height = 200;
  std::vector<ChartLine> lines;
  for (int i = 0; i < 14; ++i) {
    lines.push_back({.name = "fault_kind_" + std::to_string(i), .x = {1, 2}, .y = {1, 2}});
  }
  const std::string svg = SvgChart(spec, lines);
  EXPECT_EQ(Count(svg, "<g class=\"legend\">"), 14u);  // every line named, none dropped
  // The plot moved down by the extra rows, and the chart grew by as much.
  const std::string prefix = "<rect class=\"plot\" x=\"64\" y=\"";
  const size_t plot = svg.find(prefix);
  ASSERT_NE(plot, std::string::npos);
  const int top = std::stoi(svg.substr(plot + prefix.size()));
  EXPECT_GT(top, 30);
  EXPECT_THAT(svg, HasSubstr(absl::StrCat("height=\"", 200 + (top - 30), "\"")));
}

TEST(SvgChartTest, AnEmptyChartSaysNoData) {
  EXPECT_THAT(SvgChart(ChartSpec{}, {}), HasSubstr("no data"));
}

TEST(SvgChartTest, AHugeLineIsReducedToTheWidthButKeepsItsSpike) {
  ChartLine line{.name = "many"};
  for (int i = 0; i < 200000; ++i) {
    line.x.push_back(i);
    line.y.push_back(i == 123456 ? 1000 : 1);
  }
  ChartSpec spec;
  spec.y_max = 1000;
  const std::string svg = SvgChart(spec, {line});
  EXPECT_LT(svg.size(), 60000u);
  // The spike's y pixel is the plot's top (kTop = 30).
  EXPECT_THAT(svg, HasSubstr(",30.0 "));
}

}  // namespace
}  // namespace netrig
