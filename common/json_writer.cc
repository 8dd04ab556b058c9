#include "common/json_writer.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace stampede {

void AppendJsonString(std::string* out, absl::string_view s) {
  out->push_back('"');
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      if (c == '"' || c == '\\') {
        out->push_back('\\');
        out->push_back(static_cast<char>(c));
      } else if (c == '\n') {
        out->append("\\n");
      } else if (c == '\t') {
        out->append("\\t");
      } else if (c < 0x20 || c == 0x7f) {
        absl::StrAppendFormat(out, "\\u%04x", c);
      } else {
        out->push_back(static_cast<char>(c));
      }
      ++i;
      continue;
    }
    // Multi-byte sequence: the lead byte gives the length; the second byte's range excludes
    // overlong forms, surrogates and code points above U+10FFFF.
    int len = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    }
    bool valid = len > 0 && i + static_cast<size_t>(len) <= s.size();
    for (int k = 1; valid && k < len; ++k) {
      const auto b = static_cast<unsigned char>(s[i + static_cast<size_t>(k)]);
      valid = k == 1 ? (b >= lo && b <= hi) : (b >= 0x80 && b <= 0xBF);
    }
    if (valid) {
      out->append(s.data() + i, static_cast<size_t>(len));
      i += static_cast<size_t>(len);
    } else {
      out->append("\\ufffd");
      ++i;
    }
  }
  out->push_back('"');
}

void JsonWriter::Key(absl::string_view key) {
  Separate();
  AppendJsonString(&out_, key);
  out_.append(": ");
  after_key_ = true;
}

void JsonWriter::String(absl::string_view v) {
  Separate();
  AppendJsonString(&out_, v);
}

void JsonWriter::Int(int64_t v) {
  Separate();
  absl::StrAppend(&out_, v);
}

void JsonWriter::Uint(uint64_t v) {
  Separate();
  absl::StrAppend(&out_, v);
}

void JsonWriter::Fixed(double v, int decimals) {
  Separate();
  if (std::isfinite(v)) {
    absl::StrAppendFormat(&out_, "%.*f", decimals, v);
  } else {
    out_.append("null");
  }
}

void JsonWriter::Number(double v, int max_decimals) {
  Separate();
  if (!std::isfinite(v)) {
    out_.append("null");
    return;
  }
  std::string s = absl::StrFormat("%.*f", max_decimals, v);
  if (s.find('.') != std::string::npos) {
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
  }
  if (s == "-0") s = "0";
  out_.append(s);
}

void JsonWriter::OptionalNumber(const std::optional<double>& v, int max_decimals) {
  if (v.has_value()) {
    Number(*v, max_decimals);
  } else {
    Null();
  }
}

void JsonWriter::Null() {
  Separate();
  out_.append("null");
}

void JsonWriter::Bool(bool v) {
  Separate();
  out_.append(v ? "true" : "false");
}

std::string JsonWriter::Take() {
  std::string out = std::move(out_) + "\n";
  out_.clear();
  stack_.clear();
  after_key_ = false;
  return out;
}

void JsonWriter::Separate() {
  // A value right after its key: the key already placed it.
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (stack_.empty()) return;
  Level& top = stack_.back();
  if (!top.empty) out_.push_back(',');
  if (top.one_line) {
    if (!top.empty) out_.push_back(' ');
  } else {
    NewLine(stack_.size());
  }
  top.empty = false;
}

void JsonWriter::Open(char bracket, bool one_line) {
  Separate();
  out_.push_back(bracket);
  const bool parent_one_line = !stack_.empty() && stack_.back().one_line;
  stack_.push_back(Level{one_line || parent_one_line, true});
}

void JsonWriter::Close(char bracket) {
  if (stack_.empty()) return;  // unbalanced: a caller bug, but never undefined behaviour
  const Level level = stack_.back();
  stack_.pop_back();
  if (!level.empty && !level.one_line) NewLine(stack_.size());
  out_.push_back(bracket);
}

void JsonWriter::NewLine(size_t depth) {
  out_.push_back('\n');
  out_.append(2 * depth, ' ');
}

}  // namespace stampede
