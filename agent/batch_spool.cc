#include "agent/batch_spool.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/spool_files.h"

namespace stampede {
namespace {

// Every column of a batch has one value per record.
bool ColumnsAgree(const RecordBatch& b) {
  const int n = b.latency_us_size();
  return b.start_offset_ns_size() == n && b.service_us_size() == n && b.status_size() == n &&
         b.error_size() == n && b.bytes_sent_size() == n && b.bytes_received_size() == n &&
         b.stage_size() == n && b.worker_size() == n;
}

// What is sent in place of a batch whose records had to be dropped: its identity and its
// counters, no records. Tiny, so it is held whatever the bounds.
RecordBatch StubOf(const RecordBatch& b) {
  RecordBatch stub;
  stub.set_run_id(b.run_id());
  stub.set_agent_id(b.agent_id());
  stub.set_seq(b.seq());
  stub.set_base_time_ns(b.base_time_ns());
  stub.set_late(b.late());
  stub.set_dropped(b.dropped());
  stub.set_final(b.final());
  return stub;
}

std::string BaseName(const std::string& dir) {
  return std::filesystem::path(dir).filename().string();
}

}  // namespace

BatchSpool::BatchSpool(std::string run_dir, std::shared_ptr<SpoolBudget> budget, LogFn log)
    : dir_(std::move(run_dir)),
      run_id_(BaseName(dir_)),
      budget_(std::move(budget)),
      log_(log ? std::move(log) : LogFn(LogToStderr)) {
  if (dir_.empty()) return;
  const int err = ::mkdir(dir_.c_str(), 0700) == 0 ? 0 : errno;
  if (err == 0 || err == EEXIST) {
    disk_ok_ = true;
  } else {
    log_(absl::StrCat("event=spool_unavailable run=", LogValue(run_id_), " dir=", LogValue(dir_),
                      " error=", LogValue(std::strerror(err)),
                      " effect=batches_kept_in_memory_only"));
  }
}

BatchSpool::~BatchSpool() {
  // The files stay (a later process recovers them); the memory goes.
  absl::MutexLock lock(&mu_);
  budget_->ReleaseMemory(memory_bytes_);
}

std::unique_ptr<BatchSpool> BatchSpool::Recover(std::string run_dir,
                                                std::shared_ptr<SpoolBudget> budget, LogFn log) {
  auto spool = std::make_unique<BatchSpool>(std::move(run_dir), std::move(budget), std::move(log));
  if (!spool->disk_ok_) return spool;
  std::error_code ec;
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(spool->dir_, ec)) {
    files.push_back(entry.path());
  }
  SpoolStats stats;
  std::map<uint64_t, Entry> pending;
  uint64_t disk_bytes = 0;
  for (const auto& path : files) {
    const std::string name = path.filename().string();
    if (IsTempFileName(name)) {
      ::unlink(path.c_str());
      ++stats.partial_files;
      continue;
    }
    if (name == kFinishedFileName) {
      RunFinished finished;
      if (ReadSpoolFile(path.string(), &finished).ok() && finished.run_id() == spool->run_id_) {
        spool->recovered_finished_ = std::move(finished);
      } else {
        ::unlink(path.c_str());
        ++stats.unreadable_files;
      }
      continue;
    }
    const std::optional<uint64_t> seq = ParseBatchFileName(name);
    if (!seq.has_value()) continue;  // not ours: left alone
    RecordBatch batch;
    const absl::Status read = ReadSpoolFile(path.string(), &batch);
    std::error_code size_ec;
    const uint64_t size = std::filesystem::file_size(path, size_ec);
    if (!read.ok() || size_ec || size == 0 || batch.seq() != *seq ||
        batch.run_id() != spool->run_id_ || !ColumnsAgree(batch)) {
      ::unlink(path.c_str());
      ++stats.unreadable_files;
      continue;
    }
    Entry e;
    e.file_bytes = size;  // > 0: the entry has a file
    disk_bytes += e.file_bytes;
    pending.emplace(*seq, std::move(e));
  }
  // Already on disk, whatever the bound says now.
  spool->budget_->ForceReserveDisk(disk_bytes);
  absl::MutexLock lock(&spool->mu_);
  spool->pending_ = std::move(pending);
  spool->stats_ = stats;
  return spool;
}

std::string BatchSpool::FilePath(uint64_t seq) const {
  return absl::StrCat(dir_, "/", BatchFileName(seq));
}

void BatchSpool::LogWriteFailureOnce(const absl::Status& status) {
  {
    absl::MutexLock lock(&mu_);
    if (write_failure_logged_) return;
    write_failure_logged_ = true;
  }
  log_(absl::StrCat("event=spool_write_failed run=", LogValue(run_id_),
                    " error=", LogValue(status.message()),
                    " effect=batches_kept_in_memory_only_until_a_write_succeeds"));
}

void BatchSpool::Consume(const RecordBatch& batch) {
  const uint64_t seq = batch.seq();
  uint64_t file_bytes = 0;
  if (disk_ok_) {
    const std::string encoded = EncodeSpoolFile(batch);
    if (budget_->TryReserveDisk(encoded.size())) {
      const absl::Status written = WriteSpoolFile(dir_, BatchFileName(seq), encoded);
      if (written.ok()) {
        file_bytes = encoded.size();
      } else {
        budget_->ReleaseDisk(encoded.size());
        LogWriteFailureOnce(written);
      }
    }
  }
  const bool durable = file_bytes > 0;
  // Charged as the copy held here: the worker's batch has its arrays reserved for a full batch,
  // and a small one (flushed by time) would be charged for all of it.
  RecordBatch copy = batch;
  const uint64_t memory = copy.SpaceUsedLong();
  bool keep = budget_->TryReserveMemory(memory);
  if (!keep && !durable) {
    // Room for a batch that exists nowhere else, at the cost of ones that are safe on disk.
    absl::MutexLock lock(&mu_);
    keep = EvictForLocked(memory);
  }
  Entry e;
  e.file_bytes = file_bytes;
  if (keep) {
    e.batch = std::move(copy);
    e.memory_bytes = memory;
  } else if (!durable) {
    e.batch = StubOf(batch);
  }
  std::function<void()> listener;
  {
    absl::MutexLock lock(&mu_);
    if (keep) memory_bytes_ += memory;
    // Without a directory nothing is counted undurable: there is no disk to have fallen back
    // from (see the class comment). A directory that could not be made counts.
    if (!durable && keep && has_directory()) ++stats_.undurable_batches;
    if (!durable && !keep) {
      ++stats_.dropped_batches;
      stats_.dropped_records += static_cast<uint64_t>(batch.latency_us_size());
    }
    pending_[seq] = std::move(e);
    listener = listener_;
  }
  if (listener) listener();
}

bool BatchSpool::EvictForLocked(uint64_t n) {
  for (auto it = pending_.rbegin(); it != pending_.rend(); ++it) {
    Entry& e = it->second;
    if (!e.batch.has_value() || e.file_bytes == 0) continue;
    budget_->ReleaseMemory(e.memory_bytes);
    memory_bytes_ -= e.memory_bytes;
    e.memory_bytes = 0;
    e.batch.reset();
    if (budget_->TryReserveMemory(n)) return true;
  }
  return false;
}

void BatchSpool::SetListener(std::function<void()> listener) {
  absl::MutexLock lock(&mu_);
  listener_ = std::move(listener);
}

bool BatchSpool::ReleaseLocked(Entry& e) {
  budget_->ReleaseMemory(e.memory_bytes);
  memory_bytes_ -= e.memory_bytes;
  e.memory_bytes = 0;
  e.batch.reset();
  if (e.file_bytes == 0) return false;
  budget_->ReleaseDisk(e.file_bytes);
  e.file_bytes = 0;
  return true;
}

void BatchSpool::Ack(uint64_t seq) {
  std::string file;
  {
    absl::MutexLock lock(&mu_);
    auto it = pending_.find(seq);
    if (it == pending_.end()) return;
    if (ReleaseLocked(it->second)) file = FilePath(seq);
    pending_.erase(it);
  }
  if (!file.empty()) ::unlink(file.c_str());
}

bool BatchSpool::Reject(uint64_t seq) {
  std::string file;
  {
    absl::MutexLock lock(&mu_);
    auto it = pending_.find(seq);
    if (it == pending_.end()) return false;
    if (ReleaseLocked(it->second)) file = FilePath(seq);
    pending_.erase(it);
    ++stats_.rejected_batches;
  }
  if (!file.empty()) ::unlink(file.c_str());
  return true;
}

void BatchSpool::ResendAll() {
  absl::MutexLock lock(&mu_);
  for (auto& [seq, e] : pending_) e.sent = false;
}

std::optional<RecordBatch> BatchSpool::NextToSend() {
  while (true) {
    uint64_t seq = 0;
    {
      absl::MutexLock lock(&mu_);
      auto it = pending_.begin();
      while (it != pending_.end() && it->second.sent) ++it;
      if (it == pending_.end()) return std::nullopt;
      it->second.sent = true;
      if (it->second.batch.has_value()) return *it->second.batch;
      seq = it->first;
    }
    // On disk only: read outside the lock (the workers keep spooling meanwhile).
    RecordBatch batch;
    absl::Status read = ReadSpoolFile(FilePath(seq), &batch);
    if (read.ok() && (batch.seq() != seq || !ColumnsAgree(batch))) {
      read = absl::DataLossError(absl::StrCat(FilePath(seq), ": holds another batch"));
    }
    bool had_file = false;
    {
      absl::MutexLock lock(&mu_);
      auto it = pending_.find(seq);
      if (it == pending_.end()) continue;  // acked meanwhile (a resend of an older connection)
      if (read.ok()) {
        ++stats_.read_back;
        return batch;
      }
      ++stats_.unreadable_files;
      had_file = ReleaseLocked(it->second);
      pending_.erase(it);
    }
    if (had_file) ::unlink(FilePath(seq).c_str());
    log_(absl::StrCat("event=spool_file_unreadable run=", LogValue(run_id_), " seq=", seq,
                      " error=", LogValue(read.message()), " effect=batch_lost"));
  }
}

absl::Status BatchSpool::PersistFinished(const RunFinished& finished) {
  if (!disk_ok_) return absl::OkStatus();
  absl::Status status = WriteSpoolFile(dir_, kFinishedFileName, finished);
  if (!status.ok()) {
    log_(absl::StrCat("event=spool_write_failed run=", LogValue(run_id_), " file=finished",
                      " error=", LogValue(status.message())));
  }
  return status;
}

void BatchSpool::Discard() {
  {
    absl::MutexLock lock(&mu_);
    for (auto& [seq, e] : pending_) ReleaseLocked(e);
    pending_.clear();
  }
  if (dir_.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
  if (ec) {
    log_(absl::StrCat("event=spool_remove_failed run=", LogValue(run_id_), " dir=", LogValue(dir_),
                      " error=", LogValue(ec.message())));
  }
}

size_t BatchSpool::unacked() const {
  absl::MutexLock lock(&mu_);
  return pending_.size();
}

size_t BatchSpool::in_memory() const {
  absl::MutexLock lock(&mu_);
  size_t n = 0;
  for (const auto& [seq, e] : pending_) n += e.batch.has_value();
  return n;
}

size_t BatchSpool::on_disk() const {
  absl::MutexLock lock(&mu_);
  size_t n = 0;
  for (const auto& [seq, e] : pending_) n += e.file_bytes > 0;
  return n;
}

uint64_t BatchSpool::bytes() const {
  absl::MutexLock lock(&mu_);
  return memory_bytes_;
}

SpoolStats BatchSpool::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

}  // namespace stampede
