// The one JSON writer of the project: reports, saturation results, sizing, agent lists. Output is
// stable and readable: a container opened with one_line = true prints on a single line (with
// everything inside it); the others print one member per line, indented by two spaces.
//
// Strings are escaped, and invalid UTF-8 becomes U+FFFD, so that a hostile agent name or plan
// name cannot make a report unparseable. NaN and infinities, which JSON cannot express, are
// written as null.
#ifndef STAMPEDE_COMMON_JSON_WRITER_H_
#define STAMPEDE_COMMON_JSON_WRITER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace stampede {

class JsonWriter {
 public:
  void BeginObject(bool one_line = false) { Open('{', one_line); }
  void EndObject() { Close('}'); }
  void BeginArray(bool one_line = false) { Open('[', one_line); }
  void EndArray() { Close(']'); }

  // The next call writes the value of this member.
  void Key(absl::string_view key);

  void String(absl::string_view v);
  void Int(int64_t v);
  void Uint(uint64_t v);
  // Exactly `decimals` decimals ("12.500"): columns of figures that line up.
  void Fixed(double v, int decimals);
  // At most `max_decimals` decimals, trailing zeros dropped ("12.5", "3"): settings and results.
  void Number(double v, int max_decimals = 3);
  // Number(), or null when absent.
  void OptionalNumber(const std::optional<double>& v, int max_decimals = 3);
  void Null();
  void Bool(bool v);

  // The document so far, with a final newline; the writer is empty afterwards.
  std::string Take();

 private:
  struct Level {
    bool one_line;
    bool empty;
  };

  void Separate();
  void Open(char bracket, bool one_line);
  void Close(char bracket);
  void NewLine(size_t depth);

  std::string out_;
  std::vector<Level> stack_;
  bool after_key_ = false;
};

// Appends `s` as a JSON string literal (quotes included).
void AppendJsonString(std::string* out, absl::string_view s);

}  // namespace stampede

#endif  // STAMPEDE_COMMON_JSON_WRITER_H_
