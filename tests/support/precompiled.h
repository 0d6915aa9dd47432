// The precompiled header of every test binary (tests/CMakeLists.txt): the heavy headers most
// tests include, parsed once per build instead of once per test. Only third-party and standard
// headers: a change to netrig's own headers must not rebuild every test through this file.
#ifndef NETRIG_TESTS_SUPPORT_PRECOMPILED_H_
#define NETRIG_TESTS_SUPPORT_PRECOMPILED_H_

#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

#endif  // NETRIG_TESTS_SUPPORT_PRECOMPILED_H_
