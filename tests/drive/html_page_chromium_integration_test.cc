// The run's page as a person sees it: a real `netrig udp --html` run, rendered by headless
// Chromium. The screenshot must not be blank (more than a handful of distinct colours) and the
// rendered DOM must hold the page's SVG charts. Chromium is a Debian package the bootstrap
// installs only when asked (scripts/bootstrap --with-chromium, or NETRIG_WITH_CHROMIUM=1); where
// it is absent this test is skipped, saying so. NETRIG_CHROMIUM names another binary. It runs in
// the unsanitized presets only: what it checks is the drawing, and the sanitized presets already
// run --html and `netrig report` (report_command_test.cc); CI time is kept for them.
#include <zlib.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "harness/findings/child_process.h"
#include "nlohmann/json.hpp"
#include "tests/support/run_netrig.h"
#include "tests/support/scratch_dir.h"

namespace netrig {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

size_t Count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

std::optional<std::string> FindChromium() {
  if (const char* named = std::getenv("NETRIG_CHROMIUM"); named != nullptr && *named != '\0') {
    return std::string(named);
  }
  const char* path = std::getenv("PATH");
  for (absl::string_view dir : absl::StrSplit(path != nullptr ? path : "", ':')) {
    for (const char* name : {"chromium", "chromium-browser", "google-chrome"}) {
      const fs::path candidate = fs::path(std::string(dir)) / name;
      std::error_code error;
      if (fs::is_regular_file(candidate, error)) return candidate.string();
    }
  }
  return std::nullopt;
}

// A PNG decoded just enough to look at its pixels: 8-bit RGB or RGBA, not interlaced.
struct Image {
  uint32_t width = 0, height = 0;
  std::vector<uint32_t> pixels;  // 0xRRGGBB
};

uint32_t BigEndian32(const std::string& data, size_t at) {
  return (uint32_t{static_cast<uint8_t>(data[at])} << 24) |
         (uint32_t{static_cast<uint8_t>(data[at + 1])} << 16) |
         (uint32_t{static_cast<uint8_t>(data[at + 2])} << 8) |
         uint32_t{static_cast<uint8_t>(data[at + 3])};
}

std::optional<Image> DecodePng(const std::string& data, std::string* error) {
  if (data.size() < 8 || data.compare(0, 8, "\x89PNG\r\n\x1a\n") != 0) {
    *error = "not a PNG";
    return std::nullopt;
  }
  Image image;
  int color_type = -1;
  std::string compressed;
  for (size_t at = 8; at + 12 <= data.size();) {
    const uint32_t length = BigEndian32(data, at);
    const std::string type = data.substr(at + 4, 4);
    if (at + 12 + length > data.size()) break;
    if (type == "IHDR") {
      image.width = BigEndian32(data, at + 8);
      image.height = BigEndian32(data, at + 12);
      const int depth = static_cast<uint8_t>(data[at + 16]);
      color_type = static_cast<uint8_t>(data[at + 17]);
      if (depth != 8 || (color_type != 2 && color_type != 6) || data[at + 20] != 0) {
        *error = absl::StrCat("unsupported PNG: depth ", depth, " color type ", color_type);
        return std::nullopt;
      }
    } else if (type == "IDAT") {
      compressed += data.substr(at + 8, length);
    }
    at += 12 + length;
  }
  const size_t channels = color_type == 6 ? 4 : 3;
  const size_t stride = image.width * channels;
  std::string raw((stride + 1) * image.height, '\0');
  uLongf raw_size = raw.size();
  if (image.width == 0 || image.height == 0 ||
      uncompress(reinterpret_cast<Bytef*>(raw.data()), &raw_size,
                 reinterpret_cast<const Bytef*>(compressed.data()), compressed.size()) != Z_OK ||
      raw_size != raw.size()) {
    *error = "the image data does not inflate to width x height";
    return std::nullopt;
  }
  // Undo the per-row filters (PNG spec, section 9).
  std::vector<uint8_t> previous(stride, 0), row(stride);
  for (uint32_t y = 0; y < image.height; ++y) {
    const uint8_t filter = static_cast<uint8_t>(raw[y * (stride + 1)]);
    for (size_t x = 0; x < stride; ++x) {
      const int a = x >= channels ? row[x - channels] : 0;
      const int b = previous[x];
      const int c = x >= channels ? previous[x - channels] : 0;
      int predictor = 0;
      switch (filter) {
        case 1:
          predictor = a;
          break;
        case 2:
          predictor = b;
          break;
        case 3:
          predictor = (a + b) / 2;
          break;
        case 4: {
          const int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
          predictor = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
          break;
        }
        default:
          break;
      }
      row[x] =
          static_cast<uint8_t>(static_cast<uint8_t>(raw[y * (stride + 1) + 1 + x]) + predictor);
    }
    for (uint32_t x = 0; x < image.width; ++x) {
      const uint8_t* p = &row[x * channels];
      image.pixels.push_back((uint32_t{p[0]} << 16) | (uint32_t{p[1]} << 8) | p[2]);
    }
    previous = row;
  }
  return image;
}

TEST(HtmlPageInChromiumTest, ARealRunsPageRendersWithItsCharts) {
#if defined(NETRIG_SANITIZER_ASAN) || defined(NETRIG_SANITIZER_TSAN) || \
    defined(NETRIG_SANITIZER_FUZZ)
  GTEST_SKIP() << "the page is rendered in the unsanitized presets (default, clang) only";
#endif
  const std::optional<std::string> chromium = FindChromium();
  if (!chromium.has_value()) {
    GTEST_SKIP() << "chromium is not installed: install it with `scripts/bootstrap "
                    "--with-chromium` (apt-get install chromium) or name a binary in "
                    "NETRIG_CHROMIUM to render the page headless";
  }
  testing::ScratchDir dir;
  // The seeded bug that drops datagrams written while the path is down: path bands and a
  // violation mark on the timeline.
  const testing::CommandRun run =
      testing::RunNetrig({"udp", "--flow=bug-waiting-drop", "--duration=2s", "--seed=3", "--json",
                          dir.File("run.json"), "--html", dir.File("run.html"), "--finding_dir",
                          dir.File("findings")});
  ASSERT_TRUE(run.exit_code == 0 || run.exit_code == 1) << run.err;
  const nlohmann::json report =
      nlohmann::json::parse(testing::ReadFileForTest(dir.File("run.json")));

  const std::vector<std::string> common = {*chromium,
                                           "--headless",
                                           "--no-sandbox",  // tests run as root in CI
                                           "--disable-gpu",
                                           "--hide-scrollbars",
                                           absl::StrCat("--user-data-dir=", dir.File("profile")),
                                           "--window-size=1100,1800"};
  ChildOptions screenshot;
  screenshot.argv = common;
  screenshot.argv.push_back(absl::StrCat("--screenshot=", dir.File("page.png")));
  screenshot.argv.push_back(absl::StrCat("file://", dir.File("run.html")));
  screenshot.output_path = dir.File("screenshot.log");
  screenshot.timeout = absl::Seconds(90);
  absl::StatusOr<ChildResult> shot = RunChild(screenshot);
  ASSERT_TRUE(shot.ok()) << shot.status();
  ASSERT_TRUE(shot->ok()) << shot->Describe() << "\n"
                          << testing::ReadFileForTest(dir.File("screenshot.log"));
  std::string error;
  const std::optional<Image> image =
      DecodePng(testing::ReadFileForTest(dir.File("page.png")), &error);
  ASSERT_TRUE(image.has_value()) << error;
  EXPECT_EQ(image->width, 1100u);
  EXPECT_EQ(image->height, 1800u);
  std::set<uint32_t> colours(image->pixels.begin(), image->pixels.end());
  // A blank or failed page has one or two colours; text and charts have hundreds.
  EXPECT_GT(colours.size(), 32u) << "the screenshot looks blank";
  size_t white = 0;
  for (uint32_t pixel : image->pixels) white += pixel == 0xffffff;
  EXPECT_LT(white, image->pixels.size() * 98 / 100) << "the screenshot is almost all white";

  ChildOptions dump = screenshot;
  dump.argv = common;
  dump.argv.push_back("--dump-dom");
  dump.argv.push_back(absl::StrCat("file://", dir.File("run.html")));
  dump.output_path = dir.File("dom.html");
  absl::StatusOr<ChildResult> dumped = RunChild(dump);
  ASSERT_TRUE(dumped.ok() && dumped->ok()) << testing::ReadFileForTest(dir.File("dom.html"));
  const std::string dom = testing::ReadFileForTest(dir.File("dom.html"));
  // The rendered document, not just the file: the browser parsed these as SVG elements.
  EXPECT_GE(Count(dom, "<svg "), 6u);  // four timeline charts, the curve, the histogram
  EXPECT_THAT(dom, HasSubstr("class=\"chart timeline rates\""));
  EXPECT_GE(Count(dom, "<polyline class=\"series\""), 4u);
  EXPECT_GE(Count(dom, "<rect class=\"band\""), 1u);  // the path went down every 500 ms
  EXPECT_THAT(dom, HasSubstr("class=\"chart latency percentiles\""));
  if (report.value("violation_count", 0) > 0) {
    EXPECT_THAT(dom, HasSubstr("<a class=\"mark\" href=\"#violation-1\">"));
    EXPECT_THAT(dom, HasSubstr("<tr id=\"violation-1\">"));
  }
}

}  // namespace
}  // namespace netrig
