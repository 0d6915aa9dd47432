#include "harness/net/test_namespace.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "harness/base/unique_fd.h"

extern char** environ;

namespace netrig {
namespace internal {
namespace {

constexpr char kNetnsDir[] = "/run/netns";
constexpr char kNamePrefix[] = "netrig-";

// `ip` and friends live in /usr/sbin, which a non-login PATH may lack.
std::string FindProgram(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  std::vector<std::string> dirs;
  if (const char* path = getenv("PATH"); path != nullptr) {
    dirs = absl::StrSplit(path, ':', absl::SkipEmpty());
  }
  for (const char* extra : {"/usr/sbin", "/sbin", "/usr/bin", "/bin"}) dirs.push_back(extra);
  for (const std::string& dir : dirs) {
    const std::string candidate = absl::StrCat(dir, "/", name);
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

// absl::ErrnoToStatus, except that a missing privilege is Unavailable: the tests skip (never
// pass) on Unavailable, which is what a machine without root should give.
absl::Status Errno(absl::string_view what) {
  const int error = errno;
  if (error == EPERM || error == EACCES) {
    return absl::UnavailableError(absl::StrCat(what, ": ", strerror(error)));
  }
  return absl::ErrnoToStatus(error, what);
}

// One SIOCGIF* query about `interface` in the current network namespace.
absl::StatusOr<ifreq> InterfaceIoctl(const std::string& interface, unsigned long request_code,
                                     const char* name) {
  UniqueFd fd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return Errno("socket");
  ifreq request{};
  std::strncpy(request.ifr_name, interface.c_str(), IFNAMSIZ - 1);
  if (ioctl(fd.get(), request_code, &request) != 0) return Errno(name);
  return request;
}

std::string RandomSuffix() {
  std::random_device device;
  return absl::StrFormat("%06x", device() & 0xffffff);
}

}  // namespace
}  // namespace internal

absl::StatusOr<std::string> RunCommand(absl::Span<const std::string> argv) {
  if (argv.empty()) return absl::InvalidArgumentError("RunCommand: empty argv");
  const std::string program = internal::FindProgram(argv[0]);
  const std::string quoted = absl::StrJoin(argv, " ");
  if (program.empty()) return absl::NotFoundError(absl::StrCat("`", argv[0], "` not found"));
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) return internal::Errno("pipe2");
  UniqueFd read_end(pipe_fds[0]);
  UniqueFd write_end(pipe_fds[1]);

  std::vector<std::string> args(argv.begin(), argv.end());
  args[0] = program;
  std::vector<char*> c_args;
  for (std::string& arg : args) c_args.push_back(arg.data());
  c_args.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, write_end.get(), STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, write_end.get(), STDERR_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  pid_t pid = 0;
  const int spawn_error =
      posix_spawn(&pid, program.c_str(), &actions, nullptr, c_args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawn_error != 0) {
    return absl::InternalError(absl::StrCat("cannot run `", quoted, "`: ", strerror(spawn_error)));
  }
  close(write_end.Release());

  std::string output;
  char buffer[4096];
  for (;;) {
    const ssize_t n = read(read_end.get(), buffer, sizeof(buffer));
    if (n > 0) {
      output.append(buffer, static_cast<size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  int wait_status = 0;
  while (waitpid(pid, &wait_status, 0) < 0) {
    if (errno != EINTR) return internal::Errno(absl::StrCat("waitpid for `", quoted, "`"));
  }
  if (WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0) return output;
  const std::string how = WIFEXITED(wait_status) ? absl::StrCat("exit ", WEXITSTATUS(wait_status))
                                                 : absl::StrCat("signal ", WTERMSIG(wait_status));
  const std::string message = absl::StrCat("`", quoted, "` failed (", how, "): ", output);
  // The kernel's or iproute2's way of saying "not privileged here".
  if (absl::StrContains(output, "Operation not permitted") ||
      absl::StrContains(output, "Permission denied")) {
    return absl::UnavailableError(message);
  }
  return absl::InternalError(message);
}

absl::Status TestNamespacePair::CheckAvailable() {
  if (geteuid() != 0) {
    return absl::UnavailableError(
        "network namespaces need root (CAP_SYS_ADMIN and CAP_NET_ADMIN); running as uid " +
        std::to_string(geteuid()));
  }
  if (internal::FindProgram("ip").empty()) {
    return absl::UnavailableError("iproute2's `ip` is not installed (apt-get install iproute2)");
  }
  return absl::OkStatus();
}

int TestNamespacePair::RemoveStaleNamespaces() {
  std::error_code error;
  int removed = 0;
  for (const auto& entry : std::filesystem::directory_iterator(internal::kNetnsDir, error)) {
    const std::string name = entry.path().filename().string();
    absl::string_view rest = name;
    if (!absl::ConsumePrefix(&rest, internal::kNamePrefix)) continue;
    const std::vector<absl::string_view> parts = absl::StrSplit(rest, '-');
    int pid = 0;
    if (parts.empty() || !absl::SimpleAtoi(parts[0], &pid) || pid <= 0) continue;
    if (kill(pid, 0) == 0 || errno != ESRCH) continue;  // its owner still runs
    if (RunCommand({"ip", "netns", "delete", name}).ok()) ++removed;
  }
  return removed;
}

absl::StatusOr<std::unique_ptr<TestNamespacePair>> TestNamespacePair::Create(Options options) {
  if (absl::Status status = CheckAvailable(); !status.ok()) return status;
  RemoveStaleNamespaces();
  std::unique_ptr<TestNamespacePair> pair(new TestNamespacePair());
  const std::string base =
      absl::StrCat(internal::kNamePrefix, getpid(), "-", internal::RandomSuffix());
  pair->a_ = End{base + "-a", "nr0", "10.213.0.1", "fd00:6e72::1"};
  pair->b_ = End{base + "-b", "nr1", "10.213.0.2", "fd00:6e72::2"};
  if (absl::Status status = pair->Build(options.mtu); !status.ok()) {
    pair->Destroy();
    return status;
  }
  return pair;
}

absl::Status TestNamespacePair::Build(uint32_t mtu) {
  for (const End* end : {&a_, &b_}) {
    absl::StatusOr<std::string> added = RunCommand({"ip", "netns", "add", end->netns});
    if (!added.ok()) return added.status();
    created_.push_back(end->netns);
  }
  // Made inside A with its peer placed straight into B: no interface ever exists in the caller's
  // namespace, so names cannot clash with the host's or another test's.
  absl::StatusOr<std::string> linked =
      RunCommand({"ip", "-n", a_.netns, "link", "add", a_.interface, "type", "veth", "peer", "name",
                  b_.interface, "netns", b_.netns});
  if (!linked.ok()) return linked.status();
  for (const End* end : {&a_, &b_}) {
    const std::vector<std::vector<std::string>> commands = {
        {"ip", "-n", end->netns, "link", "set", "lo", "up"},
        {"ip", "-n", end->netns, "addr", "add", end->ipv4 + "/24", "dev", end->interface},
        {"ip", "-n", end->netns, "-6", "addr", "add", end->ipv6 + "/64", "dev", end->interface,
         "nodad"},
        {"ip", "-n", end->netns, "link", "set", end->interface, "up"},
    };
    for (const std::vector<std::string>& command : commands) {
      absl::StatusOr<std::string> done = RunCommand(command);
      if (!done.ok()) return done.status();
    }
  }
  if (absl::Status status = SetMtu(mtu); !status.ok()) return status;
  return WaitUntilRunning();
}

absl::Status TestNamespacePair::SetMtu(uint32_t mtu) {
  for (const End* end : {&a_, &b_}) {
    absl::StatusOr<std::string> done = RunCommand(
        {"ip", "-n", end->netns, "link", "set", end->interface, "mtu", std::to_string(mtu)});
    if (!done.ok()) return done.status();
  }
  for (NamespaceSide side : {NamespaceSide::kA, NamespaceSide::kB}) {
    absl::StatusOr<uint32_t> actual = InterfaceMtu(side);
    if (!actual.ok()) return actual.status();
    if (*actual != mtu) {
      return absl::InternalError(absl::StrCat("asked MTU ", mtu, " on ", end(side).netns, "/",
                                              end(side).interface, ", the kernel has ", *actual));
    }
  }
  mtu_ = mtu;
  return absl::OkStatus();
}

absl::StatusOr<uint32_t> TestNamespacePair::InterfaceMtu(NamespaceSide side) const {
  uint32_t mtu = 0;
  const std::string& interface = end(side).interface;
  absl::Status status = RunIn(side, [&]() -> absl::Status {
    absl::StatusOr<ifreq> request = internal::InterfaceIoctl(interface, SIOCGIFMTU, "SIOCGIFMTU");
    if (!request.ok()) return request.status();
    mtu = static_cast<uint32_t>(request->ifr_mtu);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return mtu;
}

absl::Status TestNamespacePair::WaitUntilRunning() const {
  // veth reports carrier once both ends are up; the kernel's link watch may take a moment.
  constexpr int kAttempts = 100;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    bool all_running = true;
    for (NamespaceSide side : {NamespaceSide::kA, NamespaceSide::kB}) {
      const std::string& interface = end(side).interface;
      absl::Status status = RunIn(side, [&]() -> absl::Status {
        absl::StatusOr<ifreq> request =
            internal::InterfaceIoctl(interface, SIOCGIFFLAGS, "SIOCGIFFLAGS");
        if (!request.ok()) return request.status();
        if ((request->ifr_flags & IFF_RUNNING) == 0) all_running = false;
        return absl::OkStatus();
      });
      if (!status.ok()) return status;
    }
    if (all_running) return absl::OkStatus();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return absl::DeadlineExceededError(
      absl::StrCat("veth ", a_.interface, "/", b_.interface, " did not come up within 5 s"));
}

absl::StatusOr<Endpoint> TestNamespacePair::Address(NamespaceSide side, AddressFamily family,
                                                    uint16_t port) const {
  const End& e = end(side);
  switch (family) {
    case AddressFamily::kIPv4:
      return Endpoint::Parse(absl::StrCat(e.ipv4, ":", port));
    case AddressFamily::kIPv6:
      return Endpoint::Parse(absl::StrCat("[", e.ipv6, "]:", port));
    case AddressFamily::kUnspecified:
      break;
  }
  return absl::InvalidArgumentError("TestNamespacePair::Address: the family is unspecified");
}

absl::Status TestNamespacePair::RunIn(NamespaceSide side,
                                      absl::FunctionRef<absl::Status()> fn) const {
  const std::string path = absl::StrCat(internal::kNetnsDir, "/", end(side).netns);
  absl::Status result;
  // A thread of its own: setns(CLONE_NEWNET) moves only the calling thread, and this one ends
  // when fn returns, so no caller thread is ever left in the namespace.
  std::thread worker([&] {
    UniqueFd ns(open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (ns.get() < 0) {
      result = internal::Errno(absl::StrCat("open ", path));
      return;
    }
    if (setns(ns.get(), CLONE_NEWNET) != 0) {
      result = internal::Errno(absl::StrCat("setns ", path));
      return;
    }
    result = fn();
  });
  worker.join();
  return result;
}

absl::StatusOr<int> TestNamespacePair::SocketIn(NamespaceSide side, int domain, int type) const {
  int fd = -1;
  absl::Status status = RunIn(side, [&]() -> absl::Status {
    fd = socket(domain, type | SOCK_CLOEXEC, 0);
    if (fd < 0) return internal::Errno("socket");
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return fd;
}

absl::StatusOr<std::string> TestNamespacePair::RunCommandIn(
    NamespaceSide side, absl::Span<const std::string> argv) const {
  std::vector<std::string> command = {"ip", "netns", "exec", end(side).netns};
  command.insert(command.end(), argv.begin(), argv.end());
  return RunCommand(command);
}

void TestNamespacePair::Destroy() {
  for (const std::string& netns : created_) {
    absl::StatusOr<std::string> deleted = RunCommand({"ip", "netns", "delete", netns});
    if (!deleted.ok()) {
      // Nothing to return to from a destructor; say it where a person will see it.
      fprintf(stderr, "netrig: could not delete namespace %s: %s\n", netns.c_str(),
              std::string(deleted.status().message()).c_str());
    }
  }
  created_.clear();
}

TestNamespacePair::~TestNamespacePair() { Destroy(); }

}  // namespace netrig
