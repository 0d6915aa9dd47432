// Reading and writing the files netrig is handed: reports, finding files, nightly summaries,
// corpora and options. netrig runs as root in nightly jobs and reads files other people and
// fuzzers wrote, so every file goes through these two doors:
//
// WriteFileAtomically(path, text) never destroys what a path points at:
//   - "-" writes to stdout;
//   - an existing file that is not a regular file (a device such as /dev/null, a FIFO, a
//     terminal) is opened and written in place, never replaced;
//   - a regular file, or a path where nothing exists yet, is written to a temporary file in the
//     same directory and renamed over the path, so a reader never sees half a file;
//   - a symbolic link is followed deliberately: what it points to is written by the rules
//     above (a regular target is replaced, the link stays a link); a dangling link is refused;
//   - a directory is refused;
//   - on every failure path the temporary file is removed, and the error names the path, the
//     step that failed and the errno text.
// CheckWritable(path) answers, before a long run, whether that write can succeed.
//
// ReadFileLimited(path, max_bytes) reads only regular files (a FIFO would block, /dev/zero never
// ends) and refuses one larger than max_bytes.
//
// Status codes (the policy for every file error in netrig): an operating-system failure carries
// absl::ErrnoToStatus's code for its errno (ENOENT NotFound, EACCES PermissionDenied, ENOSPC
// ResourceExhausted, ...); a path naming the wrong kind of file is FailedPrecondition; a file
// over its size limit is OutOfRange.
//
// Example:
//   if (absl::Status ok = netrig::CheckWritable(json_path); !ok.ok()) return ok;  // before the run
//   ...
//   absl::Status written = netrig::WriteFileAtomically(json_path, report.dump(2) + "\n");
//   absl::StatusOr<std::string> text = netrig::ReadFileLimited(path, 16 << 20);
#ifndef NETRIG_HARNESS_BASE_FILE_IO_H_
#define NETRIG_HARNESS_BASE_FILE_IO_H_

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace netrig {

// The path that means standard output.
inline constexpr absl::string_view kStdoutPath = "-";

// Writes `contents` to `path` by the rules in the file comment.
absl::Status WriteFileAtomically(absl::string_view path, absl::string_view contents);

// OK when WriteFileAtomically(path, ...) can be expected to succeed: stdout is open; an existing
// non-regular file is writable; for a regular or absent file, a temporary file can be created
// (and is removed again) in its directory. Writes nothing else.
absl::Status CheckWritable(absl::string_view path);

// Creates `dir` and its parents when absent and checks that a file can be created in it.
absl::Status PrepareOutputDirectory(absl::string_view dir);

// The whole of a regular file of at most `max_bytes` bytes.
absl::StatusOr<std::string> ReadFileLimited(absl::string_view path, size_t max_bytes);

}  // namespace netrig

#endif  // NETRIG_HARNESS_BASE_FILE_IO_H_
