#include "tests/support/e2e.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace stampede::testing {

std::filesystem::path UniqueTestDir(const std::string& prefix) {
  auto dir = std::filesystem::temp_directory_path() /
             absl::StrCat(prefix, "-", getpid(), "-",
                          ::testing::UnitTest::GetInstance()->current_test_info()->name());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

ScopedTempDir::ScopedTempDir(const std::string& prefix) {
  std::string pattern =
      (std::filesystem::path(::testing::TempDir()) / (prefix + "_XXXXXX")).string();
  path_ =
      mkdtemp(pattern.data()) != nullptr ? std::filesystem::path(pattern) : std::filesystem::path();
}

ScopedTempDir::~ScopedTempDir() {
  std::error_code ignored;
  if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
}

std::vector<std::vector<std::string>> Query(const std::string& db, const std::string& sql) {
  sqlite3* conn = nullptr;
  std::vector<std::vector<std::string>> rows;
  if (sqlite3_open_v2(db.c_str(), &conn, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    ADD_FAILURE() << "cannot open " << db;
    sqlite3_close(conn);
    return rows;
  }
  // The coordinator may be writing: wait for its transaction rather than fail.
  sqlite3_busy_timeout(conn, 5000);
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(conn, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
    ADD_FAILURE() << sql << ": " << sqlite3_errmsg(conn);
  } else {
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      std::vector<std::string> row;
      for (int i = 0; i < sqlite3_column_count(stmt); ++i) {
        const unsigned char* text = sqlite3_column_text(stmt, i);
        row.emplace_back(text ? reinterpret_cast<const char*>(text) : "");
      }
      rows.push_back(std::move(row));
    }
  }
  sqlite3_finalize(stmt);
  sqlite3_close(conn);
  return rows;
}

int64_t Int(const std::string& s) {
  int64_t v = 0;
  EXPECT_TRUE(absl::SimpleAtoi(s, &v)) << s;
  return v;
}

std::string WritePlan(const std::filesystem::path& dir, int target_port, const std::string& stages,
                      const std::string& agents) {
  std::ofstream(dir / "payload.json") << "{\"inputs\": [[1, 2, 3]]}";
  const std::string path = (dir / "plan.json").string();
  std::ofstream(path) << absl::StrCat(R"({"name": "e2e", "target": {"url": "http://127.0.0.1:)",
                                      target_port, R"(/score", "headers": {"Content-Type": )",
                                      R"("application/json"}, "payloadFile": "payload.json"},)",
                                      R"( "agents": )", agents, R"(, "stages": )", stages, "}");
  return path;
}

absl::Status ProcessCluster::Start(const std::filesystem::path& dir,
                                   const std::vector<std::string>& regions,
                                   const std::vector<std::string>& serve_flags) {
  db_ = (dir / "stampede.db").string();
  std::vector<std::string> argv = {BinPath("stampede"), "serve", "--listen",
                                   "127.0.0.1:0",       "--db",  db_};
  argv.insert(argv.end(), serve_flags.begin(), serve_flags.end());
  auto serve = ChildProcess::Start(argv);
  if (!serve.ok()) return serve.status();
  serve_ = std::make_unique<ChildProcess>(std::move(*serve));
  auto line = serve_->WaitForLine("coordinator listening on", std::chrono::seconds(10));
  if (!line.ok()) return line.status();
  const size_t on = line->find(" on ") + 4;
  address_ = std::string(absl::StripAsciiWhitespace(line->substr(on, line->find(',') - on)));
  for (const std::string& region : regions) {
    auto agent = ChildProcess::Start({BinPath("stampede-agent"), "--coordinator", address_,
                                      "--name", absl::StrCat("agent-", region), "--region", region,
                                      "--label", "pool=test", "--threads", "1"});
    if (!agent.ok()) return agent.status();
    agents_.push_back(std::make_unique<ChildProcess>(std::move(*agent)));
  }
  for (int i = 0; i < 200; ++i) {
    auto out = RunCommand({BinPath("stampede"), "agents", "--coordinator", address_});
    if (out.ok() && out->exit_code == 0) {
      size_t idle = 0;
      for (absl::string_view l : absl::StrSplit(out->output, '\n')) {
        idle += absl::StrContains(l, "agent-") && absl::StrContains(l, " idle ");
      }
      if (idle == regions.size()) return absl::OkStatus();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return absl::DeadlineExceededError("agents did not register");
}

std::string HttpGet(int port, const std::string& path) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "";
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string response;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    const std::string request = absl::StrCat("GET ", path, " HTTP/1.0\r\n\r\n");
    (void)!write(fd, request.data(), request.size());
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0) response.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  const size_t body = response.find("\r\n\r\n");
  return body == std::string::npos ? "" : response.substr(body + 4);
}

int64_t ServerRequests(int port) {
  const std::string stats = HttpGet(port, "/stats");
  const size_t at = stats.find("\"requests\":");
  int64_t n = -1;
  if (at != std::string::npos) {
    absl::string_view rest = absl::string_view(stats).substr(at + 11);
    (void)absl::SimpleAtoi(rest.substr(0, rest.find_first_of(",}")), &n);
  }
  return n;
}

bool PollUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

std::unique_ptr<ChildProcess> StartServeProcess(const std::vector<std::string>& args,
                                                std::string* address) {
  std::vector<std::string> argv = {BinPath("stampede"), "serve"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto serve = ChildProcess::Start(argv);
  EXPECT_TRUE(serve.ok()) << serve.status();
  if (!serve.ok()) return nullptr;
  auto line = serve->WaitForLine("coordinator listening on", std::chrono::seconds(15));
  EXPECT_TRUE(line.ok()) << line.status() << "\n" << serve->output();
  if (!line.ok()) return nullptr;
  const size_t on = line->find(" on ") + 4;
  *address = std::string(absl::StripAsciiWhitespace(line->substr(on, line->find(',') - on)));
  return std::make_unique<ChildProcess>(std::move(*serve));
}

}  // namespace stampede::testing
