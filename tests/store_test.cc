// Tests for coordinator/store: schema, runs and run_agents, record ingest (exactly once, under
// concurrency, with clock correction and error names), reopening, bad files, reports, and every
// query in docs/queries.sql run against a small store.
#include "coordinator/store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "common/error_names.h"
#include "google/protobuf/util/message_differencer.h"
#include "tests/support/e2e.h"

namespace stampede {
namespace {

using testing::ScopedTempDir;

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// The source tree (tests/CMakeLists.txt defines it).
const fs::path kRepoDir = STAMPEDE_SOURCE_DIR;

constexpr int64_t kBaseNs = 1'700'000'000'000'000'000;

// A plain connection of its own, to check what the store wrote the way a user would see it.
class RawDb {
 public:
  explicit RawDb(const fs::path& path) {
    EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
    sqlite3_busy_timeout(db_, 5000);
  }
  ~RawDb() { sqlite3_close_v2(db_); }
  sqlite3* get() { return db_; }

  // All rows of a query, each row's columns joined with '|' (NULL as "NULL").
  std::vector<std::string> Rows(const std::string& sql) {
    std::vector<std::string> rows;
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
      ADD_FAILURE() << sql << ": " << sqlite3_errmsg(db_);
      return rows;
    }
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      std::string row;
      for (int c = 0; c < sqlite3_column_count(stmt); ++c) {
        const unsigned char* text = sqlite3_column_text(stmt, c);
        absl::StrAppend(&row, c == 0 ? "" : "|",
                        text == nullptr ? "NULL" : reinterpret_cast<const char*>(text));
      }
      rows.push_back(row);
    }
    EXPECT_EQ(rc, SQLITE_DONE) << sql << ": " << sqlite3_errmsg(db_);
    sqlite3_finalize(stmt);
    return rows;
  }
  std::string One(const std::string& sql) {
    std::vector<std::string> rows = Rows(sql);
    return rows.size() == 1 ? rows[0] : absl::StrCat("<", rows.size(), " rows>");
  }
  void Exec(const std::string& sql) {
    char* error = nullptr;
    EXPECT_EQ(sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error), SQLITE_OK)
        << sql << ": " << (error != nullptr ? error : "");
    sqlite3_free(error);
  }

 private:
  sqlite3* db_ = nullptr;
};

RunSummary Summary(const std::string& run_id, const std::string& state, int64_t started_ns) {
  RunSummary summary;
  summary.set_run_id(run_id);
  summary.set_plan_name("smoke");
  summary.set_state(state);
  summary.set_started_ns(started_ns);
  return summary;
}

AgentMeta Agent(const std::string& id, const std::string& name, const std::string& region,
                int64_t clock_offset_ns = 0) {
  AgentMeta agent;
  agent.id = id;
  agent.name = name;
  agent.region = region;
  agent.clock_offset_ns = clock_offset_ns;
  agent.clock_uncertainty_ns = 250'000;
  return agent;
}

// One record for MakeBatch.
struct TestRecord {
  int64_t offset_ns = 0;
  uint32_t latency_us = 1000;
  uint32_t status = 200;
  ErrorClass error = ERROR_NONE;
  uint32_t stage = 0;
};

RecordBatch MakeBatch(const std::string& run_id, uint64_t seq, int64_t base_ns,
                      const std::vector<TestRecord>& records) {
  RecordBatch batch;
  batch.set_run_id(run_id);
  batch.set_seq(seq);
  batch.set_base_time_ns(base_ns);
  for (const TestRecord& r : records) {
    batch.add_start_offset_ns(r.offset_ns);
    batch.add_latency_us(r.latency_us);
    batch.add_service_us(r.latency_us > 10 ? r.latency_us - 10 : r.latency_us);
    batch.add_status(r.status);
    batch.add_error(r.error);
    batch.add_bytes_sent(512);
    batch.add_bytes_received(r.status == 200 ? 2048 : 64);
    batch.add_stage(r.stage);
    batch.add_worker(0);
  }
  return batch;
}

class StoreTest : public ::testing::Test {
 protected:
  fs::path DbPath() const { return dir_.path() / "stampede.db"; }
  std::unique_ptr<Store> OpenStore() {
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(DbPath().string());
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(*store) : nullptr;
  }

  ScopedTempDir dir_{"store_test"};
};

// ---------------------------------------------------------------------------------------------
// Opening and the schema.

TEST_F(StoreTest, CreatesSchemaInWalModeWithVersion) {
  std::unique_ptr<Store> store = OpenStore();
  ASSERT_NE(store, nullptr);
  RawDb raw(DbPath());
  EXPECT_EQ(raw.One("PRAGMA user_version"), "3");
  EXPECT_EQ(raw.One("PRAGMA journal_mode"), "wal");
  EXPECT_THAT(raw.Rows("SELECT name FROM pragma_table_info('runs') ORDER BY cid"),
              ElementsAre("run_id", "plan_name", "state", "started_ns", "ended_ns", "requests",
                          "errors", "agents", "plan_json", "report", "p99_ms", "passed"));
  EXPECT_THAT(raw.Rows("SELECT name FROM pragma_table_info('run_agents') ORDER BY cid"),
              ElementsAre("run_id", "agent_id", "name", "region", "labels", "clock_offset_ns",
                          "clock_uncertainty_ns", "state", "requests", "errors", "instance_id",
                          "expected_batches"));
  EXPECT_THAT(raw.Rows("SELECT name FROM pragma_table_info('batches') ORDER BY cid"),
              ElementsAre("run_id", "agent_id", "seq", "records", "late", "dropped"));
  EXPECT_THAT(
      raw.Rows("SELECT name FROM pragma_table_info('records') ORDER BY cid"),
      ElementsAre("run_id", "agent", "region", "ts_ns", "latency_us", "service_us", "status",
                  "error", "error_code", "bytes_sent", "bytes_received", "stage"));
  EXPECT_THAT(raw.Rows("SELECT name FROM pragma_index_info('records_by_run_ts') ORDER BY seqno"),
              ElementsAre("run_id", "ts_ns"));
}

TEST_F(StoreTest, ReopenKeepsRunsAndRecords) {
  {
    std::unique_ptr<Store> store = OpenStore();
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->CreateRun(Summary("r1", "running", kBaseNs), "{}", {}).ok());
    store->AppendBatch("r1", Agent("a1", "east-1", "eastus"),
                       MakeBatch("r1", 0, kBaseNs, {{0}, {1000}, {2000}}), nullptr);
    // No Flush: destroying the store drains what was appended.
  }
  std::unique_ptr<Store> store = OpenStore();
  ASSERT_NE(store, nullptr);
  absl::StatusOr<RunSummary> run = store->GetRun("r1");
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->state(), "running");
  absl::StatusOr<uint64_t> count = store->CountRecords("r1");
  ASSERT_TRUE(count.ok()) << count.status();
  EXPECT_EQ(*count, 3u);
}

TEST_F(StoreTest, NotASqliteFileNamesThePath) {
  const fs::path path = dir_.path() / "notes.txt";
  std::ofstream(path) << "these are not the pages you are looking for\n" << std::string(4096, 'x');
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(path.string());
  ASSERT_FALSE(store.ok());
  EXPECT_THAT(store.status().message(), HasSubstr(path.string()));
  EXPECT_THAT(store.status().message(), HasSubstr("not a database"));
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(StoreTest, NewerSchemaVersionIsRefused) {
  ASSERT_NE(OpenStore(), nullptr);
  {
    RawDb raw(DbPath());
    raw.Exec("PRAGMA user_version = 4");
  }
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(DbPath().string());
  ASSERT_FALSE(store.ok());
  EXPECT_THAT(store.status().message(), HasSubstr(DbPath().string()));
  EXPECT_THAT(store.status().message(), HasSubstr("schema version 4"));
}

TEST_F(StoreTest, ForeignSqliteDatabaseIsRefused) {
  const fs::path path = dir_.path() / "other.db";
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_exec(db, "CREATE TABLE invoices(id INTEGER)", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(path.string());
  ASSERT_FALSE(store.ok());
  EXPECT_THAT(store.status().message(), HasSubstr(path.string()));
  EXPECT_THAT(store.status().message(), HasSubstr("invoices"));
}

TEST_F(StoreTest, MissingFolderNamesThePath) {
  const fs::path path = dir_.path() / "no" / "such" / "dir" / "stampede.db";
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(path.string());
  ASSERT_FALSE(store.ok());
  EXPECT_THAT(store.status().message(), HasSubstr(path.string()));
}

// ---------------------------------------------------------------------------------------------
// Runs, run_agents and reports.

TEST_F(StoreTest, RunsCrudAndNewestFirst) {
  std::unique_ptr<Store> store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->CreateRun(Summary("r-old", "finished", kBaseNs), "{\"name\":\"a\"}", {}).ok());
  ASSERT_TRUE(store->CreateRun(Summary("r-mid", "running", kBaseNs + 10), "{}", {}).ok());
  // Not started yet (started_ns 0): still the newest.
  ASSERT_TRUE(store->CreateRun(Summary("r-new", "pending", 0), "{}", {}).ok());

  absl::Status duplicate = store->CreateRun(Summary("r-mid", "running", 1), "{}", {});
  EXPECT_EQ(duplicate.code(), absl::StatusCode::kAlreadyExists) << duplicate;
  EXPECT_THAT(duplicate.message(), HasSubstr("r-mid"));

  absl::StatusOr<std::vector<RunSummary>> runs = store->ListRuns();
  ASSERT_TRUE(runs.ok()) << runs.status();
  std::vector<std::string> ids;
  for (const RunSummary& run : *runs) ids.push_back(run.run_id());
  EXPECT_THAT(ids, ElementsAre("r-new", "r-mid", "r-old"));

  RunSummary update = Summary("r-mid", "finished", kBaseNs + 10);
  update.set_ended_ns(kBaseNs + 5'000'000'000);
  update.set_requests(1234);
  update.set_errors(5);
  update.set_agents(3);
  ASSERT_TRUE(store->UpdateRun(update, nullptr).ok());
  absl::StatusOr<RunSummary> got = store->GetRun("r-mid");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*got, update))
      << got->DebugString();

  RawDb raw(DbPath());
  EXPECT_EQ(raw.One("SELECT plan_json FROM runs WHERE run_id = 'r-old'"), "{\"name\":\"a\"}");

  absl::Status missing = store->UpdateRun(Summary("r-none", "finished", 1), nullptr);
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound) << missing;
  EXPECT_THAT(missing.message(), HasSubstr("\"r-none\""));
  absl::StatusOr<RunSummary> unknown = store->GetRun("r-none");
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store->CreateRun(Summary("", "x", 0), "{}", {}).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(StoreTest, PutRunAgentUpserts) {
  std::unique_ptr<Store> store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->CreateRun(Summary("r1", "running", kBaseNs), "{}", {}).ok());
  AgentResult result;
  result.mutable_agent()->set_id("a7");
  result.mutable_agent()->set_name("westeurope-1");
  result.mutable_agent()->set_region("westeurope");
  (*result.mutable_agent()->mutable_labels())["zone"] = "2";
  (*result.mutable_agent()->mutable_labels())["pool"] = "spot";
  result.mutable_agent()->set_clock_offset_ns(-1500);
  result.mutable_agent()->set_clock_uncertainty_ns(300);
  result.set_state("running");
  ASSERT_TRUE(store->PutRunAgent("r1", result).ok());
  result.set_state("finished");
  result.mutable_totals()->set_requests(900);
  result.mutable_totals()->set_errors(12);
  ASSERT_TRUE(store->PutRunAgent("r1", result).ok());

  RawDb raw(DbPath());
  EXPECT_THAT(raw.Rows("SELECT * FROM run_agents"),
              ElementsAre("r1|a7|westeurope-1|westeurope|pool=spot,zone=2|-1500|300|finished|"
                          "900|12|NULL|NULL"));
  absl::Status unknown = store->PutRunAgent("r-none", result);
  EXPECT_EQ(unknown.code(), absl::StatusCode::kNotFound) << unknown;
  EXPECT_THAT(unknown.message(), HasSubstr("\"r-none\""));
}

TEST_F(StoreTest, ReportRoundTripAndNotFound) {
  std::unique_ptr<Store> store = OpenStore();
  ASSERT_NE(store, nullptr);
  absl::StatusOr<RunReport> unknown = store->GetReport("r-ghost");
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(unknown.status().message(), "run \"r-ghost\" not found");

  ASSERT_TRUE(store->CreateRun(Summary("r1", "running", kBaseNs), "{}", {}).ok());
  absl::StatusOr<RunReport> pending = store->GetReport("r1");
  EXPECT_EQ(pending.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(pending.status().message(), "run \"r1\" has no report yet");

  RunReport report;
  report.set_run_id("r1");
  report.set_plan_name("smoke");
  report.set_state("finished");
  report.mutable_totals()->set_requests(42);
  (*report.mutable_totals()->mutable_by_status())[503] = 7;
  (*report.mutable_by_region())["eastus"].set_requests(40);
  report.add_threshold_failures("p99 250 ms exceeded");
  report.add_timeline()->set_second(3);
  RunSummary summary = Summary("r1", "finished", kBaseNs);
  ASSERT_TRUE(store->UpdateRun(summary, &report).ok());
  // A later update without a report keeps the stored one.
  ASSERT_TRUE(store->UpdateRun(summary, nullptr).ok());
  absl::StatusOr<RunReport> got = store->GetReport("r1");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*got, report))
      << got->DebugString();
}

// ---------------------------------------------------------------------------------------------
// Records.

TEST_F(StoreTest, FlushWithNothingAppendedReturnsAtOnce) {
  std::unique_ptr<Store> store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(store->Flush().ok());
  EXPECT_EQ(*store->CountRecords("r-none"), 0u);
}

TEST_F(StoreTest, ConcurrentAppendsAreStoredExactlyOnce) {
  constexpr int kThreads = 4;
  constexpr int kBatches = 50;
  constexpr int kPerBatch = 1000;
  std::unique_ptr<Store> store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->CreateRun(Summary("r1", "running", kBaseNs), "{}", {}).ok());
  // Latencies differ per thread, batch and record, so a lost or doubled batch changes the sum.
  const auto latency = [](int t, int b, int i) -> uint32_t {
    return static_cast<uint32_t>((t * 7919 + b * 104729 + i * 31) % 250'000 + 1);
  };
  std::vector<std::thread> threads;
  std::atomic<int> flush_failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const AgentMeta agent = Agent(absl::StrCat("a", t), absl::StrCat("agent-", t),
                                    t % 2 == 0 ? "eastus" : "westeurope", t * 1000);
      for (int b = 0; b < kBatches; ++b) {
        std::vector<TestRecord> records(kPerBatch);
        for (int i = 0; i < kPerBatch; ++i) {
          records[i].offset_ns = static_cast<int64_t>(b) * 1'000'000'000 + i * 1000;
          records[i].latency_us = latency(t, b, i);
        }
        store->AppendBatch("r1", agent, MakeBatch("r1", b, kBaseNs, records), nullptr);
        if (b == kBatches / 2) {
          // Flush from several threads while others append: each sees its own rows committed.
          if (!store->Flush().ok()) ++flush_failures;
          absl::StatusOr<uint64_t> count = store->CountRecords("r1");
          if (!count.ok() || *count < static_cast<uint64_t>((b + 1) * kPerBatch)) {
            ++flush_failures;
          }
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  ASSERT_TRUE(store->Flush().ok());
  EXPECT_EQ(flush_failures.load(), 0);

  uint64_t expected_sum = 0;
  for (int t = 0; t < kThreads; ++t) {
    for (int b = 0; b < kBatches; ++b) {
      for (int i = 0; i < kPerBatch; ++i) expected_sum += latency(t, b, i);
    }
  }
  absl::StatusOr<uint64_t> count = store->CountRecords("r1");
  ASSERT_TRUE(count.ok()) << count.status();
  EXPECT_EQ(*count, static_cast<uint64_t>(kThreads * kBatches * kPerBatch));
  RawDb raw(DbPath());
  EXPECT_EQ(raw.One("SELECT SUM(latency_us) FROM records WHERE run_id = 'r1'"),
            absl::StrCat(expected_sum));
  EXPECT_THAT(raw.Rows("SELECT agent, region, COUNT(*), COUNT(DISTINCT ts_ns) FROM records "
                       "GROUP BY agent ORDER BY agent"),
              ElementsAre("agent-0|eastus|50000|50000", "agent-1|westeurope|50000|50000",
                          "agent-2|eastus|50000|50000", "agent-3|westeurope|50000|50000"));
}

TEST_F(StoreTest, InterleavedRunsAndOddBatchSizes) {
  // Sizes that are not multiples of the 64-row INSERT, and two runs in the same transactions.
  std::unique_ptr<Store> store = OpenStore();
  ASSERT_NE(store, nullptr);
  const AgentMeta agent = Agent("a1", "east-1", "eastus");
  std::map<std::string, std::pair<uint64_t, uint64_t>> expected;  // run -> (count, latency sum)
  uint64_t seq = 0;
  for (int size = 1; size <= 130; ++size) {
    const std::string run = size % 3 == 0 ? "r2" : "r1";
    std::vector<TestRecord> records(size);
    for (int i = 0; i < size; ++i) {
      records[i].offset_ns = (size - i) * 1000;  // descending: the writer re-sorts
      records[i].latency_us = static_cast<uint32_t>(size * 1000 + i);
      expected[run].first += 1;
      expected[run].second += records[i].latency_us;
    }
    store->AppendBatch(run, agent, MakeBatch(run, seq++, kBaseNs + size * 1'000'000, records),
                       nullptr);
  }
  ASSERT_TRUE(store->Flush().ok());
  RawDb raw(DbPath());
  for (const auto& [run, count_sum] : expected) {
    EXPECT_EQ(*store->CountRecords(run), count_sum.first) << run;
    EXPECT_EQ(
        raw.One(absl::StrCat("SELECT SUM(latency_us) FROM records WHERE run_id = '", run, "'")),
        absl::StrCat(count_sum.second))
        << run;
  }
}

TEST_F(StoreTest, TimestampsAreCorrectedByTheClockOffset) {
  std::unique_ptr<Store> store = OpenStore();
  ASSERT_NE(store, nullptr);
  // Agent "ahead" runs 2 s ahead of the coordinator, "behind" 3 ms behind.
  store->AppendBatch("r1", Agent("a1", "ahead", "eastus", 2'000'000'000),
                     MakeBatch("r1", 0, kBaseNs, {{0}, {1500}, {1'000'000'000}}), nullptr);
  store->AppendBatch("r1", Agent("a2", "behind", "westeurope", -3'000'000),
                     MakeBatch("r1", 0, kBaseNs + 7, {{0}, {42}}), nullptr);
  ASSERT_TRUE(store->Flush().ok());
  RawDb raw(DbPath());
  EXPECT_THAT(raw.Rows("SELECT ts_ns FROM records WHERE agent = 'ahead' ORDER BY ts_ns"),
              ElementsAre(absl::StrCat(kBaseNs - 2'000'000'000),
                          absl::StrCat(kBaseNs + 1500 - 2'000'000'000),
                          absl::StrCat(kBaseNs + 1'000'000'000 - 2'000'000'000)));
  EXPECT_THAT(raw.Rows("SELECT ts_ns FROM records WHERE agent = 'behind' ORDER BY ts_ns"),
              ElementsAre(absl::StrCat(kBaseNs + 7 + 3'000'000),
                          absl::StrCat(kBaseNs + 7 + 42 + 3'000'000)));
}

TEST_F(StoreTest, StoresEveryColumnAndErrorNames) {
  std::unique_ptr<Store> store = OpenStore();
  ASSERT_NE(store, nullptr);
  std::vector<TestRecord> records;
  for (int e = ERROR_NONE; e <= ERROR_ABORTED; ++e) {
    TestRecord r;
    r.offset_ns = e;
    r.latency_us = 100 + e;
    r.status = e == ERROR_HTTP_5XX ? 503 : e == ERROR_HTTP_4XX ? 401 : e == 0 ? 200 : 0;
    r.error = static_cast<ErrorClass>(e);
    r.stage = e % 3;
    records.push_back(r);
  }
  TestRecord odd;  // a value a newer agent might send (proto3 enums are open)
  odd.offset_ns = 99;
  odd.error = static_cast<ErrorClass>(77);
  records.push_back(odd);
  store->AppendBatch("r1", Agent("a1", "east-1", "eastus"), MakeBatch("r1", 0, kBaseNs, records),
                     nullptr);
  ASSERT_TRUE(store->Flush().ok());
  RawDb raw(DbPath());
  EXPECT_THAT(
      raw.Rows("SELECT error_code, error FROM records ORDER BY ts_ns"),
      ElementsAre("0|none", "1|connect", "2|dns", "3|tls", "4|timeout", "5|reset", "6|http_4xx",
                  "7|http_5xx", "8|protocol", "9|send", "10|other", "11|aborted", "77|unknown"));
  // The store keeps its own copy of the names; it must spell them as everyone else does.
  for (const std::string& row : raw.Rows("SELECT error_code, error FROM records")) {
    const std::vector<std::string> parts = absl::StrSplit(row, '|');
    EXPECT_EQ(parts[1], ErrorClassName(static_cast<ErrorClass>(std::stoi(parts[0]))));
  }
  EXPECT_EQ(raw.One("SELECT * FROM records WHERE error = 'http_5xx'"),
            absl::StrCat("r1|east-1|eastus|", kBaseNs + 7, "|107|97|503|http_5xx|7|512|64|1"));
}

TEST_F(StoreTest, MetadataWritesAreNotStarvedByIngest) {
  std::unique_ptr<Store> store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->CreateRun(Summary("r1", "running", kBaseNs), "{}", {}).ok());
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> appended{0};
  std::thread producer([&] {
    std::vector<TestRecord> records(2000);
    const AgentMeta agent = Agent("a1", "east-1", "eastus");
    for (uint64_t seq = 0; !stop.load(); ++seq) {
      store->AppendBatch("r1", agent, MakeBatch("r1", seq, kBaseNs, records), nullptr);
      appended += records.size();
    }
  });
  // Each update needs the write lock the writer thread holds nearly all the time; appending from
  // this thread right before each update makes sure the writer is busy when it comes.
  const std::vector<TestRecord> burst(20'000);
  for (int i = 0; i < 20; ++i) {
    store->AppendBatch("r1", Agent("a2", "west-1", "westeurope"),
                       MakeBatch("r1", i, kBaseNs, burst), nullptr);
    appended += burst.size();
    RunSummary summary = Summary("r1", "running", kBaseNs);
    summary.set_requests(i);
    absl::Status status = store->UpdateRun(summary, nullptr);
    ASSERT_TRUE(status.ok()) << status;
  }
  stop = true;
  producer.join();
  ASSERT_TRUE(store->Flush().ok());
  EXPECT_EQ(*store->CountRecords("r1"), appended.load());
  EXPECT_EQ(store->GetRun("r1")->requests(), 19u);
}

TEST_F(StoreTest, WriteErrorIsReturnedByFlush) {
  std::unique_ptr<Store> store = OpenStore();
  ASSERT_NE(store, nullptr);
  {
    // The writer is idle between transactions, so another connection may change the schema.
    RawDb raw(DbPath());
    raw.Exec("DROP TABLE records");
  }
  store->AppendBatch("r1", Agent("a1", "east-1", "eastus"), MakeBatch("r1", 0, kBaseNs, {{0}}),
                     nullptr);
  absl::Status status = store->Flush();
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("records"));
  EXPECT_THAT(status.message(), HasSubstr("no such table"));
  // Remembered: a later Flush still reports that rows were lost.
  EXPECT_EQ(store->Flush(), status);
}

// ---------------------------------------------------------------------------------------------
// docs/queries.sql: every statement runs against a small store and returns rows.

// Statements of a SQL file with the name from the "-- name: X" comment before each.
std::vector<std::pair<std::string, std::string>> SqlStatements(const std::string& text) {
  std::vector<std::pair<std::string, std::string>> statements;
  std::string name;
  std::string current;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    absl::string_view stripped = absl::StripAsciiWhitespace(line);
    if (absl::ConsumePrefix(&stripped, "-- name:")) {
      name = std::string(absl::StripAsciiWhitespace(stripped));
    }
    absl::StrAppend(&current, line, "\n");
    if (sqlite3_complete(current.c_str())) {
      statements.emplace_back(name, current);
      name.clear();
      current.clear();
    }
  }
  EXPECT_TRUE(absl::StripAsciiWhitespace(current).empty())
      << "unterminated statement at the end: " << current;
  return statements;
}

TEST_F(StoreTest, EveryQueryInDocsRuns) {
  std::ifstream in(kRepoDir / "docs/queries.sql");
  ASSERT_TRUE(in) << "cannot read " << (kRepoDir / "docs/queries.sql");
  std::stringstream text;
  text << in.rdbuf();

  std::unique_ptr<Store> store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->CreateRun(Summary("r1", "finished", kBaseNs), "{}", {}).ok());
  ASSERT_TRUE(store->CreateRun(Summary("r0", "finished", kBaseNs - 1), "{}", {}).ok());
  // Per agent and stage, latencies 1..100 ms in a shuffled order over 4 seconds: the nearest-rank
  // p50/p90/p99 of each stage are 50/90/99 ms whatever the order.
  const std::vector<AgentMeta> agents = {Agent("a1", "east-1", "eastus", 5000),
                                         Agent("a2", "west-1", "westeurope", -5000)};
  for (const AgentMeta& agent : agents) {
    for (uint32_t stage = 0; stage < 2; ++stage) {
      std::vector<TestRecord> records;
      for (int i = 0; i < 100; ++i) {
        TestRecord r;
        r.offset_ns = static_cast<int64_t>(stage) * 4'000'000'000 + int64_t{i} * 40'000'000;
        r.latency_us = static_cast<uint32_t>(((i * 37) % 100 + 1) * 1000);
        r.status = i % 10 == 0 ? 503 : 200;
        r.error = i % 10 == 0 ? ERROR_HTTP_5XX : ERROR_NONE;
        r.stage = stage;
        records.push_back(r);
      }
      store->AppendBatch("r1", agent, MakeBatch("r1", stage, kBaseNs, records), nullptr);
    }
  }
  store->AppendBatch("r0", agents[0], MakeBatch("r0", 0, kBaseNs, {{0, 999'000}}), nullptr);
  ASSERT_TRUE(store->Flush().ok());

  RawDb raw(DbPath());
  const auto statements = SqlStatements(text.str());
  EXPECT_GE(statements.size(), 6u);
  std::map<std::string, std::vector<std::string>> results;
  for (const auto& [name, sql] : statements) {
    SCOPED_TRACE(name);
    EXPECT_FALSE(name.empty()) << "statement without a '-- name:' comment:\n" << sql;
    sqlite3_stmt* stmt = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(raw.get(), sql.c_str(), -1, &stmt, nullptr), SQLITE_OK)
        << sqlite3_errmsg(raw.get()) << "\n"
        << sql;
    const int run_param = sqlite3_bind_parameter_index(stmt, ":run_id");
    if (run_param > 0) sqlite3_bind_text(stmt, run_param, "r1", -1, SQLITE_STATIC);
    std::vector<std::string>& rows = results[name];
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      std::string row;
      for (int c = 0; c < sqlite3_column_count(stmt); ++c) {
        const unsigned char* value = sqlite3_column_text(stmt, c);
        absl::StrAppend(&row, c == 0 ? "" : "|",
                        value == nullptr ? "NULL" : reinterpret_cast<const char*>(value));
      }
      rows.push_back(row);
    }
    EXPECT_EQ(rc, SQLITE_DONE) << sqlite3_errmsg(raw.get()) << "\n" << sql;
    sqlite3_finalize(stmt);
    EXPECT_FALSE(rows.empty()) << "no rows from:\n" << sql;
  }
  // Spot checks of the worked examples' answers.
  EXPECT_THAT(results["latency_percentiles_per_stage"],
              ElementsAre("0|200|50.0|90.0|99.0|100.0", "1|200|50.0|90.0|99.0|100.0"));
  EXPECT_THAT(results["error_share_per_agent"],
              ElementsAre("east-1|eastus|200|20|10.0", "west-1|westeurope|200|20|10.0"));
  EXPECT_THAT(results["status_code_counts"],
              ElementsAre("200|none|360|90.0", "503|http_5xx|40|10.0"));
}

// ---------------------------------------------------------------------------------------------
// The ledger of committed batches, and what a restarted coordinator reads back.

TEST_F(StoreTest, ABatchIsStoredOnceAndItsCallbackRunsAfterTheCommit) {
  std::unique_ptr<Store> store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->CreateRun(Summary("r1", "running", kBaseNs), "{}", {}).ok());
  const AgentMeta agent = Agent("a1", "east-1", "eastus");
  RecordBatch batch = MakeBatch("r1", 7, kBaseNs, {{0}, {1000}, {2000}});
  batch.set_late(4);
  batch.set_dropped(1);
  std::vector<std::pair<uint64_t, absl::Status>> committed;
  absl::Mutex mu;
  auto callback = [&](uint64_t tag) {
    return [&, tag](const absl::Status& status) {
      // Committed already: a reader on another connection sees the rows.
      RawDb raw(DbPath());
      EXPECT_EQ(raw.One("SELECT COUNT(*) FROM records"), "3");
      absl::MutexLock lock(&mu);
      committed.emplace_back(tag, status);
    };
  };
  store->AppendBatch("r1", agent, batch, callback(1));
  store->AppendBatch("r1", agent, batch, callback(2));  // a resend: nothing stored twice
  ASSERT_TRUE(store->Flush().ok());
  {
    absl::MutexLock lock(&mu);
    ASSERT_EQ(committed.size(), 2u) << "Flush returns after the callbacks of earlier batches";
    EXPECT_TRUE(committed[0].second.ok());
    EXPECT_TRUE(committed[1].second.ok());
  }
  EXPECT_EQ(*store->CountRecords("r1"), 3u);
  RawDb raw(DbPath());
  EXPECT_THAT(raw.Rows("SELECT * FROM batches"), ElementsAre("r1|a1|7|3|4|1"));
  // A batch with no records still has its ledger row (it may carry late and dropped counts).
  RecordBatch empty = MakeBatch("r1", 8, kBaseNs, {});
  empty.set_dropped(5);
  store->AppendBatch("r1", agent, empty, nullptr);
  ASSERT_TRUE(store->Flush().ok());
  EXPECT_EQ(raw.One("SELECT COUNT(*) FROM batches"), "2");
}

TEST_F(StoreTest, ARunItsAgentsAndItsLedgerAreReadBackAfterARestart) {
  {
    std::unique_ptr<Store> store = OpenStore();
    ASSERT_NE(store, nullptr);
    StoredRunAgent a;
    a.info.set_id("east-1");
    a.info.set_name("east-1");
    a.info.set_region("eastus");
    (*a.info.mutable_labels())["pool"] = "spot";
    a.info.set_clock_offset_ns(2'000'000);
    a.info.set_clock_uncertainty_ns(40'000);
    a.instance_id = "p-1";
    a.state = "running";
    StoredRunAgent b = a;
    b.info.set_id("west-1");
    b.info.set_name("west-1");
    b.info.set_region("westeurope");
    b.instance_id = "p-2";
    ASSERT_TRUE(
        store->CreateRun(Summary("r1", "running", kBaseNs), R"({"name":"p"})", {a, b}).ok());
    ASSERT_TRUE(store->CreateRun(Summary("r0", "finished", kBaseNs), "{}", {}).ok());
    ASSERT_TRUE(store->UpdateRunAgent("r1", "west-1", "finished", 2).ok());
    EXPECT_EQ(store->UpdateRunAgent("r1", "nobody", "lost", std::nullopt).code(),
              absl::StatusCode::kNotFound);
    const AgentMeta east = Agent("east-1", "east-1", "eastus", 2'000'000);
    store->AppendBatch("r1", east, MakeBatch("r1", 0, kBaseNs + 2'000'000, {{0}, {5'000'000}}),
                       nullptr);
    store->AppendBatch("r1", Agent("west-1", "west-1", "westeurope"),
                       MakeBatch("r1", 0, kBaseNs, {{1'000'000}}), nullptr);
    // No Flush: the process dies; what was appended is drained when the store closes.
  }
  std::unique_ptr<Store> store = OpenStore();
  ASSERT_NE(store, nullptr);
  absl::StatusOr<std::vector<StoredRun>> runs = store->LoadUnfinishedRuns();
  ASSERT_TRUE(runs.ok()) << runs.status();
  ASSERT_EQ(runs->size(), 1u) << "finished runs are not reloaded";
  const StoredRun& run = (*runs)[0];
  EXPECT_EQ(run.summary.run_id(), "r1");
  EXPECT_EQ(run.plan_json, R"({"name":"p"})");
  ASSERT_EQ(run.agents.size(), 2u);
  EXPECT_EQ(run.agents[0].info.name(), "east-1");
  EXPECT_EQ(run.agents[0].info.labels().at("pool"), "spot");
  EXPECT_EQ(run.agents[0].info.clock_offset_ns(), 2'000'000);
  EXPECT_EQ(run.agents[0].instance_id, "p-1");
  EXPECT_EQ(run.agents[0].state, "running");
  EXPECT_FALSE(run.agents[0].expected_batches.has_value());
  EXPECT_EQ(run.agents[1].state, "finished");
  EXPECT_EQ(run.agents[1].expected_batches, 2u);
  EXPECT_EQ(run.batches.size(), 2u);

  // The records come back on the coordinator's timeline, agent by agent.
  std::map<std::string, std::vector<int64_t>> times;
  ASSERT_TRUE(store
                  ->ReadRecords("r1", 1,
                                [&](const std::string& agent, const RecordBatch& b) {
                                  EXPECT_EQ(b.base_time_ns(), 0);
                                  for (int64_t t : b.start_offset_ns()) times[agent].push_back(t);
                                })
                  .ok());
  EXPECT_THAT(times["east-1"], ElementsAre(kBaseNs, kBaseNs + 5'000'000));
  EXPECT_THAT(times["west-1"], ElementsAre(kBaseNs + 1'000'000));
}

TEST_F(StoreTest, AStoreOfTheFirstSchemaIsUpgradedInPlace) {
  {
    // Schema 1 as an older build wrote it.
    sqlite3* created = nullptr;
    ASSERT_EQ(sqlite3_open(DbPath().c_str(), &created), SQLITE_OK);
    sqlite3_close(created);
    RawDb raw(DbPath());
    raw.Exec(
        "CREATE TABLE runs(run_id TEXT PRIMARY KEY, plan_name TEXT, state TEXT, started_ns "
        "INTEGER, ended_ns INTEGER, requests INTEGER, errors INTEGER, agents INTEGER, plan_json "
        "TEXT, report BLOB)");
    raw.Exec(
        "CREATE TABLE run_agents(run_id TEXT, agent_id TEXT, name TEXT, region TEXT, labels "
        "TEXT, clock_offset_ns INTEGER, clock_uncertainty_ns INTEGER, state TEXT, requests "
        "INTEGER, errors INTEGER, PRIMARY KEY(run_id, agent_id))");
    raw.Exec(
        "CREATE TABLE records(run_id TEXT, agent TEXT, region TEXT, ts_ns INTEGER, latency_us "
        "INTEGER, service_us INTEGER, status INTEGER, error TEXT, error_code INTEGER, "
        "bytes_sent INTEGER, bytes_received INTEGER, stage INTEGER)");
    raw.Exec("INSERT INTO runs(run_id, state) VALUES ('old', 'finished')");
    raw.Exec("PRAGMA user_version = 1");
  }
  std::unique_ptr<Store> store = OpenStore();
  ASSERT_NE(store, nullptr);
  RawDb raw(DbPath());
  EXPECT_EQ(raw.One("PRAGMA user_version"), "3");
  EXPECT_EQ(raw.One("SELECT state FROM runs WHERE run_id = 'old'"), "finished");
  ASSERT_TRUE(store->CreateRun(Summary("new", "running", kBaseNs), "{}", {}).ok());
  // The verdict columns of schema 3: written with the summary, read back by ListRuns.
  RunSummary ended = Summary("new", "finished", kBaseNs);
  ended.set_p99_ms(12.5);
  ended.set_passed(false);
  ASSERT_TRUE(store->UpdateRun(ended, nullptr).ok());
  auto runs = store->ListRuns();
  ASSERT_TRUE(runs.ok());
  ASSERT_EQ(runs->size(), 2u);
  EXPECT_EQ((*runs)[0].p99_ms(), 12.5);
  EXPECT_FALSE((*runs)[0].passed());
  EXPECT_TRUE((*runs)[0].has_passed());
  EXPECT_FALSE((*runs)[1].has_passed());  // the old run: unknown, not "failed"
  store->AppendBatch("new", Agent("a1", "east-1", "eastus"), MakeBatch("new", 0, kBaseNs, {{0}}),
                     nullptr);
  ASSERT_TRUE(store->Flush().ok());
  EXPECT_EQ(raw.One("SELECT COUNT(*) FROM batches"), "1");
}

}  // namespace
}  // namespace stampede
