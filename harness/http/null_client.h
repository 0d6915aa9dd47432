// The `null` HTTP client: completes every task at once, in process, with status 200 and no I/O.
//
// It is the harness's ceiling: `netrig http --client null` measures what netrig itself spends per
// task (spawning, the ledger, the latency histogram, cancels, session churn, observers) apart from
// any client, so a benchmark can say whether a real client or the harness is the bottleneck
// (`scripts/bench`). It keeps the whole HttpClient contract (exactly-once completion, cancel at
// any moment, invalidation, observers), so every check of `netrig http` holds for it:
//
//   netrig http --client null --faults=none --duration 5s
//
// Resume() runs the completion on the caller's thread before it returns; a Cancel() that comes
// first completes the task as cancelled instead. There are no connections: observers are kept
// and never called.
#ifndef NETRIG_HARNESS_HTTP_NULL_CLIENT_H_
#define NETRIG_HARNESS_HTTP_NULL_CLIENT_H_

#include <memory>

#include "harness/http/http_client.h"

namespace netrig {

std::unique_ptr<HttpClient> NewNullHttpClient();

}  // namespace netrig

#endif  // NETRIG_HARNESS_HTTP_NULL_CLIENT_H_
