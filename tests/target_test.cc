// Tests for stampede-target: the replica model, service times and flag parsing in-process, then
// the real binary over loopback HTTP (routes, auth, keep-alive, capacity, 503s, faults, stall,
// bad flags, signals).
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "target/flags.h"
#include "target/replica_model.h"
#include "target/service_time.h"
#include "tests/support/process.h"

namespace stampede::target {
namespace {

using ::stampede::testing::BinPath;
using ::stampede::testing::ChildProcess;
using ::stampede::testing::RunCommand;
using ::stampede::testing::StartTarget;
using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------------------------------------
// ReplicaModel

TEST(ReplicaModelTest, StartsUntilSlotsAreBusyThenQueuesThenRejects) {
  ReplicaModel model(/*replicas=*/1, /*concurrency=*/2, /*queue=*/1);
  EXPECT_EQ(model.Admit(1).outcome, ReplicaModel::Outcome::kStarted);
  EXPECT_EQ(model.Admit(2).outcome, ReplicaModel::Outcome::kStarted);
  EXPECT_EQ(model.Admit(3).outcome, ReplicaModel::Outcome::kQueued);
  ReplicaModel::Admission rejected = model.Admit(4);
  EXPECT_EQ(rejected.outcome, ReplicaModel::Outcome::kRejected);
  EXPECT_EQ(rejected.replica, -1);
  EXPECT_EQ(model.in_service(0), 2);
  EXPECT_EQ(model.queued(0), 1);
  EXPECT_EQ(model.in_flight(), 3);
  EXPECT_EQ(model.capacity(), 3);
}

TEST(ReplicaModelTest, ZeroQueueRejectsAsSoonAsSlotsAreBusy) {
  ReplicaModel model(1, 1, 0);
  EXPECT_EQ(model.Admit(1).outcome, ReplicaModel::Outcome::kStarted);
  EXPECT_EQ(model.Admit(2).outcome, ReplicaModel::Outcome::kRejected);
  EXPECT_EQ(model.Complete(0), std::nullopt);
  EXPECT_EQ(model.Admit(3).outcome, ReplicaModel::Outcome::kStarted);
}

TEST(ReplicaModelTest, PicksTheLeastLoadedReplica) {
  ReplicaModel model(3, 2, 4);
  // Light load spreads over all replicas rather than piling onto replica 0.
  std::vector<int> first;
  for (uint64_t id = 0; id < 3; ++id) first.push_back(model.Admit(id).replica);
  std::sort(first.begin(), first.end());
  EXPECT_EQ(first, (std::vector<int>{0, 1, 2}));
  // Free replica 1: the next request must land there, whatever the tie rotation says.
  EXPECT_EQ(model.Complete(1), std::nullopt);
  EXPECT_EQ(model.Admit(10).replica, 1);
  // Fill everything: 3 replicas * (2 + 4) = 18 in flight, then rejections.
  for (uint64_t id = 100; model.in_flight() < 18; ++id) {
    ASSERT_NE(model.Admit(id).outcome, ReplicaModel::Outcome::kRejected);
  }
  for (int r = 0; r < 3; ++r) {
    EXPECT_EQ(model.in_service(r), 2);
    EXPECT_EQ(model.queued(r), 4);
  }
  EXPECT_EQ(model.Admit(999).outcome, ReplicaModel::Outcome::kRejected);
}

TEST(ReplicaModelTest, CompletionHandsTheSlotToTheQueueHeadInFifoOrder) {
  ReplicaModel model(1, 1, 3);
  ASSERT_EQ(model.Admit(7).outcome, ReplicaModel::Outcome::kStarted);
  ASSERT_EQ(model.Admit(8).outcome, ReplicaModel::Outcome::kQueued);
  ASSERT_EQ(model.Admit(9).outcome, ReplicaModel::Outcome::kQueued);
  EXPECT_EQ(model.Complete(0), std::optional<uint64_t>(8));
  EXPECT_EQ(model.in_service(0), 1);  // the slot passed on, never freed
  EXPECT_EQ(model.Complete(0), std::optional<uint64_t>(9));
  EXPECT_EQ(model.Complete(0), std::nullopt);
  EXPECT_EQ(model.in_service(0), 0);
  EXPECT_EQ(model.in_flight(), 0);
}

TEST(ReplicaModelTest, TracksInFlightAndItsMaximum) {
  ReplicaModel model(2, 1, 1);
  for (uint64_t id = 0; id < 10; ++id) model.Admit(id);  // 4 admitted, 6 rejected
  EXPECT_EQ(model.in_flight(), 4);
  EXPECT_EQ(model.max_in_flight(), 4);
  model.Complete(0);
  model.Complete(0);
  EXPECT_EQ(model.in_flight(), 2);
  EXPECT_EQ(model.max_in_flight(), 4);
}

// ---------------------------------------------------------------------------------------------
// ServiceTimeSampler

TEST(ServiceTimeTest, FixedIsExactAndZeroStaysZero) {
  std::mt19937_64 rng(1);
  ServiceTimeSampler fixed(ServiceDist::kFixed, 12.5, 0.5);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(fixed.Sample(rng), 12.5);
  ServiceTimeSampler zero(ServiceDist::kLognormal, 0, 0.5);
  EXPECT_EQ(zero.Sample(rng), 0);
}

TEST(ServiceTimeTest, UniformStaysWithinJitterAroundTheMean) {
  std::mt19937_64 rng(2);
  ServiceTimeSampler uniform(ServiceDist::kUniform, 10, 0.2);
  double sum = 0;
  constexpr int kN = 20000;
  for (int i = 0; i < kN; ++i) {
    double ms = uniform.Sample(rng);
    ASSERT_GE(ms, 8.0);
    ASSERT_LE(ms, 12.0);
    sum += ms;
  }
  EXPECT_NEAR(sum / kN, 10, 0.1);
}

TEST(ServiceTimeTest, LognormalKeepsTheMeanAndHasATail) {
  std::mt19937_64 rng(3);
  ServiceTimeSampler lognormal(ServiceDist::kLognormal, 10, 0.5);
  std::vector<double> samples(50000);
  for (double& s : samples) s = lognormal.Sample(rng);
  double mean = 0;
  for (double s : samples) mean += s / samples.size();
  std::sort(samples.begin(), samples.end());
  EXPECT_NEAR(mean, 10, 0.3);
  // Median exp(mu) = 10 * exp(-sigma^2 / 2) ~= 8.82; p99 far above the mean.
  EXPECT_NEAR(samples[samples.size() / 2], 8.82, 0.3);
  EXPECT_GT(samples[samples.size() * 99 / 100], 25);
}

// ---------------------------------------------------------------------------------------------
// Flags

absl::StatusOr<TargetOptions> Parse(std::vector<absl::string_view> args) {
  return ParseTargetFlags(args);
}

TEST(TargetFlagsTest, Defaults) {
  auto opts = Parse({});
  ASSERT_TRUE(opts.ok()) << opts.status();
  EXPECT_EQ(opts->host, "127.0.0.1");
  EXPECT_EQ(opts->replicas, 1);
  EXPECT_EQ(opts->concurrency, 1);
  EXPECT_EQ(opts->queue, 8);
  EXPECT_EQ(opts->service_ms, 10);
  EXPECT_EQ(opts->service_dist, ServiceDist::kFixed);
  EXPECT_EQ(opts->threads, 1);
  EXPECT_TRUE(opts->key.empty());
  EXPECT_FALSE(opts->seed.has_value());
  EXPECT_FALSE(opts->help);
}

TEST(TargetFlagsTest, ParsesEveryFlagInBothForms) {
  auto opts = Parse({"--host",
                     "::1",
                     "--port=9000",
                     "--replicas",
                     "3",
                     "--concurrency=4",
                     "--queue",
                     "0",
                     "--service-ms",
                     "2.5",
                     "--service-dist=lognormal",
                     "--jitter",
                     "1.5",
                     "--key",
                     "k1",
                     "--fail-rate",
                     "0.25",
                     "--stall-after",
                     "5",
                     "--stall-ms=100",
                     "--threads",
                     "2",
                     "--seed",
                     "42"});
  ASSERT_TRUE(opts.ok()) << opts.status();
  EXPECT_EQ(opts->host, "::1");
  EXPECT_EQ(opts->port, 9000);
  EXPECT_EQ(opts->replicas, 3);
  EXPECT_EQ(opts->concurrency, 4);
  EXPECT_EQ(opts->queue, 0);
  EXPECT_EQ(opts->service_ms, 2.5);
  EXPECT_EQ(opts->service_dist, ServiceDist::kLognormal);
  EXPECT_EQ(opts->jitter, 1.5);
  EXPECT_EQ(opts->key, "k1");
  EXPECT_EQ(opts->fail_rate, 0.25);
  EXPECT_EQ(opts->stall_after, 5);
  EXPECT_EQ(opts->stall_ms, 100);
  EXPECT_EQ(opts->threads, 2);
  EXPECT_EQ(opts->seed, std::optional<uint64_t>(42));
}

TEST(TargetFlagsTest, ErrorsNameTheFlag) {
  const std::vector<std::pair<std::vector<absl::string_view>, std::string>> cases = {
      {{"--replicas", "0"}, "--replicas"},
      {{"--concurrency", "-2"}, "--concurrency"},
      {{"--queue", "many"}, "--queue"},
      {{"--service-ms", "-1"}, "--service-ms"},
      {{"--service-ms", "nan"}, "--service-ms"},
      {{"--service-dist", "gamma"}, "--service-dist"},
      {{"--service-dist", "uniform", "--jitter", "1.5"}, "--jitter"},
      {{"--port", "x"}, "--port"},
      {{"--port", "70000"}, "--port"},
      {{"--port"}, "--port"},
      {{"--fail-rate", "1.5"}, "--fail-rate"},
      {{"--stall-after", "3"}, "--stall-after"},
      {{"--threads", "0"}, "--threads"},
      {{"--seed", "-1"}, "--seed"},
      {{"--key="}, "--key"},
      {{"--bogus", "1"}, "--bogus"},
      {{"stray"}, "stray"},
  };
  for (const auto& [args, flag] : cases) {
    auto opts = Parse(args);
    ASSERT_FALSE(opts.ok()) << flag;
    EXPECT_EQ(opts.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(opts.status().message()), HasSubstr(flag));
  }
}

// ---------------------------------------------------------------------------------------------
// A tiny blocking HTTP/1.1 client over a loopback socket, with keep-alive.

struct HttpResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  // Case-insensitive lookup; empty when absent.
  std::string Header(absl::string_view name) const {
    for (const auto& [k, v] : headers) {
      if (absl::EqualsIgnoreCase(k, name)) return v;
    }
    return "";
  }
};

class HttpClient {
 public:
  explicit HttpClient(int port) : port_(port) {}
  ~HttpClient() { Close(); }
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends one request on the open connection (connecting first if needed) and reads the reply.
  absl::StatusOr<HttpResponse> Send(absl::string_view method, absl::string_view path,
                                    absl::string_view body = "",
                                    const std::vector<std::string>& headers = {}) {
    if (fd_ < 0) {
      if (absl::Status s = Connect(); !s.ok()) return s;
      ++connects_;
    }
    std::string req = absl::StrCat(method, " ", path, " HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for (const auto& h : headers) absl::StrAppend(&req, h, "\r\n");
    if (method == "POST" || !body.empty()) {
      absl::StrAppend(&req, "Content-Type: application/json\r\nContent-Length: ", body.size(),
                      "\r\n");
    }
    absl::StrAppend(&req, "\r\n", body);
    if (absl::Status s = WriteAll(req); !s.ok()) return Fail(s);

    size_t header_end;
    while ((header_end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (absl::Status s = ReadMore(); !s.ok()) return Fail(s);
    }
    HttpResponse resp;
    std::vector<std::string> lines = absl::StrSplit(buf_.substr(0, header_end), "\r\n");
    std::vector<std::string> status_line = absl::StrSplit(lines[0], absl::MaxSplits(' ', 2));
    if (status_line.size() < 2 || !absl::SimpleAtoi(status_line[1], &resp.status)) {
      return Fail(absl::InternalError(absl::StrCat("bad status line: ", lines[0])));
    }
    size_t content_length = 0;
    for (size_t i = 1; i < lines.size(); ++i) {
      size_t colon = lines[i].find(':');
      if (colon == std::string::npos) continue;
      std::string name = lines[i].substr(0, colon);
      std::string value(absl::StripAsciiWhitespace(lines[i].substr(colon + 1)));
      if (absl::EqualsIgnoreCase(name, "Content-Length")) {
        absl::SimpleAtoi(value, &content_length);
      }
      resp.headers.emplace_back(std::move(name), std::move(value));
    }
    const size_t total = header_end + 4 + content_length;
    while (buf_.size() < total) {
      if (absl::Status s = ReadMore(); !s.ok()) return Fail(s);
    }
    resp.body = buf_.substr(header_end + 4, content_length);
    buf_.erase(0, total);
    if (absl::EqualsIgnoreCase(resp.Header("Connection"), "close")) Close();
    return resp;
  }

  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
    buf_.clear();
  }
  bool connected() const { return fd_ >= 0; }
  // TCP connections opened so far: keep-alive means this stays at 1.
  int connects() const { return connects_; }

 private:
  absl::Status Connect() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return absl::InternalError("socket failed");
    timeval tv{10, 0};  // a hung server fails the test instead of hanging it
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port_));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      absl::Status s = absl::UnavailableError(absl::StrCat("connect: ", std::strerror(errno)));
      Close();
      return s;
    }
    return absl::OkStatus();
  }

  absl::Status WriteAll(absl::string_view data) {
    while (!data.empty()) {
      ssize_t n = send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return absl::UnavailableError(absl::StrCat("send: ", std::strerror(errno)));
      data.remove_prefix(static_cast<size_t>(n));
    }
    return absl::OkStatus();
  }

  absl::Status ReadMore() {
    char chunk[16384];
    while (true) {
      ssize_t n = recv(fd_, chunk, sizeof(chunk), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n == 0) return absl::UnavailableError("connection closed by server");
      if (n < 0) return absl::UnavailableError(absl::StrCat("recv: ", std::strerror(errno)));
      buf_.append(chunk, static_cast<size_t>(n));
      return absl::OkStatus();
    }
  }

  absl::Status Fail(absl::Status s) {
    Close();
    return s;
  }

  int port_;
  int fd_ = -1;
  int connects_ = 0;
  std::string buf_;
};

// The number after "key": in a flat JSON object; NaN when absent.
double JsonNumber(const std::string& json, absl::string_view key) {
  const std::string needle = absl::StrCat("\"", key, "\":");
  size_t at = json.find(needle);
  if (at == std::string::npos) return std::nan("");
  return std::strtod(json.c_str() + at + needle.size(), nullptr);
}

double StatsValue(int port, absl::string_view key) {
  HttpClient client(port);
  auto resp = client.Send("GET", "/stats");
  if (!resp.ok() || resp->status != 200) return std::nan("");
  return JsonNumber(resp->body, key);
}

double ElapsedMs(Clock::time_point since) {
  return std::chrono::duration<double, std::milli>(Clock::now() - since).count();
}

const std::string kBody = R"({"inputs":[[0.1,0.2,0.3,0.4]]})";

// ---------------------------------------------------------------------------------------------
// The binary: routes, auth, keep-alive

TEST(TargetHttpTest, RoutesHealthzScoreNotFoundAndMethodNotAllowed) {
  int port = 0;
  auto target = StartTarget({"--service-ms", "1"}, &port);
  ASSERT_TRUE(target.ok()) << target.status();
  HttpClient client(port);

  auto health = client.Send("GET", "/healthz");
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(health->body, "ok");

  auto score = client.Send("POST", "/score", kBody);
  ASSERT_TRUE(score.ok()) << score.status();
  EXPECT_EQ(score->status, 200);
  EXPECT_EQ(score->Header("Content-Type"), "application/json");
  EXPECT_THAT(score->body, HasSubstr("\"score\":"));
  const double value = JsonNumber(score->body, "score");
  EXPECT_GE(value, 0);
  EXPECT_LT(value, 1);
  EXPECT_EQ(JsonNumber(score->body, "replica"), 0);
  EXPECT_NEAR(JsonNumber(score->body, "serviceMs"), 1, 1e-9);

  // A query string does not change the route.
  auto with_query = client.Send("POST", "/score?model=a", kBody);
  ASSERT_TRUE(with_query.ok()) << with_query.status();
  EXPECT_EQ(with_query->status, 200);

  auto missing = client.Send("POST", "/predict", kBody);
  ASSERT_TRUE(missing.ok()) << missing.status();
  EXPECT_EQ(missing->status, 404);

  auto get_score = client.Send("GET", "/score");
  ASSERT_TRUE(get_score.ok()) << get_score.status();
  EXPECT_EQ(get_score->status, 405);
  EXPECT_EQ(get_score->Header("Allow"), "POST");
  auto put_score = client.Send("PUT", "/score", kBody);
  ASSERT_TRUE(put_score.ok()) << put_score.status();
  EXPECT_EQ(put_score->status, 405);

  auto stats = client.Send("GET", "/stats");
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->status, 200);
  EXPECT_EQ(JsonNumber(stats->body, "requests"), 2);
  EXPECT_EQ(JsonNumber(stats->body, "ok"), 2);
  EXPECT_EQ(JsonNumber(stats->body, "notFound404"), 1);
  EXPECT_EQ(JsonNumber(stats->body, "methodNotAllowed405"), 2);
  EXPECT_EQ(JsonNumber(stats->body, "bodyBytes"), 2.0 * kBody.size());
  // Everything above went over one keep-alive connection.
  EXPECT_EQ(client.connects(), 1);
}

TEST(TargetHttpTest, KeyIsRequiredWhenGiven) {
  int port = 0;
  auto target = StartTarget({"--service-ms", "0", "--key", "s3cret"}, &port);
  ASSERT_TRUE(target.ok()) << target.status();
  HttpClient client(port);

  auto none = client.Send("POST", "/score", kBody);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(none->status, 401);
  EXPECT_EQ(none->Header("Content-Type"), "application/json");
  EXPECT_THAT(none->body, HasSubstr("\"error\""));

  auto wrong = client.Send("POST", "/score", kBody, {"Authorization: Bearer s3cre7"});
  ASSERT_TRUE(wrong.ok()) << wrong.status();
  EXPECT_EQ(wrong->status, 401);
  auto not_bearer = client.Send("POST", "/score", kBody, {"Authorization: s3cret"});
  ASSERT_TRUE(not_bearer.ok()) << not_bearer.status();
  EXPECT_EQ(not_bearer->status, 401);

  auto right = client.Send("POST", "/score", kBody, {"Authorization: Bearer s3cret"});
  ASSERT_TRUE(right.ok()) << right.status();
  EXPECT_EQ(right->status, 200);
  EXPECT_THAT(right->body, HasSubstr("\"score\":"));

  // Health checks need no key.
  auto health = client.Send("GET", "/healthz");
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(StatsValue(port, "unauthorized401"), 3);
  EXPECT_EQ(client.connects(), 1);
}

TEST(TargetHttpTest, ErrorResponsesKeepTheConnectionAlive) {
  int port = 0;
  // One slot, no queue, a long service time: a second request is rejected at once.
  auto target = StartTarget(
      {"--replicas", "1", "--concurrency", "1", "--queue", "0", "--service-ms", "400"}, &port);
  ASSERT_TRUE(target.ok()) << target.status();

  std::thread busy([port] {
    HttpClient holder(port);
    auto resp = holder.Send("POST", "/score", kBody);
    EXPECT_TRUE(resp.ok() && resp->status == 200);
  });
  // Poll (bounded) until the slot is taken.
  for (int i = 0; i < 500 && StatsValue(port, "inFlight") != 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ASSERT_EQ(StatsValue(port, "inFlight"), 1);

  HttpClient client(port);
  auto rejected = client.Send("POST", "/score", kBody);
  ASSERT_TRUE(rejected.ok()) << rejected.status();
  EXPECT_EQ(rejected->status, 503);
  EXPECT_EQ(rejected->body, R"({"error":"overloaded"})");
  EXPECT_NE(absl::AsciiStrToLower(rejected->Header("Connection")), "close");
  auto not_found = client.Send("GET", "/nope");
  ASSERT_TRUE(not_found.ok()) << not_found.status();
  EXPECT_EQ(not_found->status, 404);
  auto health = client.Send("GET", "/healthz");
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(client.connects(), 1);
  busy.join();

  // 500s and 401s keep the connection too.
  int fail_port = 0;
  auto failing = StartTarget({"--service-ms", "0", "--fail-rate", "1", "--key", "k"}, &fail_port);
  ASSERT_TRUE(failing.ok()) << failing.status();
  HttpClient fail_client(fail_port);
  for (int i = 0; i < 3; ++i) {
    auto unauthorized = fail_client.Send("POST", "/score", kBody);
    ASSERT_TRUE(unauthorized.ok()) << unauthorized.status();
    EXPECT_EQ(unauthorized->status, 401);
    auto failed = fail_client.Send("POST", "/score", kBody, {"Authorization: Bearer k"});
    ASSERT_TRUE(failed.ok()) << failed.status();
    EXPECT_EQ(failed->status, 500);
    EXPECT_EQ(failed->Header("Content-Type"), "application/json");
    EXPECT_NE(absl::AsciiStrToLower(failed->Header("Connection")), "close");
  }
  EXPECT_EQ(fail_client.connects(), 1);
}

// ---------------------------------------------------------------------------------------------
// Capacity: closed-loop clients against R replicas * C slots / service time

struct LoadResult {
  int64_t ok_in_window = 0;
  int64_t ok = 0;
  int64_t rejected = 0;
  int64_t other = 0;
  int64_t errors = 0;
  double window_s = 0;
  double Throughput() const { return ok_in_window / window_s; }
};

// Shown in the test log so that a drift towards the tolerance is visible before it fails.
void PrintLoad(const LoadResult& r) {
  std::printf("  throughput %.1f req/s; ok %lld, 503 %lld, other %lld, errors %lld\n",
              r.Throughput(), static_cast<long long>(r.ok), static_cast<long long>(r.rejected),
              static_cast<long long>(r.other), static_cast<long long>(r.errors));
}

// `clients` threads, each one keep-alive connection sending POST /score back to back until
// warmup + measure has passed; throughput counts 200s completed inside the measure window.
LoadResult RunClosedLoop(int port, int clients, std::chrono::milliseconds warmup,
                         std::chrono::milliseconds measure) {
  const Clock::time_point start = Clock::now();
  const Clock::time_point window_begin = start + warmup;
  const Clock::time_point window_end = window_begin + measure;
  std::atomic<int64_t> ok_in_window{0}, ok{0}, rejected{0}, other{0}, errors{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&] {
      HttpClient client(port);
      // The error bound keeps a broken server from spinning the loop for the whole window.
      int local_errors = 0;
      while (Clock::now() < window_end && local_errors < 100) {
        auto resp = client.Send("POST", "/score", kBody);
        const Clock::time_point done = Clock::now();
        if (!resp.ok()) {
          ++errors;
          ++local_errors;
        } else if (resp->status == 200) {
          ++ok;
          if (done >= window_begin && done < window_end) ++ok_in_window;
        } else if (resp->status == 503) {
          ++rejected;
        } else {
          ++other;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  LoadResult result;
  result.ok_in_window = ok_in_window;
  result.ok = ok;
  result.rejected = rejected;
  result.other = other;
  result.errors = errors;
  result.window_s = std::chrono::duration<double>(measure).count();
  return result;
}

TEST(TargetCapacityTest, ThroughputIsReplicasTimesConcurrencyOverServiceTime) {
  int port = 0;
  // Capacity 2 * 4 / 20 ms = 400 requests/s; the queue (2 * 16) holds all 32 clients.
  auto target = StartTarget(
      {"--replicas", "2", "--concurrency", "4", "--service-ms", "20", "--queue", "16"}, &port);
  ASSERT_TRUE(target.ok()) << target.status();
  LoadResult r =
      RunClosedLoop(port, 32, std::chrono::milliseconds(300), std::chrono::milliseconds(2000));
  PrintLoad(r);
  EXPECT_EQ(r.errors, 0);
  EXPECT_EQ(r.rejected, 0);
  EXPECT_EQ(r.other, 0);
  EXPECT_NEAR(r.Throughput(), 400, 40) << r.ok_in_window << " in " << r.window_s << " s";
  EXPECT_EQ(StatsValue(port, "maxInFlight"), 32);
  EXPECT_EQ(StatsValue(port, "inFlight"), 0);
}

TEST(TargetCapacityTest, SmallQueueRejectsAndBoundsInFlight) {
  int port = 0;
  auto target = StartTarget(
      {"--replicas", "2", "--concurrency", "4", "--service-ms", "20", "--queue", "2"}, &port);
  ASSERT_TRUE(target.ok()) << target.status();
  // 32 clients against room for 2 * (4 + 2) = 12: the other 20 are turned away.
  LoadResult r =
      RunClosedLoop(port, 32, std::chrono::milliseconds(0), std::chrono::milliseconds(1000));
  PrintLoad(r);
  EXPECT_EQ(r.errors, 0);
  EXPECT_EQ(r.other, 0);
  EXPECT_GT(r.rejected, 0);
  EXPECT_GT(r.ok, 0);
  EXPECT_LE(StatsValue(port, "maxInFlight"), 12);
  EXPECT_EQ(StatsValue(port, "rejected503"), r.rejected);
  EXPECT_EQ(StatsValue(port, "ok"), r.ok);
}

TEST(TargetCapacityTest, NoRejectionsWhileClientsFitTheSlots) {
  int port = 0;
  auto target = StartTarget(
      {"--replicas", "2", "--concurrency", "4", "--service-ms", "20", "--queue", "0"}, &port);
  ASSERT_TRUE(target.ok()) << target.status();
  // 8 clients = R * C: a slot is always free when a request arrives, even with no queue.
  LoadResult r =
      RunClosedLoop(port, 8, std::chrono::milliseconds(0), std::chrono::milliseconds(1000));
  PrintLoad(r);
  EXPECT_EQ(r.errors, 0);
  EXPECT_EQ(r.rejected, 0);
  EXPECT_EQ(r.other, 0);
  EXPECT_GT(r.ok, 0);
  EXPECT_LE(StatsValue(port, "maxInFlight"), 8);
}

TEST(TargetCapacityTest, SeveralEventLoopsShareOneModel) {
  int port = 0;
  auto target = StartTarget({"--threads", "2", "--replicas", "2", "--concurrency", "4",
                             "--service-ms", "20", "--queue", "16"},
                            &port);
  ASSERT_TRUE(target.ok()) << target.status();
  LoadResult r =
      RunClosedLoop(port, 32, std::chrono::milliseconds(300), std::chrono::milliseconds(1500));
  PrintLoad(r);
  EXPECT_EQ(r.errors, 0);
  EXPECT_EQ(r.rejected, 0);
  EXPECT_EQ(r.other, 0);
  EXPECT_NEAR(r.Throughput(), 400, 40) << r.ok_in_window << " in " << r.window_s << " s";
  EXPECT_LE(StatsValue(port, "maxInFlight"), 36);
  EXPECT_EQ(StatsValue(port, "inFlight"), 0);
}

// ---------------------------------------------------------------------------------------------
// Faults

TEST(TargetFaultTest, FailRateGivesThatShareOf500s) {
  int port = 0;
  auto target = StartTarget({"--service-ms", "0", "--fail-rate", "0.5", "--seed", "7"}, &port);
  ASSERT_TRUE(target.ok()) << target.status();
  HttpClient client(port);
  constexpr int kN = 400;
  int failed = 0;
  for (int i = 0; i < kN; ++i) {
    auto resp = client.Send("POST", "/score", kBody);
    ASSERT_TRUE(resp.ok()) << resp.status();
    ASSERT_TRUE(resp->status == 200 || resp->status == 500) << resp->status;
    if (resp->status == 500) {
      ++failed;
      EXPECT_THAT(resp->body, HasSubstr("\"error\""));
    }
  }
  // Binomial(400, 0.5): sd = 10; 5 sd either side.
  EXPECT_GE(failed, 150);
  EXPECT_LE(failed, 250);
  EXPECT_EQ(StatsValue(port, "failed500"), failed);
  EXPECT_EQ(client.connects(), 1);
}

TEST(TargetFaultTest, StallHoldsResponsesThenResumes) {
  int port = 0;
  auto target =
      StartTarget({"--service-ms", "1", "--stall-after", "5", "--stall-ms", "500"}, &port);
  ASSERT_TRUE(target.ok()) << target.status();
  HttpClient client(port);
  for (int i = 1; i <= 5; ++i) {
    const Clock::time_point t0 = Clock::now();
    auto resp = client.Send("POST", "/score", kBody);
    ASSERT_TRUE(resp.ok()) << resp.status();
    EXPECT_EQ(resp->status, 200);
    EXPECT_LT(ElapsedMs(t0), 200) << "request " << i;
  }

  // The 6th request starts the stall; while it is held, /stats (never stalled) says so.
  std::atomic<double> sixth_ms{0};
  std::thread sixth([&] {
    const Clock::time_point t0 = Clock::now();
    auto resp = client.Send("POST", "/score", kBody);
    EXPECT_TRUE(resp.ok() && resp->status == 200);
    sixth_ms = ElapsedMs(t0);
  });
  bool saw_stall = false;
  for (int i = 0; i < 200 && !saw_stall; ++i) {
    saw_stall = StatsValue(port, "held") == 1;
    if (!saw_stall) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_TRUE(saw_stall);
  // Other connections are held too.
  HttpClient other(port);
  const Clock::time_point t_other = Clock::now();
  auto other_resp = other.Send("POST", "/score", kBody);
  ASSERT_TRUE(other_resp.ok()) << other_resp.status();
  EXPECT_EQ(other_resp->status, 200);
  sixth.join();
  EXPECT_GE(sixth_ms.load(), 450);
  EXPECT_LT(sixth_ms.load(), 2000);
  if (saw_stall) {
    EXPECT_GE(ElapsedMs(t_other), 100);
  }

  // The stall happens once: afterwards requests are fast again.
  const Clock::time_point t0 = Clock::now();
  auto after = client.Send("POST", "/score", kBody);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->status, 200);
  EXPECT_LT(ElapsedMs(t0), 200);
  EXPECT_EQ(StatsValue(port, "held"), 0);
}

// ---------------------------------------------------------------------------------------------
// Process behaviour

TEST(TargetProcessTest, BadFlagsExitWithCode2NamingTheFlag) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--replicas", "0"}, "--replicas"},
      {{"--service-ms", "-1"}, "--service-ms"},
      {{"--port", "x"}, "--port"},
      {{"--no-such-flag"}, "--no-such-flag"},
      {{"--service-dist", "pareto"}, "--service-dist"},
  };
  for (const auto& [flags, name] : cases) {
    std::vector<std::string> argv = {BinPath("stampede-target")};
    argv.insert(argv.end(), flags.begin(), flags.end());
    auto run = RunCommand(argv, {}, std::chrono::seconds(10));
    ASSERT_TRUE(run.ok()) << run.status();
    EXPECT_EQ(run->exit_code, 2) << name << ": " << run->output;
    EXPECT_THAT(run->output, HasSubstr(name));
  }
}

TEST(TargetProcessTest, HelpPrintsUsage) {
  auto run = RunCommand({BinPath("stampede-target"), "--help"}, {}, std::chrono::seconds(10));
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->exit_code, 0);
  EXPECT_THAT(run->output, HasSubstr("--replicas"));
  EXPECT_THAT(run->output, HasSubstr("--stall-after"));
}

TEST(TargetProcessTest, PortInUseFailsWithExitCode1) {
  int port = 0;
  auto first = StartTarget({}, &port);
  ASSERT_TRUE(first.ok()) << first.status();
  auto run = RunCommand({BinPath("stampede-target"), "--port", std::to_string(port)}, {},
                        std::chrono::seconds(10));
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->exit_code, 1) << run->output;
  EXPECT_THAT(run->output, HasSubstr("cannot listen"));
}

TEST(TargetProcessTest, SigtermAndSigintExitCleanlyWithRequestsInFlight) {
  for (int sig : {SIGTERM, SIGINT}) {
    for (const char* threads : {"1", "3"}) {
      int port = 0;
      auto target = StartTarget({"--threads", threads, "--service-ms", "5000"}, &port);
      ASSERT_TRUE(target.ok()) << target.status();
      // A request stuck in service must not keep the process alive.
      std::thread pending([port] {
        HttpClient client(port);
        (void)client.Send("POST", "/score", kBody);
      });
      for (int i = 0; i < 500 && StatsValue(port, "inFlight") != 1; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
      EXPECT_EQ(StatsValue(port, "inFlight"), 1);
      target->Signal(sig);
      auto code = target->Wait(std::chrono::seconds(10));
      ASSERT_TRUE(code.ok()) << code.status();
      EXPECT_EQ(*code, 0) << "signal " << sig << ", threads " << threads << "\n"
                          << target->output();
      pending.join();
    }
  }
}

}  // namespace
}  // namespace stampede::target
