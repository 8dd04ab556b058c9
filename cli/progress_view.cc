#include "cli/progress_view.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/histogram.h"

namespace stampede {
namespace {

// p-th percentile in ms of an aggregate's histogram, or -1 when there is none.
double PercentileMs(const Aggregate& a, double q) {
  auto h = Histogram::FromProto(a.latency());
  if (!h.ok() || h->count() == 0) return -1;
  return h->Percentile(q) / 1000.0;
}

std::string Ms(double v) { return v < 0 ? "-" : absl::StrFormat("%.2f", v); }

std::string Row(const std::string& name, const Aggregate& second, const Aggregate& total) {
  return absl::StrFormat("%-16s %10d %9d %9d %10s %10s\n", name, total.requests(), total.errors(),
                         second.requests(), Ms(PercentileMs(second, 50)),
                         Ms(PercentileMs(second, 99)));
}

}  // namespace

std::string ProgressView::PlainLine(const Progress& p) {
  const Aggregate& s = p.last_second().all();
  return absl::StrFormat(
      "[%6.1fs] %s: %d requests, %d errors; last second: %d req/s, p50 %sms, "
      "p99 %sms\n",
      p.elapsed_s(), p.state(), p.totals().requests(), p.totals().errors(), s.requests(),
      Ms(PercentileMs(s, 50)), Ms(PercentileMs(s, 99)));
}

std::string ProgressView::Table(const Progress& p) {
  std::string out = absl::StrFormat("run %s  %s  %.1fs\n", p.run_id(), p.state(), p.elapsed_s());
  absl::StrAppend(&out, absl::StrFormat("%-16s %10s %9s %9s %10s %10s\n", "region", "requests",
                                        "errors", "req/s", "p50 ms", "p99 ms"));
  // Requests and errors are run totals; req/s and percentiles are the last complete second.
  absl::StrAppend(&out, Row("all", p.last_second().all(), p.totals()));
  std::set<std::string> regions;
  for (const auto& [r, a] : p.last_second().by_region()) regions.insert(r);
  for (const auto& [r, a] : p.totals_by_region()) regions.insert(r);
  for (const auto& r : regions) {
    auto second = p.last_second().by_region().find(r);
    auto total = p.totals_by_region().find(r);
    absl::StrAppend(
        &out, Row(r, second != p.last_second().by_region().end() ? second->second : Aggregate(),
                  total != p.totals_by_region().end() ? total->second : Aggregate()));
  }
  return out;
}

void ProgressView::Show(const Progress& p) {
  if (!tty_) {
    *out_ << PlainLine(p) << std::flush;
    return;
  }
  const std::string table = Table(p);
  // Move up over the previous table and clear to the end of the screen, then redraw.
  if (lines_drawn_ > 0) *out_ << "\x1b[" << lines_drawn_ << "F\x1b[J";
  *out_ << table << std::flush;
  lines_drawn_ = static_cast<int>(std::count(table.begin(), table.end(), '\n'));
}

void ProgressView::Finish() { lines_drawn_ = 0; }

}  // namespace stampede
