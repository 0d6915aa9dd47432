#include "harness/base/exit_codes.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace netrig {

std::string ExitCodeMeaning(int code) {
  switch (code) {
    case kExitOk:
      return "no violations";
    case kExitFinding:
      return "violations found";
    case kExitUsage:
      return "bad input or an output that could not be written";
    case kExitInconclusive:
      return "inconclusive";
    case kExitAsan:
      return "AddressSanitizer report";
    case kExitUbsan:
      return "UndefinedBehaviorSanitizer report";
    case kExitLsan:
      return "LeakSanitizer report";
    case kExitTsan:
      return "ThreadSanitizer report";
    default:
      return IsInterruptedExit(code) ? absl::StrCat("interrupted by signal ", code - 128)
                                     : "exit status";
  }
}

}  // namespace netrig
