#include "harness/base/svg_chart.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "harness/base/markup.h"

namespace netrig {
namespace {

constexpr int kLeft = 64, kRight = 28, kTop = 30, kBottom = 34;

// Tick labels: "0.5", "950", "12k", "4.6M".
std::string TickLabel(double value) {
  const double magnitude = std::fabs(value);
  if (magnitude >= 1e9) return absl::StrFormat("%.3gG", value / 1e9);
  if (magnitude >= 1e6) return absl::StrFormat("%.3gM", value / 1e6);
  if (magnitude >= 1e4) return absl::StrFormat("%.3gk", value / 1e3);
  return absl::StrFormat("%.4g", value);
}

struct Axis {
  double low = 0, high = 1;
  bool log = false;
  double pixel_low = 0, pixel_high = 1;  // The pixel of `low` and of `high`.

  double Scaled(double value) const { return log ? std::log10(value) : value; }
  double Pixel(double value) const {
    const double from = Scaled(low), to = Scaled(high);
    const double span = to - from;
    double fraction = span > 0 ? (Scaled(value) - from) / span : 0.5;
    // An axis from -1e308 to 1e308 has an infinite span: no NaN may reach a coordinate.
    if (!std::isfinite(fraction)) fraction = 0.5;
    return pixel_low + std::clamp(fraction, -0.05, 1.05) * (pixel_high - pixel_low);
  }
  bool Drawable(double value) const { return std::isfinite(value) && (!log || value > 0); }
};

// Ticks at 1, 2 or 5 times a power of ten (linear) or at powers of ten (log).
std::vector<double> AutoTicks(const Axis& axis) {
  std::vector<double> ticks;
  if (axis.log) {
    const int first = static_cast<int>(std::ceil(std::log10(axis.low) - 1e-9));
    const int last = static_cast<int>(std::floor(std::log10(axis.high) + 1e-9));
    // Under three decades: 1, 2 and 5 times each power of ten, so the axis keeps its labels.
    const bool fine = last - first < 2;
    for (int e = first - 1; e <= last && ticks.size() < 24; ++e) {
      for (double factor : {1.0, 2.0, 5.0}) {
        const double tick = factor * std::pow(10.0, e);
        if ((factor == 1.0 || fine) && tick >= axis.low * (1 - 1e-9) &&
            tick <= axis.high * (1 + 1e-9)) {
          ticks.push_back(tick);
        }
      }
    }
    if (ticks.empty()) ticks = {axis.low, axis.high};
    return ticks;
  }
  const double span = axis.high - axis.low;
  if (!(span > 0)) return {axis.low};
  const double raw = span / 5;
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  double step = power;
  for (double factor : {1.0, 2.0, 5.0, 10.0}) {
    step = factor * power;
    if (step >= raw) break;
  }
  for (double tick = std::ceil(axis.low / step) * step; tick <= axis.high + step * 1e-9;
       tick += step) {
    ticks.push_back(std::fabs(tick) < step * 1e-9 ? 0.0 : tick);
    if (ticks.size() > 20) break;
  }
  return ticks;
}

// A line reduced to at most two points (min and max) per pixel column, in x order per column.
std::vector<std::pair<double, double>> Reduced(const std::vector<std::pair<double, double>>& points,
                                               const Axis& x_axis, const Axis& y_axis,
                                               int columns) {
  if (points.size() <= static_cast<size_t>(columns) * 2) return points;
  std::vector<std::pair<double, double>> out;
  size_t i = 0;
  while (i < points.size()) {
    const int column = static_cast<int>(x_axis.Pixel(points[i].first));
    size_t low = i, high = i;
    size_t j = i + 1;
    while (j < points.size() && static_cast<int>(x_axis.Pixel(points[j].first)) == column) {
      if (y_axis.Scaled(points[j].second) < y_axis.Scaled(points[low].second)) low = j;
      if (y_axis.Scaled(points[j].second) > y_axis.Scaled(points[high].second)) high = j;
      ++j;
    }
    out.push_back(points[std::min(low, high)]);
    if (low != high) out.push_back(points[std::max(low, high)]);
    i = j;
  }
  return out;
}

}  // namespace

std::string SvgChart(const ChartSpec& spec, const std::vector<ChartLine>& lines) {
  const int width = std::clamp(spec.width, 200, 4000);
  const int requested_height = std::clamp(spec.height, 80, 2000);
  // The legend: right-aligned on the title row, then on rows of its own under it when it does not
  // fit there; the plot starts below the last row.
  struct LegendItem {
    std::string name, color;
    double x = 0;
    int row = 0;
  };
  std::vector<LegendItem> legend;
  for (const ChartLine& line : lines) {
    if (!line.name.empty()) legend.push_back({line.name.substr(0, 40), line.color});
  }
  for (const ChartBand& band : spec.bands) {
    if (!band.label.empty() &&
        std::none_of(legend.begin(), legend.end(), [&](const LegendItem& item) {
          return item.name == band.label.substr(0, 40);
        })) {
      legend.push_back({band.label.substr(0, 40), band.color});
    }
  }
  constexpr size_t kMaxLegendItems = 24;  // A chart's callers bound their lines; this, the rest.
  if (legend.size() > kMaxLegendItems) legend.resize(kMaxLegendItems);
  int legend_rows = 1;
  {
    double right = width - kRight;
    int row = 0;
    const double title_end =
        kLeft + 8 * static_cast<double>(std::min<size_t>(spec.title.size(), 80));
    for (auto it = legend.rbegin(); it != legend.rend(); ++it) {
      const double item_width = 6.5 * static_cast<double>(it->name.size()) + 22;
      const double row_start = row == 0 ? title_end : kLeft;
      if (right - item_width < row_start && right < width - kRight) {
        ++row;
        right = width - kRight;
      }
      right -= item_width;
      it->x = right;
      it->row = row;
    }
    legend_rows = row + 1;
  }
  const int top = kTop + 14 * (legend_rows - 1);

  Axis x_axis{.log = spec.log_x,
              .pixel_low = static_cast<double>(kLeft),
              .pixel_high = static_cast<double>(width - kRight)};
  // Legend rows add to the height, so the plot keeps the height asked for.
  const int height = requested_height + (top - kTop);
  Axis y_axis{.log = spec.log_y,
              .pixel_low = static_cast<double>(height - kBottom),
              .pixel_high = static_cast<double>(top)};

  // The drawable points of every line, and the data's extent.
  std::vector<std::vector<std::pair<double, double>>> points(lines.size());
  double x_low = std::numeric_limits<double>::infinity(), x_high = -x_low;
  double y_low = x_low, y_high = -x_low;
  for (size_t l = 0; l < lines.size(); ++l) {
    const size_t n = std::min(lines[l].x.size(), lines[l].y.size());
    for (size_t i = 0; i < n; ++i) {
      const double x = lines[l].x[i], y = lines[l].y[i];
      if (!x_axis.Drawable(x) || !y_axis.Drawable(y)) continue;
      points[l].emplace_back(x, y);
      x_low = std::min(x_low, x), x_high = std::max(x_high, x);
      y_low = std::min(y_low, y), y_high = std::max(y_high, y);
    }
    std::sort(points[l].begin(), points[l].end());
  }
  const bool empty = !std::isfinite(x_low);
  for (const ChartBand& band : spec.bands) {
    if (x_axis.Drawable(band.from)) x_low = std::min(x_low, band.from);
    if (x_axis.Drawable(band.to)) x_high = std::max(x_high, band.to);
  }
  for (const ChartMark& mark : spec.marks) {
    if (x_axis.Drawable(mark.x)) {
      x_low = std::min(x_low, mark.x);
      x_high = std::max(x_high, mark.x);
    }
  }
  if (!std::isfinite(x_low)) x_low = spec.log_x ? 1 : 0, x_high = spec.log_x ? 10 : 1;
  if (!std::isfinite(y_low)) y_low = spec.log_y ? 1 : 0, y_high = spec.log_y ? 10 : 1;
  x_axis.low = spec.x_min.value_or(x_low);
  x_axis.high = spec.x_max.value_or(x_high);
  y_axis.low = spec.y_min.value_or(spec.log_y ? y_low : std::min(0.0, y_low));
  y_axis.high = spec.y_max.value_or(y_high);
  for (Axis* axis : {&x_axis, &y_axis}) {
    if (axis->log) {
      if (!(axis->low > 0)) axis->low = 1;
      if (!(axis->high > axis->low)) axis->high = axis->low * 10;
    } else if (!(axis->high > axis->low)) {
      axis->high = axis->low + 1;
    }
  }
  if (!spec.log_y && !spec.y_max.has_value()) y_axis.high *= 1.08;  // headroom for marks

  std::string svg = absl::StrFormat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"%s\" width=\"%d\" height=\"%d\" "
      "viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"%s\">\n",
      MarkupEscape(spec.css_class), width, height, width, height, MarkupEscape(spec.title));
  absl::StrAppendFormat(&svg, "<text class=\"title\" x=\"%d\" y=\"16\">%s</text>\n", kLeft,
                        MarkupEscape(spec.title));
  const double plot_top = top, plot_bottom = height - kBottom;
  absl::StrAppendFormat(&svg,
                        "<rect class=\"plot\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" "
                        "fill=\"#fff\" stroke=\"#999\"/>\n",
                        kLeft, top, width - kLeft - kRight, height - top - kBottom);

  // Bands first, under everything.
  for (const ChartBand& band : spec.bands) {
    if (!x_axis.Drawable(band.from) || !x_axis.Drawable(band.to) || band.to < band.from) continue;
    const double from = x_axis.Pixel(band.from), to = x_axis.Pixel(band.to);
    absl::StrAppendFormat(&svg,
                          "<rect class=\"band\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                          "height=\"%.1f\" fill=\"%s\" fill-opacity=\"0.45\"><title>%s</title>"
                          "</rect>\n",
                          from, plot_top, std::max(1.0, to - from), plot_bottom - plot_top,
                          MarkupEscape(band.color), MarkupEscape(band.label));
  }

  // Grid and tick labels.
  std::vector<ChartTick> x_ticks = spec.x_ticks;
  if (x_ticks.empty()) {
    for (double value : AutoTicks(x_axis)) {
      x_ticks.push_back({value, spec.format_x ? spec.format_x(value) : TickLabel(value)});
    }
  }
  for (const ChartTick& tick : x_ticks) {
    if (!x_axis.Drawable(tick.value) || tick.value < x_axis.low || tick.value > x_axis.high) {
      continue;
    }
    const double x = x_axis.Pixel(tick.value);
    absl::StrAppendFormat(&svg,
                          "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                          "stroke=\"#eee\"/><text class=\"tick\" x=\"%.1f\" y=\"%.1f\" "
                          "text-anchor=\"middle\">%s</text>\n",
                          x, plot_top, x, plot_bottom, x, plot_bottom + 14,
                          MarkupEscape(tick.label));
  }
  for (double value : AutoTicks(y_axis)) {
    if (value < y_axis.low || value > y_axis.high) continue;
    const double y = y_axis.Pixel(value);
    absl::StrAppendFormat(&svg,
                          "<line class=\"grid\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" "
                          "stroke=\"#eee\"/><text class=\"tick\" x=\"%d\" y=\"%.1f\" "
                          "text-anchor=\"end\">%s</text>\n",
                          kLeft, y, width - kRight, y, kLeft - 4, y + 4,
                          MarkupEscape(spec.format_y ? spec.format_y(value) : TickLabel(value)));
  }
  if (!spec.x_label.empty()) {
    absl::StrAppendFormat(&svg,
                          "<text class=\"axis-label\" x=\"%d\" y=\"%d\" "
                          "text-anchor=\"end\">%s</text>\n",
                          width - kRight, height - 4, MarkupEscape(spec.x_label));
  }
  if (!spec.y_label.empty()) {
    absl::StrAppendFormat(&svg,
                          "<text class=\"axis-label\" x=\"12\" y=\"%.1f\" text-anchor=\"middle\" "
                          "transform=\"rotate(-90 12 %.1f)\">%s</text>\n",
                          (plot_top + plot_bottom) / 2, (plot_top + plot_bottom) / 2,
                          MarkupEscape(spec.y_label));
  }

  // The data.
  const int columns = width - kLeft - kRight;
  for (size_t l = 0; l < lines.size(); ++l) {
    const ChartLine& line = lines[l];
    if (points[l].empty()) continue;
    if (line.style == ChartLine::Style::kBars) {
      const double bar =
          std::max(1.0, static_cast<double>(columns) / static_cast<double>(points[l].size()) * 0.8);
      absl::StrAppendFormat(&svg, "<g class=\"series bars\" fill=\"%s\"><title>%s</title>\n",
                            MarkupEscape(line.color), MarkupEscape(line.name));
      for (const auto& [x, y] : Reduced(points[l], x_axis, y_axis, columns)) {
        const double top = y_axis.Pixel(y);
        absl::StrAppendFormat(
            &svg, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>\n",
            x_axis.Pixel(x) - bar / 2, top, bar, std::max(0.0, y_axis.pixel_low - top));
      }
      absl::StrAppend(&svg, "</g>\n");
      continue;
    }
    absl::StrAppendFormat(&svg,
                          "<polyline class=\"series\" fill=\"none\" stroke=\"%s\" "
                          "stroke-width=\"1.6\" points=\"",
                          MarkupEscape(line.color));
    for (const auto& [x, y] : Reduced(points[l], x_axis, y_axis, columns)) {
      absl::StrAppendFormat(&svg, "%.1f,%.1f ", x_axis.Pixel(x), y_axis.Pixel(y));
    }
    absl::StrAppendFormat(&svg, "\"><title>%s</title></polyline>\n", MarkupEscape(line.name));
  }
  if (empty) {
    absl::StrAppendFormat(&svg,
                          "<text class=\"no-data\" x=\"%.1f\" y=\"%.1f\" "
                          "text-anchor=\"middle\">no data</text>\n",
                          (kLeft + width - kRight) / 2.0, (plot_top + plot_bottom) / 2);
  }

  // Marks on top, each a link when it has one.
  for (const ChartMark& mark : spec.marks) {
    if (!x_axis.Drawable(mark.x)) continue;
    const double x = x_axis.Pixel(mark.x);
    const std::string shape = absl::StrFormat(
        "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
        "stroke-dasharray=\"3,2\"/><circle cx=\"%.1f\" cy=\"%.1f\" r=\"5\" fill=\"%s\"/>"
        "<title>%s</title>",
        x, plot_top, x, plot_bottom, MarkupEscape(mark.color), x, plot_top + 6,
        MarkupEscape(mark.color), MarkupEscape(mark.label));
    if (mark.href.empty()) {
      absl::StrAppend(&svg, "<g class=\"mark\">", shape, "</g>\n");
    } else {
      absl::StrAppend(&svg, "<a class=\"mark\" href=\"", MarkupEscape(mark.href), "\">", shape,
                      "</a>\n");
    }
  }

  for (const LegendItem& item : legend) {
    const double y = 7 + 14.0 * item.row;
    absl::StrAppendFormat(&svg,
                          "<g class=\"legend\"><rect x=\"%.1f\" y=\"%.1f\" width=\"12\" "
                          "height=\"10\" fill=\"%s\"/><text x=\"%.1f\" y=\"%.1f\">%s</text></g>\n",
                          item.x, y, MarkupEscape(item.color), item.x + 16, y + 9,
                          MarkupEscape(item.name));
  }
  absl::StrAppend(&svg, "</svg>\n");
  return svg;
}

}  // namespace netrig
