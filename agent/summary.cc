#include "agent/summary.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "agent/error_class.h"

namespace stampede {

void Totals::Add(int64_t start_ns, uint32_t latency_us, uint32_t service_us, uint32_t status,
                 bool error, const std::string& error_name, uint32_t sent, uint32_t received) {
  ++requests;
  bytes_sent += sent;
  bytes_received += received;
  ++by_status[status];
  if (error) {
    ++errors;
    ++by_error[error_name];
  }
  latency.Record(latency_us);
  service.Record(service_us);
  first_start_ns = std::min(first_start_ns, start_ns);
  last_end_ns = std::max(last_end_ns, start_ns + static_cast<int64_t>(latency_us) * 1000);
}

void Totals::Merge(const Totals& o) {
  requests += o.requests;
  errors += o.errors;
  bytes_sent += o.bytes_sent;
  bytes_received += o.bytes_received;
  for (const auto& [k, v] : o.by_status) by_status[k] += v;
  for (const auto& [k, v] : o.by_error) by_error[k] += v;
  latency.Merge(o.latency);
  service.Merge(o.service);
  first_start_ns = std::min(first_start_ns, o.first_start_ns);
  last_end_ns = std::max(last_end_ns, o.last_end_ns);
}

double Totals::span_s() const {
  if (requests == 0 || last_end_ns <= first_start_ns) return 0;
  return static_cast<double>(last_end_ns - first_start_ns) / 1e9;
}

double Totals::throughput_rps() const {
  const double span = span_s();
  return span > 0 ? static_cast<double>(requests) / span : 0;
}

void SummarySink::Consume(const RecordBatch& b) {
  // Aggregate outside the lock into a local Totals per stage, then merge: keeps the lock short
  // when several workers flush at once.
  std::vector<Totals> stages;
  const int n = b.latency_us_size();
  std::string names[ErrorClass_ARRAYSIZE];
  for (int e = 0; e < ErrorClass_ARRAYSIZE; ++e) {
    names[e] = std::string(ErrorClassName(static_cast<ErrorClass>(e)));
  }
  for (int i = 0; i < n; ++i) {
    const uint32_t stage = i < b.stage_size() ? b.stage(i) : 0;
    if (stages.size() <= stage) stages.resize(stage + 1);
    const int err = i < b.error_size() ? b.error(i) : 0;
    stages[stage].Add(b.start_offset_ns(i), b.latency_us(i),
                      i < b.service_us_size() ? b.service_us(i) : b.latency_us(i),
                      i < b.status_size() ? b.status(i) : 0, err != ERROR_NONE,
                      names[std::clamp(err, 0, ErrorClass_ARRAYSIZE - 1)],
                      i < b.bytes_sent_size() ? b.bytes_sent(i) : 0,
                      i < b.bytes_received_size() ? b.bytes_received(i) : 0);
  }
  absl::MutexLock lock(&mu_);
  if (summary_.stages.size() < stages.size()) summary_.stages.resize(stages.size());
  for (size_t s = 0; s < stages.size(); ++s) {
    if (stages[s].requests == 0) continue;
    summary_.all.Merge(stages[s]);
    summary_.stages[s].Merge(stages[s]);
  }
  summary_.late += b.late();
  summary_.dropped += b.dropped();
  ++summary_.batches;
}

Summary SummarySink::Snapshot() const {
  absl::MutexLock lock(&mu_);
  return summary_;
}

namespace {

std::string Ms(double us) { return absl::StrFormat("%.3f", us / 1000.0); }

std::string LatencyJson(const Histogram& h) {
  return absl::StrCat("{\"min\": ", Ms(h.min()), ", \"mean\": ", Ms(h.mean()),
                      ", \"p50\": ", Ms(h.Percentile(50)), ", \"p90\": ", Ms(h.Percentile(90)),
                      ", \"p99\": ", Ms(h.Percentile(99)), ", \"p999\": ", Ms(h.Percentile(99.9)),
                      ", \"max\": ", Ms(h.max()), "}");
}

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += absl::StrFormat("\\u%04x", c);
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string TotalsJson(const Totals& t) {
  std::vector<std::string> status;
  for (const auto& [k, v] : t.by_status) status.push_back(absl::StrCat("\"", k, "\": ", v));
  std::vector<std::string> errors;
  for (const auto& [k, v] : t.by_error) errors.push_back(absl::StrCat(JsonString(k), ": ", v));
  const double rate = t.requests ? static_cast<double>(t.errors) / t.requests : 0;
  return absl::StrCat("\"requests\": ", t.requests, ", \"errors\": ", t.errors,
                      ", \"errorRate\": ", absl::StrFormat("%.6f", rate),
                      ", \"throughputRps\": ", absl::StrFormat("%.1f", t.throughput_rps()),
                      ", \"durationS\": ", absl::StrFormat("%.3f", t.span_s()),
                      ", \"latencyMs\": ", LatencyJson(t.latency),
                      ", \"serviceMs\": ", LatencyJson(t.service), ", \"byStatus\": {",
                      absl::StrJoin(status, ", "), "}, \"byError\": {", absl::StrJoin(errors, ", "),
                      "}, \"bytesSent\": ", t.bytes_sent, ", \"bytesReceived\": ", t.bytes_received);
}

std::string StageShape(const Stage& s) {
  std::string load = s.has_concurrency()
                         ? absl::StrCat("c=", s.concurrency())
                         : absl::StrCat("rate=", absl::StrFormat("%g", s.rate()), "/s");
  if (s.has_ramp_to()) absl::StrAppend(&load, "->", absl::StrFormat("%g", s.ramp_to()));
  return load;
}

}  // namespace

std::vector<std::string> CheckThresholds(const Totals& t, const Thresholds& th) {
  std::vector<std::string> fails;
  auto check = [&](bool set, double limit, double q, const char* name) {
    if (!set) return;
    const double ms = t.latency.Percentile(q) / 1000.0;
    if (ms > limit) fails.push_back(absl::StrFormat("%s %.3fms > %gms", name, ms, limit));
  };
  check(th.has_p50_ms(), th.p50_ms(), 50, "p50");
  check(th.has_p90_ms(), th.p90_ms(), 90, "p90");
  check(th.has_p99_ms(), th.p99_ms(), 99, "p99");
  if (th.has_error_rate() && t.requests > 0) {
    const double rate = static_cast<double>(t.errors) / t.requests;
    if (rate > th.error_rate()) {
      fails.push_back(absl::StrFormat("error rate %.4f > %g", rate, th.error_rate()));
    }
  }
  return fails;
}

std::string FormatSummaryJson(const Summary& s, const Plan& plan) {
  std::vector<std::string> stages;
  for (size_t i = 0; i < s.stages.size(); ++i) {
    const std::string shape =
        static_cast<int>(i) < plan.stages_size() ? StageShape(plan.stages(static_cast<int>(i))) : "";
    stages.push_back(absl::StrCat("{\"stage\": ", i, ", \"load\": ", JsonString(shape), ", ",
                                  TotalsJson(s.stages[i]), "}"));
  }
  std::vector<std::string> fails;
  for (const auto& f : CheckThresholds(s.all, plan.thresholds())) fails.push_back(JsonString(f));
  return absl::StrCat("{\"plan\": ", JsonString(plan.name()), ", ", TotalsJson(s.all),
                      ", \"late\": ", s.late, ", \"dropped\": ", s.dropped,
                      ", \"batches\": ", s.batches, ", \"stages\": [", absl::StrJoin(stages, ", "),
                      "], \"thresholdFailures\": [", absl::StrJoin(fails, ", "), "]}\n");
}

std::string FormatSummaryText(const Summary& s, const Plan& plan) {
  const Totals& t = s.all;
  std::string out;
  absl::StrAppendFormat(&out, "plan %s: %d requests in %.2fs, %.1f req/s, %d errors (%.2f%%)\n",
                        plan.name().empty() ? "(unnamed)" : plan.name(), t.requests, t.span_s(),
                        t.throughput_rps(), t.errors,
                        t.requests ? 100.0 * t.errors / t.requests : 0.0);
  const Histogram& h = t.latency;
  absl::StrAppendFormat(&out,
                        "latency ms: min %.3f  mean %.3f  p50 %.3f  p90 %.3f  p99 %.3f  "
                        "p99.9 %.3f  max %.3f\n",
                        h.min() / 1e3, h.mean() / 1e3, h.Percentile(50) / 1e3,
                        h.Percentile(90) / 1e3, h.Percentile(99) / 1e3, h.Percentile(99.9) / 1e3,
                        h.max() / 1e3);
  std::vector<std::string> status;
  for (const auto& [k, v] : t.by_status) status.push_back(absl::StrCat(k == 0 ? "none" : absl::StrCat(k), ": ", v));
  absl::StrAppend(&out, "status: ", absl::StrJoin(status, ", "), "\n");
  if (!t.by_error.empty()) {
    std::vector<std::string> errors;
    for (const auto& [k, v] : t.by_error) errors.push_back(absl::StrCat(k, ": ", v));
    absl::StrAppend(&out, "errors: ", absl::StrJoin(errors, ", "), "\n");
  }
  if (s.late || s.dropped) {
    absl::StrAppendFormat(&out, "open model: %d sent late (>=1ms after intended), %d dropped\n",
                          s.late, s.dropped);
  }
  if (s.stages.size() > 1) {
    absl::StrAppend(&out, "stage  load              requests   errors      req/s     p50 ms     p99 ms\n");
    for (size_t i = 0; i < s.stages.size(); ++i) {
      const Totals& st = s.stages[i];
      const std::string shape = static_cast<int>(i) < plan.stages_size()
                                    ? StageShape(plan.stages(static_cast<int>(i)))
                                    : "";
      absl::StrAppendFormat(&out, "%5d  %-16s %9d %8d %10.1f %10.3f %10.3f\n", i, shape,
                            st.requests, st.errors, st.throughput_rps(),
                            st.latency.Percentile(50) / 1e3, st.latency.Percentile(99) / 1e3);
    }
  }
  for (const auto& f : CheckThresholds(t, plan.thresholds())) {
    absl::StrAppend(&out, "THRESHOLD FAILED: ", f, "\n");
  }
  return out;
}

}  // namespace stampede
