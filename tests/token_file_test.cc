// --token-file: the agent's token read from a file, so that it is not in the process table.
#include "agent/token_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tests/support/e2e.h"

namespace stampede {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

TEST(TokenFile, ReadsOneLineWithoutItsLineEnding) {
  testing::ScopedTempDir temp("stampede-token");
  const fs::path path = temp.path() / "token";
  std::ofstream(path) << "s3cret-token\n";
  auto token = ReadTokenFile(path.string());
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(*token, "s3cret-token");
  std::ofstream(path, std::ios::trunc) << "crlf\r\n";
  EXPECT_EQ(ReadTokenFile(path.string()).value_or("?"), "crlf");
  std::ofstream(path, std::ios::trunc) << "no-newline";
  EXPECT_EQ(ReadTokenFile(path.string()).value_or("?"), "no-newline");

  std::ofstream(path, std::ios::trunc) << "\n";
  EXPECT_THAT(ReadTokenFile(path.string()).status().message(), HasSubstr("empty"));
  std::ofstream(path, std::ios::trunc) << "one\ntwo\n";
  EXPECT_THAT(ReadTokenFile(path.string()).status().message(), HasSubstr("more than one line"));
  const auto missing = ReadTokenFile((temp.path() / "missing").string());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(missing.status().message(), HasSubstr("missing"));
  EXPECT_THAT(missing.status().message(), HasSubstr("No such file"));
  EXPECT_THAT(ReadTokenFile(temp.path().string()).status().message(), HasSubstr("cannot read"));
}

}  // namespace
}  // namespace stampede
