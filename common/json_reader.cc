// The reader is one loop over the input with an explicit stack of open arrays and objects:
// "expect a value" and "after a value" alternate, and nothing recurses, so the nesting limit is
// the only thing that bounds the stack and time is linear in the input. Line and column are
// worked out only when there is an error, by counting from the start of the input once.
#include "common/json_reader.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/struct.pb.h"

namespace stampede {
namespace {

namespace pb = ::google::protobuf;

constexpr absl::string_view kByteOrderMark = "\xEF\xBB\xBF";
// Protobuf's Value destructor and every walk over a tree recurse once per level.
constexpr int kMaxTreeDepth = 1000;
// Excerpts of the input in syntax errors.
constexpr size_t kExcerptBytes = 40;

// Length of the well-formed UTF-8 sequence at the start of `s` (Unicode 15, table 3-7: no
// overlong forms, no surrogates, nothing above U+10FFFF), or 0 if there is none.
size_t Utf8SequenceLength(absl::string_view s) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  const auto in = [&](size_t i, unsigned lo, unsigned hi) {
    return i < s.size() && byte(i) >= lo && byte(i) <= hi;
  };
  if (s.empty()) return 0;
  const unsigned b0 = byte(0);
  if (b0 < 0x80) return 1;
  if (b0 >= 0xC2 && b0 <= 0xDF) return in(1, 0x80, 0xBF) ? 2 : 0;
  if (b0 >= 0xE0 && b0 <= 0xEF) {
    const unsigned lo = b0 == 0xE0 ? 0xA0 : 0x80;
    const unsigned hi = b0 == 0xED ? 0x9F : 0xBF;
    return in(1, lo, hi) && in(2, 0x80, 0xBF) ? 3 : 0;
  }
  if (b0 >= 0xF0 && b0 <= 0xF4) {
    const unsigned lo = b0 == 0xF0 ? 0x90 : 0x80;
    const unsigned hi = b0 == 0xF4 ? 0x8F : 0xBF;
    return in(1, lo, hi) && in(2, 0x80, 0xBF) && in(3, 0x80, 0xBF) ? 4 : 0;
  }
  return 0;
}

void AppendUtf8(uint32_t code_point, std::string* out) {
  if (code_point < 0x80) {
    out->push_back(static_cast<char>(code_point));
  } else if (code_point < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (code_point >> 6)));
    out->push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else if (code_point < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (code_point >> 12)));
    out->push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (code_point >> 18)));
    out->push_back(static_cast<char>(0x80 | ((code_point >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  }
}

// At most `max_bytes` of `text`, escaped so that it prints on one line. Values are quoted in
// double quotes, with '"' and '\\' escaped; raw input around a syntax error is quoted in single
// quotes, cut at the end of its line, and keeps its quotes and backslashes (JSON text is full of
// them, and the excerpt ends the message or is followed by a hint in parentheses).
enum class ExcerptOf { kValue, kInput };

std::string EscapedExcerpt(absl::string_view text, size_t max_bytes, ExcerptOf kind) {
  const bool stop_at_line_end = kind == ExcerptOf::kInput;
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (stop_at_line_end && (c == '\n' || c == '\r')) return out;
    const size_t length = Utf8SequenceLength(text.substr(i));
    if (i + std::max<size_t>(length, 1) > max_bytes) break;
    if (length == 0) {
      absl::StrAppendFormat(&out, "\\x%02X", c);
      i += 1;
      continue;
    }
    if (length > 1) {
      out.append(text.data() + i, length);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7F) {
      absl::StrAppendFormat(&out, "\\x%02X", c);
    } else if ((c == '\\' || c == '"') && kind == ExcerptOf::kValue) {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back(static_cast<char>(c));
    }
    i += length;
  }
  if (i < text.size()) out += "...";
  return out;
}

bool IsIdentifier(absl::string_view key) {
  if (key.empty() || absl::ascii_isdigit(key[0])) return false;
  for (const char c : key) {
    if (!absl::ascii_isalnum(c) && c != '_') return false;
  }
  return true;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

class Reader {
 public:
  // `root` null: check only, build nothing.
  Reader(absl::string_view text, const JsonLimits& limits, pb::Value* root)
      : text_(text), limits_(limits), root_(root) {}

  absl::Status Run();

 private:
  // One open array or object.
  struct Frame {
    bool is_object = false;
    size_t open_offset = 0;        // where its bracket is, for "not closed" errors
    pb::Struct* object = nullptr;  // when building
    pb::ListValue* array = nullptr;
    std::string key;  // object: the member being read (when building), for paths
    int index = 0;    // array: the element being read
  };

  bool AtEnd() const { return pos_ >= text_.size(); }
  char Peek() const { return text_[pos_]; }
  void SkipWhitespace() {
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      if (c != ' ' && c != '\n' && c != '\r' && c != '\t') return;
      ++pos_;
    }
  }

  // "LINE:COLUMN: message" for the character at `offset`.
  absl::Status Error(size_t offset, absl::string_view message) const;
  // What stands at `offset`, for "expected X, got Y".
  std::string Got(size_t offset) const;
  std::string Path() const;
  std::string Where(size_t offset) const;

  absl::Status BeginContainer(bool is_object, pb::Value* target);
  // Reads `"key":` and returns where the member's value goes.
  absl::StatusOr<pb::Value*> ReadMemberKey(Frame& frame);
  absl::Status ReadScalar(pb::Value* target);
  absl::Status ReadString(std::string* out);
  absl::Status ReadEscape(std::string* out);
  absl::Status ReadNumber(pb::Value* target);
  absl::Status ReadLiteral(absl::string_view word, pb::Value* target);
  absl::Status ExpectedValue(size_t offset) const;
  bool AfterComma(size_t offset) const;

  const absl::string_view text_;
  const JsonLimits limits_;
  pb::Value* const root_;
  size_t pos_ = 0;
  std::vector<Frame> stack_;
};

std::string Reader::Where(size_t offset) const {
  int line = 1;
  size_t line_start = 0;
  for (size_t i = 0; i < offset && i < text_.size(); ++i) {
    if (text_[i] == '\n') {
      ++line;
      line_start = i + 1;
    }
  }
  if (line_start == 0 && absl::StartsWith(text_, kByteOrderMark)) line_start = 3;
  int column = 1;
  for (size_t i = line_start; i < offset && i < text_.size(); ++i) {
    // Count characters, not bytes: continuation bytes do not start a column.
    if ((static_cast<unsigned char>(text_[i]) & 0xC0) != 0x80) ++column;
  }
  return absl::StrCat(line, ":", column);
}

absl::Status Reader::Error(size_t offset, absl::string_view message) const {
  return absl::InvalidArgumentError(absl::StrCat(Where(offset), ": ", message));
}

std::string Reader::Got(size_t offset) const {
  if (offset >= text_.size()) return "the end of the input";
  return absl::StrCat("'", EscapedExcerpt(text_.substr(offset), kExcerptBytes, ExcerptOf::kInput),
                      "'");
}

// The path of the value being read, in the plan loader's notation: stages[1].rate,
// headers["Content-Type"].
std::string Reader::Path() const {
  std::string path;
  for (const Frame& frame : stack_) {
    if (!frame.is_object) {
      absl::StrAppend(&path, "[", frame.index, "]");
    } else if (IsIdentifier(frame.key) && frame.key.size() <= kExcerptBytes) {
      absl::StrAppend(&path, path.empty() ? "" : ".", frame.key);
    } else {
      absl::StrAppend(&path, "[\"", Excerpt(frame.key), "\"]");
    }
  }
  return path;
}

bool Reader::AfterComma(size_t offset) const {
  while (offset > 0) {
    const char c = text_[--offset];
    if (c != ' ' && c != '\n' && c != '\r' && c != '\t') return c == ',';
  }
  return false;
}

absl::Status Reader::ExpectedValue(size_t offset) const {
  absl::string_view rest = text_.substr(std::min(offset, text_.size()));
  std::string hint;
  if (absl::StartsWith(rest, "NaN") || absl::StartsWith(rest, "Infinity")) {
    hint = " (JSON has no NaN or Infinity)";
  } else if (absl::StartsWith(rest, "//") || absl::StartsWith(rest, "/*")) {
    hint = " (JSON has no comments)";
  } else if (absl::StartsWith(rest, "'")) {
    hint = " (JSON strings are in double quotes)";
  } else if (absl::StartsWith(rest, "True") || absl::StartsWith(rest, "False") ||
             absl::StartsWith(rest, "Null") || absl::StartsWith(rest, "TRUE") ||
             absl::StartsWith(rest, "FALSE") || absl::StartsWith(rest, "NULL")) {
    hint = " (true, false and null are lower case)";
  } else if (absl::StartsWith(rest, "]") && AfterComma(offset)) {
    hint = " (JSON allows no comma before a closing bracket)";
  }
  return Error(offset, absl::StrCat("expected a value, got ", Got(offset), hint));
}

absl::Status Reader::Run() {
  if (text_.size() > limits_.max_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the input is ", text_.size(), " bytes, over the limit of ", limits_.max_bytes, " bytes"));
  }
  if (absl::StartsWith(text_, kByteOrderMark)) pos_ = kByteOrderMark.size();
  pb::Value* target = root_;  // where the next value goes (null when only checking)
  SkipWhitespace();
  if (AtEnd()) return Error(pos_, "the input is empty (expected a JSON value)");
  while (true) {
    // Expecting a value.
    SkipWhitespace();
    if (AtEnd()) {
      if (stack_.empty()) return ExpectedValue(pos_);
      return Error(pos_, absl::StrCat("the input ends inside the ",
                                      stack_.back().is_object ? "object" : "array", " opened at ",
                                      Where(stack_.back().open_offset), " (expected a value)"));
    }
    const char c = Peek();
    if (c == '{' || c == '[') {
      absl::Status status = BeginContainer(c == '{', target);
      if (!status.ok()) return status;
      Frame& frame = stack_.back();
      SkipWhitespace();
      const char close = frame.is_object ? '}' : ']';
      if (!AtEnd() && Peek() == close) {
        ++pos_;
        stack_.pop_back();
      } else if (frame.is_object) {
        absl::StatusOr<pb::Value*> next = ReadMemberKey(frame);
        if (!next.ok()) return next.status();
        target = *next;
        continue;
      } else {
        target = frame.array != nullptr ? frame.array->add_values() : nullptr;
        continue;
      }
    } else {
      absl::Status status = ReadScalar(target);
      if (!status.ok()) return status;
    }
    // After a value: close containers until one has another member or element.
    while (true) {
      SkipWhitespace();
      if (stack_.empty()) {
        if (!AtEnd()) {
          return Error(pos_, absl::StrCat("unexpected text after the JSON value: ", Got(pos_)));
        }
        return absl::OkStatus();
      }
      Frame& frame = stack_.back();
      const char close = frame.is_object ? '}' : ']';
      const absl::string_view expected = frame.is_object ? "',' or '}'" : "',' or ']'";
      if (AtEnd()) {
        return Error(pos_, absl::StrCat("the input ends inside the ",
                                        frame.is_object ? "object" : "array", " opened at ",
                                        Where(frame.open_offset), " (expected ", expected, ")"));
      }
      if (Peek() == close) {
        ++pos_;
        stack_.pop_back();
        continue;
      }
      if (Peek() != ',') {
        return Error(pos_, absl::StrCat("expected ", expected, " after ",
                                        frame.is_object ? "an object member" : "an array element",
                                        ", got ", Got(pos_)));
      }
      ++pos_;
      if (frame.is_object) {
        absl::StatusOr<pb::Value*> next = ReadMemberKey(frame);
        if (!next.ok()) return next.status();
        target = *next;
      } else {
        ++frame.index;
        target = frame.array != nullptr ? frame.array->add_values() : nullptr;
      }
      break;
    }
  }
}

absl::Status Reader::BeginContainer(bool is_object, pb::Value* target) {
  if (stack_.size() >= static_cast<size_t>(limits_.max_depth)) {
    return Error(pos_, absl::StrCat("arrays and objects are nested more than ", limits_.max_depth,
                                    " levels deep"));
  }
  Frame frame;
  frame.is_object = is_object;
  frame.open_offset = pos_;
  if (target != nullptr) {
    if (is_object) {
      frame.object = target->mutable_struct_value();
    } else {
      frame.array = target->mutable_list_value();
    }
  }
  stack_.push_back(std::move(frame));
  ++pos_;
  return absl::OkStatus();
}

absl::StatusOr<pb::Value*> Reader::ReadMemberKey(Frame& frame) {
  SkipWhitespace();
  if (AtEnd()) {
    return Error(pos_, absl::StrCat("the input ends inside the object opened at ",
                                    Where(frame.open_offset), " (expected a key)"));
  }
  if (Peek() != '"') {
    std::string hint;
    if (Peek() == '}') hint = " (JSON allows no comma before a closing bracket)";
    if (Peek() == '\'') hint = " (JSON strings are in double quotes)";
    if (absl::ascii_isalpha(Peek()) || Peek() == '_') hint = " (keys are in double quotes)";
    return Error(pos_, absl::StrCat("expected a key in double quotes, got ", Got(pos_), hint));
  }
  const size_t key_offset = pos_;
  frame.key.clear();
  const bool building = frame.object != nullptr;
  absl::Status status = ReadString(building ? &frame.key : nullptr);
  if (!status.ok()) return status;
  SkipWhitespace();
  if (AtEnd() || Peek() != ':') {
    return Error(pos_, absl::StrCat("expected ':' after the key, got ", Got(pos_)));
  }
  ++pos_;
  if (!building) return nullptr;
  auto [it, inserted] = frame.object->mutable_fields()->try_emplace(frame.key);
  if (!inserted) return Error(key_offset, absl::StrCat(Path(), ": duplicate key"));
  return &it->second;
}

absl::Status Reader::ReadScalar(pb::Value* target) {
  const char c = Peek();
  if (c == '"') {
    if (target == nullptr) return ReadString(nullptr);
    std::string value;
    absl::Status status = ReadString(&value);
    if (status.ok()) target->set_string_value(std::move(value));
    return status;
  }
  if (c == '-' || (c >= '0' && c <= '9')) return ReadNumber(target);
  if (c == 't') return ReadLiteral("true", target);
  if (c == 'f') return ReadLiteral("false", target);
  if (c == 'n') return ReadLiteral("null", target);
  return ExpectedValue(pos_);
}

absl::Status Reader::ReadLiteral(absl::string_view word, pb::Value* target) {
  if (!absl::StartsWith(text_.substr(pos_), word)) return ExpectedValue(pos_);
  // "nullx" or "true1" is one bad word, not a literal followed by junk.
  const size_t end = pos_ + word.size();
  if (end < text_.size() && (absl::ascii_isalnum(text_[end]) || text_[end] == '_')) {
    return ExpectedValue(pos_);
  }
  pos_ = end;
  if (target == nullptr) return absl::OkStatus();
  if (word == "null") {
    target->set_null_value(pb::NULL_VALUE);
  } else {
    target->set_bool_value(word == "true");
  }
  return absl::OkStatus();
}

absl::Status Reader::ReadString(std::string* out) {
  const size_t open = pos_;
  ++pos_;  // the opening quote
  while (true) {
    const size_t run = pos_;
    while (pos_ < text_.size()) {
      const unsigned char c = static_cast<unsigned char>(text_[pos_]);
      if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\') break;
      ++pos_;
    }
    if (out != nullptr) out->append(text_.data() + run, pos_ - run);
    if (AtEnd()) return Error(open, "this string is not closed (no '\"' before the end)");
    const unsigned char c = static_cast<unsigned char>(Peek());
    if (c == '"') {
      ++pos_;
      return absl::OkStatus();
    }
    if (c == '\\') {
      absl::Status status = ReadEscape(out);
      if (!status.ok()) return status;
    } else if (c < 0x20) {
      const char* name = c == '\n'   ? " (a line break: write it as \\n)"
                         : c == '\t' ? " (a tab: write it as \\t)"
                                     : "";
      return Error(pos_, absl::StrFormat("control character U+%04X in a string%s", c, name));
    } else {
      const size_t length = Utf8SequenceLength(text_.substr(pos_));
      if (length == 0) return Error(pos_, absl::StrFormat("invalid UTF-8 byte 0x%02X", c));
      if (out != nullptr) out->append(text_.data() + pos_, length);
      pos_ += length;
    }
  }
}

absl::Status Reader::ReadEscape(std::string* out) {
  const size_t start = pos_;  // the backslash
  if (pos_ + 1 >= text_.size()) return Error(start, "this escape is cut off by the end");
  const char e = text_[pos_ + 1];
  pos_ += 2;
  char simple = 0;
  switch (e) {
    case '"':
      simple = '"';
      break;
    case '\\':
      simple = '\\';
      break;
    case '/':
      simple = '/';
      break;
    case 'b':
      simple = '\b';
      break;
    case 'f':
      simple = '\f';
      break;
    case 'n':
      simple = '\n';
      break;
    case 'r':
      simple = '\r';
      break;
    case 't':
      simple = '\t';
      break;
    case 'u':
      break;
    default:
      return Error(start, absl::StrCat("invalid escape ", Got(start),
                                       " (JSON has \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)"));
  }
  if (e != 'u') {
    if (out != nullptr) out->push_back(simple);
    return absl::OkStatus();
  }
  // Four hex digits at `at`, or -1.
  const auto hex4 = [&](size_t at) -> int32_t {
    if (at + 4 > text_.size()) return -1;
    int32_t value = 0;
    for (size_t i = at; i < at + 4; ++i) {
      const int digit = HexDigit(text_[i]);
      if (digit < 0) return -1;
      value = value * 16 + digit;
    }
    return value;
  };
  const int32_t unit = hex4(pos_);
  if (unit < 0) {
    return Error(start, absl::StrCat("\\u must be followed by four hex digits, got ", Got(start)));
  }
  pos_ += 4;
  uint32_t code_point = static_cast<uint32_t>(unit);
  if (unit >= 0xDC00 && unit <= 0xDFFF) {
    return Error(start, absl::StrFormat("\\u%04X is the second half of a surrogate pair with no "
                                        "first half",
                                        unit));
  }
  if (unit >= 0xD800 && unit <= 0xDBFF) {
    const int32_t low = pos_ + 1 < text_.size() && text_[pos_] == '\\' && text_[pos_ + 1] == 'u'
                            ? hex4(pos_ + 2)
                            : -1;
    if (low < 0xDC00 || low > 0xDFFF) {
      return Error(start, absl::StrFormat("\\u%04X is the first half of a surrogate pair; the "
                                          "second half (\\uDC00-\\uDFFF) must follow",
                                          unit));
    }
    pos_ += 6;
    code_point = 0x10000 + ((code_point - 0xD800) << 10) + (static_cast<uint32_t>(low) - 0xDC00);
  }
  if (out != nullptr) AppendUtf8(code_point, out);
  return absl::OkStatus();
}

absl::Status Reader::ReadNumber(pb::Value* target) {
  const size_t start = pos_;
  const auto digits = [&] {
    const size_t from = pos_;
    while (pos_ < text_.size() && absl::ascii_isdigit(text_[pos_])) ++pos_;
    return pos_ - from;
  };
  const auto number_so_far = [&] {
    size_t end = pos_;
    while (end < text_.size() && (absl::ascii_isalnum(text_[end]) || text_[end] == '.' ||
                                  text_[end] == '+' || text_[end] == '-')) {
      ++end;
    }
    return absl::StrCat(
        "'", EscapedExcerpt(text_.substr(start, end - start), kExcerptBytes, ExcerptOf::kInput),
        "'");
  };
  if (Peek() == '-') ++pos_;
  if (AtEnd() || !absl::ascii_isdigit(Peek())) {
    if (absl::StartsWith(text_.substr(pos_), "Infinity")) return ExpectedValue(pos_);
    return Error(pos_, absl::StrCat("expected a digit after '-', got ", Got(pos_)));
  }
  const size_t int_start = pos_;
  const size_t int_digits = digits();
  if (text_[int_start] == '0' && int_digits > 1) {
    return Error(start, absl::StrCat("a number may not start with 0 (octal and padding are not "
                                     "JSON): ",
                                     number_so_far()));
  }
  size_t frac_start = pos_;
  size_t frac_digits = 0;
  if (!AtEnd() && Peek() == '.') {
    ++pos_;
    frac_start = pos_;
    frac_digits = digits();
    if (frac_digits == 0) {
      return Error(pos_, absl::StrCat("expected a digit after the decimal point, got ", Got(pos_)));
    }
  }
  int64_t exponent = 0;
  if (!AtEnd() && (Peek() == 'e' || Peek() == 'E')) {
    ++pos_;
    bool negative = false;
    if (!AtEnd() && (Peek() == '+' || Peek() == '-')) negative = text_[pos_++] == '-';
    const size_t exp_start = pos_;
    if (digits() == 0) {
      return Error(pos_, absl::StrCat("expected a digit in the exponent, got ", Got(pos_)));
    }
    for (size_t i = exp_start; i < pos_ && exponent < 1000000000; ++i) {
      exponent = exponent * 10 + (text_[i] - '0');
    }
    if (negative) exponent = -exponent;
  }
  double value = 0;
  const std::from_chars_result result =
      std::from_chars(text_.data() + start, text_.data() + pos_, value);
  if (result.ec == std::errc::result_out_of_range) {
    // Too close to zero rounds to zero, as strtod does; too large is an error. The decimal
    // magnitude tells which: where the first non-zero digit stands, moved by the exponent.
    int64_t magnitude = 0;
    size_t first = int_start;
    while (first < int_start + int_digits && text_[first] == '0') ++first;
    if (first < int_start + int_digits) {
      magnitude = static_cast<int64_t>(int_start + int_digits - first);
    } else {
      size_t f = frac_start;
      while (f < frac_start + frac_digits && text_[f] == '0') ++f;
      magnitude = -static_cast<int64_t>(f - frac_start);
    }
    if (magnitude + exponent > 0) {
      return Error(start, absl::StrCat("the number ", number_so_far(),
                                       " is too large (beyond a double's range)"));
    }
    value = text_[start] == '-' ? -0.0 : 0.0;
  } else if (result.ec != std::errc() || result.ptr != text_.data() + pos_) {
    // The grammar above is a subset of what from_chars takes, so this cannot happen.
    return Error(start, absl::StrCat("cannot read the number ", number_so_far()));
  }
  if (target != nullptr) target->set_number_value(value);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<pb::Value> ReadJson(absl::string_view text, const JsonLimits& limits) {
  JsonLimits capped = limits;
  capped.max_depth = std::min(capped.max_depth, kMaxTreeDepth);
  pb::Value root;
  Reader reader(text, capped, &root);
  absl::Status status = reader.Run();
  if (!status.ok()) return status;
  return root;
}

absl::Status CheckJson(absl::string_view text, const JsonLimits& limits) {
  Reader reader(text, limits, nullptr);
  return reader.Run();
}

std::string Excerpt(absl::string_view text, size_t max_bytes) {
  return EscapedExcerpt(text, max_bytes, ExcerptOf::kValue);
}

}  // namespace stampede
