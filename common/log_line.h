// Logs of the agent and the coordinator: one key=value line per event ("event=batch_rejected
// run=r-1 seq=4 ..."). Values that come from outside are escaped (LogValue), so a hostile run id
// or name cannot forge a line. The agent's sink is injected (LinkOptions::log) so tests can read
// what was logged; by default lines go to stderr, which systemd's journal keeps.
#ifndef STAMPEDE_COMMON_LOG_LINE_H_
#define STAMPEDE_COMMON_LOG_LINE_H_

#include <functional>
#include <initializer_list>
#include <iostream>
#include <string>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace stampede {

using LogFn = std::function<void(const std::string& line)>;

inline void LogToStderr(const std::string& line) {
  std::cerr << "stampede-agent: " << line << std::endl;
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
  return plain ? std::string(value) : absl::StrCat("\"", absl::CEscape(value), "\"");
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
