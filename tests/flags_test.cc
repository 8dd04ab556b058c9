// The common command-line parser: which command lines it accepts, the exact errors for the ones
// it refuses, the typed getters, and a --help that lists every declared flag with its default.
#include "common/flags.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/closest_name.h"

namespace stampede {
namespace {

using ::testing::HasSubstr;

CommandSpec TestSpec() {
  return {.command = "tool run",
          .description = "Runs a plan.",
          .positionals = {{.name = "PLAN.json", .help = "the plan to run"},
                          {.name = "OUT", .help = "where to write", .optional = true}},
          .flags = {
              {.name = "--coordinator",
               .value = "HOST:PORT",
               .default_value = "127.0.0.1:7700",
               .default_help = "$TOOL_COORDINATOR or 127.0.0.1:7700",
               .help = "the coordinator"},
              {.name = "--threads",
               .alias = "-n",
               .value = "N",
               .default_value = "4",
               .help = "worker threads"},
              {.name = "--json", .help = "print JSON"},
              {.name = "--label", .value = "K=V", .repeatable = true, .help = "a label"},
              {.name = "--output", .alias = "-o", .value = "FILE", .help = "write here"},
              {.name = "--rate", .value = "R", .help = "requests per second"},
              {.name = "--grace", .value = "D", .default_value = "5s", .help = "how long to wait"},
          }};
}

// Everything a parse produced, in one comparable line: positionals, then each given flag with
// all of its values.
std::string Describe(const ParsedFlags& flags) {
  std::vector<std::string> parts = {
      absl::StrCat("pos=[", absl::StrJoin(flags.positional(), ","), "]")};
  for (const FlagSpec& flag : TestSpec().flags) {
    if (flags.Has(flag.name)) {
      parts.push_back(absl::StrCat(flag.name, "=", absl::StrJoin(flags.All(flag.name), "|")));
    }
  }
  return absl::StrJoin(parts, " ");
}

TEST(FlagsTest, AcceptedCommandLines) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"p.json"}, "pos=[p.json]"},
      {{"p.json", "out.csv"}, "pos=[p.json,out.csv]"},
      // Both value forms, booleans, and positionals anywhere.
      {{"--coordinator", "h:1", "p.json", "--json"}, "pos=[p.json] --coordinator=h:1 --json="},
      {{"--coordinator=h:1", "p.json"}, "pos=[p.json] --coordinator=h:1"},
      {{"--coordinator=", "p.json"}, "pos=[p.json] --coordinator="},
      // Short aliases, with either value form; stored under the long name.
      {{"-n", "3", "-o=x.csv", "p.json"}, "pos=[p.json] --threads=3 --output=x.csv"},
      // Repeatable flags keep every value; '=' inside a value is the value's.
      {{"p.json", "--label", "a=1", "--label=b=2"}, "pos=[p.json] --label=a=1|b=2"},
      // The next argument is the value even when it starts with '-'.
      {{"p.json", "--rate", "-5"}, "pos=[p.json] --rate=-5"},
      // `--` ends the flags; a lone '-' is a positional (stdin).
      {{"--json", "--", "--p.json", "-h"}, "pos=[--p.json,-h] --json="},
      {{"-", "--json"}, "pos=[-] --json="},
  };
  for (const auto& [args, expected] : cases) {
    auto parsed = ParseCommandLine(TestSpec(), args);
    ASSERT_TRUE(parsed.ok()) << absl::StrJoin(args, " ") << ": " << parsed.status();
    EXPECT_FALSE(parsed->help());
    EXPECT_EQ(Describe(*parsed), expected) << absl::StrJoin(args, " ");
  }
}

TEST(FlagsTest, RefusedCommandLinesNameTheFlag) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"p.json", "--frobnicate"}, "unknown flag --frobnicate"},
      {{"p.json", "--frobnicate=1"}, "unknown flag --frobnicate"},
      {{"p.json", "-x"}, "unknown flag -x"},
      // A close name or a prefix gets a suggestion, with or without the right dashes.
      {{"p.json", "--jsno"}, "unknown flag --jsno (did you mean --json?)"},
      {{"p.json", "--thread", "2"}, "unknown flag --thread (did you mean --threads?)"},
      {{"p.json", "--coord", "h:1"}, "unknown flag --coord (did you mean --coordinator?)"},
      {{"p.json", "-json"}, "unknown flag -json (did you mean --json?)"},
      {{"p.json", "--threads"}, "--threads: needs a value (--threads N)"},
      {{"p.json", "-n"}, "--threads: needs a value (--threads N)"},
      {{"p.json", "--json=yes"}, "--json: takes no value"},
      {{"p.json", "--json="}, "--json: takes no value"},
      {{}, "missing PLAN.json"},
      {{"--json"}, "missing PLAN.json"},
      {{"a", "b", "c"}, "unexpected argument \"c\" after OUT"},
  };
  for (const auto& [args, expected] : cases) {
    auto parsed = ParseCommandLine(TestSpec(), args);
    ASSERT_FALSE(parsed.ok()) << absl::StrJoin(args, " ");
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(parsed.status().message(), expected) << absl::StrJoin(args, " ");
  }
}

TEST(FlagsTest, ACommandWithoutPositionalsSaysSo) {
  CommandSpec spec = {.command = "tool agents"};
  auto parsed = ParseCommandLine(spec, {"extra"});
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().message(),
            "unexpected argument \"extra\" (tool agents takes no arguments)");
}

TEST(FlagsTest, HelpWinsOverEverythingElseOnTheLine) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"--help"},
           {"-h"},
           {"p.json", "--json", "-h"},
           {"--bogus", "--help"},      // an unknown flag before it
           {"--help", "--threads"},    // a missing value after it
           {"a", "b", "c", "--help"},  // too many positionals
       }) {
    auto parsed = ParseCommandLine(TestSpec(), args);
    ASSERT_TRUE(parsed.ok()) << absl::StrJoin(args, " ") << ": " << parsed.status();
    EXPECT_TRUE(parsed->help()) << absl::StrJoin(args, " ");
  }
  // After `--` it is an argument like any other.
  auto parsed = ParseCommandLine(TestSpec(), {"p.json", "--", "--help"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_FALSE(parsed->help());
  EXPECT_EQ(parsed->positional(), (std::vector<std::string>{"p.json", "--help"}));
}

TEST(FlagsTest, StringGettersUseTheDefaultAndTheLastValue) {
  auto none = ParseCommandLine(TestSpec(), {"p.json"});
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->Has("--coordinator"));
  EXPECT_EQ(none->Get("--coordinator"), std::nullopt);
  EXPECT_EQ(none->String("--coordinator"), "127.0.0.1:7700");
  EXPECT_EQ(none->String("--output"), "");
  EXPECT_FALSE(none->Bool("--json"));
  EXPECT_TRUE(none->All("--label").empty());

  auto some = ParseCommandLine(TestSpec(),
                               {"p.json", "--coordinator", "a:1", "--coordinator=b:2", "--json"});
  ASSERT_TRUE(some.ok());
  EXPECT_EQ(some->Get("--coordinator"), "b:2");
  EXPECT_EQ(some->String("--coordinator"), "b:2");
  EXPECT_TRUE(some->Bool("--json"));
}

TEST(FlagsTest, TypedGetters) {
  auto parse = [](std::vector<std::string> args) {
    args.insert(args.begin(), "p.json");
    auto parsed = ParseCommandLine(TestSpec(), args);
    EXPECT_TRUE(parsed.ok()) << parsed.status();
    return *parsed;
  };
  // Int: the default, the last value, and errors that name the flag, the range and the value.
  EXPECT_EQ(*parse({}).Int("--threads", 1, 64), 4);
  EXPECT_EQ(*parse({"-n", "2", "--threads", "64"}).Int("--threads", 1, 64), 64);
  EXPECT_EQ(parse({"-n", "x"}).Int("--threads", 1, 64).status().message(),
            "--threads: expected an integer from 1 to 64, got \"x\"");
  EXPECT_EQ(parse({"-n", "65"}).Int("--threads", 1, 64).status().message(),
            "--threads: expected an integer from 1 to 64, got \"65\"");
  EXPECT_EQ(parse({"-n", "1.5"}).Int("--threads", 1, 64).status().message(),
            "--threads: expected an integer from 1 to 64, got \"1.5\"");
  // A flag without a default is required by the typed getters.
  EXPECT_EQ(parse({}).Double("--rate", 0, 100).status().message(), "--rate is required");
  EXPECT_EQ(parse({}).Double("--rate", 0, 100).status().code(), absl::StatusCode::kInvalidArgument);

  // Double: finite, inclusive bounds.
  EXPECT_EQ(*parse({"--rate", "2.5"}).Double("--rate", 0, 100), 2.5);
  EXPECT_EQ(*parse({"--rate", "0"}).Double("--rate", 0, 100), 0);
  EXPECT_EQ(*parse({"--rate", "100"}).Double("--rate", 0, 100), 100);
  for (const char* bad : {"nan", "inf", "-1", "100.5", "fast", ""}) {
    EXPECT_EQ(parse({"--rate", bad}).Double("--rate", 0, 100).status().message(),
              absl::StrCat("--rate: expected a number from 0 to 100, got \"", bad, "\""));
  }
  // An infinite bound is no bound, and the message says only what is left.
  constexpr double kInf = std::numeric_limits<double>::infinity();
  EXPECT_EQ(*parse({"--rate", "-1e300"}).Double("--rate", -kInf, kInf), -1e300);
  EXPECT_EQ(parse({"--rate", "inf"}).Double("--rate", -kInf, kInf).status().message(),
            "--rate: expected a number, got \"inf\"");
  EXPECT_EQ(parse({"--rate", "-1"}).Double("--rate", 0, kInf).status().message(),
            "--rate: expected a number of at least 0, got \"-1\"");
  EXPECT_EQ(parse({"--rate", "2"}).Double("--rate", -kInf, 1.5).status().message(),
            "--rate: expected a number of at most 1.5, got \"2\"");
  EXPECT_EQ(*parse({"--rate", "0.001"}).PositiveDouble("--rate"), 0.001);
  for (const char* bad : {"0", "-3", "nan", "inf"}) {
    EXPECT_EQ(parse({"--rate", bad}).PositiveDouble("--rate").status().message(),
              absl::StrCat("--rate: expected a positive number, got \"", bad, "\""));
  }

  // Duration: absl::ParseDuration's syntax, inclusive bounds.
  EXPECT_EQ(*parse({}).Duration("--grace", absl::Nanoseconds(1)), absl::Seconds(5));
  EXPECT_EQ(*parse({"--grace", "250ms"}).Duration("--grace", absl::Nanoseconds(1)),
            absl::Milliseconds(250));
  EXPECT_EQ(*parse({"--grace=1h30m"}).Duration("--grace", absl::ZeroDuration(), absl::Hours(2)),
            absl::Minutes(90));
  EXPECT_EQ(parse({"--grace", "5"}).Duration("--grace", absl::ZeroDuration()).status().message(),
            "--grace: expected a duration like 5s or 250ms, got \"5\"");
  EXPECT_EQ(parse({"--grace", "0s"}).Duration("--grace", absl::Nanoseconds(1)).status().message(),
            "--grace: expected a duration of at least 1ns, got \"0s\"");
  EXPECT_EQ(parse({"--grace", "3h"})
                .Duration("--grace", absl::Seconds(1), absl::Hours(2))
                .status()
                .message(),
            "--grace: expected a duration from 1s to 2h, got \"3h\"");
}

TEST(FlagsTest, AskingForAnUndeclaredFlagIsAProgrammingError) {
  auto parsed = ParseCommandLine(TestSpec(), {"p.json"});
  ASSERT_TRUE(parsed.ok());
  EXPECT_DEATH((void)parsed->Has("--jsno"), "--jsno is not a declared flag");
}

TEST(FlagsTest, HelpListsEveryFlagWithItsPlaceholderAndDefault) {
  const CommandSpec spec = TestSpec();
  const std::string help = CommandHelp(spec);
  const std::vector<std::string> lines = absl::StrSplit(help, '\n');
  for (const FlagSpec& flag : spec.flags) {
    // The flag's own line: alias, name, placeholder and the start of its description.
    const std::string head =
        absl::StrCat(flag.alias.empty() ? "    " : absl::StrCat(flag.alias, ", "), flag.name,
                     flag.value.empty() ? "" : " ", flag.value);
    auto line = std::find_if(lines.begin(), lines.end(), [&](const std::string& l) {
      return l.find(absl::StrCat("  ", head, " ")) == 0;
    });
    ASSERT_NE(line, lines.end()) << head << " missing from\n" << help;
    EXPECT_THAT(*line, HasSubstr(flag.help));
    const std::string& shown = flag.default_help.empty() ? flag.default_value : flag.default_help;
    if (!shown.empty()) {
      EXPECT_THAT(*line, HasSubstr(absl::StrCat("(default: ", shown, ")")));
    }
    if (flag.repeatable) {
      EXPECT_THAT(*line, HasSubstr("(repeatable)"));
    }
  }
  // The whole layout, once: usage, description, arguments, flags with their descriptions in
  // one column.
  EXPECT_EQ(help,
            "usage: tool run PLAN.json [OUT] [flags]\n"
            "\n"
            "Runs a plan.\n"
            "\n"
            "arguments:\n"
            "  PLAN.json                    the plan to run\n"
            "  OUT                          where to write (optional)\n"
            "\n"
            "flags:\n"
            "      --coordinator HOST:PORT  the coordinator (default: $TOOL_COORDINATOR or "
            "127.0.0.1:7700)\n"
            "  -n, --threads N              worker threads (default: 4)\n"
            "      --json                   print JSON\n"
            "      --label K=V              a label (repeatable)\n"
            "  -o, --output FILE            write here\n"
            "      --rate R                 requests per second\n"
            "      --grace D                how long to wait (default: 5s)\n"
            "  -h, --help                   print this help and exit\n");
}

TEST(FlagsTest, UsageFormsWrapBetweenOptionalGroups) {
  CommandSpec spec = {
      .command = "tool size",
      .usage =
          "tool size --rps R --latency-ms L --pod-concurrency C --cpu-per-pod P --vm-cores V "
          "[--node-overhead 0.7] [--cluster-overhead 3.9 [--json]]\n"
          "tool size --short"};
  EXPECT_EQ(
      CommandHelp(spec).substr(0, CommandHelp(spec).find("\n\n")),
      "usage: tool size --rps R --latency-ms L --pod-concurrency C --cpu-per-pod P --vm-cores "
      "V\n"
      "                 [--node-overhead 0.7] [--cluster-overhead 3.9 [--json]]\n"
      "       tool size --short");
}

TEST(FlagsTest, DescriptionLinesThatFitAreKeptAsWritten) {
  CommandSpec spec = {.command = "tool",
                      .description = "Endpoints:\n  GET /healthz   ok\n  POST /score    JSON\n\n" +
                                     std::string(60, 'a') + " " + std::string(50, 'b')};
  EXPECT_THAT(CommandHelp(spec),
              HasSubstr("\nEndpoints:\n  GET /healthz   ok\n  POST /score    JSON\n\n" +
                        std::string(60, 'a') + "\n" + std::string(50, 'b') + "\n"));
}

TEST(FlagsTest, ADefaultIsNeverBrokenAcrossLines) {
  CommandSpec spec = {.command = "tool",
                      .flags = {{.name = "--x",
                                 .value = "V",
                                 .default_value = "127.0.0.1:7700",
                                 .help = std::string(75, 'a')}}};
  EXPECT_THAT(CommandHelp(spec), HasSubstr("      --x V   " + std::string(75, 'a') + "\n" +
                                           std::string(14, ' ') + "(default: 127.0.0.1:7700)\n"));
}

TEST(FlagsTest, HelpWrapsLongDescriptionsUnderTheirColumn) {
  CommandSpec spec = {.command = "tool",
                      .usage = "tool [flags]\ntool run PLAN.json",
                      .flags = {{.name = "--a-very-long-flag-name-indeed",
                                 .value = "SOMETHING",
                                 .help = "goes on its own line"},
                                {.name = "--x",
                                 .help = std::string(60, 'a') + " " + std::string(30, 'b') + " " +
                                         std::string(10, 'c')}}};
  EXPECT_EQ(CommandHelp(spec),
            "usage: tool [flags]\n"
            "       tool run PLAN.json\n"
            "\n"
            "flags:\n"
            "      --a-very-long-flag-name-indeed SOMETHING\n"
            "              goes on its own line\n"
            "      --x     " +
                std::string(60, 'a') + "\n" + "              " + std::string(30, 'b') + " " +
                std::string(10, 'c') + "\n" + "  -h, --help  print this help and exit\n");
}

// The "did you mean" lookup shared with the plan loader: typos and truncations find their name,
// and a hostile megabyte-long name costs no time or memory.
TEST(ClosestName, FindsTyposAndPrefixesAndStaysBoundedOnHugeInput) {
  const std::vector<std::string> names = {"concurrency", "rate", "requests", "p99Ms"};
  EXPECT_EQ(ClosestName("concurency", names), "concurrency");
  EXPECT_EQ(ClosestName("rqeuests", names), "requests");  // a transposition is one edit
  EXPECT_EQ(ClosestName("p99", names), "p99Ms");
  EXPECT_EQ(ClosestName("RATE", names), "rate");
  EXPECT_EQ(ClosestName("nothing", names), std::nullopt);
  const std::string huge(10'000'000, 'c');
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(ClosestName(huge, names), std::nullopt);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(500));
}

}  // namespace
}  // namespace stampede
