// Which sanitizer this translation unit is compiled with: the one place that asks the compiler
// (clang's __has_feature, gcc's __SANITIZE_*__), for code that must act differently under one
// (a leak check only ASan builds can run, a test of a detector only its preset can run).
//
//   NETRIG_ASAN  defined (1) under AddressSanitizer (the asan and fuzz presets)
//   NETRIG_TSAN  defined (1) under ThreadSanitizer
//   netrig::kBuiltWithAsan / kBuiltWithTsan  the same as constants, for `if constexpr`
//
// Example:
//   #include "harness/base/sanitizers.h"
//   #if defined(NETRIG_ASAN)
//   #include <sanitizer/lsan_interface.h>
//   #endif
#ifndef NETRIG_HARNESS_BASE_SANITIZERS_H_
#define NETRIG_HARNESS_BASE_SANITIZERS_H_

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NETRIG_ASAN 1
#endif
#if __has_feature(thread_sanitizer)
#define NETRIG_TSAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(NETRIG_ASAN)
#define NETRIG_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__) && !defined(NETRIG_TSAN)
#define NETRIG_TSAN 1
#endif

namespace netrig {
#if defined(NETRIG_ASAN)
inline constexpr bool kBuiltWithAsan = true;
#else
inline constexpr bool kBuiltWithAsan = false;
#endif
#if defined(NETRIG_TSAN)
inline constexpr bool kBuiltWithTsan = true;
#else
inline constexpr bool kBuiltWithTsan = false;
#endif
}  // namespace netrig

#endif  // NETRIG_HARNESS_BASE_SANITIZERS_H_
