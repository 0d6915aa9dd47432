// The seeded-bug client "bug-completion-under-lock" (check/seeded_bugs.h): a small in-process
// client with one event thread per session that delivers each completion *while holding the
// session's lock*, the way a client does when it walks its task list under its mutex and calls
// back from inside the walk. Nothing is wrong until a callback calls back into the session
// (makes a follow-up task, cancels another task, invalidates the session): that call needs the
// lock its own thread holds, and the session deadlocks, taking every thread that touches the
// session with it.
//
// Without re-entrance (`netrig http --reentrant=0`) it keeps the whole HttpClient contract and
// runs clean; with it (the default) `netrig http` reports a `hang` naming the event thread
// blocked inside its completion and the spawners blocked in MakeTask, with their stacks:
//
//   netrig http --client bug-completion-under-lock --duration 60s
//
// Tasks complete with status 200 and no I/O (like the null client): the bug is in the locking,
// not on the wire.
#ifndef NETRIG_HARNESS_HTTP_COMPLETION_UNDER_LOCK_CLIENT_H_
#define NETRIG_HARNESS_HTTP_COMPLETION_UNDER_LOCK_CLIENT_H_

#include <memory>

#include "harness/http/http_client.h"

namespace netrig {

std::unique_ptr<HttpClient> NewCompletionUnderLockClient();

}  // namespace netrig

#endif  // NETRIG_HARNESS_HTTP_COMPLETION_UNDER_LOCK_CLIENT_H_
