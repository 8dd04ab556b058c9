// Tiny flag parser for the CLI subcommands: --name value, --name=value, boolean --name, and
// positional arguments. Every unknown flag or missing value is an error naming the flag.
#ifndef STAMPEDE_CLI_CLI_FLAGS_H_
#define STAMPEDE_CLI_CLI_FLAGS_H_

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace stampede {

class CliFlags {
 public:
  // `with_value`: flags that take a value; `booleans`: flags that do not.
  static absl::StatusOr<CliFlags> Parse(const std::vector<std::string>& args,
                                        const std::set<std::string>& with_value,
                                        const std::set<std::string>& booleans);
  std::optional<std::string> Get(const std::string& name) const;
  std::string GetOr(const std::string& name, const std::string& fallback) const;
  std::vector<std::string> GetAll(const std::string& name) const;
  absl::StatusOr<int> GetInt(const std::string& name, int fallback, int min, int max) const;
  bool Has(const std::string& name) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::multimap<std::string, std::string> values_;
  std::vector<std::string> positional_;
};

}  // namespace stampede

#endif  // STAMPEDE_CLI_CLI_FLAGS_H_
