// Escaping text for the markup netrig writes: HTML pages (--html, `netrig report`, the nightly
// summary.html) and XML (junit.xml). Everything such a page shows came from somewhere else
// (violation messages, flags, client names, test output), so every string goes through one
// function: markup characters become entities, and bytes that are not well-formed UTF-8 or not
// allowed in XML 1.0 (control bytes other than tab and newlines) become '?'. The result is safe
// in element content and in double- or single-quoted attribute values of both HTML and XML.
//
// Example:
//   absl::StrAppend(&page, "<td title=\"", netrig::MarkupEscape(kind), "\">",
//                   netrig::MarkupEscape(message), "</td>");
#ifndef NETRIG_HARNESS_BASE_MARKUP_H_
#define NETRIG_HARNESS_BASE_MARKUP_H_

#include <string>

#include "absl/strings/string_view.h"

namespace netrig {

// `text` as markup character data (see the file comment).
std::string MarkupEscape(absl::string_view text);

}  // namespace netrig

#endif  // NETRIG_HARNESS_BASE_MARKUP_H_
