// --token-file: a token read from a file (agent, coordinator and CLI), so that it is not in the
// process table.
#include "common/secret_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tests/support/e2e.h"

namespace stampede {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

TEST(SecretFile, ReadsOneLineWithoutItsLineEnding) {
  testing::ScopedTempDir temp("stampede-token");
  const fs::path path = temp.path() / "token";
  std::ofstream(path) << "s3cret-token\n";
  auto token = ReadSecretFile(path.string(), "--token-file");
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(*token, "s3cret-token");
  std::ofstream(path, std::ios::trunc) << "crlf\r\n";
  EXPECT_EQ(ReadSecretFile(path.string(), "--token-file").value_or("?"), "crlf");
  std::ofstream(path, std::ios::trunc) << "no-newline";
  EXPECT_EQ(ReadSecretFile(path.string(), "--token-file").value_or("?"), "no-newline");

  std::ofstream(path, std::ios::trunc) << "\n";
  EXPECT_THAT(ReadSecretFile(path.string(), "--token-file").status().message(), HasSubstr("empty"));
  std::ofstream(path, std::ios::trunc) << "one\ntwo\n";
  EXPECT_THAT(ReadSecretFile(path.string(), "--token-file").status().message(),
              HasSubstr("several lines"));
  const auto missing = ReadSecretFile((temp.path() / "missing").string(), "--token-file");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(missing.status().message(), HasSubstr("missing"));
  EXPECT_THAT(missing.status().message(), HasSubstr("No such file"));
  EXPECT_THAT(ReadSecretFile(temp.path().string(), "--token-file").status().message(),
              HasSubstr("not a regular file"));
  EXPECT_THAT(missing.status().message(), HasSubstr("--token-file"));
}

}  // namespace
}  // namespace stampede
