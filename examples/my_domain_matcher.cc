// A user's own domain matcher, registered as "example-matcher": the way a content filter might
// write one, with its own tables (a sorted list of names per kind) swapped whole on a reload.
// It uses netrig's NormalizeHost for case, trailing dots and IDNA, as a product would use its
// platform's. `netrig domains --matcher example-matcher` and the domain_match fuzzer
// (NETRIG_MATCHER=example-matcher) judge it against the oracle.
#include <algorithm>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "harness/domain/domain_matcher.h"
#include "harness/domain/domain_name.h"

namespace {

struct Tables {
  netrig::DomainSemantics semantics;
  // (canonical name, pattern as written) per kind, for match (0) and except (1).
  std::vector<std::pair<std::string, std::string>> exact[2], below[2], ips[2];
  std::string everything[2];
};

bool Below(const std::string& host, const std::string& name, bool one_label) {
  if (host.size() <= name.size() + 1 || !absl::EndsWith(host, name) ||
      host[host.size() - name.size() - 1] != '.') {
    return false;
  }
  return !one_label || host.find('.') == host.size() - name.size() - 1;
}

class ExampleMatcher final : public netrig::DomainMatcher {
 public:
  absl::Status Configure(const netrig::DomainConfig& config) override {
    auto tables = std::make_shared<Tables>();
    tables->semantics = config.semantics;
    const std::vector<std::string>* lists[2] = {&config.match, &config.except};
    for (int side = 0; side < 2; ++side) {
      for (const std::string& text : *lists[side]) {
        absl::StatusOr<netrig::DomainPattern> pattern = netrig::ParseDomainPattern(text);
        if (!pattern.ok()) return pattern.status();
        switch (pattern->kind) {
          case netrig::PatternKind::kExact:
            tables->exact[side].emplace_back(pattern->name, text);
            break;
          case netrig::PatternKind::kWildcard:
            tables->below[side].emplace_back(pattern->name, text);
            break;
          case netrig::PatternKind::kIpLiteral:
            tables->ips[side].emplace_back(pattern->name, text);
            break;
          case netrig::PatternKind::kEverything:
            tables->everything[side] = text;
            break;
        }
      }
    }
    std::lock_guard<std::mutex> lock(mu_);
    tables_ = std::move(tables);
    return absl::OkStatus();
  }

  absl::StatusOr<netrig::DomainDecision> Decide(absl::string_view text) override {
    absl::StatusOr<netrig::HostName> host = netrig::NormalizeHost(text);
    if (!host.ok()) return host.status();
    std::shared_ptr<const Tables> tables;
    {
      std::lock_guard<std::mutex> lock(mu_);
      tables = tables_;
    }
    if (tables == nullptr) return netrig::DomainDecision{netrig::Route::kBypass, ""};
    for (int side : {1, 0}) {  // Exceptions first: they win.
      const netrig::Route route = side == 1 ? netrig::Route::kBypass : netrig::Route::kHandle;
      if (const std::string* pattern = Find(*tables, side, *host))
        return netrig::DomainDecision{route, *pattern};
    }
    return netrig::DomainDecision{netrig::Route::kBypass, ""};
  }

 private:
  static const std::string* Find(const Tables& tables, int side, const netrig::HostName& host) {
    if (host.kind == netrig::HostKind::kIpLiteral) {
      for (const auto& [ip, text] : tables.ips[side]) {
        if (ip == host.text) return &text;
      }
      return nullptr;
    }
    const bool subtree = tables.semantics.bare == netrig::DomainSemantics::Bare::kSubtree;
    const bool one_label =
        tables.semantics.wildcard == netrig::DomainSemantics::Wildcard::kOneLabel;
    for (const auto& [name, text] : tables.exact[side]) {
      if (host.text == name || (subtree && Below(host.text, name, false))) return &text;
    }
    for (const auto& [name, text] : tables.below[side]) {
      if (Below(host.text, name, one_label)) return &text;
    }
    return tables.everything[side].empty() ? nullptr : &tables.everything[side];
  }

  std::mutex mu_;
  std::shared_ptr<const Tables> tables_;
};

}  // namespace

NETRIG_REGISTER_DOMAIN_MATCHER("example-matcher", "the example filter's domain matcher",
                               [] { return std::make_unique<ExampleMatcher>(); });
