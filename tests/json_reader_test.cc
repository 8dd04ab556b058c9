// Tests for common/json_reader: what it accepts is exactly what protobuf's JSON parser reads from
// the same text; what it refuses it refuses with the line, the column and a short excerpt; and
// hostile input (deep nesting, huge keys) costs linear time.
#include "common/json_reader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/closest_name.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"

namespace stampede {
namespace {

namespace fs = std::filesystem;
namespace pb = ::google::protobuf;
using ::testing::HasSubstr;

const fs::path kRepoDir = STAMPEDE_SOURCE_DIR;

constexpr JsonLimits kLimits{.max_bytes = 1 << 20, .max_depth = 32};

std::string ReadBytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

// The message of ReadJson's error, or "OK".
std::string ErrorOf(const std::string& text, const JsonLimits& limits = kLimits) {
  const absl::StatusOr<pb::Value> value = ReadJson(text, limits);
  if (value.ok()) return "OK";
  EXPECT_EQ(value.status().code(), absl::StatusCode::kInvalidArgument);
  // CheckJson must agree (duplicate keys aside, which only ReadJson looks for).
  const absl::Status checked = CheckJson(text, limits);
  if (std::string(value.status().message()).find("duplicate key") == std::string::npos) {
    EXPECT_EQ(checked, value.status()) << text;
  }
  return std::string(value.status().message());
}

double Seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

// ---------------------------------------------------------------------------------------------
// Valid JSON reads as protobuf reads it.

void ExpectSameAsProtobuf(const std::string& text) {
  SCOPED_TRACE(text.substr(0, 200));
  const absl::StatusOr<pb::Value> ours = ReadJson(text, kLimits);
  ASSERT_TRUE(ours.ok()) << ours.status();
  pb::Value theirs;
  const auto status = pb::util::JsonStringToMessage(text, &theirs);
  ASSERT_TRUE(status.ok()) << status;
  std::string difference;
  pb::util::MessageDifferencer differencer;
  differencer.ReportDifferencesToString(&difference);
  EXPECT_TRUE(differencer.Compare(theirs, *ours)) << difference;
  EXPECT_TRUE(CheckJson(text, kLimits).ok());
}

TEST(ReadJsonTest, ReadsValidJsonAsProtobufDoes) {
  const std::vector<std::string> corpus = {
      "{}",
      "[]",
      " \t\r\n{ } \n",
      "0",
      "-0",
      "1.5",
      "-12.25e-3",
      "1E+2",
      "6.02214076e23",
      "123456789012345678901234567890",
      "9007199254740993",
      "0.1",
      "4.9406564584124654e-324",
      "1.7976931348623157e308",
      "true",
      "false",
      "null",
      R"("")",
      R"("plain")",
      R"("\" \\ \/ \b \f \n \r \t")",
      R"("\u0041\u00e9\u20AC\ud83d\ude80\uFFFF\u0000")",
      "\"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x9A\x80\"",
      R"({"a": [1, "two", null, true, {"b": []}], "c": {"d": {"e": -1}}})",
      R"([[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]])",
      R"({"": 1, " ": 2, "\u0000": 3})",
  };
  for (const std::string& text : corpus) ExpectSameAsProtobuf(text);
}

// Every plan and payload the project ships (the fuzz seeds are invalid on purpose, so not those).
TEST(ReadJsonTest, ReadsTheProjectsPlansAsProtobufDoes) {
  int files = 0;
  for (const fs::path& dir : {kRepoDir / "examples", kRepoDir / "tests/data/plans",
                              kRepoDir / "tests/data/plans/payloads"}) {
    for (const fs::directory_entry& entry : fs::directory_iterator(dir)) {
      if (entry.path().extension() != ".json") continue;
      SCOPED_TRACE(entry.path().string());
      ExpectSameAsProtobuf(ReadBytes(entry.path()));
      ++files;
    }
  }
  EXPECT_GE(files, 7);
}

TEST(ReadJsonTest, DecodesEscapesAndUtf8) {
  const absl::StatusOr<pb::Value> value =
      ReadJson(R"(["\ud83d\ude80", "\u00e9", "a\nb", "\u0000"])", kLimits);
  ASSERT_TRUE(value.ok()) << value.status();
  const auto& items = value->list_value().values();
  EXPECT_EQ(items[0].string_value(), "\xF0\x9F\x9A\x80");
  EXPECT_EQ(items[1].string_value(), "\xC3\xA9");
  EXPECT_EQ(items[2].string_value(), "a\nb");
  EXPECT_EQ(items[3].string_value(), std::string(1, '\0'));
}

TEST(ReadJsonTest, NumbersAreExact) {
  const absl::StatusOr<pb::Value> value =
      ReadJson("[0.1, -0, 1e-400, -1e-400, 2.5E+2, 9007199254740993]", kLimits);
  ASSERT_TRUE(value.ok()) << value.status();
  const auto& items = value->list_value().values();
  EXPECT_EQ(items[0].number_value(), 0.1);
  EXPECT_TRUE(std::signbit(items[1].number_value()));
  EXPECT_EQ(items[2].number_value(), 0.0);  // underflow rounds to zero, as strtod does
  EXPECT_TRUE(std::signbit(items[3].number_value()));
  EXPECT_EQ(items[4].number_value(), 250.0);
  EXPECT_EQ(items[5].number_value(), 9007199254740992.0);  // nearest double
}

TEST(ReadJsonTest, SkipsAByteOrderMark) {
  EXPECT_EQ(ErrorOf("\xEF\xBB\xBF{}"), "OK");
  // Columns on the first line do not count it.
  EXPECT_EQ(ErrorOf("\xEF\xBB\xBF{]"), "1:2: expected a key in double quotes, got ']'");
}

// ---------------------------------------------------------------------------------------------
// Each kind of error, with its exact position and message.

struct ErrorCase {
  std::string text;
  std::string message;
};

TEST(ReadJsonTest, SyntaxErrorsNameLineAndColumn) {
  const std::vector<ErrorCase> cases = {
      {"", "1:1: the input is empty (expected a JSON value)"},
      {" \n ", "2:2: the input is empty (expected a JSON value)"},
      {"name: smoke", "1:1: expected a value, got 'name: smoke'"},
      {"{\n  \"name\": \"smoke\",\n  \"stages\" 1\n}", "3:12: expected ':' after the key, got '1'"},
      {R"({"a": 1 "b": 2})", R"(1:9: expected ',' or '}' after an object member, got '"b": 2}')"},
      {"[1 2]", "1:4: expected ',' or ']' after an array element, got '2]'"},
      {"[1,]", "1:4: expected a value, got ']' (JSON allows no comma before a closing bracket)"},
      {R"({"a": 1,})",
       "1:9: expected a key in double quotes, got '}' (JSON allows no comma before a closing "
       "bracket)"},
      {"{a: 1}", "1:2: expected a key in double quotes, got 'a: 1}' (keys are in double quotes)"},
      {"{'a': 1}",
       "1:2: expected a key in double quotes, got ''a': 1}' (JSON strings are in double quotes)"},
      {"['a']", "1:2: expected a value, got ''a']' (JSON strings are in double quotes)"},
      {"{} {}", "1:4: unexpected text after the JSON value: '{}'"},
      {"[1] x", "1:5: unexpected text after the JSON value: 'x'"},
      {R"({"name": "smoke", "stages": [)",
       "1:30: the input ends inside the array opened at 1:29 (expected a value)"},
      {"{\"a\": [1,\n 2",
       "2:3: the input ends inside the array opened at 1:7 (expected ',' or ']')"},
      {R"({"a")", "1:5: expected ':' after the key, got the end of the input"},
      {R"({"a": 1)", "1:8: the input ends inside the object opened at 1:1 (expected ',' or '}')"},
      {"{", "1:2: the input ends inside the object opened at 1:1 (expected a key)"},
      {"// comment\n{}", "1:1: expected a value, got '// comment' (JSON has no comments)"},
      {"[True]", "1:2: expected a value, got 'True]' (true, false and null are lower case)"},
      {"[nul]", "1:2: expected a value, got 'nul]'"},
      {"[truex]", "1:2: expected a value, got 'truex]'"},
      // Numbers.
      {"[NaN]", "1:2: expected a value, got 'NaN]' (JSON has no NaN or Infinity)"},
      {"[Infinity]", "1:2: expected a value, got 'Infinity]' (JSON has no NaN or Infinity)"},
      {"[-Infinity]", "1:3: expected a value, got 'Infinity]' (JSON has no NaN or Infinity)"},
      {"[0123]", "1:2: a number may not start with 0 (octal and padding are not JSON): '0123'"},
      {"[-01]", "1:2: a number may not start with 0 (octal and padding are not JSON): '-01'"},
      {"[-]", "1:3: expected a digit after '-', got ']'"},
      {"[+1]", "1:2: expected a value, got '+1]'"},
      {"[.5]", "1:2: expected a value, got '.5]'"},
      {"[1.]", "1:4: expected a digit after the decimal point, got ']'"},
      {"[1.e5]", "1:4: expected a digit after the decimal point, got 'e5]'"},
      {"[1e]", "1:4: expected a digit in the exponent, got ']'"},
      {"[1e+]", "1:5: expected a digit in the exponent, got ']'"},
      {"[0x10]", "1:3: expected ',' or ']' after an array element, got 'x10]'"},
      {"[1e400]", "1:2: the number '1e400' is too large (beyond a double's range)"},
      {"[-123456789e999999999999]",
       "1:2: the number '-123456789e999999999999' is too large (beyond a double's range)"},
      // Strings.
      {R"(["abc)", R"(1:2: this string is not closed (no '"' before the end))"},
      {"[\"a\nb\"]", "1:4: control character U+000A in a string (a line break: write it as \\n)"},
      {"[\"a\tb\"]", "1:4: control character U+0009 in a string (a tab: write it as \\t)"},
      {"[\"a\x01\"]", "1:4: control character U+0001 in a string"},
      {R"(["\x41"])", R"(1:3: invalid escape '\x41"]' (JSON has \" \\ \/ \b \f \n \r \t \uXXXX))"},
      {R"(["\u12G4"])", R"(1:3: \u must be followed by four hex digits, got '\u12G4"]')"},
      {R"(["\u12"])", R"(1:3: \u must be followed by four hex digits, got '\u12"]')"},
      {R"(["\ud83d"])",
       R"(1:3: \uD83D is the first half of a surrogate pair; the second half (\uDC00-\uDFFF) )"
       "must follow"},
      {R"(["\ud83d\u0041"])",
       R"(1:3: \uD83D is the first half of a surrogate pair; the second half (\uDC00-\uDFFF) )"
       "must follow"},
      {R"(["\ude80"])", R"(1:3: \uDE80 is the second half of a surrogate pair with no first half)"},
      {"[\"\\", "1:3: this escape is cut off by the end"},
      // Invalid UTF-8: a stray byte, overlong, an encoded surrogate, beyond U+10FFFF, cut short.
      {"[\"\xFF\"]", "1:3: invalid UTF-8 byte 0xFF"},
      {"[\"\xC0\x80\"]", "1:3: invalid UTF-8 byte 0xC0"},
      {"[\"\xED\xA0\x80\"]", "1:3: invalid UTF-8 byte 0xED"},
      {"[\"\xF4\x90\x80\x80\"]", "1:3: invalid UTF-8 byte 0xF4"},
      {"[\"\xE2\x82\"]", "1:3: invalid UTF-8 byte 0xE2"},
      {"[\xFF]", "1:2: expected a value, got '\\xFF]'"},
      // Columns count characters, and CRLF is one line break.
      {"[\"\xC3\xA9\xC3\xA9\", x]", "1:8: expected a value, got 'x]'"},
      {"{\r\n\"a\":\r\n  x}", "3:3: expected a value, got 'x}'"},
  };
  for (const ErrorCase& c : cases) {
    SCOPED_TRACE(c.text);
    EXPECT_EQ(ErrorOf(c.text), c.message);
  }
}

TEST(ReadJsonTest, DuplicateKeysNameTheirPath) {
  EXPECT_EQ(ErrorOf(R"({"a": 1, "a": 2})"), "1:10: a: duplicate key");
  EXPECT_EQ(ErrorOf("{\"stages\": [{}, {\"rate\": 1,\n  \"rate\": 2}]}"),
            "2:3: stages[1].rate: duplicate key");
  EXPECT_EQ(ErrorOf(R"({"target": {"headers": {"Content-Type": "a", "Content-Type": "b"}}})"),
            R"(1:46: target.headers["Content-Type"]: duplicate key)");
  // Escapes are decoded before comparing: these are the same key.
  EXPECT_EQ(ErrorOf(R"({"ab": 1, "\u0061b": 2})"), "1:11: ab: duplicate key");
  // CheckJson does not look for them (RFC 8259 allows them).
  EXPECT_TRUE(CheckJson(R"({"a": 1, "a": 2})", kLimits).ok());
}

TEST(ReadJsonTest, RefusesInputOverTheSizeLimit) {
  EXPECT_EQ(ErrorOf("[1, 2]", {.max_bytes = 5, .max_depth = 4}),
            "the input is 6 bytes, over the limit of 5 bytes");
  EXPECT_EQ(ErrorOf("[1,2]", {.max_bytes = 5, .max_depth = 4}), "OK");
}

TEST(ReadJsonTest, NestingLimitCountsLevels) {
  const auto nested = [](int depth) {
    return absl::StrCat(std::string(depth, '['), std::string(depth, ']'));
  };
  EXPECT_EQ(ErrorOf(nested(32)), "OK");
  EXPECT_EQ(ErrorOf(nested(33)), "1:33: arrays and objects are nested more than 32 levels deep");
  EXPECT_EQ(ErrorOf(R"({"a": {"b": [1]}})", {.max_bytes = 100, .max_depth = 2}),
            "1:13: arrays and objects are nested more than 2 levels deep");
  // ReadJson caps what it builds (the tree is destroyed recursively); CheckJson builds nothing.
  const std::string deep = nested(5000);
  EXPECT_EQ(ReadJson(deep, {.max_bytes = 1 << 20, .max_depth = 100000}).status().message(),
            "1:1001: arrays and objects are nested more than 1000 levels deep");
  EXPECT_TRUE(CheckJson(deep, {.max_bytes = 1 << 20, .max_depth = 100000}).ok());
}

// ---------------------------------------------------------------------------------------------
// Hostile input: linear time, short messages.

TEST(ReadJsonTest, DeepNestingIsRejectedFast) {
  // 100k nested arrays: protobuf's parser took minutes on this.
  const std::string text = absl::StrCat(std::string(100000, '['), std::string(100000, ']'));
  const auto start = std::chrono::steady_clock::now();
  const std::string message = ErrorOf(text);
  const double seconds = Seconds(std::chrono::steady_clock::now() - start);
  EXPECT_EQ(message, "1:33: arrays and objects are nested more than 32 levels deep");
  EXPECT_LT(seconds, 1.0);
}

TEST(ReadJsonTest, LargeInputIsReadInLinearTime) {
  // A plan-sized megabyte of keys, strings and numbers is read into a tree, and eight of them are
  // checked, each well under a second (typically 0.1 s and 0.05 s; generous for sanitizers).
  std::string object = "{";
  for (int i = 0; object.size() < (1u << 20) - 100; ++i) {
    absl::StrAppend(&object, i == 0 ? "" : ",", "\"key", i, "\": [\"value ", i, "\", ", i,
                    ".5e-3, {\"t\": true}]");
  }
  object += "}";
  auto start = std::chrono::steady_clock::now();
  const absl::StatusOr<pb::Value> value = ReadJson(object, kLimits);
  const double read_seconds = Seconds(std::chrono::steady_clock::now() - start);
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_GT(value->struct_value().fields_size(), 20000);
  EXPECT_LT(read_seconds, 2.0);

  std::string array = "[";
  for (int i = 0; i < 8; ++i) absl::StrAppend(&array, i == 0 ? "" : ",", object);
  array += "]";
  start = std::chrono::steady_clock::now();
  const absl::Status checked = CheckJson(array, {.max_bytes = 16 << 20, .max_depth = 32});
  const double check_seconds = Seconds(std::chrono::steady_clock::now() - start);
  EXPECT_TRUE(checked.ok()) << checked;
  EXPECT_LT(check_seconds, 2.0);
}

TEST(ReadJsonTest, HugeKeyIsCheapAndQuotedShort) {
  const std::string key(5'000'000, 'k');
  const JsonLimits limits{.max_bytes = 32 << 20, .max_depth = 32};
  // Two 5 MB keys read, then an error that names the second: the message quotes 40 bytes of it.
  const std::string text = absl::StrCat("{\"", key, "\": 1, \"", key, "\": 2}");
  const auto start = std::chrono::steady_clock::now();
  const std::string message = ErrorOf(text, limits);
  // The "did you mean" search on a key this long, which once took 15 s and 1.6 GB for 10 MB,
  // costs nothing.
  const std::optional<std::string> hint = ClosestName(key, {"name", "target", "stages"});
  const double seconds = Seconds(std::chrono::steady_clock::now() - start);
  EXPECT_EQ(message,
            absl::StrCat("1:5000009: [\"", std::string(40, 'k'), "...\"]: duplicate key"));
  EXPECT_EQ(hint, std::nullopt);
  EXPECT_LT(seconds, 1.0);
}

TEST(ExcerptTest, CutsAndEscapes) {
  EXPECT_EQ(Excerpt("short"), "short");
  EXPECT_EQ(Excerpt(std::string(100, 'x')), std::string(40, 'x') + "...");
  EXPECT_EQ(Excerpt("a\"b\\c\nd\te\x01"), "a\\\"b\\\\c\\nd\\te\\x01");
  EXPECT_EQ(Excerpt("bad \xFF byte"), "bad \\xFF byte");
  // Never cuts a character in half: 39 ASCII bytes and a 2-byte character do not fit in 40.
  EXPECT_EQ(Excerpt(std::string(39, 'x') + "\xC3\xA9"), std::string(39, 'x') + "...");
  EXPECT_EQ(Excerpt(std::string(38, 'x') + "\xC3\xA9"), std::string(38, 'x') + "\xC3\xA9");
  EXPECT_EQ(Excerpt("abcdef", 3), "abc...");
}

}  // namespace
}  // namespace stampede
