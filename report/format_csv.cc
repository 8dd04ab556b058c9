// The CSV form of a run's report: its timeline, one row per second x region.
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "report/report_format.h"
#include "report/report_model.h"

namespace stampede {
namespace {

// RFC 4180 quoting, only when needed (region names are user-chosen).
std::string CsvField(absl::string_view s) {
  if (s.find_first_of(",\"\r\n") == absl::string_view::npos) return std::string(s);
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  return out + "\"";
}

std::string OrNa(const std::optional<Percentiles>& p, double Percentiles::*field) {
  return p.has_value() ? absl::StrFormat("%.3f", (*p).*field) : "n/a";
}

// The wall-clock columns come last, so that readers of the older columns are not disturbed.
std::string CsvRow(const SecondRow& point, absl::string_view region, const Figures& f) {
  return absl::StrCat(
      point.second, ",", CsvField(region), ",", f.requests, ",", f.errors, ",",
      absl::StrFormat("%.3f", f.throughput_rps), ",", OrNa(f.latency_ms, &Percentiles::p50), ",",
      OrNa(f.latency_ms, &Percentiles::p90), ",", OrNa(f.latency_ms, &Percentiles::p99), ",",
      OrNa(f.latency_ms, &Percentiles::max), ",",
      point.epoch_ms.has_value() ? Rfc3339Ms(*point.epoch_ms) : "", ",",
      point.epoch_ms.has_value() ? absl::StrCat(*point.epoch_ms) : "", "\n");
}

}  // namespace

std::string FormatReportCsv(const RunReport& report) {
  const RunModel m = BuildRunModel(report);
  std::string out =
      "second,region,requests,errors,throughput_rps,p50_ms,p90_ms,p99_ms,max_ms,time,epoch_ms\n";
  for (const SecondRow& point : m.timeline) {
    absl::StrAppend(&out, CsvRow(point, "all", point.all));
    for (const auto& [region, figures] : point.regions) {
      absl::StrAppend(&out, CsvRow(point, region, figures));
    }
  }
  return out;
}

}  // namespace stampede
