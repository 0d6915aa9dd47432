// `netrig endpoint [--json] TEXT...`: parses each TEXT and prints its canonical form, kind,
// family, address, port and scope (one line, or one JSON object, per input). Errors are listed on
// stderr after every valid input has been printed; the exit status is then 2.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "harness/net/endpoint.h"
#include "nlohmann/json.hpp"
#include "cli/command.h"

namespace netrig::cli {
namespace {

struct EndpointOptions {
  bool json = false;
};

const OptionTable<EndpointOptions>& EndpointTable() {
  static const auto* const table = new OptionTable<EndpointOptions>(
      OptionTable<EndpointOptions>().Bool(
          "json", &EndpointOptions::json,
          "Print one JSON object per input (keys input, canonical, kind, family, address, port,\n"
          "scope, error; null where not applicable) instead of text."));
  return *table;
}

nlohmann::ordered_json ToJson(absl::string_view input, const absl::StatusOr<Endpoint>& e) {
  nlohmann::ordered_json out;
  out["input"] = std::string(input);
  if (!e.ok()) {
    for (const char* key : {"canonical", "kind", "family", "address", "port", "scope"}) {
      out[key] = nullptr;
    }
    out["error"] = std::string(e.status().message());
    return out;
  }
  out["canonical"] = e->ToString();
  out["kind"] = std::string(EndpointKindName(e->kind()));
  out["family"] = std::string(AddressFamilyName(e->family()));
  out["address"] = e->host();
  out["port"] = e->port();
  out["scope"] =
      e->scope().empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(e->scope());
  out["error"] = nullptr;
  return out;
}

// "INPUT -> CANONICAL kind=K family=F address=A port=P scope=S" (scope "-" when none; an
// interface name this host does not have is marked).
std::string ToText(absl::string_view input, const Endpoint& e) {
  std::string line = absl::StrCat(input, " -> ", e.ToString(), " kind=", EndpointKindName(e.kind()),
                                  " family=", AddressFamilyName(e.family()), " address=", e.host(),
                                  " port=", e.port(), " scope=");
  if (e.scope().empty()) {
    absl::StrAppend(&line, "-");
  } else {
    absl::StrAppend(&line, e.scope());
    if (e.scope_id() == 0) absl::StrAppend(&line, " (no such interface on this host)");
  }
  return line;
}

}  // namespace

std::string EndpointFlagsHelp() { return EndpointTable().Help(); }

int RunEndpoint(const std::vector<std::string>& raw_args) {
  EndpointOptions options;
  std::optional<std::vector<std::string>> positional =
      ParseCommandLine("endpoint", EndpointTable(), raw_args, options);
  if (!positional) return kExitUsage;
  const std::vector<std::string>& args = *positional;
  if (args.empty()) {
    std::fprintf(stderr,
                 "error: netrig endpoint needs at least one TEXT (e.g. netrig endpoint "
                 "'[fe80::1%%lo]:5353')\n");
    return kExitUsage;
  }
  const bool json = options.json;
  std::vector<std::string> errors;
  for (absl::string_view input : args) {
    const absl::StatusOr<Endpoint> e = Endpoint::Parse(input);
    if (json) {
      // error_handler_t::replace: an input with invalid UTF-8 must not throw.
      std::printf("%s\n",
                  ToJson(input, e)
                      .dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace)
                      .c_str());
    } else if (e.ok()) {
      std::printf("%s\n", ToText(input, *e).c_str());
    }
    if (!e.ok()) errors.emplace_back(e.status().message());
  }
  std::fflush(stdout);
  if (errors.empty()) return kExitOk;
  for (const std::string& error : errors) PrintError("endpoint", error);
  std::fprintf(stderr, "netrig endpoint: %zu of %zu inputs are invalid\n", errors.size(),
               args.size());
  return kExitUsage;
}

}  // namespace netrig::cli
