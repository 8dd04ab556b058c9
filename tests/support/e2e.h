// Helpers shared by the end-to-end tests: a fresh folder per test, and reading the store's
// SQLite file the way a user would.
#ifndef STAMPEDE_TESTS_SUPPORT_E2E_H_
#define STAMPEDE_TESTS_SUPPORT_E2E_H_

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace stampede::testing {

// <tmp>/<prefix>-<pid>-<current test name>, emptied and created.
std::filesystem::path UniqueTestDir(const std::string& prefix);

// Runs one query on a read-only connection; every column as text. A failure to open or
// prepare is a test failure (and no rows).
std::vector<std::vector<std::string>> Query(const std::string& db, const std::string& sql);

// A decimal integer from a query result; a test failure if it is not one.
int64_t Int(const std::string& s);

}  // namespace stampede::testing

#endif  // STAMPEDE_TESTS_SUPPORT_E2E_H_
