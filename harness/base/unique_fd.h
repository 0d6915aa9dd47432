// UniqueFd owns one file descriptor and closes it when it goes away; the one fd wrapper netrig
// uses for files, sockets, eventfds and pipes.
//
// Example:
//   netrig::UniqueFd fd(::open(path, O_RDONLY | O_CLOEXEC));
//   if (!fd.valid()) return absl::ErrnoToStatus(errno, absl::StrCat("open ", path));
//   ::read(fd.get(), buffer, size);
#ifndef NETRIG_HARNESS_BASE_UNIQUE_FD_H_
#define NETRIG_HARNESS_BASE_UNIQUE_FD_H_

#include <unistd.h>

#include <utility>

namespace netrig {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) Reset(std::exchange(other.fd_, -1));
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { Reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  // Gives up ownership without closing.
  int Release() { return std::exchange(fd_, -1); }
  // Closes the held descriptor (if any) and holds `fd` instead.
  void Reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

}  // namespace netrig

#endif  // NETRIG_HARNESS_BASE_UNIQUE_FD_H_
