// SQLite implementation of Store.
//
// Records: AppendRecords converts a columnar batch into packed rows on the caller's thread and
// queues them (bounded: callers block when the writer is kMaxPendingRows behind). One writer
// thread collects up to kCommitRows rows or kCommitInterval's worth, sorts them by (run, ts_ns)
// and inserts them in one transaction, kRowsPerInsert rows per prepared statement; then it wakes
// Flush() callers. Measured on the 2-core dev VM with bench/ingest_bench.cc, the writer sustains
// ~1.4M records per second of its own CPU time (see the constants for what each choice bought).
//
// Two connections to one WAL-mode file:
//  - the writer connection belongs to the writer thread (records only);
//  - the metadata connection serves every other call (runs, run_agents, reads) under meta_mu_.
// WAL lets the metadata connection read while the writer has a transaction open, so ListRuns and
// CountRecords never wait for ingest. SQLite allows one write transaction at a time per file, so
// metadata *writes* also pass an in-process gate: a waiting metadata writer goes before the
// writer's next transaction, and waits at most for the current one (<= kCommitRows rows, ~70 ms
// of writer CPU). busy_timeout alone would not do: a saturated writer starts a new transaction
// right after each commit, and SQLite's busy handler polls with sleeps, so CreateRun/UpdateRun
// could starve until the timeout. busy_timeout (5 s) remains for other processes (a user's sqlite3
// shell). Routing metadata through the writer thread instead would queue it behind up to a million
// rows.
#include "coordinator/store.h"

#include <pthread.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/error_names.h"
#include "common/status_macros.h"
#include "common/timeline.h"

namespace stampede {
namespace {

// Bump when the schema changes; stored in PRAGMA user_version.
// 2: run_agents gains instance_id and expected_batches (written when the run starts), and the
//    `batches` ledger of committed (run, agent, seq).
// 3: runs gains p99_ms and passed (written when the run ends), for `stampede runs`.
constexpr int kSchemaVersion = 3;

// Writer tuning. A transaction takes kCommitRows rows or what arrived within kCommitInterval,
// whichever comes first (and at once what is queued when someone waits in Flush): large
// transactions amortise the commit, the interval bounds how stale the file is for SQL users.
constexpr size_t kCommitRows = 100'000;
constexpr absl::Duration kCommitInterval = absl::Milliseconds(200);
// Backpressure: AppendRecords blocks while this many rows are queued or in the open transaction.
// A row is 40 bytes, so the queue holds at most ~40 MB (plus one batch per producer).
constexpr size_t kMaxPendingRows = 1'000'000;
// Rows per multi-row INSERT: one sqlite3_step (and one VDBE program start) per 64 rows instead
// of per row. Measured: 1 row 0.7M/s, 16 rows 1.3M/s, 64 rows 1.4M/s, 256 rows 1.4M/s of
// writer CPU. 64 x 12 parameters stays far below SQLITE_MAX_VARIABLE_NUMBER (32766).
constexpr int kRowsPerInsert = 64;
constexpr int kRecordColumns = 12;
constexpr int kBusyTimeoutMs = 5000;

// The schema. Names are part of the user interface (docs/queries.sql): change them only with a
// new kSchemaVersion.
constexpr char kSchemaSql[] = R"sql(
CREATE TABLE IF NOT EXISTS runs(
  run_id TEXT PRIMARY KEY,
  plan_name TEXT,
  state TEXT,
  started_ns INTEGER,
  ended_ns INTEGER,
  requests INTEGER,
  errors INTEGER,
  agents INTEGER,
  plan_json TEXT,
  report BLOB,
  p99_ms REAL,
  passed INTEGER);
CREATE TABLE IF NOT EXISTS run_agents(
  run_id TEXT,
  agent_id TEXT,
  name TEXT,
  region TEXT,
  labels TEXT,
  clock_offset_ns INTEGER,
  clock_uncertainty_ns INTEGER,
  state TEXT,
  requests INTEGER,
  errors INTEGER,
  instance_id TEXT,
  expected_batches INTEGER,
  PRIMARY KEY(run_id, agent_id));
CREATE TABLE IF NOT EXISTS records(
  run_id TEXT,
  agent TEXT,
  region TEXT,
  ts_ns INTEGER,
  latency_us INTEGER,
  service_us INTEGER,
  status INTEGER,
  error TEXT,
  error_code INTEGER,
  bytes_sent INTEGER,
  bytes_received INTEGER,
  stage INTEGER);
CREATE INDEX IF NOT EXISTS records_by_run_ts ON records(run_id, ts_ns);
CREATE TABLE IF NOT EXISTS batches(
  run_id TEXT,
  agent_id TEXT,
  seq INTEGER,
  records INTEGER,
  late INTEGER,
  dropped INTEGER,
  PRIMARY KEY(run_id, agent_id, seq)) WITHOUT ROWID;
)sql";

// From schema 2: the runs' verdict columns.
constexpr char kUpgradeFrom2Sql[] = R"sql(
ALTER TABLE runs ADD COLUMN p99_ms REAL;
ALTER TABLE runs ADD COLUMN passed INTEGER;
)sql";

// From schema 1: the same tables, without the ledger and the two run_agents columns.
constexpr char kUpgradeFrom1Sql[] = R"sql(
ALTER TABLE run_agents ADD COLUMN instance_id TEXT;
ALTER TABLE run_agents ADD COLUMN expected_batches INTEGER;
CREATE TABLE IF NOT EXISTS batches(
  run_id TEXT,
  agent_id TEXT,
  seq INTEGER,
  records INTEGER,
  late INTEGER,
  dropped INTEGER,
  PRIMARY KEY(run_id, agent_id, seq)) WITHOUT ROWID;
)sql";

constexpr char kBatchInsertSql[] =
    "INSERT OR IGNORE INTO batches(run_id, agent_id, seq, records, late, dropped) "
    "VALUES (?, ?, ?, ?, ?, ?)";

constexpr char kRecordsInsertHead[] =
    "INSERT INTO records(run_id, agent, region, ts_ns, latency_us, service_us, status, error, "
    "error_code, bytes_sent, bytes_received, stage) VALUES ";

// ---- Small SQLite helpers. ------------------------------------------------------------------

struct DbCloser {
  // close_v2: safe even if a statement were still alive (the handle becomes a zombie).
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using DbHandle = std::unique_ptr<sqlite3, DbCloser>;

struct StmtFinalizer {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};
using Stmt = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

absl::StatusCode CodeFor(int rc) {
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return absl::StatusCode::kUnavailable;
    case SQLITE_CORRUPT:
      return absl::StatusCode::kDataLoss;
    case SQLITE_NOTADB:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM:
      return absl::StatusCode::kFailedPrecondition;
    case SQLITE_FULL:
      return absl::StatusCode::kResourceExhausted;
    default:
      return absl::StatusCode::kInternal;
  }
}

// "<what>: <sqlite message>", e.g. `insert records: disk I/O error`.
absl::Status SqliteError(sqlite3* db, int rc, absl::string_view what) {
  const char* message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  return absl::Status(CodeFor(rc), absl::StrCat(what, ": ", std::string(message)));
}

absl::Status Exec(sqlite3* db, const char* sql) {
  const int rc = sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return SqliteError(db, rc, absl::StrCat("exec \"", sql, "\""));
  return absl::OkStatus();
}

absl::StatusOr<Stmt> Prepare(sqlite3* db, const std::string& sql, bool persistent = false) {
  sqlite3_stmt* stmt = nullptr;
  const int rc = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()),
                                    persistent ? SQLITE_PREPARE_PERSISTENT : 0, &stmt, nullptr);
  if (rc != SQLITE_OK) {
    // Long multi-row INSERTs are shortened so the message stays readable.
    const std::string shown = sql.size() > 120 ? absl::StrCat(sql.substr(0, 120), "...") : sql;
    return SqliteError(db, rc, absl::StrCat("prepare \"", shown, "\""));
  }
  return Stmt(stmt);
}

// Text binds use SQLITE_STATIC: every caller keeps the string alive until the statement has
// been stepped and reset, which saves a copy per bound value on the hot path.
void BindText(sqlite3_stmt* stmt, int index, absl::string_view text) {
  sqlite3_bind_text(stmt, index, text.data(), static_cast<int>(text.size()), SQLITE_STATIC);
}

std::string ColumnText(sqlite3_stmt* stmt, int column) {
  const unsigned char* text = sqlite3_column_text(stmt, column);
  if (text == nullptr) return std::string();
  return std::string(reinterpret_cast<const char*>(text),
                     static_cast<size_t>(sqlite3_column_bytes(stmt, column)));
}

std::string RunNotFound(const std::string& run_id) {
  return absl::StrCat("run \"", run_id, "\" not found");
}

// "k=v,k=v" sorted by key, so the column is stable whatever the map's iteration order.
std::string FormatLabels(const google::protobuf::Map<std::string, std::string>& labels) {
  std::vector<std::pair<std::string, std::string>> sorted(labels.begin(), labels.end());
  std::sort(sorted.begin(), sorted.end());
  return absl::StrJoin(sorted, ",", absl::PairFormatter("="));
}

// Opens one connection with the settings both connections share. NOMUTEX: each connection is
// used by one thread at a time (the writer thread, or callers under meta_mu_), so SQLite's
// per-call connection mutex would be pure overhead on the insert path.
absl::StatusOr<DbHandle> OpenConnection(const std::string& path) {
  sqlite3* raw = nullptr;
  const int rc =
      sqlite3_open_v2(path.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  DbHandle db(raw);
  if (rc != SQLITE_OK) {
    return SqliteError(db.get(), rc, "open");
  }
  sqlite3_extended_result_codes(db.get(), 1);
  sqlite3_busy_timeout(db.get(), kBusyTimeoutMs);
  return db;
}

// Runs a statement that returns one value and gives it as text ("" when it returns no row).
// Errors are labelled `what`, or the statement itself.
absl::StatusOr<std::string> QueryValue(sqlite3* db, const std::string& sql,
                                       absl::string_view what = "") {
  const std::string label = what.empty() ? sql : std::string(what);
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(db, sql.c_str(), static_cast<int>(sql.size()), &raw, nullptr);
  Stmt stmt(raw);
  if (rc != SQLITE_OK) return SqliteError(db, rc, label);
  rc = sqlite3_step(stmt.get());
  if (rc == SQLITE_ROW) return ColumnText(stmt.get(), 0);
  if (rc == SQLITE_DONE) return std::string();
  return SqliteError(db, rc, label);
}

// ---- Rows in flight. --------------------------------------------------------------------------

// Everything a row of `records` needs besides the strings shared by its batch. 40 bytes.
struct Row {
  int64_t ts_ns;
  uint32_t latency_us;
  uint32_t service_us;
  uint32_t status;
  uint32_t bytes_sent;
  uint32_t bytes_received;
  uint32_t stage;
  int32_t error;
};

// One appended batch: the strings once, the rows packed, its ledger entry and who to tell when it
// is committed. The strings are bound SQLITE_STATIC, so a chunk is kept alive until the
// transaction that inserted it has ended.
struct Chunk {
  std::string run_id;
  std::string agent;  // name, in the records table
  std::string region;
  std::string agent_id;  // in the ledger
  uint64_t seq = 0;
  uint64_t late = 0;
  uint64_t dropped = 0;
  bool duplicate = false;  // its ledger row existed: nothing of it is stored again
  Store::CommitCallback on_commit;
  std::vector<Row> rows;
};

// ---- The store. -------------------------------------------------------------------------------

class SqliteStore final : public Store {
 public:
  // The writer connection's statements, prepared once and reused for the store's lifetime.
  struct WriterStatements {
    Stmt insert_many;   // kRowsPerInsert rows
    Stmt insert_one;    // one row, for the remainder of a transaction
    Stmt insert_batch;  // the ledger row of one batch
    Stmt begin;
    Stmt commit;
  };

  SqliteStore(DbHandle meta_db, DbHandle writer_db, WriterStatements statements)
      : meta_db_(std::move(meta_db)),
        writer_db_(std::move(writer_db)),
        w_(std::move(statements)),
        writer_([this] { WriterLoop(); }) {}

  ~SqliteStore() override {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
      work_.Signal();
    }
    // The writer drains the queue before it exits: records appended before destruction are kept.
    writer_.join();
    // Members then go in reverse order: statements, the writer connection, and the metadata
    // connection last, so that closing the last connection checkpoints the WAL into the file.
  }

  absl::Status CreateRun(const RunSummary& summary, const std::string& plan_json,
                         const std::vector<StoredRunAgent>& agents) override;
  absl::Status UpdateRun(const RunSummary& summary, const RunReport* report) override;
  absl::Status UpdateRunAgent(const std::string& run_id, const std::string& agent_id,
                              const std::string& state,
                              std::optional<uint64_t> expected_batches) override;
  absl::Status PutRunAgent(const std::string& run_id, const AgentResult& agent) override;
  void AppendBatch(const std::string& run_id, const AgentMeta& agent, const RecordBatch& batch,
                   CommitCallback on_commit) override;
  absl::Status Flush() override;
  absl::StatusOr<std::vector<RunSummary>> ListRuns() override;
  absl::StatusOr<RunSummary> GetRun(const std::string& run_id) override;
  absl::StatusOr<RunReport> GetReport(const std::string& run_id) override;
  absl::StatusOr<uint64_t> CountRecords(const std::string& run_id) override;
  absl::StatusOr<std::vector<StoredRun>> LoadUnfinishedRuns() override;
  absl::Status ReadRecords(const std::string& run_id, size_t batch_records,
                           const std::function<void(const std::string& agent_id,
                                                    const RecordBatch& batch)>& fn) override;

 private:
  // Holds meta_mu_ and, for writes, the write gate: the writer thread is between transactions
  // and starts no new one until the guard is gone. A scoped capability, so that the analysis
  // knows meta_mu_ is held for the guard's lifetime (and meta_db() may be called).
  class ABSL_SCOPED_LOCKABLE MetaGuard {
   public:
    MetaGuard(SqliteStore* store, bool write) ABSL_EXCLUSIVE_LOCK_FUNCTION(store->meta_mu_)
        : store_(store), write_(write) {
      store->meta_mu_.Lock();
      if (write_) store->AcquireWriteGate();
    }
    ~MetaGuard() ABSL_UNLOCK_FUNCTION() {
      if (write_) store_->ReleaseWriteGate();
      store_->meta_mu_.Unlock();
    }
    MetaGuard(const MetaGuard&) = delete;
    MetaGuard& operator=(const MetaGuard&) = delete;

   private:
    SqliteStore* store_;
    bool write_;
  };

  sqlite3* meta_db() ABSL_EXCLUSIVE_LOCKS_REQUIRED(meta_mu_) { return meta_db_.get(); }

  void AcquireWriteGate() ABSL_LOCKS_EXCLUDED(mu_);
  void ReleaseWriteGate() ABSL_LOCKS_EXCLUDED(mu_);

  // The writer thread.
  void WriterLoop() ABSL_LOCKS_EXCLUDED(mu_);
  // Inserts the chunks' ledger rows and records in one transaction, kRowsPerInsert rows per
  // statement; marks the chunks whose ledger row existed as duplicates and stores nothing of them.
  absl::Status WriteTransaction(const std::vector<std::unique_ptr<Chunk>>& chunks);
  // Fills order_ with the chunks' rows sorted by (run, ts_ns).
  void OrderRows(const std::vector<std::unique_ptr<Chunk>>& chunks);
  void BindRow(sqlite3_stmt* stmt, int first_param, const Chunk& chunk, const Row& row);
  absl::Status StepInsert(sqlite3_stmt* stmt);

  // ---- Metadata connection. ----
  absl::Mutex meta_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  DbHandle meta_db_;  // use through meta_db(): only under meta_mu_

  // ---- Writer thread only (and the constructor/destructor). ----
  DbHandle writer_db_;
  WriterStatements w_;
  // The rows of the transaction being written, by position, in insertion order. 16 bytes a row;
  // members so that their capacity is reused from one transaction to the next.
  struct RowRef {
    int64_t ts_ns;
    uint32_t chunk;
    uint32_t row;
  };
  std::vector<RowRef> order_;
  std::vector<const std::string*> runs_;  // the transaction's distinct run ids
  std::vector<size_t> chunk_run_;         // per chunk: its run's index in runs_

  // ---- Shared between producers, Flush callers, metadata writers and the writer. ----
  absl::Mutex mu_;
  // Producers wait here for room (backpressure).
  absl::CondVar not_full_;
  // The writer waits here for rows, a flush request, a gate change or shutdown.
  absl::CondVar work_;
  // Flush callers wait here for settled_chunks_ to pass their mark.
  absl::CondVar settled_;
  // A metadata writer waits here for the writer to leave its transaction.
  absl::CondVar gate_;
  std::deque<std::unique_ptr<Chunk>> queue_ ABSL_GUARDED_BY(mu_);
  // Rows queued or in the writer's open transaction.
  size_t pending_rows_ ABSL_GUARDED_BY(mu_) = 0;
  // Batches ever appended / ever finished (committed, or lost to a write error). The writer
  // handles chunks in order, so "settled_chunks_ >= mark" means every batch before the mark is
  // done (counting batches, not rows: a batch of no records still has its ledger row).
  uint64_t appended_chunks_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t settled_chunks_ ABSL_GUARDED_BY(mu_) = 0;
  int flush_waiters_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool writer_in_txn_ ABSL_GUARDED_BY(mu_) = false;
  int meta_waiting_ ABSL_GUARDED_BY(mu_) = 0;
  bool meta_writing_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status write_error_ ABSL_GUARDED_BY(mu_);

  // Last member: the thread starts once everything above is constructed.
  std::thread writer_;
};

// ---- Records: producers. ---------------------------------------------------------------------

void SqliteStore::AppendBatch(const std::string& run_id, const AgentMeta& agent,
                              const RecordBatch& batch, CommitCallback on_commit) {
  const int n = batch.start_offset_ns_size();
  // Conversion happens on the caller's thread, outside the lock: the writer thread only binds.
  auto chunk = std::make_unique<Chunk>();
  chunk->run_id = run_id;
  chunk->agent = agent.name;
  chunk->region = agent.region;
  chunk->agent_id = agent.id;
  chunk->seq = batch.seq();
  chunk->late = batch.late();
  chunk->dropped = batch.dropped();
  chunk->on_commit = std::move(on_commit);
  chunk->rows.resize(static_cast<size_t>(n));
  Row* rows = chunk->rows.data();
  // On the coordinator's timeline, the same correction the aggregator makes (common/timeline.h).
  const int64_t base_ns = AgentToCoordinatorNs(batch.base_time_ns(), agent.clock_offset_ns);
  const auto& offsets = batch.start_offset_ns();
  for (int i = 0; i < n; ++i) rows[i].ts_ns = WrapAdd(base_ns, offsets[i]);
  // The coordinator validates batches before they get here (equal column lengths); a short
  // column still reads as 0 rather than past its end.
  const auto fill = [&](const google::protobuf::RepeatedField<uint32_t>& column,
                        uint32_t Row::*field) {
    const int m = std::min(n, column.size());
    for (int i = 0; i < m; ++i) rows[i].*field = column[i];
  };
  fill(batch.latency_us(), &Row::latency_us);
  fill(batch.service_us(), &Row::service_us);
  fill(batch.status(), &Row::status);
  fill(batch.bytes_sent(), &Row::bytes_sent);
  fill(batch.bytes_received(), &Row::bytes_received);
  fill(batch.stage(), &Row::stage);
  const int errors = std::min(n, batch.error_size());
  for (int i = 0; i < errors; ++i) rows[i].error = batch.error(i);

  absl::MutexLock lock(&mu_);
  // Backpressure: wait while the writer is a full queue behind. The batch that finds room goes in
  // whole, so the queue overshoots by at most one batch per producer.
  while (pending_rows_ >= kMaxPendingRows) not_full_.Wait(&mu_);
  pending_rows_ += static_cast<size_t>(n);
  ++appended_chunks_;
  queue_.push_back(std::move(chunk));
  work_.Signal();
}

absl::Status SqliteStore::Flush() {
  absl::MutexLock lock(&mu_);
  const uint64_t mark = appended_chunks_;
  ++flush_waiters_;
  work_.Signal();  // the writer stops lingering for more rows and writes what is queued
  while (settled_chunks_ < mark) settled_.Wait(&mu_);
  --flush_waiters_;
  return write_error_;
}

// ---- Records: the writer thread. -------------------------------------------------------------

void SqliteStore::BindRow(sqlite3_stmt* stmt, int first, const Chunk& chunk, const Row& row) {
  // Bind results are not checked: they fail only for a wrong index or a finalized statement
  // (programming errors), and sqlite3_step would report those.
  BindText(stmt, first, chunk.run_id);
  BindText(stmt, first + 1, chunk.agent);
  BindText(stmt, first + 2, chunk.region);
  sqlite3_bind_int64(stmt, first + 3, row.ts_ns);
  sqlite3_bind_int64(stmt, first + 4, row.latency_us);
  sqlite3_bind_int64(stmt, first + 5, row.service_us);
  sqlite3_bind_int64(stmt, first + 6, row.status);
  BindText(stmt, first + 7, ErrorClassName(static_cast<ErrorClass>(row.error)));
  sqlite3_bind_int(stmt, first + 8, row.error);
  sqlite3_bind_int64(stmt, first + 9, row.bytes_sent);
  sqlite3_bind_int64(stmt, first + 10, row.bytes_received);
  sqlite3_bind_int64(stmt, first + 11, row.stage);
}

absl::Status SqliteStore::StepInsert(sqlite3_stmt* stmt) {
  const int rc = sqlite3_step(stmt);
  sqlite3_reset(stmt);
  if (rc != SQLITE_DONE) return SqliteError(writer_db_.get(), rc, "insert into records");
  return absl::OkStatus();
}

void SqliteStore::OrderRows(const std::vector<std::unique_ptr<Chunk>>& chunks) {
  // Number the transaction's runs (nearly always one; consecutive chunks usually share it), then
  // sort each run's rows by time.
  order_.clear();
  runs_.clear();
  chunk_run_.resize(chunks.size());
  for (size_t c = 0; c < chunks.size(); ++c) {
    const std::string& run_id = chunks[c]->run_id;
    if (c > 0 && chunks[c - 1]->run_id == run_id) {
      chunk_run_[c] = chunk_run_[c - 1];
      continue;
    }
    size_t run = 0;
    while (run < runs_.size() && *runs_[run] != run_id) ++run;
    if (run == runs_.size()) runs_.push_back(&run_id);
    chunk_run_[c] = run;
  }
  for (size_t run = 0; run < runs_.size(); ++run) {
    const size_t group_begin = order_.size();
    for (uint32_t c = 0; c < chunks.size(); ++c) {
      if (chunk_run_[c] != run || chunks[c]->duplicate) continue;
      const std::vector<Row>& rows = chunks[c]->rows;
      for (uint32_t r = 0; r < rows.size(); ++r) order_.push_back(RowRef{rows[r].ts_ns, c, r});
    }
    std::sort(order_.begin() + static_cast<std::ptrdiff_t>(group_begin), order_.end(),
              [](const RowRef& a, const RowRef& b) { return a.ts_ns < b.ts_ns; });
  }
}

absl::Status SqliteStore::WriteTransaction(const std::vector<std::unique_ptr<Chunk>>& chunks) {
  // Rows go in (run, ts_ns) order: that cut the writer's CPU per record by ~25% in
  // bench/ingest_bench.cc. Agents' batches overlap in time, so in arrival order the entries of
  // records_by_run_ts land all over the index's recent pages (more page splits, fuller descents);
  // sorted, each lands just after the previous one. (Sorting costs ~3% of the writer's CPU.)
  sqlite3* db = writer_db_.get();
  int rc = sqlite3_step(w_.begin.get());
  sqlite3_reset(w_.begin.get());
  if (rc != SQLITE_DONE) return SqliteError(db, rc, "begin records transaction");
  absl::Status status;
  // The ledger first: a batch already there (a resend that raced its first copy, or one stored
  // before a restart) stores nothing again. Its row and its records commit together, so the
  // ledger never names a batch whose records are missing, nor the other way round.
  sqlite3_stmt* ledger = w_.insert_batch.get();
  for (const auto& chunk : chunks) {
    BindText(ledger, 1, chunk->run_id);
    BindText(ledger, 2, chunk->agent_id);
    sqlite3_bind_int64(ledger, 3, static_cast<int64_t>(chunk->seq));
    sqlite3_bind_int64(ledger, 4, static_cast<int64_t>(chunk->rows.size()));
    sqlite3_bind_int64(ledger, 5, static_cast<int64_t>(chunk->late));
    sqlite3_bind_int64(ledger, 6, static_cast<int64_t>(chunk->dropped));
    rc = sqlite3_step(ledger);
    sqlite3_reset(ledger);
    if (rc != SQLITE_DONE) {
      status = SqliteError(db, rc, "insert into batches");
      break;
    }
    chunk->duplicate = sqlite3_changes(db) == 0;
  }
  OrderRows(chunks);
  const size_t n = order_.size();
  size_t i = 0;
  sqlite3_stmt* many = w_.insert_many.get();
  for (; status.ok() && i + kRowsPerInsert <= n; i += kRowsPerInsert) {
    for (int k = 0; k < kRowsPerInsert; ++k) {
      const RowRef& ref = order_[i + k];
      const Chunk& chunk = *chunks[ref.chunk];
      BindRow(many, k * kRecordColumns + 1, chunk, chunk.rows[ref.row]);
    }
    status = StepInsert(many);
  }
  // The remainder (< kRowsPerInsert rows), one row per statement.
  sqlite3_stmt* one = w_.insert_one.get();
  for (; status.ok() && i < n; ++i) {
    const Chunk& chunk = *chunks[order_[i].chunk];
    BindRow(one, 1, chunk, chunk.rows[order_[i].row]);
    status = StepInsert(one);
  }
  if (status.ok()) {
    rc = sqlite3_step(w_.commit.get());
    sqlite3_reset(w_.commit.get());
    if (rc != SQLITE_DONE) status = SqliteError(db, rc, "commit records");
  }
  if (!status.ok() && !sqlite3_get_autocommit(db)) {
    // Leave no transaction open; a failed commit may still hold one. The transaction's rows are
    // lost; Flush reports it.
    sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  return status;
}

void SqliteStore::WriterLoop() {
  // Named so that `top -H` and profilers show where the ingest CPU goes.
  pthread_setname_np(pthread_self(), "store-writer");
  std::vector<std::unique_ptr<Chunk>> chunks;
  for (;;) {
    size_t rows = 0;
    mu_.Lock();
    while (queue_.empty() && !stopping_) work_.Wait(&mu_);
    if (queue_.empty()) {  // stopping, and everything is written
      mu_.Unlock();
      break;
    }
    // Collect a transaction's worth of chunks: up to kCommitRows, lingering until the deadline
    // for more unless someone waits in Flush (or the store is closing). No SQLite transaction is
    // open meanwhile, so metadata writes are not held up by the lingering.
    const absl::Time deadline = absl::Now() + kCommitInterval;
    for (;;) {
      while (!queue_.empty() && rows < kCommitRows) {
        rows += queue_.front()->rows.size();
        chunks.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      if (rows >= kCommitRows || flush_waiters_ > 0 || stopping_ || absl::Now() >= deadline) {
        break;
      }
      work_.WaitWithDeadline(&mu_, deadline);
    }
    // The write gate: metadata writers that are waiting go first (they are short).
    while (meta_writing_ || meta_waiting_ > 0) work_.Wait(&mu_);
    writer_in_txn_ = true;
    mu_.Unlock();

    const absl::Status status = WriteTransaction(chunks);

    mu_.Lock();
    pending_rows_ -= rows;
    if (!status.ok() && write_error_.ok()) write_error_ = status;
    writer_in_txn_ = false;
    not_full_.SignalAll();
    gate_.SignalAll();
    work_.Signal();
    mu_.Unlock();

    // Outside the lock and outside the transaction: a callback may write metadata (through the
    // write gate, which is open now) and acknowledges batches to agents. A batch whose ledger row
    // existed counts as committed.
    for (const auto& chunk : chunks) {
      if (chunk->on_commit) chunk->on_commit(status);
    }
    const size_t done = chunks.size();
    chunks.clear();  // frees the rows outside the lock

    mu_.Lock();
    // Flush returns once the batches before its mark are committed and their callbacks have run.
    settled_chunks_ += done;
    settled_.SignalAll();
    mu_.Unlock();
  }
}

// ---- The write gate. -------------------------------------------------------------------------

void SqliteStore::AcquireWriteGate() {
  absl::MutexLock lock(&mu_);
  ++meta_waiting_;
  while (writer_in_txn_ || meta_writing_) gate_.Wait(&mu_);
  --meta_waiting_;
  meta_writing_ = true;
}

void SqliteStore::ReleaseWriteGate() {
  absl::MutexLock lock(&mu_);
  meta_writing_ = false;
  gate_.SignalAll();
  work_.Signal();
}

// ---- Metadata. --------------------------------------------------------------------------------

absl::Status SqliteStore::CreateRun(const RunSummary& summary, const std::string& plan_json,
                                    const std::vector<StoredRunAgent>& agents) {
  if (summary.run_id().empty()) return absl::InvalidArgumentError("run_id is empty");
  MetaGuard guard(this, /*write=*/true);
  sqlite3* db = meta_db();
  // The run and its agents in one transaction: a coordinator that restarts finds both or
  // neither.
  RETURN_IF_ERROR(Exec(db, "BEGIN IMMEDIATE"));
  absl::Status status = [&]() -> absl::Status {
    ASSIGN_OR_RETURN(Stmt stmt, Prepare(db,
                                        "INSERT INTO runs(run_id, plan_name, state, started_ns, "
                                        "ended_ns, requests, errors, agents, plan_json, report) "
                                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)"));
    sqlite3_stmt* s = stmt.get();
    BindText(s, 1, summary.run_id());
    BindText(s, 2, summary.plan_name());
    BindText(s, 3, summary.state());
    sqlite3_bind_int64(s, 4, summary.started_ns());
    sqlite3_bind_int64(s, 5, summary.ended_ns());
    sqlite3_bind_int64(s, 6, static_cast<int64_t>(summary.requests()));
    sqlite3_bind_int64(s, 7, static_cast<int64_t>(summary.errors()));
    sqlite3_bind_int64(s, 8, summary.agents());
    BindText(s, 9, plan_json);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
      return absl::AlreadyExistsError(
          absl::StrCat("run \"", summary.run_id(), "\" already exists"));
    }
    if (rc != SQLITE_DONE) return SqliteError(db, rc, "insert into runs");
    ASSIGN_OR_RETURN(Stmt agent_stmt,
                     Prepare(db,
                             "INSERT INTO run_agents(run_id, agent_id, name, region, labels, "
                             "clock_offset_ns, clock_uncertainty_ns, state, requests, errors, "
                             "instance_id, expected_batches) "
                             "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, 0, ?, ?)"));
    sqlite3_stmt* a = agent_stmt.get();
    for (const StoredRunAgent& agent : agents) {
      const std::string labels = FormatLabels(agent.info.labels());
      BindText(a, 1, summary.run_id());
      BindText(a, 2, agent.info.id());
      BindText(a, 3, agent.info.name());
      BindText(a, 4, agent.info.region());
      BindText(a, 5, labels);
      sqlite3_bind_int64(a, 6, agent.info.clock_offset_ns());
      sqlite3_bind_int64(a, 7, agent.info.clock_uncertainty_ns());
      BindText(a, 8, agent.state);
      BindText(a, 9, agent.instance_id);
      if (agent.expected_batches.has_value()) {
        sqlite3_bind_int64(a, 10, static_cast<int64_t>(*agent.expected_batches));
      } else {
        sqlite3_bind_null(a, 10);
      }
      rc = sqlite3_step(a);
      sqlite3_reset(a);
      if (rc != SQLITE_DONE) return SqliteError(db, rc, "insert into run_agents");
    }
    return Exec(db, "COMMIT");
  }();
  if (!status.ok()) sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
  return status;
}

absl::Status SqliteStore::UpdateRunAgent(const std::string& run_id, const std::string& agent_id,
                                         const std::string& state,
                                         std::optional<uint64_t> expected_batches) {
  MetaGuard guard(this, /*write=*/true);
  sqlite3* db = meta_db();
  ASSIGN_OR_RETURN(Stmt stmt, Prepare(db,
                                      "UPDATE run_agents SET state = ?, "
                                      "expected_batches = COALESCE(?, expected_batches) "
                                      "WHERE run_id = ? AND agent_id = ?"));
  sqlite3_stmt* s = stmt.get();
  BindText(s, 1, state);
  if (expected_batches.has_value()) {
    sqlite3_bind_int64(s, 2, static_cast<int64_t>(*expected_batches));
  } else {
    sqlite3_bind_null(s, 2);
  }
  BindText(s, 3, run_id);
  BindText(s, 4, agent_id);
  const int rc = sqlite3_step(s);
  if (rc != SQLITE_DONE) return SqliteError(db, rc, "update run_agents");
  if (sqlite3_changes(db) == 0) {
    return absl::NotFoundError(
        absl::StrCat("agent \"", agent_id, "\" of run \"", run_id, "\" not found"));
  }
  return absl::OkStatus();
}

absl::Status SqliteStore::UpdateRun(const RunSummary& summary, const RunReport* report) {
  std::string report_bytes;
  if (report != nullptr && !report->SerializeToString(&report_bytes)) {
    return absl::InternalError(
        absl::StrCat("run \"", summary.run_id(), "\": report does not serialize"));
  }
  MetaGuard guard(this, /*write=*/true);
  sqlite3* db = meta_db();
  // plan_name and plan_json are fixed at CreateRun. COALESCE keeps a stored report when this
  // update carries none.
  ASSIGN_OR_RETURN(Stmt stmt, Prepare(db,
                                      "UPDATE runs SET state = ?, started_ns = ?, ended_ns = ?, "
                                      "requests = ?, errors = ?, agents = ?, "
                                      "report = COALESCE(?, report), p99_ms = ?, passed = ? "
                                      "WHERE run_id = ?"));
  sqlite3_stmt* s = stmt.get();
  BindText(s, 1, summary.state());
  sqlite3_bind_int64(s, 2, summary.started_ns());
  sqlite3_bind_int64(s, 3, summary.ended_ns());
  sqlite3_bind_int64(s, 4, static_cast<int64_t>(summary.requests()));
  sqlite3_bind_int64(s, 5, static_cast<int64_t>(summary.errors()));
  sqlite3_bind_int64(s, 6, summary.agents());
  if (report != nullptr) {
    sqlite3_bind_blob(s, 7, report_bytes.data(), static_cast<int>(report_bytes.size()),
                      SQLITE_STATIC);
  } else {
    sqlite3_bind_null(s, 7);
  }
  if (summary.has_p99_ms()) {
    sqlite3_bind_double(s, 8, summary.p99_ms());
  } else {
    sqlite3_bind_null(s, 8);
  }
  if (summary.has_passed()) {
    sqlite3_bind_int(s, 9, summary.passed() ? 1 : 0);
  } else {
    sqlite3_bind_null(s, 9);
  }
  BindText(s, 10, summary.run_id());
  const int rc = sqlite3_step(s);
  if (rc != SQLITE_DONE) return SqliteError(db, rc, "update runs");
  if (sqlite3_changes(db) == 0) return absl::NotFoundError(RunNotFound(summary.run_id()));
  return absl::OkStatus();
}

absl::Status SqliteStore::PutRunAgent(const std::string& run_id, const AgentResult& agent) {
  const AgentInfo& info = agent.agent();
  const std::string labels = FormatLabels(info.labels());
  MetaGuard guard(this, /*write=*/true);
  sqlite3* db = meta_db();
  // The EXISTS clause refuses rows for unknown runs in the same statement (no check-then-act).
  ASSIGN_OR_RETURN(
      Stmt stmt,
      Prepare(db,
              "INSERT INTO run_agents(run_id, agent_id, name, region, labels, "
              "clock_offset_ns, clock_uncertainty_ns, state, requests, errors) "
              "SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10 "
              "WHERE EXISTS (SELECT 1 FROM runs WHERE run_id = ?1) "
              "ON CONFLICT(run_id, agent_id) DO UPDATE SET name = excluded.name, "
              "region = excluded.region, labels = excluded.labels, "
              "clock_offset_ns = excluded.clock_offset_ns, "
              "clock_uncertainty_ns = excluded.clock_uncertainty_ns, state = excluded.state, "
              "requests = excluded.requests, errors = excluded.errors"));
  sqlite3_stmt* s = stmt.get();
  BindText(s, 1, run_id);
  BindText(s, 2, info.id());
  BindText(s, 3, info.name());
  BindText(s, 4, info.region());
  BindText(s, 5, labels);
  sqlite3_bind_int64(s, 6, info.clock_offset_ns());
  sqlite3_bind_int64(s, 7, info.clock_uncertainty_ns());
  BindText(s, 8, agent.state());
  sqlite3_bind_int64(s, 9, static_cast<int64_t>(agent.totals().requests()));
  sqlite3_bind_int64(s, 10, static_cast<int64_t>(agent.totals().errors()));
  const int rc = sqlite3_step(s);
  if (rc != SQLITE_DONE) return SqliteError(db, rc, "insert into run_agents");
  if (sqlite3_changes(db) == 0) return absl::NotFoundError(RunNotFound(run_id));
  return absl::OkStatus();
}

// ReadSummary reads these kSummaryColumnCount columns; a query may select more after them.
constexpr int kSummaryColumnCount = 10;
constexpr char kSummaryColumns[] =
    "run_id, plan_name, state, started_ns, ended_ns, requests, errors, agents, p99_ms, passed";

RunSummary ReadSummary(sqlite3_stmt* s) {
  RunSummary summary;
  summary.set_run_id(ColumnText(s, 0));
  summary.set_plan_name(ColumnText(s, 1));
  summary.set_state(ColumnText(s, 2));
  summary.set_started_ns(sqlite3_column_int64(s, 3));
  summary.set_ended_ns(sqlite3_column_int64(s, 4));
  summary.set_requests(static_cast<uint64_t>(sqlite3_column_int64(s, 5)));
  summary.set_errors(static_cast<uint64_t>(sqlite3_column_int64(s, 6)));
  summary.set_agents(sqlite3_column_int(s, 7));
  if (sqlite3_column_type(s, 8) != SQLITE_NULL) summary.set_p99_ms(sqlite3_column_double(s, 8));
  if (sqlite3_column_type(s, 9) != SQLITE_NULL) summary.set_passed(sqlite3_column_int(s, 9) != 0);
  return summary;
}

absl::StatusOr<std::vector<RunSummary>> SqliteStore::ListRuns() {
  MetaGuard guard(this, /*write=*/false);
  sqlite3* db = meta_db();
  // Newest first = most recently created: rowid grows with each insert (runs are never deleted,
  // and UPDATE keeps it). started_ns would misplace runs that have not started yet.
  ASSIGN_OR_RETURN(Stmt stmt, Prepare(db, absl::StrCat("SELECT ", kSummaryColumns,
                                                       " FROM runs ORDER BY rowid DESC")));
  std::vector<RunSummary> runs;
  int rc;
  while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) runs.push_back(ReadSummary(stmt.get()));
  if (rc != SQLITE_DONE) return SqliteError(db, rc, "select from runs");
  return runs;
}

absl::StatusOr<RunSummary> SqliteStore::GetRun(const std::string& run_id) {
  MetaGuard guard(this, /*write=*/false);
  sqlite3* db = meta_db();
  ASSIGN_OR_RETURN(Stmt stmt, Prepare(db, absl::StrCat("SELECT ", kSummaryColumns,
                                                       " FROM runs WHERE run_id = ?")));
  BindText(stmt.get(), 1, run_id);
  const int rc = sqlite3_step(stmt.get());
  if (rc == SQLITE_ROW) return ReadSummary(stmt.get());
  if (rc == SQLITE_DONE) return absl::NotFoundError(RunNotFound(run_id));
  return SqliteError(db, rc, "select from runs");
}

absl::StatusOr<RunReport> SqliteStore::GetReport(const std::string& run_id) {
  MetaGuard guard(this, /*write=*/false);
  sqlite3* db = meta_db();
  ASSIGN_OR_RETURN(Stmt stmt, Prepare(db, "SELECT report FROM runs WHERE run_id = ?"));
  BindText(stmt.get(), 1, run_id);
  const int rc = sqlite3_step(stmt.get());
  if (rc == SQLITE_DONE) return absl::NotFoundError(RunNotFound(run_id));
  if (rc != SQLITE_ROW) return SqliteError(db, rc, "select report from runs");
  if (sqlite3_column_type(stmt.get(), 0) == SQLITE_NULL) {
    return absl::NotFoundError(absl::StrCat("run \"", run_id, "\" has no report yet"));
  }
  const void* bytes = sqlite3_column_blob(stmt.get(), 0);
  const int size = sqlite3_column_bytes(stmt.get(), 0);
  RunReport report;
  if (!report.ParseFromArray(bytes, size)) {
    return absl::DataLossError(absl::StrCat("run \"", run_id, "\": stored report does not parse"));
  }
  return report;
}

absl::StatusOr<uint64_t> SqliteStore::CountRecords(const std::string& run_id) {
  MetaGuard guard(this, /*write=*/false);
  sqlite3* db = meta_db();
  // Answered from the records_by_run_ts index alone.
  ASSIGN_OR_RETURN(Stmt stmt, Prepare(db, "SELECT COUNT(*) FROM records WHERE run_id = ?"));
  BindText(stmt.get(), 1, run_id);
  const int rc = sqlite3_step(stmt.get());
  if (rc != SQLITE_ROW) return SqliteError(db, rc, "count records");
  return static_cast<uint64_t>(sqlite3_column_int64(stmt.get(), 0));
}

// ---- Recovery. --------------------------------------------------------------------------------

absl::StatusOr<std::vector<StoredRun>> SqliteStore::LoadUnfinishedRuns() {
  MetaGuard guard(this, /*write=*/false);
  sqlite3* db = meta_db();
  std::vector<StoredRun> runs;
  ASSIGN_OR_RETURN(Stmt stmt, Prepare(db, absl::StrCat("SELECT ", kSummaryColumns,
                                                       ", plan_json FROM runs "
                                                       "WHERE state = 'running' "
                                                       "ORDER BY rowid")));
  int rc;
  while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) {
    StoredRun run;
    run.summary = ReadSummary(stmt.get());
    run.plan_json = ColumnText(stmt.get(), kSummaryColumnCount);
    runs.push_back(std::move(run));
  }
  if (rc != SQLITE_DONE) return SqliteError(db, rc, "select unfinished runs");
  ASSIGN_OR_RETURN(Stmt agents,
                   Prepare(db,
                           "SELECT agent_id, name, region, labels, clock_offset_ns, "
                           "clock_uncertainty_ns, state, instance_id, expected_batches "
                           "FROM run_agents WHERE run_id = ? ORDER BY rowid"));
  ASSIGN_OR_RETURN(Stmt batches, Prepare(db,
                                         "SELECT agent_id, seq, records, late, dropped "
                                         "FROM batches WHERE run_id = ?"));
  for (StoredRun& run : runs) {
    sqlite3_stmt* a = agents.get();
    sqlite3_reset(a);
    BindText(a, 1, run.summary.run_id());
    while ((rc = sqlite3_step(a)) == SQLITE_ROW) {
      StoredRunAgent agent;
      agent.info.set_id(ColumnText(a, 0));
      agent.info.set_name(ColumnText(a, 1));
      agent.info.set_region(ColumnText(a, 2));
      for (absl::string_view label : absl::StrSplit(ColumnText(a, 3), ',', absl::SkipEmpty())) {
        const size_t eq = label.find('=');
        if (eq == absl::string_view::npos) continue;
        (*agent.info.mutable_labels())[std::string(label.substr(0, eq))] =
            std::string(label.substr(eq + 1));
      }
      agent.info.set_clock_offset_ns(sqlite3_column_int64(a, 4));
      agent.info.set_clock_uncertainty_ns(sqlite3_column_int64(a, 5));
      agent.state = ColumnText(a, 6);
      agent.instance_id = ColumnText(a, 7);
      if (sqlite3_column_type(a, 8) != SQLITE_NULL) {
        agent.expected_batches = static_cast<uint64_t>(sqlite3_column_int64(a, 8));
      }
      run.agents.push_back(std::move(agent));
    }
    if (rc != SQLITE_DONE) return SqliteError(db, rc, "select run_agents");
    sqlite3_stmt* b = batches.get();
    sqlite3_reset(b);
    BindText(b, 1, run.summary.run_id());
    while ((rc = sqlite3_step(b)) == SQLITE_ROW) {
      StoredBatch batch;
      batch.agent_id = ColumnText(b, 0);
      batch.seq = static_cast<uint64_t>(sqlite3_column_int64(b, 1));
      batch.records = static_cast<uint64_t>(sqlite3_column_int64(b, 2));
      batch.late = static_cast<uint64_t>(sqlite3_column_int64(b, 3));
      batch.dropped = static_cast<uint64_t>(sqlite3_column_int64(b, 4));
      run.batches.push_back(std::move(batch));
    }
    if (rc != SQLITE_DONE) return SqliteError(db, rc, "select batches");
  }
  return runs;
}

absl::Status SqliteStore::ReadRecords(
    const std::string& run_id, size_t batch_records,
    const std::function<void(const std::string& agent_id, const RecordBatch& batch)>& fn) {
  MetaGuard guard(this, /*write=*/false);
  sqlite3* db = meta_db();
  // In the index's order (run, time); one batch being filled per agent.
  ASSIGN_OR_RETURN(Stmt stmt, Prepare(db,
                                      "SELECT agent, ts_ns, latency_us, service_us, status, "
                                      "error_code, bytes_sent, bytes_received, stage "
                                      "FROM records WHERE run_id = ? ORDER BY ts_ns"));
  BindText(stmt.get(), 1, run_id);
  const int limit = static_cast<int>(std::clamp<size_t>(batch_records, 1, 1 << 20));
  std::map<std::string, RecordBatch> filling;
  int rc;
  while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) {
    sqlite3_stmt* s = stmt.get();
    const std::string agent = ColumnText(s, 0);
    RecordBatch& batch = filling[agent];
    batch.add_start_offset_ns(sqlite3_column_int64(s, 1));
    batch.add_latency_us(static_cast<uint32_t>(sqlite3_column_int64(s, 2)));
    batch.add_service_us(static_cast<uint32_t>(sqlite3_column_int64(s, 3)));
    batch.add_status(static_cast<uint32_t>(sqlite3_column_int64(s, 4)));
    batch.add_error(static_cast<ErrorClass>(sqlite3_column_int(s, 5)));
    batch.add_bytes_sent(static_cast<uint32_t>(sqlite3_column_int64(s, 6)));
    batch.add_bytes_received(static_cast<uint32_t>(sqlite3_column_int64(s, 7)));
    batch.add_stage(static_cast<uint32_t>(sqlite3_column_int64(s, 8)));
    if (batch.latency_us_size() >= limit) {
      fn(agent, batch);
      batch.Clear();
    }
  }
  if (rc != SQLITE_DONE) return SqliteError(db, rc, "select records");
  for (const auto& [agent, batch] : filling) {
    if (batch.latency_us_size() > 0) fn(agent, batch);
  }
  return absl::OkStatus();
}

// ---- Opening. ---------------------------------------------------------------------------------

// Checks the file and brings the schema to kSchemaVersion. Store::Open adds the path to errors.
absl::Status PrepareSchema(sqlite3* db) {
  // The first statement that reads the header: a file that is not SQLite fails here, with
  // SQLite's "file is not a database".
  ASSIGN_OR_RETURN(const std::string tables,
                   QueryValue(db,
                              "SELECT group_concat(name, ', ') FROM sqlite_master "
                              "WHERE type = 'table'",
                              "read schema"));
  // Page size only applies to a new, empty file (and must precede WAL). 16 KiB pages: ~10% less
  // insert CPU than the default 4 KiB in bench/ingest_bench.cc (fewer splits and page writes per
  // record); queries here are scans of a run, which do not suffer from larger pages.
  if (tables.empty()) RETURN_IF_ERROR(Exec(db, "PRAGMA page_size = 16384"));
  // WAL: readers (the CLI, a user's sqlite3 shell) do not block the writer and vice versa.
  ASSIGN_OR_RETURN(const std::string mode, QueryValue(db, "PRAGMA journal_mode = WAL"));
  if (mode != "wal") {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot use WAL journal mode (got \"", mode, "\")"));
  }
  ASSIGN_OR_RETURN(const std::string version, QueryValue(db, "PRAGMA user_version"));
  const int found = std::atoi(version.c_str());
  if (found > kSchemaVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat("schema version ", found, " is newer than this build's ", kSchemaVersion));
  }
  if (found == 0 && !tables.empty()) {
    // Someone else's SQLite file: do not add our tables to it.
    return absl::FailedPreconditionError(
        absl::StrCat("a SQLite database but not a Stampede store (tables: ", tables, ")"));
  }
  if (found == kSchemaVersion) return absl::OkStatus();
  // IMMEDIATE: two processes creating the same new file serialise here; IF NOT EXISTS makes the
  // second a no-op.
  absl::Status status = Exec(db, "BEGIN IMMEDIATE");
  if (status.ok()) {
    if (found == 0) {
      status = Exec(db, kSchemaSql);
    } else {
      // One step at a time: 1 -> 2 -> 3.
      if (status.ok() && found <= 1) status = Exec(db, kUpgradeFrom1Sql);
      if (status.ok() && found <= 2) status = Exec(db, kUpgradeFrom2Sql);
    }
  }
  if (status.ok()) {
    status = Exec(db, absl::StrCat("PRAGMA user_version = ", kSchemaVersion).c_str());
  }
  if (status.ok()) status = Exec(db, "COMMIT");
  if (!status.ok()) sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
  return status;
}

std::string InsertSql(int rows) {
  std::string sql = kRecordsInsertHead;
  for (int i = 0; i < rows; ++i) {
    absl::StrAppend(&sql, i == 0 ? "" : ",", "(?,?,?,?,?,?,?,?,?,?,?,?)");
  }
  return sql;
}

// Another process creating the same new file (two embedded runs sharing a store) holds locks
// that a journal-mode change does not wait for: SQLite answers BUSY at once there, whatever the
// busy timeout. So the whole preparation is retried while the file is busy, for as long as the
// busy timeout would have waited.
absl::Status PrepareSchemaWhenFree(sqlite3* db) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(kBusyTimeoutMs);
  while (true) {
    absl::Status status = PrepareSchema(db);
    const bool busy = (sqlite3_extended_errcode(db) & 0xff) == SQLITE_BUSY;
    if (status.ok() || !busy || std::chrono::steady_clock::now() >= deadline) return status;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

absl::StatusOr<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path) {
  ASSIGN_OR_RETURN(DbHandle meta_db, OpenConnection(path));
  RETURN_IF_ERROR(PrepareSchemaWhenFree(meta_db.get()));
  // synchronous is per connection. NORMAL in WAL mode: a commit is durable against application
  // crashes, and the file stays consistent on power loss (the last commits may be lost). Commits
  // do not fsync; only checkpoints do. (OFF for the writer connection was measured: it saves
  // the checkpoint fsyncs, ~0.1 us per record, ~5-10%; not worth a file, old runs included, that
  // an OS crash or power loss could corrupt.)
  RETURN_IF_ERROR(Exec(meta_db.get(), "PRAGMA synchronous = NORMAL"));
  // Checkpoints are left to the writer connection (automatic, every ~1000 pages = 16 MiB of WAL,
  // after a commit). On this connection a checkpoint would run while holding the write gate and
  // stall ingest, and its fsyncs would make an UpdateRun take up to hundreds of ms.
  RETURN_IF_ERROR(Exec(meta_db.get(), "PRAGMA wal_autocheckpoint = 0"));

  ASSIGN_OR_RETURN(DbHandle writer_db, OpenConnection(path));
  sqlite3* w = writer_db.get();
  RETURN_IF_ERROR(Exec(w, "PRAGMA synchronous = NORMAL"));
  // Inserts touch only the right edges of the table and the index: a 16 MiB page cache is
  // plenty (64 MiB measured no faster, and showed up in RSS).
  RETURN_IF_ERROR(Exec(w, "PRAGMA cache_size = -16384"));
  SqliteStore::WriterStatements statements;
  ASSIGN_OR_RETURN(statements.insert_many,
                   Prepare(w, InsertSql(kRowsPerInsert), /*persistent=*/true));
  ASSIGN_OR_RETURN(statements.insert_one, Prepare(w, InsertSql(1), /*persistent=*/true));
  ASSIGN_OR_RETURN(statements.insert_batch, Prepare(w, kBatchInsertSql, /*persistent=*/true));
  ASSIGN_OR_RETURN(statements.begin, Prepare(w, "BEGIN IMMEDIATE", /*persistent=*/true));
  ASSIGN_OR_RETURN(statements.commit, Prepare(w, "COMMIT", /*persistent=*/true));
  auto store = std::make_unique<SqliteStore>(std::move(meta_db), std::move(writer_db),
                                             std::move(statements));
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Store>> Store::Open(const std::string& path) {
  absl::StatusOr<std::unique_ptr<Store>> store = OpenSqliteStore(path);
  if (!store.ok()) {
    // Every failure names the file: "open store "/x/y.db": file is not a database".
    return absl::Status(store.status().code(),
                        absl::StrCat("open store \"", path, "\": ", store.status().message()));
  }
  return store;
}

}  // namespace stampede
