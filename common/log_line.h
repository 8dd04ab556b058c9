// Logs of the agent and the coordinator: one key=value line per event ("event=batch_rejected
// run=r-1 seq=4 ..."). Values that come from outside are escaped (LogValue), so a hostile run id
// or name cannot forge a line. The agent's sink is injected (LinkOptions::log) so tests can read
// what was logged; by default lines go to stderr, which systemd's journal keeps.
//
// Levels (LogLevel) decide which lines a process writes: refusals and failures are warnings,
// state changes (joins, runs, reconnects) are info, per-batch and per-attempt detail is debug.
// The libraries (CoordinatorLink, RunManager) default to warnings only, so that an embedded run
// prints nothing but problems; `stampede serve` and `stampede-agent` take --log-level (info).
#ifndef STAMPEDE_COMMON_LOG_LINE_H_
#define STAMPEDE_COMMON_LOG_LINE_H_

#include <functional>
#include <initializer_list>
#include <iostream>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/string_view.h"

namespace stampede {

using LogFn = std::function<void(const std::string& line)>;

// Ordered by how much is written: a threshold of kInfo writes errors, warnings and info.
enum class LogLevel { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3 };

// The names --log-level takes.
inline constexpr char kLogLevelNames[] = "error|warn|info|debug";

inline std::optional<LogLevel> ParseLogLevel(absl::string_view name) {
  if (name == "error") return LogLevel::kError;
  if (name == "warn") return LogLevel::kWarn;
  if (name == "info") return LogLevel::kInfo;
  if (name == "debug") return LogLevel::kDebug;
  return std::nullopt;
}

// Whether a line of `level` is written under `threshold`.
inline bool LogEnabled(LogLevel threshold, LogLevel level) { return level <= threshold; }

inline void LogToStderr(const std::string& line) {
  // One write per line, so that lines from several threads do not interleave.
  std::cerr << absl::StrCat("stampede-agent: ", line, "\n") << std::flush;
}

// A value as written after "key=": bare when it is one plain word, else quoted and C-escaped, so
// a reason with spaces (or a hostile run id) stays one field on one line.
inline std::string LogValue(absl::string_view value) {
  bool plain = !value.empty();
  for (char c : value) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.' || c == '/' || c == ':';
    plain = plain && ok;
  }
  if (plain) return std::string(value);
  // A single quote needs no escape inside double quotes ("the agent's name").
  return absl::StrCat("\"", absl::StrReplaceAll(absl::CEscape(value), {{"\\'", "'"}}), "\"");
}

// "key=value key=value", each value through LogValue (at most 200 bytes of it, then "...").
inline std::string LogFields(
    std::initializer_list<std::pair<absl::string_view, absl::string_view>> fields) {
  std::string out;
  for (const auto& [key, value] : fields) {
    const absl::string_view shown = value.substr(0, 200);
    absl::StrAppend(&out, out.empty() ? "" : " ", key, "=",
                    LogValue(value.size() > 200 ? absl::StrCat(shown, "...") : shown));
  }
  return out;
}

}  // namespace stampede

#endif  // STAMPEDE_COMMON_LOG_LINE_H_
