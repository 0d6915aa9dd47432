// Registry<T>: one registry template for every kind of plug-in (UDP flows, HTTP clients, and any
// later kind), in the spirit of Envoy's FactoryRegistry. A user registers an implementation by
// name, from a static object in a source file of their executable (NETRIG_REGISTER_FLOW,
// NETRIG_REGISTER_HTTP_CLIENT) or by calling the kind's Register function; every driver and
// fuzzer then finds it by that name (`--flow NAME`, `--client NAME`, `--list`).
//
// T is the registration record of the kind; it has `std::string name` and `std::string
// description`. Built-in entries are added by the `builtins` function given at construction, run
// once on first use (built-ins added by static objects inside a static library would be dropped
// by the linker). Thread-safe; entries are never removed, so pointers to them stay valid.
//
// Example:
//   struct WidgetRegistration { std::string name; std::string description; WidgetFactory make; };
//   netrig::Registry<WidgetRegistration>& Widgets() {
//     static auto* const registry = new netrig::Registry<WidgetRegistration>(
//         "widget", [](auto& add) { add({"plain", "the reference widget", &MakePlain}); });
//     return *registry;
//   }
//   NETRIG_REGISTER(Widgets(), WidgetRegistration{"mine", "my widget", &MakeMine});
#ifndef NETRIG_HARNESS_BASE_REGISTRY_H_
#define NETRIG_HARNESS_BASE_REGISTRY_H_

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "harness/base/mutex.h"

namespace netrig {

template <typename T>
class Registry {
 public:
  // Adds an entry without running the built-ins (what the builtins function is handed).
  using Adder = std::function<absl::Status(T)>;

  // `kind` names the plug-in kind in messages ("flow", "HTTP client").
  Registry(std::string kind, std::function<void(const Adder&)> builtins)
      : kind_(std::move(kind)), builtins_(std::move(builtins)) {}
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // InvalidArgument for an empty name; AlreadyExists when the name is taken.
  absl::Status Add(T entry) {
    EnsureBuiltins();
    return AddWithoutBuiltins(std::move(entry));
  }

  // nullptr when unknown.
  const T* Find(absl::string_view name) {
    EnsureBuiltins();
    MutexLock lock(&mu_);
    auto it = entries_.find(name);
    return it == entries_.end() ? nullptr : &it->second;
  }

  // Every entry, sorted by name.
  std::vector<const T*> All() {
    EnsureBuiltins();
    MutexLock lock(&mu_);
    std::vector<const T*> out;
    for (const auto& [name, entry] : entries_) out.push_back(&entry);
    return out;
  }

  // NotFound naming `name` and every registered name.
  absl::Status NotFound(absl::string_view name) {
    std::vector<std::string> names;
    for (const T* entry : All()) names.push_back(entry->name);
    return absl::NotFoundError(absl::StrCat("no ", kind_, " named '", name.substr(0, 64),
                                            "'; registered: ", absl::StrJoin(names, ", ")));
  }

  const std::string& kind() const { return kind_; }

 private:
  absl::Status AddWithoutBuiltins(T entry) {
    if (entry.name.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("a ", kind_, " name must not be empty"));
    }
    MutexLock lock(&mu_);
    const std::string name = entry.name;
    if (!entries_.try_emplace(name, std::move(entry)).second) {
      return absl::AlreadyExistsError(
          absl::StrCat("a ", kind_, " named '", name, "' is already registered"));
    }
    return absl::OkStatus();
  }

  void EnsureBuiltins() {
    std::call_once(builtins_once_, [this] {
      if (builtins_) builtins_([this](T entry) { return AddWithoutBuiltins(std::move(entry)); });
    });
  }

  const std::string kind_;
  const std::function<void(const Adder&)> builtins_;
  std::once_flag builtins_once_;
  Mutex mu_;
  // std::map: pointers to values stay valid as entries are added.
  std::map<std::string, T, std::less<>> entries_ ABSL_GUARDED_BY(mu_);
};

namespace internal {

// What NETRIG_REGISTER defines: adds one entry before main(); a failure (a duplicate name) is a
// programming error that must not pass silently.
template <typename T>
struct Registrar {
  Registrar(Registry<T>& registry, T entry) {
    const absl::Status status = registry.Add(std::move(entry));
    if (!status.ok()) {
      std::fprintf(stderr, "netrig: registering a %s: %s\n", registry.kind().c_str(),
                   std::string(status.message()).c_str());
      std::abort();
    }
  }
};

}  // namespace internal
}  // namespace netrig

#define NETRIG_INTERNAL_CONCAT2(a, b) a##b
#define NETRIG_INTERNAL_CONCAT(a, b) NETRIG_INTERNAL_CONCAT2(a, b)
// NETRIG_REGISTER(registry, entry): a static registration with a unique name (__COUNTER__), so
// any number of registrations may share a line (a macro that registers a bug and its twin).
#define NETRIG_REGISTER(registry, ...)                                                 \
  static ::netrig::internal::Registrar NETRIG_INTERNAL_CONCAT(netrig_registrar_,       \
                                                              __COUNTER__)((registry), \
                                                                           __VA_ARGS__)

#endif  // NETRIG_HARNESS_BASE_REGISTRY_H_
