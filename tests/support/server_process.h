// A real server (nginx, nghttpd, ...) for an integration test: started in the foreground as the
// current user on a free 127.0.0.1 port, waited for until it accepts, and stopped on every path
// out of the test (SIGTERM, then SIGKILL). Tests skip, saying why, when it cannot start.
//
// Example:
//   const std::string nghttpd = netrig::testing::FindExecutable({"/usr/sbin/nghttpd"});
//   if (nghttpd.empty()) GTEST_SKIP() << "nghttpd is not installed";
//   netrig::testing::ServerProcess server("nghttpd");
//   if (!server.Start([&](int port) {
//         return std::vector<std::string>{nghttpd, "--no-tls", "-a", "127.0.0.1",
//                                         absl::StrCat(port)};
//       }, dir.File("nghttpd.log"))) {
//     GTEST_SKIP() << server.error();
//   }
//   ... drive http://127.0.0.1:<server.port()>/ ...
#ifndef NETRIG_TESTS_SUPPORT_SERVER_PROCESS_H_
#define NETRIG_TESTS_SUPPORT_SERVER_PROCESS_H_

#include <sys/types.h>

#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

namespace netrig::testing {

// The first of `candidates` that is an executable file; "" when none is.
std::string FindExecutable(std::initializer_list<const char*> candidates);

class ServerProcess {
 public:
  explicit ServerProcess(std::string name) : name_(std::move(name)) {}
  ~ServerProcess() { Stop(); }
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // Picks a free 127.0.0.1 port, runs argv_for(port) with stdout and stderr appended to
  // `log_path`, and returns true once the port accepts TCP (10 s at most). Tries up to three
  // ports (one may be taken between the pick and the server's bind). On false, error() says why
  // with the log.
  bool Start(const std::function<std::vector<std::string>(int port)>& argv_for,
             const std::string& log_path);
  // SIGTERM (fast shutdown), then SIGKILL if it lingers 5 s. Safe to call twice.
  void Stop();

  int port() const { return port_; }
  const std::string& error() const { return error_; }
  // What the server wrote so far (its log file).
  std::string log() const;

 private:
  bool StartOnce(const std::vector<std::string>& args);

  const std::string name_;
  pid_t pid_ = -1;
  int port_ = -1;
  std::string log_path_;
  std::string error_;
};

}  // namespace netrig::testing

#endif  // NETRIG_TESTS_SUPPORT_SERVER_PROCESS_H_
