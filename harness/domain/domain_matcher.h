// DomainMatcher: the plug-in kind for domain-pattern routing, beside flows and HTTP clients. A
// user implements it over their product's matcher (the code that decides, per connection,
// whether a proxy or filter handles a host from its match and exception lists), registers it by
// name, and `netrig domains --matcher NAME`, the domain_match fuzzer (NETRIG_MATCHER=NAME) and
// the reload stress judge it against the oracle (domain_oracle.h).
//
// Threading contract: Decide() is called from many threads at once, and Configure() from another
// thread while they run (a settings reload under load). Every Decide() must answer as the rules
// before or the rules after a concurrent Configure() would, never a mix; once Configure() has
// returned, every Decide() that starts later uses the new rules. Configure() with invalid rules
// returns InvalidArgument and keeps the old ones.
//
// Built-ins: "reference" (netrig's own matcher, a suffix-table lookup judged by the oracle like
// any other) and the seeded-bug matchers "bug-*" (bug_matchers.cc, catalogued in
// check/seeded_bugs.h).
//
// Example (in a user's source file, linked into their netrig binary):
//   class MyMatcher : public netrig::DomainMatcher {
//    public:
//     absl::Status Configure(const netrig::DomainConfig& config) override { ... }
//     absl::StatusOr<netrig::DomainDecision> Decide(absl::string_view host) override { ... }
//   };
//   NETRIG_REGISTER_DOMAIN_MATCHER("mine", "my filter's matcher",
//                                  [] { return std::make_unique<MyMatcher>(); });
#ifndef NETRIG_HARNESS_DOMAIN_DOMAIN_MATCHER_H_
#define NETRIG_HARNESS_DOMAIN_DOMAIN_MATCHER_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "harness/base/registry.h"
#include "harness/domain/domain_rules.h"

namespace netrig {

class DomainMatcher {
 public:
  virtual ~DomainMatcher() = default;
  // Replaces the rules (see the threading contract above).
  virtual absl::Status Configure(const DomainConfig& config) = 0;
  // The route for `host` as a connection names it (any case, trailing dot, Unicode or A-label,
  // IP literal). InvalidArgument for a host the matcher refuses. Before the first Configure():
  // no patterns (everything bypassed).
  virtual absl::StatusOr<DomainDecision> Decide(absl::string_view host) = 0;
};

using DomainMatcherFactory = std::function<std::unique_ptr<DomainMatcher>()>;

struct DomainMatcherRegistration {
  std::string name;
  std::string description;
  DomainMatcherFactory make;
};

// The matcher registry (base/registry.h).
Registry<DomainMatcherRegistration>& DomainMatcherRegistry();
// NotFound naming the known matchers when `name` is unknown.
absl::StatusOr<std::unique_ptr<DomainMatcher>> MakeDomainMatcher(absl::string_view name);

// netrig's own matcher, for users who want to wrap or compare with it.
std::unique_ptr<DomainMatcher> MakeReferenceDomainMatcher();

namespace internal {
// The seeded-bug matchers (bug_matchers.cc), added with the built-ins.
void RegisterBuiltinBugMatchers(const Registry<DomainMatcherRegistration>::Adder& add);
}  // namespace internal

}  // namespace netrig

// NETRIG_REGISTER_DOMAIN_MATCHER("name", "description", factory)
#define NETRIG_REGISTER_DOMAIN_MATCHER(name, description, factory) \
  NETRIG_REGISTER(::netrig::DomainMatcherRegistry(),               \
                  ::netrig::DomainMatcherRegistration{name, description, factory})

#endif  // NETRIG_HARNESS_DOMAIN_DOMAIN_MATCHER_H_
