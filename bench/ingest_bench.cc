// Ingest benchmark for the run store: synthetic agents append columnar RecordBatches as fast as
// they can, then Flush; prints the rate at which records were stored and the process's memory
// (peak and sampled during the run, to show that backpressure keeps it flat).
//
//   ingest_bench [--records N] [--agents K] [--batch B] [--db PATH] [--drop-index]
//
// --db defaults to a temporary file that is deleted afterwards. --drop-index removes the
// records index before ingest, to measure what the index costs.
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/proc_stats.h"
#include "coordinator/store.h"

namespace stampede {
namespace {

namespace fs = std::filesystem;
using SteadyClock = std::chrono::steady_clock;
using bench::ProcStatusKib;
using bench::ThreadSchedTimes;
using bench::ThreadTimes;

// Time covered by one synthetic batch of 4096 records at ~3.6k requests/s.
constexpr int64_t kBatchSpanNs = 1'130'000'000;

struct Options {
  uint64_t records = 5'000'000;
  int agents = 3;
  int batch = 4096;
  std::string db;
  bool drop_index = false;
};

bool ParseFlags(int argc, char** argv, Options* options) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--records" && has_value) {
      options->records = std::strtoull(argv[++i], nullptr, 10);
    } else if (arg == "--agents" && has_value) {
      options->agents = std::atoi(argv[++i]);
    } else if (arg == "--batch" && has_value) {
      options->batch = std::atoi(argv[++i]);
    } else if (arg == "--db" && has_value) {
      options->db = argv[++i];
    } else if (arg == "--drop-index") {
      options->drop_index = true;
    } else {
      std::fprintf(stderr,
                   "usage: %s [--records N] [--agents K] [--batch B] [--db PATH] "
                   "[--drop-index]\n",
                   argv[0]);
      return false;
    }
  }
  return options->records > 0 && options->agents > 0 && options->batch > 0;
}

// Batches that look like a model endpoint under load: ~20 ms lognormal latencies with a tail,
// 2% 503s, a few timeouts, JSON-sized bodies. A handful per agent is cycled (only base time and
// seq change), so the benchmark measures the store rather than the generator.
std::vector<RecordBatch> MakeTemplates(const std::string& run_id, int agent, int size) {
  std::mt19937_64 rng(1234 + agent);
  std::lognormal_distribution<double> latency_ms(std::log(20.0), 0.5);
  std::uniform_real_distribution<double> uniform(0, 1);
  std::vector<RecordBatch> templates(4);
  for (size_t t = 0; t < templates.size(); ++t) {
    RecordBatch& batch = templates[t];
    batch.set_run_id(run_id);
    batch.set_agent_id(absl::StrCat("a", agent));
    // Records are added when responses complete (as the agent's RecordBuffer does), so start
    // offsets = completion time - latency are only roughly ascending, like real batches.
    int64_t completed_ns = 0;
    for (int i = 0; i < size; ++i) {
      completed_ns += 250'000 + static_cast<int64_t>(uniform(rng) * 50'000);  // ~3.6k req/s
      const double u = uniform(rng);
      uint32_t latency_us = static_cast<uint32_t>(latency_ms(rng) * 1000);
      uint32_t status = 200;
      ErrorClass error = ERROR_NONE;
      if (u < 0.02) {
        status = 503;
        error = ERROR_HTTP_5XX;
      } else if (u < 0.021) {
        status = 0;
        error = ERROR_TIMEOUT;
        latency_us = 5'000'000;
      }
      const int64_t offset_ns = completed_ns - int64_t{latency_us} * 1000;
      batch.add_start_offset_ns(offset_ns);
      batch.add_latency_us(latency_us);
      batch.add_service_us(latency_us - std::min<uint32_t>(latency_us, 200));
      batch.add_status(status);
      batch.add_error(error);
      batch.add_bytes_sent(1180);
      batch.add_bytes_received(status == 200 ? 2400 + static_cast<uint32_t>(u * 400) : 95);
      batch.add_stage(static_cast<uint32_t>(t % 3));
      batch.add_worker(static_cast<uint32_t>(i % 2));
    }
  }
  return templates;
}

int Main(int argc, char** argv) {
  Options options;
  if (!ParseFlags(argc, argv, &options)) return 2;
  const bool temporary = options.db.empty();
  if (temporary) {
    options.db =
        (fs::temp_directory_path() / absl::StrCat("stampede_ingest_bench_", getpid(), ".db"))
            .string();
  }
  absl::StatusOr<std::unique_ptr<Store>> opened = Store::Open(options.db);
  if (!opened.ok()) {
    std::fprintf(stderr, "%s\n", opened.status().ToString().c_str());
    return 1;
  }
  std::unique_ptr<Store> store = std::move(*opened);
  const std::string run_id = absl::StrCat("bench-", getpid(), "-", std::time(nullptr));
  RunSummary summary;
  summary.set_run_id(run_id);
  summary.set_plan_name("ingest-bench");
  summary.set_state("running");
  if (absl::Status s = store->CreateRun(summary, "{}", {}); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 1;
  }
  if (options.drop_index) {
    sqlite3* db = nullptr;
    sqlite3_open(options.db.c_str(), &db);
    sqlite3_busy_timeout(db, 5000);
    if (sqlite3_exec(db, "DROP INDEX IF EXISTS records_by_run_ts", nullptr, nullptr, nullptr) !=
        SQLITE_OK) {
      std::fprintf(stderr, "drop index: %s\n", sqlite3_errmsg(db));
    }
    sqlite3_close(db);
  }

  // Templates first, so that their memory is in the baseline.
  std::vector<std::vector<RecordBatch>> templates;
  for (int a = 0; a < options.agents; ++a) {
    templates.push_back(MakeTemplates(run_id, a, options.batch));
  }
  const int64_t baseline_kib = ProcStatusKib("VmRSS");

  std::atomic<bool> sampling{true};
  std::vector<int64_t> samples_kib;
  std::thread sampler([&] {
    while (sampling.load()) {
      samples_kib.push_back(ProcStatusKib("VmRSS"));
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
  });

  const uint64_t batches = (options.records + options.batch - 1) / options.batch;
  std::atomic<uint64_t> next_batch{0};
  std::atomic<uint64_t> appended{0};
  const SteadyClock::time_point start = SteadyClock::now();
  std::vector<std::thread> producers;
  for (int a = 0; a < options.agents; ++a) {
    producers.emplace_back([&, a] {
      AgentMeta agent;
      agent.id = absl::StrCat("a", a);
      agent.name = absl::StrCat("region", a, "-vm-1");
      agent.region = absl::StrCat("region", a);
      agent.clock_offset_ns = (a - 1) * 1'500'000;
      const int64_t base_ns = 1'700'000'000'000'000'000;
      std::vector<RecordBatch> mine = templates[a];
      for (uint64_t seq = 0;; ++seq) {
        const uint64_t index = next_batch.fetch_add(1);
        if (index >= batches) break;
        RecordBatch& batch = mine[seq % mine.size()];
        batch.set_seq(seq);
        // One shared timeline: all agents run concurrently, each batch spanning ~1.1 s of its
        // agent's requests, so batches of different agents overlap in time as in a real run.
        batch.set_base_time_ns(base_ns +
                               static_cast<int64_t>(index) * kBatchSpanNs / options.agents);
        // The last batch may be partial, so that exactly --records records are appended.
        const uint64_t want =
            std::min<uint64_t>(options.batch, options.records - index * options.batch);
        if (want < static_cast<uint64_t>(options.batch)) {
          RecordBatch partial = batch;
          const int keep = static_cast<int>(want);
          partial.mutable_start_offset_ns()->Truncate(keep);
          partial.mutable_latency_us()->Truncate(keep);
          partial.mutable_service_us()->Truncate(keep);
          partial.mutable_status()->Truncate(keep);
          partial.mutable_error()->Truncate(keep);
          partial.mutable_bytes_sent()->Truncate(keep);
          partial.mutable_bytes_received()->Truncate(keep);
          partial.mutable_stage()->Truncate(keep);
          partial.mutable_worker()->Truncate(keep);
          store->AppendBatch(run_id, agent, partial, nullptr);
        } else {
          store->AppendBatch(run_id, agent, batch, nullptr);
        }
        appended += want;
      }
    });
  }
  for (std::thread& producer : producers) producer.join();
  const SteadyClock::time_point appended_at = SteadyClock::now();
  const absl::Status flushed = store->Flush();
  const SteadyClock::time_point flushed_at = SteadyClock::now();
  sampling = false;
  sampler.join();
  if (!flushed.ok()) {
    std::fprintf(stderr, "flush: %s\n", flushed.ToString().c_str());
    return 1;
  }

  summary.set_state("finished");
  summary.set_requests(appended.load());
  summary.set_agents(options.agents);
  if (absl::Status s = store->UpdateRun(summary, nullptr); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
  }

  const double append_s = std::chrono::duration<double>(appended_at - start).count();
  const double total_s = std::chrono::duration<double>(flushed_at - start).count();
  absl::StatusOr<uint64_t> stored = store->CountRecords(run_id);
  std::printf("records appended   %" PRIu64 " (%d agents, batches of %d)%s\n", appended.load(),
              options.agents, options.batch, options.drop_index ? ", no index" : "");
  std::printf(
      "records stored     %" PRIu64 "%s\n", stored.ok() ? *stored : 0,
      stored.ok() && *stored == appended.load() ? " (exactly the appended count)" : "  MISMATCH");
  std::printf("append phase       %.2f s (%.0f records/s; producers block on backpressure)\n",
              append_s, appended.load() / append_s);
  std::printf("stored, with Flush %.2f s -> %.0f records/s\n", total_s, appended.load() / total_s);
  const int64_t peak_kib = ProcStatusKib("VmHWM");
  std::printf("RSS baseline       %.1f MiB\n", baseline_kib / 1024.0);
  std::printf("RSS peak (VmHWM)   %.1f MiB\n", peak_kib / 1024.0);
  if (!samples_kib.empty()) {
    // Skip the first second: the queue fills up to its bound then.
    const size_t skip = std::min<size_t>(4, samples_kib.size() - 1);
    const auto [lo, hi] = std::minmax_element(samples_kib.begin() + skip, samples_kib.end());
    std::printf("RSS after 1 s      min %.1f / max %.1f MiB over %zu samples\n", *lo / 1024.0,
                *hi / 1024.0, samples_kib.size() - skip);
    std::printf("RSS samples (MiB, every 250 ms):");
    for (size_t i = 0; i < samples_kib.size(); ++i) {
      std::printf("%s%.0f", i == 0 ? " " : ",", samples_kib[i] / 1024.0);
    }
    std::printf("\n");
  }
  // The writer's own CPU time gives the rate it sustains with a core to itself, which is what
  // the design gives it (the aggregator has the other core). On a busy machine the wall-clock
  // rate above also includes time the writer spent waiting for a CPU.
  const ThreadTimes writer = ThreadSchedTimes("store-writer");
  if (writer.found) {
    std::printf("writer thread      %.2f s on CPU -> %.0f records per writer-CPU-second\n",
                writer.on_cpu_s, appended.load() / writer.on_cpu_s);
    std::printf(
        "                   %.2f s runnable but waiting for a CPU, %.2f s blocked or idle\n",
        writer.waiting_for_cpu_s,
        std::max(0.0, total_s - writer.on_cpu_s - writer.waiting_for_cpu_s));
  }
  double load[3] = {0, 0, 0};
  if (getloadavg(load, 3) == 3) std::printf("load average       %.2f (1 min)\n", load[0]);
  std::error_code ignored;
  store.reset();  // checkpoints the WAL into the file
  std::printf("file size          %.1f MiB (%.1f bytes/record, after checkpoint)\n",
              fs::file_size(options.db, ignored) / 1048576.0,
              static_cast<double>(fs::file_size(options.db, ignored)) / appended.load());
  if (temporary) {
    for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(options.db + suffix, ignored);
  }
  return stored.ok() && *stored == appended.load() ? 0 : 1;
}

}  // namespace
}  // namespace stampede

int main(int argc, char** argv) { return stampede::Main(argc, argv); }
