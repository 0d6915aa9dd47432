#include "harness/base/registry.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace netrig {
namespace {

using ::testing::HasSubstr;

struct Widget {
  std::string name;
  std::string description;
  int value = 0;
};

int builtin_runs = 0;

Registry<Widget>& Widgets() {
  static auto* const registry = new Registry<Widget>("widget", [](const auto& add) {
    ++builtin_runs;
    (void)add({"plain", "the built-in widget", 1});
  });
  return *registry;
}

// Two registrations on one line: each gets its own object (__COUNTER__, not __LINE__).
#define REGISTER_TWINS(a, b)                   \
  NETRIG_REGISTER(Widgets(), Widget{a, a, 2}); \
  NETRIG_REGISTER(Widgets(), Widget{b, b, 3})
REGISTER_TWINS("twin-a", "twin-b");

TEST(Registry, BuiltinsRunOnceAndStaticRegistrationsJoinThem) {
  ASSERT_NE(Widgets().Find("plain"), nullptr);
  EXPECT_EQ(Widgets().Find("plain")->value, 1);
  EXPECT_EQ(Widgets().Find("twin-a")->value, 2);
  EXPECT_EQ(Widgets().Find("twin-b")->value, 3);
  EXPECT_EQ(Widgets().All().size(), 3u);
  EXPECT_EQ(builtin_runs, 1);
}

TEST(Registry, DuplicatesAndEmptyNamesAreRefused) {
  EXPECT_EQ(Widgets().Add({"plain", "again", 9}).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(Widgets().Add({"", "no name", 9}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Widgets().Find("plain")->value, 1);
}

TEST(Registry, NotFoundNamesEveryRegisteredEntry) {
  const absl::Status status = Widgets().NotFound("nope");
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(status.message(), HasSubstr("no widget named 'nope'"));
  EXPECT_THAT(status.message(), HasSubstr("plain, twin-a, twin-b"));
}

}  // namespace
}  // namespace netrig
