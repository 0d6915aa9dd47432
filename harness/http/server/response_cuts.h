// Where to cut an HTTP/1.1 response so that a client which parses the stream itself meets every
// partial line: the embedded server's `split` fault kind and the scripted mode's
// `ScriptedResponse::split_at_structure` write a response in the pieces between these offsets,
// pausing between them (server.h), so each piece arrives in a read of its own.
//
// The offsets are the structurally interesting points of the response:
//   - inside the status line (after "HTTP/1.1", inside the reason), before its CR, between CR
//     and LF;
//   - inside every header line (inside the name, right after the colon), before its CR, between
//     CR and LF; before the CR of the blank line and between its CR and LF;
//   - a Content-Length body: in its middle;
//   - a chunked body: for each chunk-size line, inside the size (when it has two digits or more),
//     before its CR, after its CR (before the LF) and after its LF; inside the chunk data; before
//     the CR after the data and between that CR and LF; for the last chunk ("0") the same line
//     points; inside every trailer line, before its CR and between CR and LF; before the final
//     CRLF and between its CR and LF.
// Bytes that do not parse as HTTP/1.1 (a fuzzer's input) get the points found up to where
// parsing stopped; an interim (1xx) response is followed by the next one, and after a
// "101 Switching Protocols" head the rest is cut as HTTP/2 frames (H2FrameCuts).
//
// H2FrameCuts does the same for raw HTTP/2 frames (the scripted HTTP/2 mode): inside each 9-byte
// frame header (after the length, after the type), at the start of the payload and in its
// middle, and at every frame boundary. The result is sorted,
// without duplicates, every offset in (0, response.size()), and at most `max_cuts` long (the
// first ones are kept).
//
// Example:
//   std::vector<size_t> cuts = netrig::Http1StructuralCuts(
//       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
//   // cuts include the offset just before the "\r" of "5\r\n" and the one between "\r" and "\n".
#ifndef NETRIG_HARNESS_HTTP_SERVER_RESPONSE_CUTS_H_
#define NETRIG_HARNESS_HTTP_SERVER_RESPONSE_CUTS_H_

#include <cstddef>
#include <vector>

#include "absl/strings/string_view.h"

namespace netrig {

inline constexpr size_t kMaxStructuralCuts = 128;

std::vector<size_t> Http1StructuralCuts(absl::string_view response,
                                        size_t max_cuts = kMaxStructuralCuts);
std::vector<size_t> H2FrameCuts(absl::string_view frames, size_t max_cuts = kMaxStructuralCuts);

}  // namespace netrig

#endif  // NETRIG_HARNESS_HTTP_SERVER_RESPONSE_CUTS_H_
