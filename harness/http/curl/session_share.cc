#include <curl/curl.h>

#include <cstddef>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "harness/base/mutex.h"
#include "harness/http/curl/session_internal.h"

namespace netrig::internal::curl_session {

absl::Status GlobalInit() {
  static const CURLcode code = curl_global_init(CURL_GLOBAL_DEFAULT);
  if (code != CURLE_OK) {
    return absl::InternalError(absl::StrCat("curl_global_init: ", curl_easy_strerror(code)));
  }
  return absl::OkStatus();
}

CurlShare::CurlShare(bool with_locks) : share_(curl_share_init()) {
  if (share_ == nullptr) return;
  if (with_locks) {
    curl_share_setopt(share_, CURLSHOPT_LOCKFUNC, &CurlShare::LockData);
    curl_share_setopt(share_, CURLSHOPT_UNLOCKFUNC, &CurlShare::UnlockData);
    curl_share_setopt(share_, CURLSHOPT_USERDATA, this);
  }
  curl_share_setopt(share_, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
}

CurlShare::~CurlShare() {
  if (share_ != nullptr) curl_share_cleanup(share_);
}

void CurlShare::LockData(CURL*, curl_lock_data data, curl_lock_access, void* user) {
  static_cast<CurlShare*>(user)->MutexFor(data).Lock();
}

void CurlShare::UnlockData(CURL*, curl_lock_data data, void* user) {
  static_cast<CurlShare*>(user)->MutexFor(data).Unlock();
}

Mutex& CurlShare::MutexFor(curl_lock_data data) {
  const size_t index = static_cast<size_t>(data);
  return locks_[index < locks_.size() ? index : 0];
}

}  // namespace netrig::internal::curl_session
