#include "harness/base/file_io.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/scratch_dir.h"
#include "tests/support/run_netrig.h"

namespace netrig {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::ScratchDir;

mode_t ModeOf(const std::string& path, bool follow = true) {
  struct stat st {};
  EXPECT_EQ(follow ? ::stat(path.c_str(), &st) : ::lstat(path.c_str(), &st), 0) << path;
  return st.st_mode;
}

TEST(WriteFileAtomically, CreatesANewFileAndLeavesNoTemporary) {
  ScratchDir dir;
  ASSERT_TRUE(WriteFileAtomically(dir.File("r.json"), "{}\n").ok());
  EXPECT_EQ(testing::ReadFileForTest(dir.File("r.json")), "{}\n");
  EXPECT_THAT(dir.Entries(), ElementsAre("r.json"));
}

TEST(WriteFileAtomically, ReplacesARegularFileAndKeepsItsMode) {
  ScratchDir dir;
  const std::string path = dir.File("r.json");
  std::ofstream(path) << "old contents that are longer";
  ASSERT_EQ(::chmod(path.c_str(), 0640), 0);
  ASSERT_TRUE(WriteFileAtomically(path, "new").ok());
  EXPECT_EQ(testing::ReadFileForTest(path), "new");
  EXPECT_EQ(ModeOf(path) & 07777, 0640u);
  EXPECT_THAT(dir.Entries(), ElementsAre("r.json"));
}

// The bug this helper exists for: as root, the old temp-file-and-rename replaced a device with a
// regular file (`--json=/dev/null`). A private device node with /dev/null's numbers stands in
// for it, so a regression cannot destroy the machine's own /dev/null.
TEST(WriteFileAtomically, WritesADeviceInPlaceInsteadOfReplacingIt) {
  ScratchDir dir;
  const std::string device = dir.File("null");
  if (::mknod(device.c_str(), S_IFCHR | 0666, makedev(1, 3)) != 0) {
    GTEST_SKIP() << "cannot create a device node here (needs root): " << strerror(errno);
  }
  ASSERT_TRUE(WriteFileAtomically(device, "report").ok());
  EXPECT_TRUE(S_ISCHR(ModeOf(device)));
  EXPECT_THAT(dir.Entries(), ElementsAre("null"));
  // Through a symbolic link too (the /dev/stdout case).
  const std::string link = dir.File("link");
  ASSERT_EQ(::symlink(device.c_str(), link.c_str()), 0);
  ASSERT_TRUE(WriteFileAtomically(link, "report").ok());
  EXPECT_TRUE(S_ISLNK(ModeOf(link, /*follow=*/false)));
  EXPECT_TRUE(S_ISCHR(ModeOf(device)));
}

TEST(WriteFileAtomically, WritesAFifoInPlaceForItsReader) {
  ScratchDir dir;
  const std::string fifo = dir.File("fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::string received;
  std::thread reader([&] { received = testing::ReadFileForTest(fifo); });
  const absl::Status written = WriteFileAtomically(fifo, "through the pipe");
  reader.join();
  ASSERT_TRUE(written.ok()) << written;
  EXPECT_EQ(received, "through the pipe");
  EXPECT_TRUE(S_ISFIFO(ModeOf(fifo)));
  EXPECT_THAT(dir.Entries(), ElementsAre("fifo"));
}

TEST(WriteFileAtomically, FollowsALinkToARegularFileAndKeepsTheLink) {
  ScratchDir dir;
  const std::string target = dir.File("target.json");
  const std::string link = dir.File("link.json");
  std::ofstream(target) << "old";
  ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0);
  ASSERT_TRUE(WriteFileAtomically(link, "new").ok());
  EXPECT_TRUE(S_ISLNK(ModeOf(link, /*follow=*/false)));
  EXPECT_EQ(testing::ReadFileForTest(target), "new");
  EXPECT_THAT(dir.Entries(), ElementsAre("link.json", "target.json"));
}

TEST(WriteFileAtomically, RefusesADanglingLinkAndADirectory) {
  ScratchDir dir;
  const std::string link = dir.File("dangling");
  ASSERT_EQ(::symlink(dir.File("missing").c_str(), link.c_str()), 0);
  const absl::Status dangling = WriteFileAtomically(link, "x");
  EXPECT_EQ(dangling.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(dangling.message(), HasSubstr("symbolic link to a missing file"));
  EXPECT_THAT(dir.Entries(), ElementsAre("dangling"));

  const absl::Status directory = WriteFileAtomically(dir.path(), "x");
  EXPECT_EQ(directory.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(directory.message(), HasSubstr("is a directory"));
}

TEST(WriteFileAtomically, NamesTheErrnoWhenTheDirectoryIsMissing) {
  ScratchDir dir;
  const absl::Status status = WriteFileAtomically(dir.File("no/such/dir/r.json"), "x");
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(status.message(), HasSubstr("No such file or directory"));
  EXPECT_THAT(status.message(), HasSubstr("no/such/dir"));
}

// A full disk (here: a file-size limit, which fails write() the same way) must not leave the
// temporary file behind, nor touch the old file.
TEST(WriteFileAtomically, RemovesItsTemporaryFileWhenTheWriteFails) {
  ScratchDir dir;
  const std::string path = dir.File("r.json");
  std::ofstream(path) << "old";
  struct rlimit saved {};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
  struct sigaction ignore = {}, previous = {};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(::sigaction(SIGXFSZ, &ignore, &previous), 0);
  struct rlimit small = saved;
  small.rlim_cur = 1024;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  const absl::Status status = WriteFileAtomically(path, std::string(64 * 1024, 'x'));
  ::setrlimit(RLIMIT_FSIZE, &saved);
  ::sigaction(SIGXFSZ, &previous, nullptr);
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("File too large"));
  EXPECT_EQ(testing::ReadFileForTest(path), "old");
  EXPECT_THAT(dir.Entries(), ElementsAre("r.json"));
}

// A reader that goes away mid-write (a closed pipe) is an error, not a SIGPIPE that kills netrig.
TEST(WriteFileAtomically, ReaderGoneIsAnErrorNotASignal) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  std::thread reader([read_end = fds[0]] {
    char first;
    (void)::read(read_end, &first, 1);
    ::close(read_end);
  });
  const std::string path = absl::StrCat("/proc/self/fd/", fds[1]);
  const absl::Status status = WriteFileAtomically(path, std::string(1 << 20, 'x'));
  reader.join();
  ::close(fds[1]);
  EXPECT_THAT(status.message(), HasSubstr("Broken pipe"));
}

TEST(CheckWritable, AcceptsWhatCanBeWrittenAndLeavesNothingBehind) {
  ScratchDir dir;
  EXPECT_TRUE(CheckWritable(dir.File("new.json")).ok());
  EXPECT_TRUE(CheckWritable(kStdoutPath).ok());
  EXPECT_TRUE(dir.Entries().empty());
  std::ofstream(dir.File("old.json")) << "old";
  EXPECT_TRUE(CheckWritable(dir.File("old.json")).ok());
  EXPECT_EQ(testing::ReadFileForTest(dir.File("old.json")), "old");
  EXPECT_THAT(dir.Entries(), ElementsAre("old.json"));
}

TEST(CheckWritable, RefusesWhatCannot) {
  ScratchDir dir;
  EXPECT_EQ(CheckWritable(dir.File("missing/r.json")).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(CheckWritable(dir.path()).code(), absl::StatusCode::kFailedPrecondition);
  std::ofstream(dir.File("file")) << "x";
  EXPECT_FALSE(CheckWritable(dir.File("file/r.json")).ok());  // ENOTDIR
  EXPECT_FALSE(CheckWritable("").ok());
}

TEST(PrepareOutputDirectory, CreatesParentsAndRefusesAFile) {
  ScratchDir dir;
  EXPECT_TRUE(PrepareOutputDirectory(dir.File("a/b/c")).ok());
  EXPECT_THAT(dir.Entries(), ElementsAre("a"));
  EXPECT_TRUE(PrepareOutputDirectory(dir.File("a/b/c")).ok());  // Already there.
  std::ofstream(dir.File("file")) << "x";
  EXPECT_EQ(PrepareOutputDirectory(dir.File("file")).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(ReadFileLimited, ReadsARegularFile) {
  ScratchDir dir;
  std::ofstream(dir.File("f")) << "contents";
  absl::StatusOr<std::string> text = ReadFileLimited(dir.File("f"), 8);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, "contents");
}

TEST(ReadFileLimited, RefusesAFileOverTheLimit) {
  ScratchDir dir;
  std::ofstream(dir.File("f")) << "contents";
  EXPECT_EQ(ReadFileLimited(dir.File("f"), 7).status().code(), absl::StatusCode::kOutOfRange);
}

// A FIFO with no writer would block a plain read forever; /dev/zero never ends.
TEST(ReadFileLimited, RefusesFifosDevicesAndDirectoriesWithoutBlocking) {
  ScratchDir dir;
  ASSERT_EQ(::mkfifo(dir.File("fifo").c_str(), 0600), 0);
  const absl::Status fifo = ReadFileLimited(dir.File("fifo"), 1 << 20).status();
  EXPECT_EQ(fifo.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(fifo.message(), HasSubstr("a FIFO"));
  EXPECT_EQ(ReadFileLimited("/dev/zero", 1 << 20).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ReadFileLimited(dir.path(), 1 << 20).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ReadFileLimited(dir.File("missing"), 1 << 20).status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace netrig
