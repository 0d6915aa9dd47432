#include "harness/drive/html_report.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "harness/base/exit_codes.h"
#include "harness/base/markup.h"
#include "harness/base/program_name.h"
#include "harness/base/svg_chart.h"
#include "harness/drive/run_series.h"
#include "harness/findings/json_input.h"

namespace netrig {
namespace {

using Json = nlohmann::json;

// Bounds on what one page shows of a report (a finding file may be someone else's).
constexpr size_t kMaxKindsDrawn = 16;
constexpr size_t kMaxViolationRows = 1000;
constexpr size_t kMaxArgsShown = 300;
constexpr size_t kMaxTextShown = 2000;

constexpr const char* kPalette[] = {
    "#1f77b4", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f",
    "#2ca02c", "#d62728", "#393b79", "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#637939"};

std::string E(absl::string_view text) {
  if (text.size() > kMaxTextShown) {
    return absl::StrCat(MarkupEscape(text.substr(0, kMaxTextShown)), "... (", text.size(),
                        " bytes)");
  }
  return MarkupEscape(text);
}

// Typed reads that never throw: a field of the wrong type is absent.
const Json* Field(const Json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}
std::optional<double> Number(const Json* value) {
  if (value == nullptr || !value->is_number()) return std::nullopt;
  const double number = value->get<double>();
  return std::isfinite(number) ? std::optional<double>(number) : std::nullopt;
}
std::optional<double> NumberField(const Json& object, const char* key) {
  return Number(Field(object, key));
}
std::string Text(const Json& object, const char* key, std::string fallback = "") {
  const Json* value = Field(object, key);
  return value != nullptr && value->is_string() ? value->get<std::string>() : fallback;
}
// Any scalar as text for a table cell ("" for null and containers).
std::string Scalar(const Json* value) {
  if (value == nullptr || value->is_null()) return "";
  if (value->is_string()) return value->get<std::string>();
  if (value->is_boolean()) return value->get<bool>() ? "true" : "false";
  if (value->is_number_integer() || value->is_number_unsigned()) return value->dump();
  if (value->is_number()) return absl::StrFormat("%.4g", value->get<double>());
  return "";
}
std::vector<double> Numbers(const Json* array) {
  std::vector<double> out;
  if (array == nullptr || !array->is_array()) return out;
  out.reserve(array->size());
  for (const Json& item : *array) {
    const std::optional<double> number = Number(&item);
    out.push_back(number.value_or(std::nan("")));
  }
  return out;
}

std::string Micros(double us) {
  if (us >= 1e6) return absl::StrFormat("%.3g s", us / 1e6);
  if (us >= 1e3) return absl::StrFormat("%.3g ms", us / 1e3);
  return absl::StrFormat("%.3g us", us);
}

// ---- The page's parts ------------------------------------------------------------------------

constexpr char kStyle[] = R"css(
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 24px auto;
       max-width: 1000px; color: #222; padding: 0 12px; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 18px; margin-top: 28px;
     border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.verdict { font-size: 16px; padding: 8px 12px; border-radius: 4px; }
.verdict.ok { background: #e6f4ea; } .verdict.finding { background: #fce8e6; }
.verdict.other { background: #fef7e0; }
.facts { color: #555; }
table { border-collapse: collapse; margin: 8px 0; font-size: 14px; }
td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: #f6f8fa; padding: 8px; overflow-x: auto; white-space: pre-wrap;
      word-break: break-all; }
svg { display: block; margin: 6px 0; font-size: 11px; }
svg .title { font-size: 13px; font-weight: bold; } svg .no-data { fill: #999; font-size: 14px; }
tr:target { background: #fff3c4; }
.note { color: #666; font-size: 13px; }
footer { margin-top: 32px; color: #888; font-size: 12px; }
)css";

std::string Verdict(const Json& report) {
  const std::optional<double> exit_code = NumberField(report, "exit_code");
  const std::optional<double> violations = NumberField(report, "violation_count");
  std::string kinds;
  if (const Json* counts = Field(report, "violation_counts");
      counts != nullptr && counts->is_object()) {
    std::vector<std::string> parts;
    for (auto it = counts->begin(); it != counts->end() && parts.size() < kMaxKindsDrawn; ++it) {
      parts.push_back(absl::StrCat(it.key(), " ", Scalar(&it.value())));
    }
    kinds = absl::StrJoin(parts, ", ");
  }
  // Cast only what fits (a hostile 1e300 is no exit status).
  const int code = exit_code.has_value() && *exit_code >= 0 && *exit_code <= 255
                       ? static_cast<int>(*exit_code)
                       : -1;
  const std::string css = code == 0 ? "ok" : code == 1 ? "finding" : "other";
  std::string text =
      code >= 0 ? absl::StrCat("exit ", code, ": ", ExitCodeMeaning(code)) : "exit status unknown";
  if (violations.has_value() && *violations > 0) {
    absl::StrAppend(&text, absl::StrFormat(" (%.0f violation%s: %s)", *violations,
                                           *violations == 1 ? "" : "s", kinds));
  }
  std::string out = absl::StrCat("<p class=\"verdict ", css, "\">", E(text), "</p>\n");
  if (const std::string inconclusive = Text(report, "inconclusive"); !inconclusive.empty()) {
    absl::StrAppend(&out, "<p class=\"verdict other\">INCONCLUSIVE: ", E(inconclusive), "</p>\n");
  }
  return out;
}

std::string Facts(const Json& report) {
  std::vector<std::string> facts;
  if (const auto seconds = NumberField(report, "duration_s")) {
    facts.push_back(absl::StrFormat("%.2f s of traffic", *seconds));
  }
  if (const std::string stop = Text(report, "stop_reason"); !stop.empty()) {
    facts.push_back(absl::StrCat("stopped by ", stop));
  }
  if (const std::string interrupted = Text(report, "interrupted"); !interrupted.empty()) {
    facts.push_back(absl::StrCat("interrupted (", interrupted, ")"));
  }
  const std::string mode = Text(report, "mode");
  if (mode == "open_loop") {
    facts.push_back(absl::StrFormat("open loop, %.6g/s target",
                                    NumberField(report, "rate_target").value_or(0)));
  } else if (mode == "closed_loop") {
    facts.push_back("closed loop");
  }
  // In the workload's own unit where it reports one (a UDP operation is a batch of datagrams).
  if (const auto datagrams = NumberField(report, "datagrams_per_sec")) {
    facts.push_back(absl::StrFormat("%.6g datagrams/s achieved", *datagrams));
  } else if (const auto tasks = NumberField(report, "tasks_per_sec")) {
    facts.push_back(absl::StrFormat("%.6g tasks/s achieved", *tasks));
  } else if (const auto rate = NumberField(report, "operations_per_sec")) {
    facts.push_back(absl::StrFormat("%.6g operations/s achieved", *rate));
  }
  if (const std::string seed = Scalar(Field(report, "seed")); !seed.empty()) {
    facts.push_back(absl::StrCat("seed ", seed));
  }
  return absl::StrCat("<p class=\"facts\">", E(absl::StrJoin(facts, " · ")), "</p>\n");
}

// One violation as read from the report.
struct ViolationRow {
  std::string kind, message;
  std::optional<double> at_s;  // Seconds since the series origin, when both are known.
  std::string at;              // As written.
};

std::vector<ViolationRow> Violations(const Json& report, std::optional<absl::Time> origin) {
  std::vector<ViolationRow> rows;
  const Json* list = Field(report, "violations");
  if (list == nullptr || !list->is_array()) return rows;
  for (const Json& item : *list) {
    if (rows.size() >= kMaxViolationRows) break;
    ViolationRow row{Text(item, "kind", "?"), Text(item, "message"), std::nullopt,
                     Text(item, "at")};
    absl::Time at;
    std::string error;
    if (origin.has_value() && !row.at.empty() && row.at.size() < 64 &&
        absl::ParseTime(absl::RFC3339_full, row.at, &at, &error)) {
      row.at_s = absl::ToDoubleSeconds(at - *origin);
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

std::optional<absl::Time> SeriesOrigin(const Json* series) {
  if (series == nullptr) return std::nullopt;
  const std::string text = Text(*series, "origin");
  absl::Time origin;
  std::string error;
  if (text.empty() || text.size() >= 64 ||
      !absl::ParseTime(absl::RFC3339_full, text, &origin, &error)) {
    return std::nullopt;
  }
  return origin;
}

std::string BandColor(const std::string& name) {
  if (name == kBandPathDown) return "#f4a6a6";
  if (name == kBandSourceAsleep) return "#aecbfa";
  return "#d0d0d0";
}

std::string BandLabel(const std::string& name) {
  if (name == kBandPathDown) return "path down";
  if (name == kBandSourceAsleep) return "source asleep";
  return name;
}

std::string Timeline(const Json& report, const std::vector<ViolationRow>& violations) {
  std::string out = "<section id=\"timeline\">\n<h2>Timeline</h2>\n";
  const Json* series = Field(report, "series");
  const std::vector<double> t = Numbers(series != nullptr ? Field(*series, "t_s") : nullptr);
  if (t.empty()) {
    absl::StrAppend(&out,
                    "<p class=\"no-series\">no per-second series in this report (written by a "
                    "netrig from before the series, or the run ended before it was "
                    "sampled).</p>\n</section>\n");
    return out;
  }
  const std::string unit = Text(*series, "unit", "operations");
  const std::string in_flight_unit = Text(*series, "in_flight_unit", unit);
  // Each point covers the interval since the previous one; rates divide by its length. A last
  // interval shorter than a quarter second would turn a few operations into a spike: its rate is
  // left out (its counts are in the totals below).
  std::vector<double> x, length;
  for (size_t i = 0; i < t.size(); ++i) {
    const double previous = i == 0 ? 0 : t[i - 1];
    x.push_back(t[i]);
    length.push_back(t[i] - previous);
  }
  auto rates = [&](const Json* counts) {
    std::vector<double> values = Numbers(counts);
    values.resize(std::min(values.size(), t.size()));
    for (size_t i = 0; i < values.size(); ++i) {
      const bool short_last = i + 1 == t.size() && t.size() > 1 && length[i] < 0.25;
      values[i] = length[i] > 0 && !short_last ? values[i] / length[i] : std::nan("");
    }
    return values;
  };
  // The axis runs to the end of traffic, or to the last violation when one came later (in the
  // drain).
  double end = 0;
  for (double value : t) {
    if (std::isfinite(value)) end = std::max(end, value);
  }
  for (const ViolationRow& violation : violations) {
    if (violation.at_s.has_value() && *violation.at_s < end + 3600) {
      end = std::max(end, *violation.at_s);
    }
  }

  ChartSpec base;
  base.x_label = "seconds since traffic started";
  base.x_min = 0;
  base.x_max = std::max(end, 1.0);
  base.height = 190;
  if (const Json* bands = Field(*series, "bands"); bands != nullptr && bands->is_object()) {
    size_t names = 0;
    for (auto it = bands->begin(); it != bands->end() && names < kMaxKindsDrawn; ++it) {
      if (!it.value().is_array()) continue;
      ++names;
      size_t drawn = 0;
      for (const Json& interval : it.value()) {
        if (++drawn > kMaxBandIntervals) break;
        const std::vector<double> pair = Numbers(&interval);
        if (pair.size() != 2) continue;
        base.bands.push_back({pair[0], pair[1], BandColor(it.key()), BandLabel(it.key())});
      }
    }
  }
  for (size_t i = 0; i < violations.size(); ++i) {
    if (!violations[i].at_s.has_value()) continue;
    base.marks.push_back({*violations[i].at_s,
                          absl::StrCat("violation ", i + 1, ": ", violations[i].kind, ": ",
                                       violations[i].message.substr(0, 300)),
                          absl::StrCat("#violation-", i + 1)});
  }

  ChartSpec rate_chart = base;
  rate_chart.css_class = "chart timeline rates";
  rate_chart.title = absl::StrCat(unit, "/s");
  rate_chart.height = 230;
  absl::StrAppend(
      &out,
      SvgChart(
          rate_chart,
          {{.name = "started", .color = "#1f77b4", .x = x, .y = rates(Field(*series, "started"))},
           {.name = "succeeded",
            .color = "#2ca02c",
            .x = x,
            .y = rates(Field(*series, "succeeded"))}}));

  auto by_kind = [&](const char* key, const std::string& title, const std::string& css) {
    ChartSpec spec = base;
    spec.title = title;
    spec.css_class = css;
    std::vector<ChartLine> lines;
    if (const Json* kinds = Field(*series, key); kinds != nullptr && kinds->is_object()) {
      for (auto it = kinds->begin(); it != kinds->end() && lines.size() < kMaxKindsDrawn; ++it) {
        lines.push_back({.name = it.key(),
                         .color = kPalette[lines.size() % std::size(kPalette)],
                         .x = x,
                         .y = rates(&it.value())});
      }
    }
    if (lines.empty()) spec.title += " (none)";
    if (const Json* kinds = Field(*series, key);
        kinds != nullptr && kinds->is_object() && kinds->size() > lines.size()) {
      spec.title += absl::StrCat(" (the first ", lines.size(), " of ", kinds->size(), " kinds)");
    }
    return SvgChart(spec, lines);
  };
  absl::StrAppend(&out, by_kind("errors", "errors/s by kind", "chart timeline errors"));
  ChartSpec in_flight = base;
  in_flight.css_class = "chart timeline in-flight";
  in_flight.title = absl::StrCat("in flight (", in_flight_unit, ")");
  in_flight.height = 150;
  absl::StrAppend(&out, SvgChart(in_flight, {{.name = "in flight",
                                              .color = "#9467bd",
                                              .x = x,
                                              .y = Numbers(Field(*series, "in_flight"))}}));
  absl::StrAppend(&out, by_kind("faults", "injected faults/s by kind", "chart timeline faults"));
  std::string note = absl::StrFormat(
      "%d points, one per %s s; bands are sampled every 20 ms; marks are violations (hover for "
      "the message, click for its row).",
      t.size(),
      Scalar(Field(*series, "interval_s")).empty() ? std::string("?")
                                                   : Scalar(Field(*series, "interval_s")));
  if (const auto dropped = NumberField(*series, "bands_dropped"); dropped && *dropped > 0) {
    absl::StrAppend(&note, absl::StrFormat(" %.0f band intervals past the first %d were not kept.",
                                           *dropped, kMaxBandIntervals));
  }
  absl::StrAppend(&out, "<p class=\"note\">", E(note), "</p>\n</section>\n");
  return out;
}

// Percentiles from the histogram's buckets ([upper bound us, count], any order).
class BucketPercentiles {
 public:
  explicit BucketPercentiles(const Json* buckets) {
    if (buckets == nullptr || !buckets->is_array()) return;
    for (const Json& bucket : *buckets) {
      const std::vector<double> pair = Numbers(&bucket);
      if (pair.size() != 2 || !std::isfinite(pair[0]) || !std::isfinite(pair[1]) || pair[1] <= 0 ||
          pair[0] < 0) {
        continue;
      }
      buckets_.emplace_back(pair[0], pair[1]);
      total_ += pair[1];
    }
    std::sort(buckets_.begin(), buckets_.end());
  }
  bool empty() const { return buckets_.empty(); }
  const std::vector<std::pair<double, double>>& buckets() const { return buckets_; }
  double At(double percent) const {
    const double wanted = percent / 100 * total_;
    double seen = 0;
    for (const auto& [upper, count] : buckets_) {
      seen += count;
      if (seen >= wanted) return upper;
    }
    return buckets_.empty() ? 0 : buckets_.back().first;
  }

 private:
  std::vector<std::pair<double, double>> buckets_;
  double total_ = 0;
};

// The percentile axis: x = -log10(1 - p/100), so p50, p90, p99, p99.9, p99.99 are evenly spaced.
double PercentileX(double percent) { return -std::log10(1 - percent / 100); }

std::string Latency(const Json& report) {
  std::string out = "<section id=\"latency\">\n<h2>Latency</h2>\n";
  const Json* latency = Field(report, "latency_us");
  if (latency == nullptr || !latency->is_object()) {
    absl::StrAppend(&out, "<p class=\"note\">no latency in this report.</p>\n</section>\n");
    return out;
  }
  const bool open_loop = Text(report, "mode") == "open_loop";
  absl::StrAppend(
      &out, "<p class=\"note\">",
      open_loop ? "Open loop: each latency is measured from the operation's intended start, so a "
                  "stalled client shows as latency (no coordinated omission)."
                : "Closed loop: each latency is measured from the operation's actual start.",
      Text(report, "command") == "udp" ? " UDP: the round trip of a datagram through the flow."
                                       : "",
      "</p>\n");
  const BucketPercentiles buckets(Field(*latency, "buckets"));
  ChartSpec curve;
  curve.css_class = "chart latency percentiles";
  curve.title = "latency by percentile";
  curve.log_y = true;
  curve.x_min = PercentileX(50);
  curve.x_max = PercentileX(99.99);
  curve.x_label = "percentile";
  curve.height = 260;
  curve.format_y = [](double us) { return Micros(us); };
  for (double p : {50.0, 90.0, 99.0, 99.9, 99.99}) {
    curve.x_ticks.push_back({PercentileX(p), absl::StrFormat("p%g", p)});
  }
  ChartLine line{.name = "latency", .color = "#d62728"};
  if (!buckets.empty()) {
    for (int step = 0; step <= 300; ++step) {
      const double x =
          curve.x_min.value() + (curve.x_max.value() - curve.x_min.value()) * step / 300;
      line.x.push_back(x);
      line.y.push_back(std::max(1.0, buckets.At(100 * (1 - std::pow(10.0, -x)))));
    }
  } else {
    // An older report: the percentiles it has.
    for (const auto& [key, p] : std::vector<std::pair<const char*, double>>{
             {"p50", 50}, {"p90", 90}, {"p99", 99}, {"p999", 99.9}}) {
      if (const auto us = NumberField(*latency, key)) {
        line.x.push_back(PercentileX(p));
        line.y.push_back(std::max(1.0, *us));
      }
    }
    line.name = "latency (percentiles only: this report has no histogram)";
  }
  absl::StrAppend(&out, SvgChart(curve, {line}));
  if (!buckets.empty()) {
    ChartSpec histogram;
    histogram.css_class = "chart latency histogram";
    histogram.title = "latency histogram (count per bucket)";
    histogram.log_x = true;
    histogram.x_label = "latency";
    histogram.format_x = [](double us) { return Micros(us); };
    histogram.height = 200;
    ChartLine bars{.name = "count", .color = "#1f77b4", .style = ChartLine::Style::kBars};
    for (const auto& [upper, count] : buckets.buckets()) {
      bars.x.push_back(std::max(1.0, upper));
      bars.y.push_back(count);
    }
    absl::StrAppend(&out, SvgChart(histogram, {bars}));
  }
  absl::StrAppend(&out, "<table class=\"percentiles\"><tr>");
  const std::vector<std::pair<const char*, const char*>> columns = {
      {"count", "count"}, {"mean", "mean"},  {"p50", "p50"}, {"p90", "p90"},
      {"p99", "p99"},     {"p999", "p99.9"}, {"max", "max"}};
  for (const auto& [key, label] : columns) absl::StrAppend(&out, "<th>", label, "</th>");
  absl::StrAppend(&out, "</tr><tr>");
  for (const auto& [key, label] : columns) {
    const auto value = NumberField(*latency, key);
    absl::StrAppend(&out, "<td class=\"n\">",
                    !value.has_value()                  ? std::string()
                    : absl::string_view(key) == "count" ? absl::StrFormat("%.0f", *value)
                                                        : Micros(*value),
                    "</td>");
  }
  absl::StrAppend(&out, "</tr></table>\n</section>\n");
  return out;
}

std::string ViolationsSection(const Json& report, const std::vector<ViolationRow>& violations) {
  std::string out = "<section id=\"violations\">\n<h2>Violations</h2>\n";
  if (violations.empty()) {
    absl::StrAppend(&out, "<p>no violations</p>\n</section>\n");
    return out;
  }
  absl::StrAppend(&out,
                  "<table class=\"violations\"><tr><th>#</th><th>kind</th><th>at</th>"
                  "<th>message</th></tr>\n");
  for (size_t i = 0; i < violations.size(); ++i) {
    const ViolationRow& row = violations[i];
    absl::StrAppend(&out, "<tr id=\"violation-", i + 1, "\"><td class=\"n\">", i + 1,
                    "</td><td><code>", E(row.kind), "</code></td><td>",
                    row.at_s.has_value() ? absl::StrFormat("%.3f s", *row.at_s) : E(row.at),
                    "</td><td>", E(row.message), "</td></tr>\n");
  }
  absl::StrAppend(&out, "</table>\n");
  if (const auto total = NumberField(report, "violation_count");
      total.has_value() && *total > static_cast<double>(violations.size())) {
    absl::StrAppend(&out, "<p class=\"note\">",
                    absl::StrFormat("%.0f more were counted but not kept.",
                                    *total - static_cast<double>(violations.size())),
                    "</p>\n");
  }
  absl::StrAppend(&out, "</section>\n");
  return out;
}

// Rows of "label: the report's value at path", for the accounting tables.
struct AccountingRow {
  const char* label;
  std::vector<const char*> path;
};

std::string AccountingTable(const Json& report, const std::vector<AccountingRow>& rows) {
  std::string out = "<table class=\"accounting\">\n";
  for (const AccountingRow& row : rows) {
    const Json* value = &report;
    for (const char* key : row.path) {
      value = value != nullptr ? Field(*value, key) : nullptr;
    }
    if (value == nullptr) continue;
    absl::StrAppend(&out, "<tr><th>", E(row.label), "</th><td class=\"n\">", E(Scalar(value)),
                    "</td></tr>\n");
  }
  absl::StrAppend(&out, "</table>\n");
  return out;
}

std::string Accounting(const Json& report) {
  const std::string command = Text(report, "command");
  if (command == "udp") {
    return absl::StrCat(
        "<section id=\"accounting\">\n<h2>Datagram accounting</h2>\n",
        AccountingTable(
            report,
            {{"sent", {"datagrams_sent"}},
             {"delivered back", {"datagrams_delivered"}},
             {"delivered truncated", {"datagrams_delivered_truncated"}},
             {"duplicates delivered", {"duplicates_delivered"}},
             {"dropped by fault", {"datagrams_dropped_by_fault"}},
             {"  of which truncated by fault", {"datagrams_truncated_by_fault"}},
             {"rejected", {"datagrams_rejected"}},
             {"  rejected by limit: family maximum", {"rejected_true_limit", "family_maximum"}},
             {"  rejected by limit: path MTU (don't fragment)",
              {"rejected_true_limit", "path_mtu_dont_fragment"}},
             {"  rejected by limit: buffer", {"rejected_true_limit", "buffer"}},
             {"  rejected while waiting", {"rejected_while_waiting"}},
             {"  rejected while closing", {"rejected_while_closing"}},
             {"wrongly rejected", {"wrongly_rejected"}},
             {"silent loss", {"silent_loss"}},
             {"abandoned at close", {"abandoned_at_close"}},
             {"harness losses: relay kernel drops", {"harness_losses", "relay_kernel_drops"}},
             {"harness losses: echo kernel drops", {"harness_losses", "echo_kernel_drops"}},
             {"harness losses: echo send errors", {"harness_losses", "echo_send_errors"}},
             {"flows opened", {"flows_opened"}},
             {"reopens", {"reopens"}},
             {"path events", {"path_events"}},
             {"source sleeps", {"source", "sleeps"}},
             {"source wakes", {"source", "wakes"}}}),
        "</section>\n");
  }
  if (command == "http") {
    std::vector<AccountingRow> rows = {
        {"tasks started", {"tasks_started"}},
        {"tasks completed", {"tasks_completed"}},
        {"tasks cancelled", {"tasks_cancelled"}},
        {"tasks failed", {"tasks_failed"}},
        {"duplicate completions", {"duplicate_completions"}},
        {"completions after invalidation", {"completions_after_invalidation"}},
        {"stuck tasks", {"stuck_tasks"}},
        {"server requests", {"server", "requests"}},
        {"server connections reset while no path", {"server", "connections_reset_no_path"}}};
    std::string out = absl::StrCat("<section id=\"accounting\">\n<h2>Task accounting</h2>\n",
                                   AccountingTable(report, rows));
    for (const auto& [key, title] :
         std::vector<std::pair<const char*, const char*>>{{"errors_by_kind", "errors by kind"}}) {
      const Json* kinds = Field(report, key);
      if (kinds == nullptr || !kinds->is_object() || kinds->empty()) continue;
      absl::StrAppend(&out, "<h3>", title, "</h3><table class=\"accounting\">\n");
      size_t shown = 0;
      for (auto it = kinds->begin(); it != kinds->end() && shown++ < 50; ++it) {
        absl::StrAppend(&out, "<tr><th>", E(it.key()), "</th><td class=\"n\">",
                        E(Scalar(&it.value())), "</td></tr>\n");
      }
      absl::StrAppend(&out, "</table>\n");
    }
    if (const Json* server = Field(report, "server"); server != nullptr) {
      if (const Json* faults = Field(*server, "requests_by_fault");
          faults != nullptr && faults->is_object() && !faults->empty()) {
        absl::StrAppend(&out, "<h3>requests by injected fault</h3><table class=\"accounting\">\n");
        size_t shown = 0;
        for (auto it = faults->begin(); it != faults->end() && shown++ < 50; ++it) {
          absl::StrAppend(&out, "<tr><th>", E(it.key()), "</th><td class=\"n\">",
                          E(Scalar(&it.value())), "</td></tr>\n");
        }
        absl::StrAppend(&out, "</table>\n");
      }
    }
    absl::StrAppend(&out, "</section>\n");
    return out;
  }
  return "";
}

std::string Configuration(const Json& report, const HtmlReportOptions& options) {
  std::string out = "<section id=\"configuration\">\n<h2>Configuration and replay</h2>\n";
  const std::string replay = Text(report, "replay");
  absl::StrAppend(&out, "<p>Replay this run exactly:</p>\n<pre class=\"replay\">",
                  replay.empty() ? "(this report has no replay command)" : E(replay), "</pre>\n");
  std::string finding = options.finding_path;
  if (finding.empty()) finding = Text(report, "finding_file");
  if (!finding.empty()) {
    absl::StrAppend(&out, "<p>Or rerun its finding file, which says whether it reproduced:</p>\n",
                    "<pre class=\"replay-finding\">",
                    E(FindingReplayCommand(finding, Text(report, "program"))), "</pre>\n");
  }
  absl::StrAppend(&out, "<table class=\"config\">\n");
  for (const char* key : {"command",
                          "subject",
                          "client",
                          "flow",
                          "http",
                          "target",
                          "mode",
                          "rate_target",
                          "threads",
                          "concurrency",
                          "faults",
                          "duration_s",
                          "no_path_at_start_s",
                          "drain_s",
                          "stop_reason",
                          "seed",
                          "perturb_seed",
                          "exit_code",
                          "path",
                          "relay_used"}) {
    const Json* value = Field(report, key);
    if (value == nullptr || value->is_null() || value->is_structured()) continue;
    absl::StrAppend(&out, "<tr><th>", key, "</th><td><code>", E(Scalar(value)),
                    "</code></td></tr>\n");
  }
  if (const Json* schedule = Field(report, "schedule");
      schedule != nullptr && schedule->is_object()) {
    for (auto it = schedule->begin(); it != schedule->end(); ++it) {
      if (it.value().is_structured()) continue;
      absl::StrAppend(&out, "<tr><th>schedule ", E(it.key()), "</th><td><code>",
                      E(Scalar(&it.value())), "</code></td></tr>\n");
    }
  }
  if (const Json* seeds = Field(report, "seeds"); seeds != nullptr && seeds->is_object()) {
    size_t shown = 0;
    for (auto it = seeds->begin(); it != seeds->end() && shown++ < 50; ++it) {
      absl::StrAppend(&out, "<tr><th>seed: ", E(it.key()), "</th><td><code>",
                      E(Scalar(&it.value())), "</code></td></tr>\n");
    }
  }
  absl::StrAppend(&out, "</table>\n");
  if (const Json* args = Field(report, "args"); args != nullptr && args->is_array()) {
    absl::StrAppend(&out, "<p>Arguments:</p>\n<ul class=\"args\">\n");
    size_t shown = 0;
    for (const Json& arg : *args) {
      if (shown++ >= kMaxArgsShown) {
        absl::StrAppend(&out, "<li>... ", args->size() - kMaxArgsShown, " more</li>\n");
        break;
      }
      absl::StrAppend(&out, "<li><code>", E(arg.is_string() ? arg.get<std::string>() : ""),
                      "</code></li>\n");
    }
    absl::StrAppend(&out, "</ul>\n");
  }
  absl::StrAppend(&out, "</section>\n");
  return out;
}

}  // namespace

std::string RenderHtmlReport(const Json& report, const HtmlReportOptions& options) {
  const std::string command = Text(report, "command", "?");
  const std::string subject = Text(report, "subject");
  const std::string title =
      absl::StrCat("netrig ", command, subject.empty() ? "" : absl::StrCat(": ", subject),
                   Scalar(Field(report, "seed")).empty()
                       ? ""
                       : absl::StrCat(", seed ", Scalar(Field(report, "seed"))));
  const Json* series = Field(report, "series");
  const std::vector<ViolationRow> violations = Violations(report, SeriesOrigin(series));
  std::string page = absl::StrCat(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      // No script, no fetch: the page is data, viewable offline and safe to open from anyone.
      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
      "style-src 'unsafe-inline'; img-src data:\">\n<title>",
      E(title), "</title>\n<style>", kStyle, "</style>\n</head>\n<body>\n<h1>", E(title),
      "</h1>\n");
  absl::StrAppend(&page, Verdict(report), Facts(report));
  absl::StrAppend(
      &page,
      "<nav><a href=\"#timeline\">timeline</a> · <a href=\"#latency\">latency</a> · "
      "<a href=\"#violations\">violations</a> · ",
      command == "udp" || command == "http" ? "<a href=\"#accounting\">accounting</a> · " : "",
      "<a href=\"#configuration\">configuration and replay</a></nav>\n");
  absl::StrAppend(&page, Timeline(report, violations), Latency(report),
                  ViolationsSection(report, violations), Accounting(report),
                  Configuration(report, options));
  absl::StrAppend(&page, "<footer>Drawn by netrig",
                  options.source.empty() ? "" : absl::StrCat(" from ", E(options.source)),
                  ". Self-contained: no script, no network.</footer>\n</body>\n</html>\n");
  return page;
}

absl::StatusOr<LoadedReport> LoadRunReport(const std::string& path) {
  absl::StatusOr<Json> json = ReadJsonFile(path);
  if (!json.ok()) return json.status();
  LoadedReport loaded;
  loaded.options.source = path;
  if (!json->is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(Abbreviate(path), ": not a netrig run report (not a JSON object)"));
  }
  // A finding file carries the run's report whole.
  if (Text(*json, "tool") == "netrig" && Field(*json, "report") != nullptr) {
    const Json* report = Field(*json, "report");
    if (!report->is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat(Abbreviate(path), ": a finding file whose \"report\" is not an object"));
    }
    loaded.report = *report;
    loaded.options.finding_path = path;
    // A finding written by hand may have its violations only at the top.
    if (Field(loaded.report, "violations") == nullptr && Field(*json, "violations") != nullptr) {
      loaded.report["violations"] = (*json)["violations"];
    }
    if (Field(loaded.report, "command") == nullptr && Field(*json, "command") != nullptr) {
      loaded.report["command"] = (*json)["command"];
    }
  } else {
    loaded.report = *std::move(json);
  }
  const Json* command = Field(loaded.report, "command");
  if (command == nullptr || !command->is_string()) {
    return absl::InvalidArgumentError(absl::StrCat(
        Abbreviate(path),
        ": not a netrig run report (no \"command\" field; expected the file of --json or a "
        "finding file)"));
  }
  return loaded;
}

}  // namespace netrig
