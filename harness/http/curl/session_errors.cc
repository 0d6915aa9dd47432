#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstddef>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "harness/http/curl/session_internal.h"
#include "harness/http/http_client.h"

namespace netrig::internal::curl_session {

HttpErrorKind ErrorKindOf(CURLcode code) {
  switch (code) {
    case CURLE_OK:
      return HttpErrorKind::kNone;
    case CURLE_ABORTED_BY_CALLBACK:
      return HttpErrorKind::kCancelled;
    case CURLE_OPERATION_TIMEDOUT:
      return HttpErrorKind::kTimeout;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
      return HttpErrorKind::kConnect;
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2_STREAM:
      return HttpErrorKind::kReset;
    case CURLE_PARTIAL_FILE:
      return HttpErrorKind::kTruncated;
    case CURLE_HTTP2:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_BAD_CONTENT_ENCODING:
    case CURLE_HTTP_RETURNED_ERROR:
      return HttpErrorKind::kProtocol;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_BAD_FUNCTION_ARGUMENT:
    case CURLE_NOT_BUILT_IN:
      return HttpErrorKind::kInvalidRequest;
    case CURLE_FILESIZE_EXCEEDED:
      return HttpErrorKind::kTooLarge;
    default:
      return HttpErrorKind::kOther;
  }
}

namespace {

// How far a finished transfer got, from libcurl's counters of the transfer.
struct TransferProgress {
  bool request_sent = false;      // libcurl wrote the request (it could build it).
  bool response_arrived = false;  // A status line, header or body bytes of the answer arrived.
};

TransferProgress ProgressOf(CURL* easy) {
  long status = 0;
  long header_bytes = 0;
  long request_bytes = 0;
  curl_off_t body_bytes = 0;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_getinfo(easy, CURLINFO_HEADER_SIZE, &header_bytes);
  curl_easy_getinfo(easy, CURLINFO_REQUEST_SIZE, &request_bytes);
  curl_easy_getinfo(easy, CURLINFO_SIZE_DOWNLOAD_T, &body_bytes);
  TransferProgress progress;
  progress.request_sent = request_bytes > 0;
  progress.response_arrived = status != 0 || header_bytes > 0 || body_bytes > 0;
  return progress;
}

}  // namespace

HttpErrorKind ErrorKindOf(CURL* easy, CURLcode code) {
  const HttpErrorKind by_code = ErrorKindOf(code);
  if (easy == nullptr) return by_code;
  switch (code) {
    // libcurl 7.88 reports a response it refuses to store with the code of a caller's mistake
    // (a folded first header line, a NUL in a chunked trailer: Curl_headers_push) or of a
    // request-side failure ("Unsupported HTTP version in response" is
    // CURLE_UNSUPPORTED_PROTOCOL, like an https:// URL libcurl may not use). Once the request
    // went out or the server's bytes arrived, the request was usable: the response is to blame.
    case CURLE_BAD_FUNCTION_ARGUMENT:
    case CURLE_UNSUPPORTED_PROTOCOL: {
      const TransferProgress progress = ProgressOf(easy);
      return progress.request_sent || progress.response_arrived ? HttpErrorKind::kProtocol
                                                                : HttpErrorKind::kInvalidRequest;
    }
    // An illegal chunk size ends the transfer with CURLE_RECV_ERROR too, but the socket did not
    // fail: a real reset or receive failure leaves the OS error (ECONNRESET, ...) behind, and
    // libcurl clears it when the transfer is added to the multi handle.
    case CURLE_RECV_ERROR: {
      long os_errno = 0;
      curl_easy_getinfo(easy, CURLINFO_OS_ERRNO, &os_errno);
      if (os_errno == 0 && ProgressOf(easy).response_arrived) return HttpErrorKind::kProtocol;
      return by_code;
    }
    default:
      return by_code;
  }
}

std::string PeerName(const struct sockaddr* address) {
  char host[64] = "?";
  int port = 0;
  if (address->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(address);
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
    port = ntohs(in->sin_port);
    return absl::StrCat(host, ":", port);
  }
  if (address->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(address);
    inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
    port = ntohs(in6->sin6_port);
    return absl::StrCat("[", host, "]:", port);
  }
  return "?";
}

int LocalPort(int fd) {
  sockaddr_storage local{};
  socklen_t length = sizeof(local);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length) != 0) return -1;
  if (local.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&local)->sin_port);
  if (local.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<sockaddr_in6*>(&local)->sin6_port);
  }
  return -1;
}

absl::Duration Micros(curl_off_t us) { return absl::Microseconds(us); }

std::string OriginOf(absl::string_view url) {
  const size_t scheme_end = url.find("://");
  const size_t authority = scheme_end == absl::string_view::npos ? 0 : scheme_end + 3;
  const size_t end = url.find_first_of("/?#", authority);
  return std::string(url.substr(0, end));
}

}  // namespace netrig::internal::curl_session
