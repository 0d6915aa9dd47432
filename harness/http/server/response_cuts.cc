#include "harness/http/server/response_cuts.h"

#include <algorithm>
#include <cstdint>
#include <initializer_list>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/strip.h"

namespace netrig {
namespace {

constexpr size_t kNpos = absl::string_view::npos;

// Adds the cuts of the frames in `frames`, which start at `base` in the whole response.
void AddFrameCuts(absl::string_view frames, size_t base, std::vector<size_t>* cuts) {
  size_t pos = 0;
  while (frames.size() - pos >= 9) {
    const auto* p = reinterpret_cast<const unsigned char*>(frames.data() + pos);
    const size_t length = (size_t{p[0]} << 16) | (size_t{p[1]} << 8) | p[2];
    for (size_t at : {size_t{3}, size_t{4}, size_t{9}, 9 + length / 2, 9 + length}) {
      cuts->push_back(base + pos + at);
    }
    if (length > frames.size() - pos - 9) return;
    pos += 9 + length;
  }
}

void Finish(size_t size, size_t max_cuts, std::vector<size_t>* cuts) {
  std::sort(cuts->begin(), cuts->end());
  cuts->erase(std::unique(cuts->begin(), cuts->end()), cuts->end());
  std::erase_if(*cuts, [size](size_t at) { return at == 0 || at >= size; });
  if (cuts->size() > max_cuts) cuts->resize(max_cuts);
}

class CutFinder {
 public:
  explicit CutFinder(absl::string_view response) : r_(response) {}

  std::vector<size_t> Find(size_t max_cuts) {
    while (pos_ < r_.size() && Message()) {
    }
    Finish(r_.size(), max_cuts, &cuts_);
    return std::move(cuts_);
  }

 private:
  // The line at pos_ (without its line end), or false when it has no LF. Cuts it at `inside`
  // (offsets into the line, those inside it only), before its CR, between CR and LF, and after.
  bool Line(absl::string_view* line, std::initializer_list<size_t> inside = {}) {
    const size_t lf = r_.find('\n', pos_);
    if (lf == kNpos) return false;
    size_t end = lf;
    if (end > pos_ && r_[end - 1] == '\r') --end;
    for (size_t at : inside) {
      if (at > 0 && pos_ + at < end) cuts_.push_back(pos_ + at);
    }
    cuts_.push_back(end);
    cuts_.push_back(lf);
    cuts_.push_back(lf + 1);
    *line = r_.substr(pos_, end - pos_);
    pos_ = lf + 1;
    return true;
  }

  // One response (an interim one included); false when the bytes stop making sense.
  bool Message() {
    absl::string_view status_line;
    if (!Line(&status_line, {8, 12, 14})) return false;
    int status = 0;
    if (status_line.size() < 12 || !absl::SimpleAtoi(status_line.substr(9, 3), &status)) {
      return false;
    }
    bool chunked = false;
    int64_t content_length = -1;
    for (;;) {
      absl::string_view line;
      const size_t colon = r_.find(':', pos_);
      const size_t name_bytes = colon == kNpos ? 0 : colon - pos_;
      if (!Line(&line, {name_bytes / 2, name_bytes + 1})) return false;
      if (line.empty()) break;
      const size_t at = line.find(':');
      if (at == kNpos) continue;
      const absl::string_view name = line.substr(0, at);
      const absl::string_view value = absl::StripAsciiWhitespace(line.substr(at + 1));
      if (absl::EqualsIgnoreCase(name, "transfer-encoding")) {
        chunked = absl::EndsWithIgnoreCase(value, "chunked");
      } else if (absl::EqualsIgnoreCase(name, "content-length")) {
        if (!absl::SimpleAtoi(value, &content_length)) content_length = -1;
      }
    }
    if (status == 101) {  // HTTP/2 frames from here on (an h2c Upgrade).
      AddFrameCuts(r_.substr(pos_), pos_, &cuts_);
      return false;
    }
    if (status >= 100 && status < 200) return true;  // The final one follows.
    if (status == 204 || status == 304) return true;
    if (chunked) return ChunkedBody();
    if (content_length < 0) return false;  // Up to the close: nothing more to find.
    const size_t length = std::min<size_t>(content_length, r_.size() - pos_);
    if (length >= 2) cuts_.push_back(pos_ + length / 2);
    pos_ += length;
    return true;
  }

  bool ChunkedBody() {
    for (;;) {
      absl::string_view size_line;
      if (!Line(&size_line, {1})) return false;
      uint64_t size = 0;
      size_t digits = 0;
      while (digits < size_line.size() && digits < 15 && absl::ascii_isxdigit(size_line[digits])) {
        const char c = absl::ascii_tolower(size_line[digits]);
        size = size * 16 + (c <= '9' ? c - '0' : c - 'a' + 10);
        ++digits;
      }
      if (digits == 0) return false;
      if (size == 0) break;
      if (size > r_.size() - pos_) return false;
      if (size >= 2) cuts_.push_back(pos_ + size / 2);
      pos_ += size;
      if (!absl::StartsWith(r_.substr(pos_), "\r\n")) return false;
      cuts_.push_back(pos_);
      cuts_.push_back(pos_ + 1);
      pos_ += 2;
    }
    for (;;) {  // Trailers, then the final CRLF.
      absl::string_view line;
      const size_t lf = r_.find('\n', pos_);
      if (!Line(&line, {lf == kNpos ? 0 : (lf - pos_) / 2})) return false;
      if (line.empty()) return true;
    }
  }

  const absl::string_view r_;
  size_t pos_ = 0;
  std::vector<size_t> cuts_;
};

}  // namespace

std::vector<size_t> H2FrameCuts(absl::string_view frames, size_t max_cuts) {
  std::vector<size_t> cuts;
  AddFrameCuts(frames, 0, &cuts);
  Finish(frames.size(), max_cuts, &cuts);
  return cuts;
}

std::vector<size_t> Http1StructuralCuts(absl::string_view response, size_t max_cuts) {
  return CutFinder(response).Find(max_cuts);
}

}  // namespace netrig
