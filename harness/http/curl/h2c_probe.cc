#include "harness/http/curl/h2c_probe.h"

#include <curl/curl.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "harness/http/curl/session_internal.h"
#include "harness/http/http_client.h"

namespace netrig {
namespace {

struct Answer {
  bool answered = false;
  bool over_http2 = false;
  std::string text;
};

size_t DiscardBody(char*, size_t size, size_t count, void*) { return size * count; }

Answer Ask(const std::string& url, long version, absl::Duration timeout) {
  Answer answer;
  CURL* easy = curl_easy_init();
  if (easy == nullptr) {
    answer.text = "failed (curl_easy_init)";
    return answer;
  }
  char error[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http");
  curl_easy_setopt(easy, CURLOPT_PROXY, "");  // Never a proxy from the environment.
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &DiscardBody);
  curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, version);
  curl_easy_setopt(easy, CURLOPT_FRESH_CONNECT, 1L);
  curl_easy_setopt(easy, CURLOPT_FORBID_REUSE, 1L);
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS,
                   static_cast<long>(std::max<int64_t>(1, absl::ToInt64Milliseconds(timeout))));
  const CURLcode code = curl_easy_perform(easy);
  if (code == CURLE_OK) {
    long status = 0;
    long negotiated = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(easy, CURLINFO_HTTP_VERSION, &negotiated);
    answer.answered = true;
    answer.over_http2 = negotiated == CURL_HTTP_VERSION_2_0;
    answer.text = absl::StrCat(answer.over_http2 ? "HTTP/2 " : "HTTP/1.x ", status);
  } else {
    answer.text =
        absl::StrCat("failed (", error[0] != '\0' ? error : curl_easy_strerror(code), ")");
  }
  curl_easy_cleanup(easy);
  return answer;
}

}  // namespace

std::string H2cProbe::Describe() const {
  return absl::StrCat("prior knowledge: ", prior_knowledge_answer, "; Upgrade: ", upgrade_answer,
                      upgrade_declined ? " (declined)" : "", " -> ", H2cModeName(mode));
}

H2cProbe ProbeH2c(absl::string_view url, absl::Duration timeout) {
  H2cProbe probe;
  if (absl::Status init = internal::curl_session::GlobalInit(); !init.ok()) {
    probe.prior_knowledge_answer = probe.upgrade_answer =
        absl::StrCat("failed (", init.message(), ")");
    return probe;
  }
  const std::string target(url);
  const Answer prior = Ask(target, CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE, timeout);
  const Answer upgrade = Ask(target, CURL_HTTP_VERSION_2_0, timeout);
  probe.prior_knowledge = prior.answered && prior.over_http2;
  probe.upgrade = upgrade.answered && upgrade.over_http2;
  probe.upgrade_declined = upgrade.answered && !upgrade.over_http2;
  probe.prior_knowledge_answer = prior.text;
  probe.upgrade_answer = upgrade.text;
  if (probe.prior_knowledge && probe.upgrade) {
    probe.mode = H2cMode::kEither;
  } else if (probe.prior_knowledge) {
    probe.mode = H2cMode::kPriorKnowledge;
  } else if (probe.upgrade || probe.upgrade_declined) {
    probe.mode = H2cMode::kUpgrade;
  } else {
    probe.mode = H2cMode::kPriorKnowledge;
  }
  return probe;
}

}  // namespace netrig
