// The one command-line parser of every Stampede binary and subcommand. A command declares its
// flags and positional arguments once (CommandSpec); the same declaration parses the command line
// and writes the `--help` text, so the help cannot forget a flag or show a stale default.
//
// Accepted: `--name value`, `--name=value`, boolean `--name`, a short alias (`-o FILE`),
// repeatable flags, positional arguments anywhere, and `--` (everything after it is positional).
// `-h`/`--help` is recognised on every command. Errors are InvalidArgument and name the flag.
#ifndef STAMPEDE_COMMON_FLAGS_H_
#define STAMPEDE_COMMON_FLAGS_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace stampede {

// Every member has an initializer so that a declaration names only what it needs
// ({.name = "--json", .help = "..."}) without -Wmissing-field-initializers noise.
struct FlagSpec {
  std::string name{};   // "--local-agents"
  std::string alias{};  // "-o"; empty: none
  // The placeholder of the value in help ("N", "HOST:PORT"); empty: a boolean flag.
  std::string value{};
  // The value the getters return when the flag is absent; shown in help when not empty.
  std::string default_value{};
  // Shown in help instead of default_value, for a default that is not a fixed value
  // ("$STAMPEDE_COORDINATOR or 127.0.0.1:7700").
  std::string default_help{};
  bool repeatable = false;  // every occurrence kept (All()); otherwise the last one wins
  std::string help{};       // one line
};

struct PositionalSpec {
  std::string name{};  // "PLAN.json"
  std::string help{};
  bool optional = false;  // only after the required ones
};

struct CommandSpec {
  std::string command{};      // "stampede run": the usage line and the prefix of errors
  std::string usage{};        // after "usage: "; may be several lines; empty: made from the rest
  std::string description{};  // a paragraph under the usage line
  std::vector<PositionalSpec> positionals{};
  std::vector<FlagSpec> flags{};  // -h/--help is added by the parser
};

// A parsed command line. The getters take a declared flag's long name ("--threads"); asking for
// an undeclared one is a programming error and aborts, so a typo cannot silently read nothing.
class ParsedFlags {
 public:
  // -h or --help was given: print CommandHelp() and exit 0, whatever else is on the line.
  bool help() const { return help_; }
  const std::vector<std::string>& positional() const { return positional_; }

  // Given on the command line (at least once).
  bool Has(const std::string& name) const;
  // A boolean flag: given or not.
  bool Bool(const std::string& name) const;
  // The last value given, else nullopt (the default is not used).
  std::optional<std::string> Get(const std::string& name) const;
  // The last value given, else the declared default.
  std::string String(const std::string& name) const;
  // Every value given, in order (a repeatable flag); empty when absent.
  std::vector<std::string> All(const std::string& name) const;

  // Typed values: the last value given, else the declared default. An error names the flag and
  // the value; a flag that is absent and has no default is an error ("--rps is required").
  absl::StatusOr<int64_t> Int(const std::string& name, int64_t min, int64_t max) const;
  // Finite, in [min, max]; an infinite bound is no bound.
  absl::StatusOr<double> Double(const std::string& name, double min, double max) const;
  // Finite and > 0.
  absl::StatusOr<double> PositiveDouble(const std::string& name) const;
  // absl::ParseDuration syntax ("5s", "250ms", "1h30m"), in [min, max].
  absl::StatusOr<absl::Duration> Duration(const std::string& name, absl::Duration min,
                                          absl::Duration max = absl::InfiniteDuration()) const;

 private:
  friend absl::StatusOr<ParsedFlags> ParseCommandLine(const CommandSpec& spec,
                                                      const std::vector<std::string>& args);
  const FlagSpec& Spec(const std::string& name) const;
  // The value to convert: the last given, else the default; an error when neither exists.
  absl::StatusOr<std::string> ValueOf(const std::string& name) const;

  std::vector<FlagSpec> specs_;
  std::multimap<std::string, std::string> values_;  // long name -> value ("" for a boolean)
  std::vector<std::string> positional_;
  bool help_ = false;
};

// Parses `args` (without the program and command names) against `spec`.
absl::StatusOr<ParsedFlags> ParseCommandLine(const CommandSpec& spec,
                                             const std::vector<std::string>& args);

// The --help text: usage, description, positional arguments, then every flag with its value
// placeholder, default and description, aligned.
std::string CommandHelp(const CommandSpec& spec);

// What a command does first: parse; on -h/--help print CommandHelp() on stdout and set
// `*exit_code` to 0; on an error print "COMMAND: MESSAGE", the usage and a pointer to --help on
// stderr and set `*exit_code` to 2. Returns the flags only when the command should go on.
std::optional<ParsedFlags> ParseOrExit(const CommandSpec& spec,
                                       const std::vector<std::string>& args, int* exit_code);

}  // namespace stampede

#endif  // STAMPEDE_COMMON_FLAGS_H_
