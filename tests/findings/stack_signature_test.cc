// Stack signatures of real clang-19 reports (ASan, UBSan, TSan, LSan, libFuzzer deadly signal and
// timeout), trimmed: the same bug must give the same signature across addresses, values and
// stack order; different bugs must not.
#include "harness/findings/stack_signature.h"

#include <string>

#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace netrig {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kAsanReport[] = R"(INFO: Seed: 2030806337
=================================================================
==11661==ERROR: AddressSanitizer: heap-buffer-overflow on address 0x502000000014 at pc 0x562cc6618fb6 bp 0x7fff42efd5c0 sp 0x7fff42efd5b8
READ of size 1 at 0x502000000014 thread T0
    #0 0x562cc6618fb5 in demo::Parser::Peek(char const*, int) const /tmp/nf/asan.cc:5:74
    #1 0x562cc6618fb5 in Outer(int) /tmp/nf/asan.cc:6:100
    #2 0x562cc661915c in main /tmp/nf/asan.cc:13:22
    #3 0x7f3460645249 in __libc_start_call_main csu/../sysdeps/nptl/libc_start_call_main.h:58:16
    #4 0x7f3460645304 in __libc_start_main csu/../csu/libc-start.c:360:3
    #5 0x562cc6537380 in _start (/tmp/nf/a_asan+0x2c380) (BuildId: 3a3390a720c5a67c33f9a8c7fbfb875ce2e69cd4)

0x502000000014 is located 1 bytes after 3-byte region [0x502000000010,0x502000000013)
allocated by thread T0 here:
    #0 0x562cc65d661f in malloc (/tmp/nf/a_asan+0xcb61f) (BuildId: 3a3390a720c5a67c33f9a8c7fbfb875ce2e69cd4)
    #1 0x562cc6618f34 in Outer(int) /tmp/nf/asan.cc:6:63

SUMMARY: AddressSanitizer: heap-buffer-overflow /tmp/nf/asan.cc:5:74 in demo::Parser::Peek(char const*, int)
==11661==ABORTING
)";

constexpr char kUbsanReport[] =
    R"(asan.cc:7:54: runtime error: signed integer overflow: 2 + 2147483647 cannot be represented in type 'int'
    #0 0x55a1fe493fe6 in Over(int) /tmp/nf/asan.cc:7:54
    #1 0x55a1fe4941af in main /tmp/nf/asan.cc:14:22
    #2 0x7f0ac3c45249 in __libc_start_call_main csu/../sysdeps/nptl/libc_start_call_main.h:58:16

SUMMARY: UndefinedBehaviorSanitizer: undefined-behavior asan.cc:7:54
)";

constexpr char kTsanReport[] = R"(==================
WARNING: ThreadSanitizer: data race (pid=11694)
  Write of size 4 at 0x5625b1755ae8 by main thread:
    #0 Writer() /tmp/nf/asan.cc:9:47 (a_tsan+0xe785e) (BuildId: 236e84542e47e1d26bca40a2bfa2941962a311d1)
    #1 main /tmp/nf/asan.cc:15:40 (a_tsan+0xe797f) (BuildId: 236e84542e47e1d26bca40a2bfa2941962a311d1)

  Previous write of size 4 at 0x5625b1755ae8 by thread T1:
    #0 Reader() /tmp/nf/asan.cc:9:47 (a_tsan+0xe785e) (BuildId: 236e84542e47e1d26bca40a2bfa2941962a311d1)
    #1 void std::__invoke_impl<void, void (*)()>(std::__invoke_other, void (*&&)()) /usr/lib/gcc/x86_64-linux-gnu/12/../../../../include/c++/12/bits/invoke.h:61:14 (a_tsan+0xe7a69) (BuildId: 236e84542e47e1d26bca40a2bfa2941962a311d1)
    #2 std::thread::_State_impl<std::thread::_Invoker<std::tuple<void (*)()>>>::_M_run() /usr/lib/gcc/x86_64-linux-gnu/12/../../../../include/c++/12/bits/std_thread.h:210:13 (a_tsan+0xe7a69)
    #3 <null> <null> (libstdc++.so.6+0xd44a2) (BuildId: 289ee39f8c07bd4fa48102dfeeb7e6f9c76158b4)

  Location is global 'racy' of size 4 at 0x5625b1755ae8 (a_tsan+0x1514ae8)

  Thread T1 (tid=11698, finished) created by main thread at:
    #0 pthread_create <null> (a_tsan+0x62ef1) (BuildId: 236e84542e47e1d26bca40a2bfa2941962a311d1)
    #1 std::thread::_M_start_thread(std::unique_ptr<std::thread::_State, std::default_delete<std::thread::_State>>, void (*)()) <null> (libstdc++.so.6+0xd4578)

SUMMARY: ThreadSanitizer: data race /tmp/nf/asan.cc:9:47 in Writer()
==================
)";

constexpr char kLsanReport[] = R"(
=================================================================
==11706==ERROR: LeakSanitizer: detected memory leaks

Direct leak of 16 byte(s) in 1 object(s) allocated from:
    #0 0x55a03b3a9c2d in operator new[](unsigned long) (/tmp/nf/a_asan+0x10bc2d) (BuildId: 3a3390a720c5a67c33f9a8c7fbfb875ce2e69cd4)
    #1 0x55a03b3ac032 in Leak() /tmp/nf/asan.cc:10:41
    #2 0x7f3e0d045249 in __libc_start_call_main csu/../sysdeps/nptl/libc_start_call_main.h:58:16

SUMMARY: AddressSanitizer: 16 byte(s) leaked in 1 allocation(s).
)";

constexpr char kDeadlySignalReport[] = R"(Running: crash_in
==11709== ERROR: libFuzzer: deadly signal
    #0 0x55b3d68a88f1 in __sanitizer_print_stack_trace (/tmp/nf/fz+0x1128f1) (BuildId: cafb9c0bcc315ab2322e318f82f8dc399904270b)
    #1 0x55b3d67fd8b8 in fuzzer::PrintStackTrace() (/tmp/nf/fz+0x678b8) (BuildId: cafb9c0bcc315ab2322e318f82f8dc399904270b)
    #2 0x55b3d67e2e63 in fuzzer::Fuzzer::CrashCallback() (/tmp/nf/fz+0x4ce63) (BuildId: cafb9c0bcc315ab2322e318f82f8dc399904270b)
    #3 0x7f1700b7a04f  (/lib/x86_64-linux-gnu/libc.so.6+0x3c04f) (BuildId: 93ac61ec5a8eb1396f9fbd350e3169a558528a40)
    #4 0x7f1700bc8eeb in __pthread_kill_implementation nptl/pthread_kill.c:43:17
    #5 0x7f1700b79fb1 in raise signal/../sysdeps/posix/raise.c:26:13
    #6 0x7f1700b64471 in abort stdlib/abort.c:79:7
    #7 0x55b3d68dff60 in Check(unsigned char const*, unsigned long) /tmp/nf/fz.cc:4:105
    #8 0x55b3d68dff93 in LLVMFuzzerTestOneInput /tmp/nf/fz.cc:5:69
    #9 0x55b3d67e43a6 in fuzzer::Fuzzer::ExecuteCallback(unsigned char const*, unsigned long) (/tmp/nf/fz+0x4e3a6) (BuildId: cafb9c0bcc315ab2322e318f82f8dc399904270b)
    #12 0x55b3d67fe2b2 in main (/tmp/nf/fz+0x682b2) (BuildId: cafb9c0bcc315ab2322e318f82f8dc399904270b)

NOTE: libFuzzer has rudimentary signal handlers.
SUMMARY: libFuzzer: deadly signal
)";

constexpr char kTimeoutReport[] = R"(ALARM: working on the last Unit for 1 seconds
       and the timeout value is 1 (use -timeout=N to change)
==11712== ERROR: libFuzzer: timeout after 1 seconds
    #0 0x55dfb160e8f1 in __sanitizer_print_stack_trace (/tmp/nf/fz+0x1128f1) (BuildId: cafb9c0bcc315ab2322e318f82f8dc399904270b)
    #1 0x55dfb15638b8 in fuzzer::PrintStackTrace() (/tmp/nf/fz+0x678b8) (BuildId: cafb9c0bcc315ab2322e318f82f8dc399904270b)
    #2 0x55dfb1548dd7 in fuzzer::Fuzzer::AlarmCallback() (/tmp/nf/fz+0x4cdd7) (BuildId: cafb9c0bcc315ab2322e318f82f8dc399904270b)
    #3 0x7f4ba145a04f  (/lib/x86_64-linux-gnu/libc.so.6+0x3c04f) (BuildId: 93ac61ec5a8eb1396f9fbd350e3169a558528a40)
    #4 0x55dfb1645e8f in Check(unsigned char const*, unsigned long) /tmp/nf/fz.cc:4:118
    #5 0x55dfb1645f93 in LLVMFuzzerTestOneInput /tmp/nf/fz.cc:5:69
    #6 0x55dfb154a3a6 in fuzzer::Fuzzer::ExecuteCallback(unsigned char const*, unsigned long) (/tmp/nf/fz+0x4e3a6) (BuildId: cafb9c0bcc315ab2322e318f82f8dc399904270b)

SUMMARY: libFuzzer: timeout
)";

StackSignature SignatureOf(const std::string& text) {
  return ComputeStackSignature(ParseSanitizerReport(text));
}

TEST(StackSignature, AsanHeapOverflowUsesTheAccessStackWithoutParameters) {
  const SanitizerReport report = ParseSanitizerReport(kAsanReport);
  EXPECT_EQ(report.tool, "asan");
  EXPECT_EQ(report.kind, "heap-buffer-overflow");
  ASSERT_EQ(report.stacks.size(), 2u);
  EXPECT_EQ(report.stacks[0][0].function, "demo::Parser::Peek(char const*, int) const");
  EXPECT_EQ(report.stacks[0][0].location, "asan.cc:5:74");
  EXPECT_EQ(report.stacks[0][5].function, "_start");
  EXPECT_EQ(report.stacks[0][5].location, "a_asan+0x2c380");
  const StackSignature signature = ComputeStackSignature(report);
  EXPECT_THAT(signature.frames, ElementsAre("demo::Parser::Peek", "Outer", "main"));
  EXPECT_EQ(signature.text, "asan heap-buffer-overflow | demo::Parser::Peek | Outer | main");
  EXPECT_THAT(signature.id, ::testing::MatchesRegex("asan-heap-buffer-overflow-[0-9a-f]{16}"));
}

TEST(StackSignature, IgnoresAddressesPidsAndValues) {
  std::string moved = absl::StrReplaceAll(
      kAsanReport, {{"0x562cc66", "0x7aa0011"}, {"==11661==", "==4242=="}, {"6:100", "6:90"}});
  EXPECT_EQ(SignatureOf(moved).id, SignatureOf(kAsanReport).id);
  std::string other_values =
      absl::StrReplaceAll(kUbsanReport, {{"2 + 2147483647", "7 + 2147483641"}});
  EXPECT_EQ(SignatureOf(other_values).id, SignatureOf(kUbsanReport).id);
}

TEST(StackSignature, DifferentTopFrameOrKindIsADifferentBug) {
  std::string other_function = absl::StrReplaceAll(kAsanReport, {{"Outer(int)", "Inner(int)"}});
  EXPECT_NE(SignatureOf(other_function).id, SignatureOf(kAsanReport).id);
  std::string other_kind =
      absl::StrReplaceAll(kAsanReport, {{"heap-buffer-overflow", "heap-use-after-free"}});
  EXPECT_NE(SignatureOf(other_kind).id, SignatureOf(kAsanReport).id);
}

TEST(StackSignature, FrameCountIsConfigurable) {
  const SanitizerReport report = ParseSanitizerReport(kAsanReport);
  EXPECT_THAT(ComputeStackSignature(report, 1).frames, ElementsAre("demo::Parser::Peek"));
  // A bug in Outer reached from another caller of Peek is the same bug at depth 1 only.
  std::string other_caller = absl::StrReplaceAll(kAsanReport, {{"in Outer(int)", "in Else(int)"}});
  EXPECT_EQ(ComputeStackSignature(ParseSanitizerReport(other_caller), 1).id,
            ComputeStackSignature(report, 1).id);
  EXPECT_NE(ComputeStackSignature(ParseSanitizerReport(other_caller), 2).id,
            ComputeStackSignature(report, 2).id);
}

TEST(StackSignature, UbsanKindDropsValuesAndTypes) {
  const SanitizerReport report = ParseSanitizerReport(kUbsanReport);
  EXPECT_EQ(report.tool, "ubsan");
  EXPECT_EQ(report.kind, "signed integer overflow");
  EXPECT_EQ(report.ubsan_site, "asan.cc:7");
  EXPECT_THAT(ComputeStackSignature(report).frames, ElementsAre("Over", "main"));
}

TEST(StackSignature, UbsanWithoutStackFallsBackToTheSite) {
  const StackSignature signature = SignatureOf(
      "x/y/parse.cc:12:3: runtime error: index 5 out of bounds for type 'int[3]'\n"
      "SUMMARY: UndefinedBehaviorSanitizer: undefined-behavior x/y/parse.cc:12:3\n");
  EXPECT_EQ(signature.text, "ubsan index out of bounds | parse.cc:12");
}

TEST(StackSignature, TsanRaceIsIndependentOfWhichAccessComesFirst) {
  const SanitizerReport report = ParseSanitizerReport(kTsanReport);
  EXPECT_EQ(report.tool, "tsan");
  EXPECT_EQ(report.kind, "data race");
  ASSERT_GE(report.stacks.size(), 3u);
  EXPECT_EQ(report.stacks[0][0].function, "Writer()");
  EXPECT_EQ(report.stacks[0][0].location, "asan.cc:9:47");
  EXPECT_EQ(report.stacks[1][3].function, "");
  const StackSignature signature = ComputeStackSignature(report);
  EXPECT_EQ(signature.text, "tsan data race | Reader ~ Writer | main");
  std::string swapped = absl::StrReplaceAll(kTsanReport, {{"#0 Writer()", "#0 READER()"}});
  swapped = absl::StrReplaceAll(swapped, {{"#0 Reader()", "#0 Writer()"}});
  swapped = absl::StrReplaceAll(swapped, {{"#0 READER()", "#0 Reader()"}});
  // Now the first stack is Reader+main, the second Writer: a different race, not the same one
  // reordered; the reordered one is:
  std::string reordered = R"(WARNING: ThreadSanitizer: data race (pid=1)
  Write of size 4 at 0x1 by thread T1:
    #0 Writer() /tmp/nf/asan.cc:9:47 (a_tsan+0xe785e)
    #1 main /tmp/nf/asan.cc:15:40 (a_tsan+0xe797f)
  Previous write of size 4 at 0x1 by main thread:
    #0 Reader() /tmp/nf/asan.cc:9:47 (a_tsan+0xe785e)
SUMMARY: ThreadSanitizer: data race
)";
  std::string reversed = R"(WARNING: ThreadSanitizer: data race (pid=2)
  Read of size 4 at 0x2 by main thread:
    #0 Reader() /tmp/nf/asan.cc:9:47 (a_tsan+0xe785e)
  Previous write of size 4 at 0x2 by thread T1:
    #0 Writer() /tmp/nf/asan.cc:9:47 (a_tsan+0xe785e)
    #1 main /tmp/nf/asan.cc:15:40 (a_tsan+0xe797f)
SUMMARY: ThreadSanitizer: data race
)";
  EXPECT_EQ(SignatureOf(reordered).id, SignatureOf(reversed).id);
  EXPECT_NE(SignatureOf(swapped).id, SignatureOf(reversed).id);
}

TEST(StackSignature, LeakSkipsTheAllocator) {
  const SanitizerReport report = ParseSanitizerReport(kLsanReport);
  EXPECT_EQ(report.tool, "lsan");
  EXPECT_EQ(report.kind, "detected memory leaks");
  EXPECT_THAT(ComputeStackSignature(report).frames, ElementsAre("Leak"));
}

TEST(StackSignature, LibFuzzerDeadlySignalSkipsRuntimeAndAbortFrames) {
  const SanitizerReport report = ParseSanitizerReport(kDeadlySignalReport);
  EXPECT_EQ(report.tool, "libfuzzer");
  EXPECT_EQ(report.kind, "deadly signal");
  EXPECT_EQ(report.stacks[0][3].function, "");
  EXPECT_EQ(report.stacks[0][3].location, "libc.so.6+0x3c04f");
  EXPECT_THAT(ComputeStackSignature(report).frames, ElementsAre("Check", "LLVMFuzzerTestOneInput"));
}

TEST(StackSignature, LibFuzzerTimeout) {
  const StackSignature signature = SignatureOf(kTimeoutReport);
  EXPECT_EQ(signature.text, "libfuzzer timeout | Check | LLVMFuzzerTestOneInput");
  EXPECT_THAT(signature.id, HasSubstr("libfuzzer-timeout-"));
}

TEST(StackSignature, NoReport) {
  const SanitizerReport report = ParseSanitizerReport("INFO: Seed: 1\nDone 100 runs in 1 s\n");
  EXPECT_FALSE(report.found());
  EXPECT_EQ(ComputeStackSignature(report).text, "unknown | <no symbolized frames>");
}

TEST(StackSignature, FunctionNameWithoutParameters) {
  EXPECT_EQ(FunctionNameWithoutParameters("demo::Parser::Peek(char const*, int) const"),
            "demo::Parser::Peek");
  EXPECT_EQ(FunctionNameWithoutParameters("main"), "main");
  EXPECT_EQ(FunctionNameWithoutParameters("Foo::operator()(int) const"), "Foo::operator()");
  EXPECT_EQ(FunctionNameWithoutParameters("(anonymous namespace)::Run(std::function<void ()>)"),
            "(anonymous namespace)::Run");
  EXPECT_EQ(FunctionNameWithoutParameters("netrig::F()::$_0::operator()() const"),
            "netrig::F()::$_0::operator()");
  EXPECT_EQ(FunctionNameWithoutParameters(
                "void std::__invoke_impl<void, void (*)()>(std::__invoke_other, void (*&&)())"),
            "std::__invoke_impl<void, void (*)()>");
  EXPECT_EQ(FunctionNameWithoutParameters("operator new[](unsigned long)"), "operator new[]");
}

}  // namespace
}  // namespace netrig
