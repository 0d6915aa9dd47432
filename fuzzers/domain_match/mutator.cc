#include "fuzzers/domain_match/mutator.h"

#include <algorithm>
#include <cstring>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "fuzzers/domain_match/input.h"

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size)
    __attribute__((weak));

namespace netrig::internal::domain_match_fuzzer {
namespace {

// Labels real names use, and the forms that trip matchers.
const std::vector<std::string>& Vocabulary() {
  static const auto* const kLabels = new std::vector<std::string>{"example",
                                                                  "com",
                                                                  "net",
                                                                  "org",
                                                                  "www",
                                                                  "ads",
                                                                  "cdn",
                                                                  "a",
                                                                  "b",
                                                                  "co",
                                                                  "uk",
                                                                  "bad",
                                                                  "xn--bcher-kva",
                                                                  "b\xc3\xbc"
                                                                  "cher",
                                                                  "B\xc3\x9c"
                                                                  "CHER",
                                                                  "stra\xc3\x9f"
                                                                  "e",
                                                                  "strasse",
                                                                  "xn--strae-oqa",
                                                                  "\xc3\x9f",
                                                                  "EXAMPLE",
                                                                  "Example",
                                                                  "_srv",
                                                                  "xn--zz",
                                                                  "0x7f",
                                                                  "127",
                                                                  "1",
                                                                  "localhost",
                                                                  "internal",
                                                                  "e\xcc\x81",
                                                                  "\xc3\xa9",
                                                                  "\xef\xbd\x81",
                                                                  "\xe2\x84\xaa",
                                                                  std::string(63, 'a'),
                                                                  std::string(64, 'a')};
  return *kLabels;
}

using Rng = std::mt19937_64;

size_t Pick(Rng& rng, size_t n) { return n == 0 ? 0 : static_cast<size_t>(rng() % n); }

std::string MutateName(std::string name, Rng& rng, const Input& input) {
  const std::vector<std::string>& vocabulary = Vocabulary();
  std::vector<std::string> labels = absl::StrSplit(name, '.');
  switch (Pick(rng, 11)) {
    case 0:  // Replace a label.
      labels[Pick(rng, labels.size())] = vocabulary[Pick(rng, vocabulary.size())];
      break;
    case 1:  // A label more on the left.
      labels.insert(labels.begin(), vocabulary[Pick(rng, vocabulary.size())]);
      break;
    case 2:  // One label fewer on the left.
      if (labels.size() > 1) labels.erase(labels.begin());
      break;
    case 3: {  // Case.
      std::string joined = absl::StrJoin(labels, ".");
      if (rng() % 2) {
        absl::AsciiStrToUpper(&joined);
      } else if (!joined.empty()) {
        char& c = joined[Pick(rng, joined.size())];
        if (absl::ascii_isalpha(static_cast<unsigned char>(c))) c ^= 0x20;
      }
      return joined;
    }
    case 4: {  // Trailing dot on or off.
      std::string joined = absl::StrJoin(labels, ".");
      if (absl::EndsWith(joined, ".")) return std::string(absl::StripSuffix(joined, "."));
      return joined + ".";
    }
    case 5: {  // Wildcard on or off.
      std::string joined = absl::StrJoin(labels, ".");
      if (absl::StartsWith(joined, "*.")) return joined.substr(2);
      return "*." + joined;
    }
    case 6: {  // Unicode and A-label forms of the same label.
      std::string joined = absl::StrJoin(labels, ".");
      return rng() % 2 ? absl::StrReplaceAll(joined, {{"xn--bcher-kva",
                                                       "b\xc3\xbc"
                                                       "cher"}})
                       : absl::StrReplaceAll(joined, {{"b\xc3\xbc"
                                                       "cher",
                                                       "xn--bcher-kva"}});
    }
    case 7:  // A label at or over the 63-byte limit.
      labels[Pick(rng, labels.size())] = std::string(62 + Pick(rng, 3), 'a' + Pick(rng, 26));
      break;
    case 8:  // Towards the 253-byte limit.
      while (absl::StrJoin(labels, ".").size() < 240 + Pick(rng, 20)) {
        labels.insert(labels.begin(), std::string(1 + Pick(rng, 63), 'x'));
      }
      break;
    case 9: {  // Glue the leftmost label to the next (no label boundary: "bad" + "example").
      if (labels.size() > 1) {
        labels[1] = labels[0] + labels[1];
        labels.erase(labels.begin());
      }
      break;
    }
    default: {  // Take a pattern's name from the input.
      const std::vector<std::string>& pool = rng() % 2 ? input.config.match : input.config.except;
      if (!pool.empty()) {
        std::string pattern = pool[Pick(rng, pool.size())];
        if (absl::StartsWith(pattern, "*.")) pattern = pattern.substr(2);
        return pattern;
      }
      break;
    }
  }
  return absl::StrJoin(labels, ".");
}

// A host just inside, at or just outside a pattern.
std::string HostFromPattern(const std::string& pattern, Rng& rng) {
  std::string name = absl::StartsWith(pattern, "*.") ? pattern.substr(2) : pattern;
  switch (Pick(rng, 4)) {
    case 0:
      return name;
    case 1:
      return "www." + name;
    case 2:
      return "a.b." + name;
    default:
      return "bad" + name;
  }
}

void MutateStructure(Input& input, Rng& rng) {
  std::vector<std::string>* lists[] = {&input.config.match, &input.config.except, &input.hosts};
  std::vector<std::string>& list = *lists[Pick(rng, 3)];
  const size_t action = Pick(rng, 10);
  if (action == 0) {
    input.config.semantics.bare = input.config.semantics.bare == DomainSemantics::Bare::kExact
                                      ? DomainSemantics::Bare::kSubtree
                                      : DomainSemantics::Bare::kExact;
  } else if (action == 1) {
    input.config.semantics.wildcard =
        input.config.semantics.wildcard == DomainSemantics::Wildcard::kAnyDepth
            ? DomainSemantics::Wildcard::kOneLabel
            : DomainSemantics::Wildcard::kAnyDepth;
  } else if (action == 2 && !list.empty()) {
    list.erase(list.begin() + Pick(rng, list.size()));
  } else if (action <= 4 && input.hosts.size() < kMaxItems) {
    std::vector<std::string> patterns = input.config.match;
    patterns.insert(patterns.end(), input.config.except.begin(), input.config.except.end());
    if (!patterns.empty())
      input.hosts.push_back(HostFromPattern(patterns[Pick(rng, patterns.size())], rng));
  } else if (list.empty() || (action == 5 && list.size() < kMaxItems)) {
    list.push_back(MutateName("example.com", rng, input));
  } else {
    std::string& item = list[Pick(rng, list.size())];
    item = MutateName(item, rng, input).substr(0, kMaxItemBytes);
  }
}

}  // namespace

size_t MutateInput(uint8_t* data, size_t size, size_t max_size, unsigned seed) {
  Rng rng(seed);
  if (rng() % 3 == 0 && LLVMFuzzerMutate != nullptr) {
    return LLVMFuzzerMutate(data, size, max_size);
  }
  Input input = ParseInput(absl::string_view(reinterpret_cast<const char*>(data), size));
  for (size_t n = 1 + Pick(rng, 3); n > 0; --n) MutateStructure(input, rng);
  const std::string out = FormatInput(input);
  if (out.size() > max_size)
    return LLVMFuzzerMutate != nullptr ? LLVMFuzzerMutate(data, size, max_size) : size;
  std::memcpy(data, out.data(), out.size());
  return out.size();
}

}  // namespace netrig::internal::domain_match_fuzzer
