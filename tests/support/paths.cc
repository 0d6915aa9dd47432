#include "tests/support/paths.h"

#include <cstdlib>

namespace netrig::testing {

std::string SourceDir() {
  const char* dir = std::getenv("NETRIG_SOURCE_DIR");
  return dir != nullptr ? dir : NETRIG_DEFAULT_SOURCE_DIR;
}

std::string BinaryDir() {
  const char* dir = std::getenv("NETRIG_BINARY_DIR");
  return dir != nullptr ? dir : NETRIG_DEFAULT_BINARY_DIR;
}

std::string NetrigBinary() { return BinaryDir() + "/bin/netrig"; }

}  // namespace netrig::testing
