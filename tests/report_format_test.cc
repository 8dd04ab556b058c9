#include "report/report_format.h"

#include <gmock/gmock.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "common/histogram.h"
#include "common/run_aggregator.h"

namespace stampede {
namespace {

using ::google::protobuf::Struct;
using ::google::protobuf::Value;
using ::testing::ContainsRegex;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr int64_t kOrigin = 1'700'000'000'000'000'000;
constexpr int64_t kMs = 1'000'000;

AgentMeta Agent(std::string id, std::string name, std::string region, int64_t offset_ns,
                int64_t uncertainty_ns) {
  AgentMeta a;
  a.id = std::move(id);
  a.name = std::move(name);
  a.region = std::move(region);
  a.clock_offset_ns = offset_ns;
  a.clock_uncertainty_ns = uncertainty_ns;
  return a;
}

// `n` requests 10 ms apart from `first_ms` (agent clock = coordinator clock + offset), latency
// `base_us` plus a spread, every 20th a 503.
RecordBatch Batch(const AgentMeta& agent, int n, int64_t first_ms, uint32_t base_us) {
  RecordBatch b;
  b.set_agent_id(agent.id);
  b.set_base_time_ns(kOrigin + agent.clock_offset_ns);
  for (int i = 0; i < n; ++i) {
    b.add_start_offset_ns((first_ms + 10 * i) * kMs);
    b.add_latency_us(base_us + static_cast<uint32_t>(i * 131 % 5000));
    b.add_service_us(b.latency_us(i));
    const bool failed = i % 20 == 0;
    b.add_status(failed ? 503 : 200);
    b.add_error(failed ? ERROR_HTTP_5XX : ERROR_NONE);
    b.add_bytes_sent(100);
    b.add_bytes_received(300);
    b.add_stage(first_ms + 10 * i < 1000 ? 0 : 1);
  }
  return b;
}

// A finished report as the coordinator would hand it over: 3 agents in 2 regions over 2 s, a
// failing p99 threshold, and the caller's fields (state, times, agent states) filled in.
RunReport SampleReport() {
  Plan plan;
  plan.set_name("checkout");
  plan.add_stages()->set_name("warm");
  plan.add_stages()->set_name("peak");
  plan.mutable_thresholds()->set_p99_ms(5);
  RunAggregator aggregator("run-7", plan, kOrigin);
  const std::vector<AgentMeta> agents = {Agent("a1", "eastus-1", "eastus", 0, 100'000),
                                         Agent("a2", "eastus-2", "eastus", 250 * kMs, 500'000),
                                         Agent("a3", "westeu-1", "westeurope", -3 * kMs, kMs)};
  aggregator.AddBatch(agents[0], Batch(agents[0], 200, 0, 2000));
  aggregator.AddBatch(agents[1], Batch(agents[1], 150, 5, 3000));
  aggregator.AddBatch(agents[2], Batch(agents[2], 100, 2, 9000));
  RunReport report = aggregator.Report();
  report.set_state("finished");
  report.set_started_ns(kOrigin);
  report.set_ended_ns(kOrigin + 2100 * kMs);
  *report.mutable_plan() = plan;
  report.mutable_by_agent(0)->set_state("finished");
  report.mutable_by_agent(1)->set_state("finished");
  report.mutable_by_agent(2)->set_state("lost");
  return report;
}

Struct ParseJson(const std::string& json) {
  Struct parsed;
  const auto status = google::protobuf::util::JsonStringToMessage(json, &parsed);
  EXPECT_TRUE(status.ok()) << status << "\n" << json;
  return parsed;
}

std::set<std::string> Keys(const Struct& s) {
  std::set<std::string> keys;
  for (const auto& [key, value] : s.fields()) keys.insert(key);
  return keys;
}

std::set<std::string> Keys(const Value& v) {
  EXPECT_EQ(v.kind_case(), Value::kStructValue);
  return Keys(v.struct_value());
}

const Value& Field(const Value& v, const std::string& key) {
  return v.struct_value().fields().at(key);
}

// Every value of a latency object is a number (or null only when there is no data).
void ExpectNumbers(const Value& object, bool nullable = false) {
  for (const auto& [key, value] : object.struct_value().fields()) {
    if (nullable && value.kind_case() == Value::kNullValue) continue;
    EXPECT_EQ(value.kind_case(), Value::kNumberValue) << key;
    EXPECT_TRUE(std::isfinite(value.number_value())) << key;
  }
}

const std::set<std::string> kLatencyKeys = {"min", "mean", "p50", "p90", "p99", "p999", "max"};

TEST(ReportJsonTest, IsValidJsonWithEveryDocumentedKey) {
  const RunReport report = SampleReport();
  const Struct json = ParseJson(FormatReportJson(report));
  EXPECT_EQ(Keys(json), (std::set<std::string>{
                            "runId", "plan", "state", "startedNs", "endedNs", "durationS", "totals",
                            "latencyMs", "serviceMs", "byStatus", "byError", "byRegion", "byAgent",
                            "byStage", "timeline", "thresholds", "thresholdFailures", "passed"}));
  const auto& f = json.fields();
  EXPECT_EQ(Keys(f.at("totals")),
            (std::set<std::string>{"requests", "errors", "errorRate", "throughputRps", "bytesSent",
                                   "bytesReceived", "late", "dropped"}));
  ExpectNumbers(f.at("totals"));
  EXPECT_EQ(Keys(f.at("latencyMs")), kLatencyKeys);
  ExpectNumbers(f.at("latencyMs"));

  const auto& regions = f.at("byRegion").struct_value();
  EXPECT_EQ(Keys(regions), (std::set<std::string>{"eastus", "westeurope"}));
  for (const auto& [name, region] : regions.fields()) {
    EXPECT_EQ(Keys(region), (std::set<std::string>{"agents", "requests", "errors", "throughputRps",
                                                   "latencyMs"}));
    EXPECT_EQ(Keys(Field(region, "latencyMs")), kLatencyKeys);
  }

  const auto& agents = f.at("byAgent").list_value().values();
  ASSERT_EQ(agents.size(), 3);
  for (const Value& agent : agents) {
    EXPECT_EQ(Keys(agent), (std::set<std::string>{"id", "name", "region", "state", "clockOffsetMs",
                                                  "clockUncertaintyMs", "requests", "errors",
                                                  "throughputRps", "latencyMs"}));
    ExpectNumbers(Field(agent, "latencyMs"));
  }

  const auto& stages = f.at("byStage").list_value().values();
  ASSERT_EQ(stages.size(), 2);
  EXPECT_EQ(Field(stages[1], "stage").number_value(), 1);
  EXPECT_EQ(Field(stages[1], "name").string_value(), "peak");
  EXPECT_EQ(Keys(stages[1]), (std::set<std::string>{"stage", "name", "load", "requests", "errors",
                                                    "throughputRps", "latencyMs", "serviceMs"}));

  const auto& timeline = f.at("timeline").list_value().values();
  ASSERT_EQ(timeline.size(), report.timeline_size());
  for (const Value& point : timeline) {
    EXPECT_EQ(Keys(point), (std::set<std::string>{"second", "time", "epochMs", "requests", "errors",
                                                  "throughputRps", "p50Ms", "p99Ms", "byRegion"}));
    // Absolute time as well as seconds since the start (kOrigin is 2023-11-14T22:13:20Z).
    const int64_t second = static_cast<int64_t>(Field(point, "second").number_value());
    EXPECT_EQ(Field(point, "epochMs").number_value(), kOrigin / 1'000'000 + 1000 * second);
    EXPECT_EQ(Field(point, "time").string_value(),
              absl::StrCat("2023-11-14T22:13:2", second, ".000Z"));
    for (const auto& [name, region] : Field(point, "byRegion").struct_value().fields()) {
      EXPECT_EQ(Keys(region),
                (std::set<std::string>{"requests", "errors", "throughputRps", "p50Ms", "p99Ms"}));
    }
  }
  EXPECT_EQ(f.at("byStatus").struct_value().fields().at("503").number_value(),
            report.totals().by_status().at(503));
  EXPECT_EQ(f.at("byError").struct_value().fields().at("http_5xx").number_value(),
            report.totals().errors());
}

TEST(ReportJsonTest, ValuesMatchTheReport) {
  const RunReport report = SampleReport();
  const Struct json = ParseJson(FormatReportJson(report));
  const auto& f = json.fields();
  EXPECT_EQ(f.at("runId").string_value(), "run-7");
  EXPECT_EQ(f.at("plan").string_value(), "checkout");
  EXPECT_EQ(f.at("state").string_value(), "finished");
  EXPECT_EQ(Field(f.at("totals"), "requests").number_value(), 450);
  EXPECT_EQ(Field(f.at("totals"), "errors").number_value(), report.totals().errors());
  EXPECT_NEAR(Field(f.at("totals"), "errorRate").number_value(),
              static_cast<double>(report.totals().errors()) / 450, 1e-6);
  const double span_s =
      static_cast<double>(report.totals().last_end_ns() - report.totals().first_start_ns()) / 1e9;
  EXPECT_NEAR(Field(f.at("totals"), "throughputRps").number_value(), 450 / span_s, 1e-3);
  // Latencies are in ms with 3 decimals, from the merged histogram.
  const Histogram h = *Histogram::FromProto(report.totals().latency());
  EXPECT_NEAR(Field(f.at("latencyMs"), "p99").number_value(), h.Percentile(99) / 1000, 0.0005);
  EXPECT_NEAR(Field(f.at("latencyMs"), "max").number_value(), h.max() / 1000, 0.0005);

  const Value& a2 = f.at("byAgent").list_value().values(1);
  EXPECT_EQ(Field(a2, "name").string_value(), "eastus-2");
  EXPECT_EQ(Field(a2, "clockOffsetMs").number_value(), 250);
  EXPECT_EQ(Field(a2, "clockUncertaintyMs").number_value(), 0.5);
  EXPECT_EQ(Field(f.at("byAgent").list_value().values(2), "state").string_value(), "lost");

  // A timeline second's throughput is its request count (the bucket is one second wide).
  const Value& second0 = f.at("timeline").list_value().values(0);
  EXPECT_EQ(Field(second0, "second").number_value(), 0);
  EXPECT_EQ(Field(second0, "throughputRps").number_value(), report.timeline(0).all().requests());

  EXPECT_FALSE(f.at("passed").bool_value());
  ASSERT_EQ(f.at("thresholdFailures").list_value().values_size(), 1);
  EXPECT_THAT(f.at("thresholdFailures").list_value().values(0).string_value(), StartsWith("p99 "));
  // Each threshold with its measured value, from the same merged histogram.
  ASSERT_EQ(f.at("thresholds").list_value().values_size(), 1);
  const Value& p99 = f.at("thresholds").list_value().values(0);
  EXPECT_EQ(Field(p99, "metric").string_value(), "p99");
  EXPECT_EQ(Field(p99, "limit").number_value(), 5);
  EXPECT_NEAR(Field(p99, "value").number_value(), h.Percentile(99) / 1000, 1e-6);
  EXPECT_FALSE(Field(p99, "passed").bool_value());

  // Bytes and service time travel with the counts; no send was late, so service = latency.
  EXPECT_EQ(Field(f.at("totals"), "bytesSent").number_value(), 450 * 100);
  EXPECT_EQ(Field(f.at("totals"), "bytesReceived").number_value(), 450 * 300);
  EXPECT_EQ(Field(f.at("serviceMs"), "p99").number_value(),
            Field(f.at("latencyMs"), "p99").number_value());
  EXPECT_EQ(Field(f.at("byStage").list_value().values(1), "serviceMs").struct_value().fields_size(),
            7);
}

TEST(ReportJsonTest, KeyOrderIsStable) {
  const std::string json = FormatReportJson(SampleReport());
  EXPECT_EQ(json, FormatReportJson(SampleReport()));
  // Documented order at the top, sorted map keys within.
  EXPECT_LT(json.find("\"runId\""), json.find("\"totals\""));
  EXPECT_LT(json.find("\"totals\""), json.find("\"byAgent\""));
  EXPECT_LT(json.find("\"timeline\""), json.find("\"passed\""));
  EXPECT_LT(json.find("\"eastus\""), json.find("\"westeurope\""));
}

TEST(ReportJsonTest, HostileStringsStayValidJson) {
  RunReport report = SampleReport();
  // Quotes, backslash, control characters, a lone invalid byte and valid UTF-8.
  report.mutable_by_agent(0)->mutable_agent()->set_name("we\"ird\\name\n\x01\xff caf\xc3\xa9");
  report.set_run_id("tab\there");
  const Struct json = ParseJson(FormatReportJson(report));
  EXPECT_EQ(Field(json.fields().at("byAgent").list_value().values(0), "name").string_value(),
            "we\"ird\\name\n\x01\xef\xbf\xbd caf\xc3\xa9");
  EXPECT_EQ(json.fields().at("runId").string_value(), "tab\there");
}

TEST(ReportJsonTest, InvalidHistogramIsNullNotACrash) {
  RunReport report = SampleReport();
  report.mutable_totals()->mutable_latency()->set_layout(77);
  report.mutable_by_region()->at("eastus").mutable_latency()->set_count(1);
  const Struct json = ParseJson(FormatReportJson(report));
  const Value& latency = json.fields().at("latencyMs");
  EXPECT_EQ(Field(latency, "p50").kind_case(), Value::kNullValue);
  ExpectNumbers(latency, /*nullable=*/true);
  EXPECT_EQ(Field(Field(json.fields().at("byRegion"), "eastus"), "latencyMs")
                .struct_value()
                .fields()
                .at("p99")
                .kind_case(),
            Value::kNullValue);
  // The other region still has its figures.
  EXPECT_EQ(Field(Field(json.fields().at("byRegion"), "westeurope"), "latencyMs")
                .struct_value()
                .fields()
                .at("p99")
                .kind_case(),
            Value::kNumberValue);
}

TEST(ReportJsonTest, EmptyReportIsValid) {
  const Struct json = ParseJson(FormatReportJson(RunReport()));
  EXPECT_EQ(Field(json.fields().at("totals"), "requests").number_value(), 0);
  EXPECT_EQ(Field(json.fields().at("totals"), "throughputRps").number_value(), 0);
  EXPECT_TRUE(json.fields().at("passed").bool_value());
  EXPECT_EQ(json.fields().at("timeline").list_value().values_size(), 0);
}

TEST(ReportCsvTest, HeaderThenOneRowPerSecondAndRegionPlusAll) {
  const RunReport report = SampleReport();
  const std::string csv = FormatReportCsv(report);
  std::vector<std::string> lines = absl::StrSplit(csv, '\n', absl::SkipEmpty());
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines[0],
            "second,region,requests,errors,throughput_rps,p50_ms,p90_ms,p99_ms,max_ms,time,"
            "epoch_ms");
  ASSERT_EQ(report.timeline_size(), 2);  // requests start from 0 to 1.99 s
  EXPECT_EQ(lines.size(), 1 + 2 * 3u);   // header, then all + 2 regions per second
  EXPECT_THAT(lines[1],
              StartsWith(absl::StrCat("0,all,", report.timeline(0).all().requests(), ",")));
  EXPECT_THAT(lines[2], StartsWith("0,eastus,"));
  EXPECT_THAT(lines[3], StartsWith("0,westeurope,"));
  for (size_t i = 1; i < lines.size(); ++i) {
    EXPECT_EQ(std::vector<std::string>(absl::StrSplit(lines[i], ',')).size(), 11u) << lines[i];
  }
  EXPECT_THAT(lines[4], HasSubstr(",2023-11-14T22:13:21.000Z,1700000001000"));
}

TEST(ReportCsvTest, QuotesOddRegionNamesAndMarksMissingLatency) {
  RunReport report;
  TimelinePoint* p = report.add_timeline();
  p->set_second(4);
  p->mutable_all()->set_requests(3);
  p->mutable_all()->mutable_latency()->set_layout(77);  // undecodable
  (*p->mutable_by_region())["us, \"east\""].set_requests(0);
  const std::string csv = FormatReportCsv(report);
  // No start instant: the wall-clock columns are empty.
  EXPECT_THAT(csv, HasSubstr("\n4,all,3,0,3.000,n/a,n/a,n/a,n/a,,\n"));
  EXPECT_THAT(csv, HasSubstr("\n4,\"us, \"\"east\"\"\",0,0,0.000,n/a,n/a,n/a,n/a,,\n"));
}

TEST(ReportCsvTest, EmptyReportIsJustTheHeader) {
  EXPECT_EQ(FormatReportCsv(RunReport()),
            "second,region,requests,errors,throughput_rps,p50_ms,p90_ms,p99_ms,max_ms,time,"
            "epoch_ms\n");
}

TEST(ReportTextTest, NamesRunRegionsAgentsAndStates) {
  const std::string text = FormatReportText(SampleReport());
  EXPECT_THAT(text, StartsWith("run run-7  plan checkout  state finished  duration 2.100s  "
                               "agents 3 (2 finished, 1 lost)\n"));
  for (const char* name :
       {"eastus", "westeurope", "eastus-1", "eastus-2", "westeu-1", "lost", "warm", "peak"}) {
    EXPECT_THAT(text, HasSubstr(name));
  }
  EXPECT_THAT(text, HasSubstr("+250.000±0.500"));
  EXPECT_THAT(text, HasSubstr("-3.000±1.000"));
  EXPECT_THAT(text, HasSubstr("latency ms: min "));
  EXPECT_THAT(text, HasSubstr("status: 200: "));
  EXPECT_THAT(text, HasSubstr("errors: http_5xx: "));
  EXPECT_THAT(text, HasSubstr("thresholds:\n"));
  EXPECT_THAT(text, ContainsRegex("\n  p99 +[0-9.]+ ms +> +[0-9.]+ ms +FAILED\n"));
  EXPECT_THAT(text, HasSubstr("verdict: FAILED\n"));
  EXPECT_THAT(text, Not(HasSubstr("n/a")));
  EXPECT_LT(text.find("eastus-1"), text.find("westeu-1"));
}

TEST(ReportTextTest, PassedThresholdsAndInvalidLatency) {
  RunReport report = SampleReport();
  report.clear_threshold_failures();
  report.mutable_totals()->mutable_latency()->add_run_length(3);  // counts no longer add up
  const std::string text = FormatReportText(report);
  EXPECT_THAT(text, HasSubstr("verdict: PASSED\n"));
  EXPECT_THAT(text, HasSubstr("latency ms: min n/a  mean n/a  p50 n/a"));
}

// A run on one machine (`stampede-agent run`) prints through the same report: no one-row region
// and agent tables repeating the totals, and the stage table with each stage's load.
TEST(ReportTextTest, OneAgentRunLeavesOutRegionAndAgentTables) {
  Plan plan;
  plan.set_name("single");
  Stage* stage = plan.add_stages();
  stage->set_concurrency(4);
  stage->set_ramp_to(16);
  plan.add_stages()->set_rate(250);
  RunAggregator aggregator("local", plan, kOrigin);
  const AgentMeta local = Agent("local", "local", "local", 0, 0);
  aggregator.AddBatch(local, Batch(local, 120, 0, 2000));
  RunReport report = aggregator.Report();
  report.set_state("finished");
  *report.mutable_plan() = plan;
  const std::string text = FormatReportText(report);
  EXPECT_THAT(text, HasSubstr("agents 1\n"));
  EXPECT_THAT(text, Not(HasSubstr("by region")));
  EXPECT_THAT(text, Not(HasSubstr("by agent")));
  EXPECT_THAT(text, HasSubstr("c=4->16"));
  EXPECT_THAT(text, HasSubstr("rate=250/s"));
  EXPECT_THAT(text, HasSubstr("requests 120 "));
}

TEST(ReportTextTest, EmptyReportRenders) {
  const std::string text = FormatReportText(RunReport());
  EXPECT_THAT(text, StartsWith("run -  plan -  state -  duration 0.000s  agents 0\n"));
  EXPECT_THAT(text, HasSubstr("latency ms: min n/a"));
  EXPECT_THAT(text, HasSubstr("thresholds: none set\nverdict: PASSED\n"));
}

// Each limit beside its measured value; the reasons that are not thresholds apart from them.
TEST(ReportTextTest, ThresholdsShowTheirMeasuredValuesAndAnAbortIsNotAThreshold) {
  RunReport report = SampleReport();
  report.clear_threshold_failures();
  report.mutable_plan()->mutable_thresholds()->Clear();
  report.mutable_plan()->mutable_thresholds()->set_p99_ms(100000);
  report.mutable_plan()->mutable_thresholds()->set_error_rate(0.5);
  std::string text = FormatReportText(report);
  EXPECT_THAT(text, ContainsRegex("\n  p99 +[0-9.]+ ms +<= +100000.000 ms +ok\n"));
  EXPECT_THAT(text, ContainsRegex("\n  error rate +[0-9.]+% +<= +50.00% +ok\n"));
  EXPECT_THAT(text, HasSubstr("verdict: PASSED\n"));

  // Aborted, no thresholds: says so, and the abort is the reason, not a threshold.
  report.mutable_plan()->clear_thresholds();
  report.set_state("aborted");
  report.add_threshold_failures("run aborted");
  text = FormatReportText(report);
  EXPECT_THAT(text, HasSubstr("thresholds: none set\nnot passed: run aborted\nverdict: FAILED\n"));
}

// The by-agent table fits a 120-column terminal: the name once, the id only when it differs.
TEST(ReportTextTest, AgentTableFitsInOneHundredTwentyColumns) {
  RunReport report = SampleReport();
  for (auto& a : *report.mutable_by_agent()) a.mutable_agent()->set_name(a.agent().id());
  const std::string text = FormatReportText(report);
  const size_t from = text.find("by agent\n");
  ASSERT_NE(from, std::string::npos);
  const size_t to = text.find("\n\n", from);
  for (absl::string_view line :
       absl::StrSplit(absl::string_view(text).substr(from, to - from), '\n')) {
    EXPECT_LE(line.size(), 120u) << line;
  }
  EXPECT_THAT(text.substr(from, to - from), Not(HasSubstr(" id ")));
}

}  // namespace
}  // namespace stampede
