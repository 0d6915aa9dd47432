// Where tests find the source tree (corpora, configs) and the build tree (the netrig binary).
#ifndef NETRIG_TESTS_SUPPORT_PATHS_H_
#define NETRIG_TESTS_SUPPORT_PATHS_H_

#include <string>

namespace netrig::testing {

std::string SourceDir();
std::string BinaryDir();
// build/<preset>/bin/netrig
std::string NetrigBinary();

}  // namespace netrig::testing

#endif  // NETRIG_TESTS_SUPPORT_PATHS_H_
