// The agent's log: one key=value line per event ("event=batch_rejected run=r-1 seq=4 ..."). The
// sink is injected (LinkOptions::log) so tests can read what was logged; by default lines go to
// stderr, which systemd's journal keeps.
#ifndef STAMPEDE_AGENT_LOG_LINE_H_
#define STAMPEDE_AGENT_LOG_LINE_H_

#include <functional>
#include <iostream>
#include <string>

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

}  // namespace stampede

#endif  // STAMPEDE_AGENT_LOG_LINE_H_
