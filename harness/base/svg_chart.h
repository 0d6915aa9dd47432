// SvgChart: one chart as inline SVG (no script, no external resource), for the HTML pages netrig
// writes (drive/html_report.h, the nightly summary.html). A chart has lines or bars over a shared
// x axis, linear or logarithmic axes, shaded bands (the path was down from 3 s to 4 s) and
// marks (a violation at 7.2 s, linking to its details). Every text is escaped (markup.h); values
// that are NaN, infinite or, on a log axis, not positive are left out rather than drawn wrong.
// A line with more points than fit the width is reduced to each pixel column's minimum and
// maximum, so a spike stays visible and the SVG stays small.
//
// Example:
//   netrig::ChartSpec spec;
//   spec.title = "operations/s";
//   spec.bands.push_back({.from = 3, .to = 4, .color = "#f4c7c3", .label = "path down"});
//   spec.marks.push_back({.x = 7.2, .label = "silent_loss", .href = "#violation-1"});
//   std::string svg = netrig::SvgChart(spec, {{.name = "started", .x = t, .y = rate}});
#ifndef NETRIG_HARNESS_BASE_SVG_CHART_H_
#define NETRIG_HARNESS_BASE_SVG_CHART_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace netrig {

struct ChartLine {
  enum class Style { kLine, kBars };
  std::string name = "";  // In the legend.
  std::string color = "#1f77b4";
  // Initialized, so that designated initializers may leave them out (clang's
  // -Wmissing-designated-field-initializers).
  std::vector<double> x = {};
  std::vector<double> y = {};  // Points are (x[i], y[i]) for i < min(x.size(), y.size()).
  Style style = Style::kLine;
};

// A shaded stretch of the x axis, over the whole plot height.
struct ChartBand {
  double from = 0;
  double to = 0;
  std::string color = "#dddddd";
  std::string label;  // Shown on hover and in the legend.
};

// A vertical marker at x; with `href`, a link (e.g. "#violation-3").
struct ChartMark {
  double x = 0;
  std::string label;
  std::string href;
  std::string color = "#d62728";
};

struct ChartTick {
  double value = 0;
  std::string label;
};

struct ChartSpec {
  std::string css_class = "chart";  // Also "chart timeline", "chart latency" ...
  std::string title;
  std::string x_label;
  std::string y_label;
  int width = 960;
  int height = 200;
  bool log_x = false;
  bool log_y = false;
  std::optional<double> x_min, x_max, y_min, y_max;  // Unset: from the data (y from 0 when linear).
  std::vector<ChartTick> x_ticks;                    // Empty: chosen automatically.
  std::function<std::string(double)> format_x;       // Tick labels; unset: compact numbers.
  std::function<std::string(double)> format_y;
  std::vector<ChartBand> bands;
  std::vector<ChartMark> marks;
};

// The chart as an <svg> element; a chart with no drawable point still draws its axes and says
// "no data".
std::string SvgChart(const ChartSpec& spec, const std::vector<ChartLine>& lines);

}  // namespace netrig

#endif  // NETRIG_HARNESS_BASE_SVG_CHART_H_
