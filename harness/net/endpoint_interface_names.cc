#include <net/if.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "harness/base/mutex.h"
#include "harness/base/no_coverage.h"
#include "harness/net/endpoint.h"
#include "harness/net/endpoint_internal.h"

namespace netrig::internal {
namespace endpoint_impl {

InterfaceNames& InterfaceNames::Get() {
  static InterfaceNames* const names = new InterfaceNames;
  return *names;
}

NETRIG_NO_COVERAGE std::optional<uint32_t> InterfaceNames::IndexOf(absl::string_view name) {
  return Lookup([name](const Entries& entries) -> std::optional<uint32_t> {
    for (const auto& [index, entry_name] : entries) {
      if (entry_name == name) return index;
    }
    return std::nullopt;
  });
}

NETRIG_NO_COVERAGE std::optional<std::string> InterfaceNames::NameOf(uint32_t index) {
  return Lookup([index](const Entries& entries) -> std::optional<std::string> {
    for (const auto& [entry_index, name] : entries) {
      if (entry_index == index) return name;
    }
    return std::nullopt;
  });
}

void InterfaceNames::Invalidate() {
  MutexLock lock(&mu_);
  loaded_ = false;
}

template <typename Find>
NETRIG_NO_COVERAGE auto InterfaceNames::Lookup(Find find) -> decltype(find(Entries{})) {
  MutexLock lock(&mu_);
  ReloadIfOlderThan(std::chrono::seconds(1));
  auto found = find(entries_);
  if (!found.has_value() && ReloadIfOlderThan(std::chrono::milliseconds(50))) {
    found = find(entries_);
  }
  return found;
}

NETRIG_NO_COVERAGE bool InterfaceNames::ReloadIfOlderThan(
    std::chrono::steady_clock::duration max_age) {
  const auto now = std::chrono::steady_clock::now();
  if (loaded_ && now - loaded_at_ < max_age) return false;
  entries_.clear();
  if (struct if_nameindex* list = if_nameindex(); list != nullptr) {
    for (const struct if_nameindex* it = list; it->if_index != 0 && it->if_name != nullptr; ++it) {
      entries_.emplace_back(it->if_index, it->if_name);
    }
    if_freenameindex(list);
  }
  loaded_ = true;
  loaded_at_ = now;
  return true;
}

Scope ScopeFromIndex(uint32_t index) {
  if (index == 0) return {};
  std::optional<std::string> name = InterfaceNames::Get().NameOf(index);
  if (name.has_value() && IsPrintableScopeName(*name)) return {index, *std::move(name)};
  return {index, absl::StrCat(index)};
}

Scope ScopeFromName(absl::string_view name) {
  std::optional<uint32_t> index = InterfaceNames::Get().IndexOf(name);
  return {index.value_or(0), std::string(name)};
}

}  // namespace endpoint_impl

void ReloadInterfaceNames() { endpoint_impl::InterfaceNames::Get().Invalidate(); }

}  // namespace netrig::internal
