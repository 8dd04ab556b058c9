#include "common/flags.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/closest_name.h"

namespace stampede {
namespace {

constexpr size_t kHelpWidth = 100;
// Flag columns wider than this put their description on the next line instead of pushing every
// description to the right.
constexpr size_t kMaxFlagColumn = 32;

bool IsHelp(const std::string& arg) { return arg == "-h" || arg == "--help"; }

// A token that names a flag: "-x" or "--x"; a lone "-" is a positional (stdin by convention).
bool LooksLikeFlag(const std::string& arg) { return arg.size() >= 2 && arg[0] == '-'; }

// " (did you mean --json?)" when one declared flag is close to `given`, else "". Dashes are not
// compared, so "-json" finds --json; a prefix of three letters or more counts ("--coord").
std::string Suggestion(const CommandSpec& spec, absl::string_view given) {
  const absl::string_view bare = given.substr(std::min(given.find_first_not_of('-'), given.size()));
  if (bare.empty()) return "";
  std::vector<std::string> names;
  for (const FlagSpec& flag : spec.flags) names.emplace_back(absl::StripPrefix(flag.name, "--"));
  const std::optional<std::string> best = ClosestName(bare, names);
  return best ? absl::StrCat(" (did you mean --", *best, "?)") : "";
}

const FlagSpec* FindFlag(const CommandSpec& spec, absl::string_view name) {
  for (const FlagSpec& flag : spec.flags) {
    if (flag.name == name || (!flag.alias.empty() && flag.alias == name)) return &flag;
  }
  return nullptr;
}

std::string Quoted(absl::string_view value) { return absl::StrCat("\"", value, "\""); }

// "PLAN.json" or "[NAME]", for the usage line and the positional errors.
std::string PositionalUsage(const PositionalSpec& p) {
  return p.optional ? absl::StrCat("[", p.name, "]") : p.name;
}

// The words of a usage form, an optional group ("[--target-rps R [--pods-tested N]]") kept as
// one so that a wrapped usage line never breaks inside brackets.
std::vector<std::string> UsageGroups(absl::string_view form) {
  std::vector<std::string> groups;
  int depth = 0;
  for (absl::string_view word : absl::StrSplit(form, ' ', absl::SkipEmpty())) {
    if (depth > 0) {
      absl::StrAppend(&groups.back(), " ", word);
    } else {
      groups.emplace_back(word);
    }
    depth += static_cast<int>(std::count(word.begin(), word.end(), '[')) -
             static_cast<int>(std::count(word.begin(), word.end(), ']'));
  }
  return groups;
}

// "usage: FORM" for each form of the command (one a line in spec.usage), a form too long for the
// width wrapped with its continuation lines indented under the command's first argument.
std::string UsageBlock(const CommandSpec& spec) {
  std::vector<std::string> forms;
  if (!spec.usage.empty()) {
    forms = absl::StrSplit(spec.usage, '\n');
  } else {
    std::vector<std::string> parts = {spec.command};
    for (const PositionalSpec& p : spec.positionals) parts.push_back(PositionalUsage(p));
    parts.push_back("[flags]");
    forms.push_back(absl::StrJoin(parts, " "));
  }
  constexpr absl::string_view kPrefix = "usage: ";
  const std::string indent(kPrefix.size() + spec.command.size() + 1, ' ');
  std::string out;
  for (size_t i = 0; i < forms.size(); ++i) {
    std::string line(i == 0 ? kPrefix : "       ");
    bool fresh = true;  // no word on `line` yet
    for (const std::string& word : UsageGroups(forms[i])) {
      if (!fresh && line.size() + 1 + word.size() > kHelpWidth) {
        absl::StrAppend(&out, line, "\n");
        line = indent;
        fresh = true;
      }
      absl::StrAppend(&line, fresh ? "" : " ", word);
      fresh = false;
    }
    absl::StrAppend(&out, line, "\n");
  }
  return out;
}

// Appends `left` padded to `column`, then `text` and the `notes` word-wrapped to kHelpWidth with
// continuation lines indented to `column`; a `left` too wide for the column gets the text on its
// own line. A note ("(default: 127.0.0.1:7700)") is never broken across lines.
void AppendRow(std::string* out, const std::string& left, size_t column, const std::string& text,
               const std::vector<std::string>& notes = {}) {
  std::vector<std::string> words = absl::StrSplit(text, ' ', absl::SkipEmpty());
  words.insert(words.end(), notes.begin(), notes.end());
  std::string line = left;
  if (!line.empty() && line.size() + 2 > column) {
    absl::StrAppend(out, line, "\n");
    line.clear();
  }
  line.resize(column, ' ');
  bool first_word = true;
  for (const std::string& word : words) {
    if (!first_word && line.size() + 1 + word.size() > kHelpWidth) {
      absl::StrAppend(out, line, "\n");
      line.assign(column, ' ');
      first_word = true;
    }
    absl::StrAppend(&line, first_word ? "" : " ", word);
    first_word = false;
  }
  absl::StrAppend(out, absl::StripTrailingAsciiWhitespace(line), "\n");
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Parsing

absl::StatusOr<ParsedFlags> ParseCommandLine(const CommandSpec& spec,
                                             const std::vector<std::string>& args) {
  ParsedFlags parsed;
  parsed.specs_ = spec.flags;
  absl::Status error;
  bool flags_ended = false;
  size_t i = 0;
  for (; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (flags_ended || !LooksLikeFlag(arg)) {
      parsed.positional_.push_back(arg);
      continue;
    }
    if (arg == "--") {
      flags_ended = true;
      continue;
    }
    if (IsHelp(arg)) {
      parsed.help_ = true;
      continue;
    }
    std::string name = arg;
    std::optional<std::string> value;
    if (const size_t eq = arg.find('='); eq != std::string::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
    }
    const FlagSpec* flag = FindFlag(spec, name);
    if (flag == nullptr) {
      error =
          absl::InvalidArgumentError(absl::StrCat("unknown flag ", name, Suggestion(spec, name)));
      break;
    }
    if (flag->value.empty()) {
      if (value.has_value()) {
        error = absl::InvalidArgumentError(absl::StrCat(flag->name, ": takes no value"));
        break;
      }
      value = "";
    } else if (!value.has_value()) {
      // The next argument is the value even when it starts with '-' ("--jitter -1" is a bad
      // value for --jitter, not an unknown flag "-1").
      if (i + 1 >= args.size()) {
        error = absl::InvalidArgumentError(
            absl::StrCat(flag->name, ": needs a value (", flag->name, " ", flag->value, ")"));
        break;
      }
      value = args[++i];
    }
    parsed.values_.emplace(flag->name, std::move(*value));
  }
  // Help wins over everything else on the line: someone asking how to fix a command line should
  // get the answer, not the error.
  if (!error.ok()) {
    for (++i; i < args.size() && args[i] != "--"; ++i)
      parsed.help_ = parsed.help_ || IsHelp(args[i]);
    if (!parsed.help_) return error;
  }
  if (parsed.help_) {
    parsed.values_.clear();
    parsed.positional_.clear();
    return parsed;
  }

  size_t required = 0;
  for (const PositionalSpec& p : spec.positionals) required += p.optional ? 0 : 1;
  if (parsed.positional_.size() < required) {
    return absl::InvalidArgumentError(
        absl::StrCat("missing ", spec.positionals[parsed.positional_.size()].name));
  }
  if (parsed.positional_.size() > spec.positionals.size()) {
    const std::string& extra = parsed.positional_[spec.positionals.size()];
    if (spec.positionals.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("unexpected argument ", Quoted(extra), " (",
                                                     spec.command, " takes no arguments)"));
    }
    return absl::InvalidArgumentError(absl::StrCat("unexpected argument ", Quoted(extra), " after ",
                                                   spec.positionals.back().name));
  }
  return parsed;
}

// ---------------------------------------------------------------------------------------------
// Getters

const FlagSpec& ParsedFlags::Spec(const std::string& name) const {
  for (const FlagSpec& flag : specs_) {
    if (flag.name == name) return flag;
  }
  std::fprintf(stderr, "flags: %s is not a declared flag of this command\n", name.c_str());
  std::abort();
}

bool ParsedFlags::Has(const std::string& name) const {
  Spec(name);
  return values_.count(name) > 0;
}

bool ParsedFlags::Bool(const std::string& name) const { return Has(name); }

std::optional<std::string> ParsedFlags::Get(const std::string& name) const {
  Spec(name);
  auto range = values_.equal_range(name);
  if (range.first == range.second) return std::nullopt;
  return std::prev(range.second)->second;  // the last one wins
}

std::string ParsedFlags::String(const std::string& name) const {
  return Get(name).value_or(Spec(name).default_value);
}

std::vector<std::string> ParsedFlags::All(const std::string& name) const {
  Spec(name);
  std::vector<std::string> out;
  auto range = values_.equal_range(name);
  for (auto it = range.first; it != range.second; ++it) out.push_back(it->second);
  return out;
}

absl::StatusOr<std::string> ParsedFlags::ValueOf(const std::string& name) const {
  if (auto v = Get(name)) return *v;
  const FlagSpec& spec = Spec(name);
  if (spec.default_value.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(name, " is required"));
  }
  return spec.default_value;
}

absl::StatusOr<int64_t> ParsedFlags::Int(const std::string& name, int64_t min, int64_t max) const {
  absl::StatusOr<std::string> text = ValueOf(name);
  if (!text.ok()) return text.status();
  int64_t v = 0;
  if (!absl::SimpleAtoi(*text, &v) || v < min || v > max) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": expected an integer from ", min, " to ",
                                                   max, ", got ", Quoted(*text)));
  }
  return v;
}

absl::StatusOr<double> ParsedFlags::Double(const std::string& name, double min, double max) const {
  absl::StatusOr<std::string> text = ValueOf(name);
  if (!text.ok()) return text.status();
  double v = 0;
  // SimpleAtod accepts "nan" and "inf": never a meaningful setting.
  if (!absl::SimpleAtod(*text, &v) || !std::isfinite(v) || v < min || v > max) {
    const std::string range = std::isinf(min) && std::isinf(max) ? ""
                              : std::isinf(max) ? absl::StrFormat(" of at least %g", min)
                              : std::isinf(min) ? absl::StrFormat(" of at most %g", max)
                                                : absl::StrFormat(" from %g to %g", min, max);
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": expected a number", range, ", got ", Quoted(*text)));
  }
  return v;
}

absl::StatusOr<double> ParsedFlags::PositiveDouble(const std::string& name) const {
  absl::StatusOr<std::string> text = ValueOf(name);
  if (!text.ok()) return text.status();
  double v = 0;
  if (!absl::SimpleAtod(*text, &v) || !std::isfinite(v) || !(v > 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": expected a positive number, got ", Quoted(*text)));
  }
  return v;
}

absl::StatusOr<absl::Duration> ParsedFlags::Duration(const std::string& name, absl::Duration min,
                                                     absl::Duration max) const {
  absl::StatusOr<std::string> text = ValueOf(name);
  if (!text.ok()) return text.status();
  absl::Duration v;
  if (!absl::ParseDuration(*text, &v)) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": expected a duration like 5s or 250ms, got ", Quoted(*text)));
  }
  if (v < min || v > max) {
    const std::string range =
        max == absl::InfiniteDuration()
            ? absl::StrCat("of at least ", absl::FormatDuration(min))
            : absl::StrCat("from ", absl::FormatDuration(min), " to ", absl::FormatDuration(max));
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": expected a duration ", range, ", got ", Quoted(*text)));
  }
  return v;
}

// ---------------------------------------------------------------------------------------------
// Help

std::string CommandHelp(const CommandSpec& spec) {
  std::string out = UsageBlock(spec);
  if (!spec.description.empty()) {
    absl::StrAppend(&out, "\n");
    // A line that fits is kept as written (indented lists, tables); a longer one is wrapped.
    for (absl::string_view line : absl::StrSplit(spec.description, '\n')) {
      if (line.size() <= kHelpWidth) {
        absl::StrAppend(&out, line, "\n");
      } else {
        AppendRow(&out, "", 0, std::string(line));
      }
    }
  }

  // One column for the descriptions of both sections. Flags print as "  -o, --output FILE" and
  // "      --format F": long names line up whether or not there is an alias (-h always is).
  struct Row {
    std::string left;
    std::string text;
    std::vector<std::string> notes{};
  };
  std::vector<Row> arguments;
  for (const PositionalSpec& p : spec.positionals) {
    arguments.push_back(
        {absl::StrCat("  ", p.name), absl::StrCat(p.help, p.optional ? " (optional)" : "")});
  }
  std::vector<Row> flags;
  auto left = [](const std::string& alias, const std::string& name, const std::string& value) {
    return absl::StrCat("  ", alias.empty() ? "    " : absl::StrCat(alias, ", "), name,
                        value.empty() ? "" : " ", value);
  };
  for (const FlagSpec& flag : spec.flags) {
    std::vector<std::string> notes;
    const std::string& shown = flag.default_help.empty() ? flag.default_value : flag.default_help;
    if (!shown.empty()) notes.push_back(absl::StrCat("(default: ", shown, ")"));
    if (flag.repeatable) notes.push_back("(repeatable)");
    flags.push_back({left(flag.alias, flag.name, flag.value), flag.help, notes});
  }
  flags.push_back({left("-h", "--help", ""), "print this help and exit"});
  size_t column = 0;
  for (const std::vector<Row>* rows : {&arguments, &flags}) {
    for (const Row& row : *rows) {
      if (row.left.size() + 2 <= kMaxFlagColumn) column = std::max(column, row.left.size() + 2);
    }
  }
  if (!arguments.empty()) absl::StrAppend(&out, "\narguments:\n");
  for (const Row& row : arguments) AppendRow(&out, row.left, column, row.text);
  absl::StrAppend(&out, "\nflags:\n");
  for (const Row& row : flags) AppendRow(&out, row.left, column, row.text, row.notes);
  return out;
}

std::optional<ParsedFlags> ParseOrExit(const CommandSpec& spec,
                                       const std::vector<std::string>& args, int* exit_code) {
  absl::StatusOr<ParsedFlags> parsed = ParseCommandLine(spec, args);
  if (!parsed.ok()) {
    std::cerr << spec.command << ": " << parsed.status().message() << "\n";
    std::cerr << UsageBlock(spec);
    std::cerr << "`" << spec.command << " --help` lists every flag\n";
    *exit_code = 2;
    return std::nullopt;
  }
  if (parsed->help()) {
    std::cout << CommandHelp(spec);
    *exit_code = 0;
    return std::nullopt;
  }
  return std::move(*parsed);
}

}  // namespace stampede
