#include "cli/cli_flags.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace stampede {

absl::StatusOr<CliFlags> CliFlags::Parse(const std::vector<std::string>& args,
                                         const std::set<std::string>& with_value,
                                         const std::set<std::string>& booleans) {
  CliFlags flags;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.size() < 2 || a[0] != '-' || a == "-") {
      flags.positional_.push_back(a);
      continue;
    }
    std::string name = a;
    std::optional<std::string> value;
    if (const size_t eq = a.find('='); eq != std::string::npos) {
      name = a.substr(0, eq);
      value = a.substr(eq + 1);
    }
    if (booleans.count(name)) {
      if (value) return absl::InvalidArgumentError(absl::StrCat(name, ": takes no value"));
      flags.values_.emplace(name, "true");
    } else if (with_value.count(name)) {
      if (!value) {
        if (i + 1 >= args.size()) {
          return absl::InvalidArgumentError(absl::StrCat(name, ": needs a value"));
        }
        value = args[++i];
      }
      flags.values_.emplace(name, *value);
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag ", name));
    }
  }
  return flags;
}

std::optional<std::string> CliFlags::Get(const std::string& name) const {
  auto range = values_.equal_range(name);
  if (range.first == range.second) return std::nullopt;
  return std::prev(range.second)->second;  // the last one wins
}

std::string CliFlags::GetOr(const std::string& name, const std::string& fallback) const {
  return Get(name).value_or(fallback);
}

std::vector<std::string> CliFlags::GetAll(const std::string& name) const {
  std::vector<std::string> out;
  auto range = values_.equal_range(name);
  for (auto it = range.first; it != range.second; ++it) out.push_back(it->second);
  return out;
}

absl::StatusOr<int> CliFlags::GetInt(const std::string& name, int fallback, int min,
                                     int max) const {
  auto v = Get(name);
  if (!v) return fallback;
  int n;
  if (!absl::SimpleAtoi(*v, &n) || n < min || n > max) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": expected a number from ", min, " to ", max, ", got \"", *v, "\""));
  }
  return n;
}

bool CliFlags::Has(const std::string& name) const { return values_.count(name) > 0; }

}  // namespace stampede
