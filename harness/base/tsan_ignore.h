// Making a piece of netrig invisible to ThreadSanitizer.
//
// Some of netrig's own synchronization must not be seen by TSan: a controlled scheduler's baton
// or the thread census's lock would order the threads under test and hide their data races
// (see ../shared/controlled-scheduling.md). These calls tell the TSan runtime to ignore this
// thread's synchronization, and optionally its reads and writes, until the matching End. The
// runtime's entry points are weak symbols: in every other build the calls do nothing.
//
// Example:
//   {
//     netrig::TsanInvisibleScope invisible;  // the lock and the books it guards go unseen
//     std::lock_guard<std::mutex> lock(books_mu);
//     books.push_back(entry);
//   }
#ifndef NETRIG_HARNESS_BASE_TSAN_IGNORE_H_
#define NETRIG_HARNESS_BASE_TSAN_IGNORE_H_

namespace netrig {

// Begins ignoring this thread's synchronization; with `accesses`, its reads and writes too.
// Scopes nest; each Begin needs an End with the same `accesses`.
void BeginTsanIgnores(bool accesses);
void EndTsanIgnores(bool accesses);

// Synchronization and accesses ignored for the scope's lifetime.
class TsanInvisibleScope {
 public:
  TsanInvisibleScope() { BeginTsanIgnores(/*accesses=*/true); }
  ~TsanInvisibleScope() { EndTsanIgnores(/*accesses=*/true); }
  TsanInvisibleScope(const TsanInvisibleScope&) = delete;
  TsanInvisibleScope& operator=(const TsanInvisibleScope&) = delete;
};

}  // namespace netrig

#endif  // NETRIG_HARNESS_BASE_TSAN_IGNORE_H_
