#include "harness/base/markup.h"

namespace netrig {

std::string MarkupEscape(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      switch (c) {
        case '&':
          out += "&amp;";
          break;
        case '<':
          out += "&lt;";
          break;
        case '>':
          out += "&gt;";
          break;
        case '"':
          out += "&quot;";
          break;
        case '\'':
          out += "&#39;";
          break;
        default:
          out.push_back(c >= 0x20 || c == '\t' || c == '\n' || c == '\r' ? static_cast<char>(c)
                                                                         : '?');
      }
      ++i;
      continue;
    }
    // A well-formed UTF-8 sequence of 2-4 bytes (no overlongs, no surrogates) is kept whole.
    const int length = c >= 0xC2 && c <= 0xDF   ? 2
                       : c >= 0xE0 && c <= 0xEF ? 3
                       : c >= 0xF0 && c <= 0xF4 ? 4
                                                : 0;
    bool valid = length > 0 && i + length <= text.size();
    for (int k = 1; valid && k < length; ++k) {
      valid = (static_cast<unsigned char>(text[i + k]) & 0xC0) == 0x80;
    }
    if (valid && length == 3) {
      const unsigned char second = static_cast<unsigned char>(text[i + 1]);
      const unsigned char third = static_cast<unsigned char>(text[i + 2]);
      // No overlong forms, no surrogates, and not U+FFFE or U+FFFF (not XML characters).
      valid = !(c == 0xE0 && second < 0xA0) && !(c == 0xED && second >= 0xA0) &&
              !(c == 0xEF && second == 0xBF && third >= 0xBE);
    }
    if (valid && length == 4) {
      const unsigned char second = static_cast<unsigned char>(text[i + 1]);
      valid = !(c == 0xF0 && second < 0x90) && !(c == 0xF4 && second >= 0x90);
    }
    if (valid) {
      out.append(text.data() + i, static_cast<size_t>(length));
      i += length;
    } else {
      out.push_back('?');
      ++i;
    }
  }
  return out;
}

}  // namespace netrig
