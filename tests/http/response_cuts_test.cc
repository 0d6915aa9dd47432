// Http1StructuralCuts and H2FrameCuts (harness/http/server/response_cuts.h): the points a split
// response is cut at, found by name in a known response.
#include "harness/http/server/response_cuts.h"

#include <algorithm>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace netrig {
namespace {

using ::testing::Contains;
using ::testing::Each;
using ::testing::Gt;
using ::testing::Lt;

constexpr absl::string_view kChunked =
    "HTTP/1.1 200 OK\r\n"
    "Transfer-Encoding: chunked\r\n"
    "\r\n"
    "1a\r\n"
    "abcdefghijklmnopqrstuvwxyz\r\n"
    "0\r\n"
    "X-Trailer: yes\r\n"
    "\r\n";

size_t At(absl::string_view text, absl::string_view what, size_t plus = 0) {
  const size_t at = text.find(what);
  EXPECT_NE(at, absl::string_view::npos) << what;
  return at + plus;
}

TEST(Http1StructuralCuts, CutsEveryLineChunkAndTrailerWhereAParserCanTrip) {
  const std::vector<size_t> cuts = Http1StructuralCuts(kChunked);
  ASSERT_FALSE(cuts.empty());
  EXPECT_TRUE(std::is_sorted(cuts.begin(), cuts.end()));
  EXPECT_EQ(std::adjacent_find(cuts.begin(), cuts.end()), cuts.end());
  EXPECT_THAT(cuts, Each(Gt(0u)));
  EXPECT_THAT(cuts, Each(Lt(kChunked.size())));

  // Inside the status line, before its CR, between CR and LF.
  EXPECT_THAT(cuts, Contains(8u));  // "HTTP/1.1|"
  EXPECT_THAT(cuts, Contains(At(kChunked, "\r\nTransfer")));
  EXPECT_THAT(cuts, Contains(At(kChunked, "\r\nTransfer", 1)));
  // Inside a header line (inside its name, after its colon) and at its end.
  const size_t header = At(kChunked, "Transfer-Encoding");
  EXPECT_THAT(cuts, Contains(header + std::string("Transfer-Encoding").size() / 2));
  EXPECT_THAT(cuts, Contains(header + std::string("Transfer-Encoding:").size()));
  // The blank line: before its CR and between CR and LF.
  EXPECT_THAT(cuts, Contains(At(kChunked, "\r\n\r\n1a", 2)));
  EXPECT_THAT(cuts, Contains(At(kChunked, "\r\n\r\n1a", 3)));
  // The chunk-size line "1a": inside the size, before its CR, after its CR, after its LF.
  const size_t size_line = At(kChunked, "1a\r\n");
  EXPECT_THAT(cuts, Contains(size_line + 1));
  EXPECT_THAT(cuts, Contains(size_line + 2));
  EXPECT_THAT(cuts, Contains(size_line + 3));
  EXPECT_THAT(cuts, Contains(size_line + 4));
  // Inside the chunk data, before the CRLF after it and between that CR and LF.
  const size_t data = size_line + 4;
  EXPECT_THAT(cuts, Contains(data + 13));
  EXPECT_THAT(cuts, Contains(data + 26));
  EXPECT_THAT(cuts, Contains(data + 27));
  // The last chunk "0": before and after its CR, after its LF.
  const size_t last = At(kChunked, "0\r\nX-Trailer");
  EXPECT_THAT(cuts, Contains(last + 1));
  EXPECT_THAT(cuts, Contains(last + 2));
  EXPECT_THAT(cuts, Contains(last + 3));
  // Inside the trailer and at its end; before the final CRLF and between it.
  const size_t trailer = At(kChunked, "X-Trailer: yes");
  EXPECT_THAT(cuts, Contains(trailer + std::string("X-Trailer: yes").size() / 2));
  EXPECT_THAT(cuts, Contains(trailer + std::string("X-Trailer: yes").size()));
  EXPECT_THAT(cuts, Contains(kChunked.size() - 2));
  EXPECT_THAT(cuts, Contains(kChunked.size() - 1));
}

TEST(Http1StructuralCuts, FollowsInterimResponsesAndCutsAContentLengthBody) {
  const std::string response =
      "HTTP/1.1 100 Continue\r\n\r\n"
      "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789";
  const std::vector<size_t> cuts = Http1StructuralCuts(response);
  const size_t final_status = response.find("HTTP/1.1 200");
  EXPECT_THAT(cuts, Contains(final_status + 8));
  EXPECT_THAT(cuts, Contains(response.find("0123456789") + 5));
}

TEST(Http1StructuralCuts, GarbageGetsThePointsUpToWhereItStopsParsing) {
  EXPECT_TRUE(Http1StructuralCuts("").empty());
  EXPECT_TRUE(Http1StructuralCuts("no line end at all").empty());
  const std::vector<size_t> cuts = Http1StructuralCuts("HTTP/1.1 200 OK\r\nbroken");
  EXPECT_THAT(cuts, Contains(15u));  // Before the status line's CR.
  EXPECT_THAT(cuts, Each(Lt(std::string("HTTP/1.1 200 OK\r\nbroken").size())));
  // A chunk size that does not fit the bytes stops the search without reading past them.
  const std::string huge = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffff\r\nab";
  EXPECT_THAT(Http1StructuralCuts(huge), Each(Lt(huge.size())));
  // At most max_cuts, the first ones.
  const std::vector<size_t> few = Http1StructuralCuts(kChunked, 3);
  ASSERT_EQ(few.size(), 3u);
  EXPECT_EQ(few[0], Http1StructuralCuts(kChunked)[0]);
}

TEST(H2FrameCuts, CutsInsideFrameHeadersAndPayloads) {
  // SETTINGS (empty), then DATA of 4 bytes on stream 1.
  const std::string frames =
      std::string("\0\0\0\x04\0\0\0\0\0", 9) + std::string("\0\0\x04\0\x01\0\0\0\x01", 9) + "abcd";
  const std::vector<size_t> cuts = H2FrameCuts(frames);
  EXPECT_THAT(cuts, Contains(3u));
  EXPECT_THAT(cuts, Contains(4u));
  EXPECT_THAT(cuts, Contains(9u));  // The frame boundary.
  EXPECT_THAT(cuts, Contains(9u + 3));
  EXPECT_THAT(cuts, Contains(18u + 2));  // Inside the DATA payload.
  EXPECT_THAT(cuts, Each(Lt(frames.size())));
  // After a 101, the HTTP/1.1 cuts go on into the frames.
  const std::string upgrade = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n" + frames;
  const size_t start = upgrade.size() - frames.size();
  EXPECT_THAT(Http1StructuralCuts(upgrade), Contains(start + 18 + 2));
}

}  // namespace
}  // namespace netrig
