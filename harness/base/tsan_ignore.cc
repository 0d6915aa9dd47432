#include "harness/base/tsan_ignore.h"

// TSan's annotation entry points: defined only when the TSan runtime is linked, null elsewhere.
extern "C" void AnnotateIgnoreSyncBegin(const char* file, int line) __attribute__((weak));
extern "C" void AnnotateIgnoreSyncEnd(const char* file, int line) __attribute__((weak));
extern "C" void AnnotateIgnoreReadsBegin(const char* file, int line) __attribute__((weak));
extern "C" void AnnotateIgnoreReadsEnd(const char* file, int line) __attribute__((weak));
extern "C" void AnnotateIgnoreWritesBegin(const char* file, int line) __attribute__((weak));
extern "C" void AnnotateIgnoreWritesEnd(const char* file, int line) __attribute__((weak));

namespace netrig {

void BeginTsanIgnores(bool accesses) {
  if (AnnotateIgnoreSyncBegin == nullptr) return;
  AnnotateIgnoreSyncBegin(__FILE__, __LINE__);
  if (!accesses) return;
  AnnotateIgnoreReadsBegin(__FILE__, __LINE__);
  AnnotateIgnoreWritesBegin(__FILE__, __LINE__);
}

void EndTsanIgnores(bool accesses) {
  if (AnnotateIgnoreSyncEnd == nullptr) return;
  if (accesses) {
    AnnotateIgnoreWritesEnd(__FILE__, __LINE__);
    AnnotateIgnoreReadsEnd(__FILE__, __LINE__);
  }
  AnnotateIgnoreSyncEnd(__FILE__, __LINE__);
}

}  // namespace netrig
