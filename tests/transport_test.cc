// The transport seam on its own: which transport a target gets, and the contract both
// implementations keep with the worker (agent/transport.h), driven by a minimal epoll loop the
// way Worker::Run drives them: Done exactly once per request, never from inside Start, aborts
// as ERROR_ABORTED, and no socket registered under the worker's own epoll tag.
#include "agent/transport.h"

#include <gtest/gtest.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/transport_factory.h"
#include "common/clock.h"
#include "tests/support/bad_server.h"

namespace stampede {
namespace {

using testing::BadServer;
using testing::Misbehaviour;

Target TargetFor(const std::string& url) {
  Target t;
  t.set_url(url);
  t.set_method("POST");
  t.mutable_timeout()->set_seconds(5);
  t.add_resolved_payloads("{\"x\":1}");
  return t;
}

absl::StatusOr<TransportKind> KindFor(const Target& target) {
  auto factory = ChooseTransport(target);
  if (!factory.ok()) return factory.status();
  return (*factory)->kind();
}

TEST(ChooseTransport, PlainHttp11IsNative) {
  EXPECT_EQ(KindFor(TargetFor("http://127.0.0.1:8080/score")).value(), TransportKind::kHttp1);
  Target explicit_11 = TargetFor("HTTP://127.0.0.1:8080/score");
  explicit_11.set_http_version("1.1");
  EXPECT_EQ(KindFor(explicit_11).value(), TransportKind::kHttp1);
  EXPECT_EQ(KindFor(TargetFor("http://localhost/score")).value(), TransportKind::kHttp1);
}

TEST(ChooseTransport, CurlWhenAskedForTlsOrHttp2) {
  Target forced = TargetFor("http://127.0.0.1:8080/score");
  forced.set_client("curl");
  EXPECT_EQ(KindFor(forced).value(), TransportKind::kCurl);
  EXPECT_EQ(KindFor(TargetFor("https://127.0.0.1:8443/score")).value(), TransportKind::kCurl);
  Target h2 = TargetFor("https://127.0.0.1:8443/score");
  h2.set_http_version("2");
  EXPECT_EQ(KindFor(h2).value(), TransportKind::kCurl);
  // Cleartext HTTP/2 is never native: libcurl runs it, or the run is refused where libcurl
  // breaks it (tls_http2_test checks the message).
  Target h2c = TargetFor("http://127.0.0.1:8080/score");
  h2c.set_http_version("2");
  auto kind = KindFor(h2c);
  if (kind.ok()) {
    EXPECT_EQ(*kind, TransportKind::kCurl);
  }
}

TEST(ChooseTransport, UnresolvableHostFallsBackToCurl) {
  // libcurl then records a DNS error per request instead of the run failing to start.
  EXPECT_EQ(KindFor(TargetFor("http://no-such-host.invalid/score")).value(), TransportKind::kCurl);
}

TEST(ChooseTransport, RefusesTargetsNeitherCanRun) {
  Target unloaded = TargetFor("http://127.0.0.1:8080/score");
  unloaded.set_payload_file("payload.json");
  unloaded.clear_resolved_payloads();
  EXPECT_FALSE(ChooseTransport(unloaded).ok());
}

// One transport in a loop of its own, as a worker runs it.
class Harness final : public TransportCallbacks {
 public:
  ~Harness() {
    transport_.reset();
    if (epoll_fd_ >= 0) close(epoll_fd_);
  }

  void Create(const Target& target) {
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    ASSERT_GE(epoll_fd_, 0);
    auto factory = ChooseTransport(target);
    ASSERT_TRUE(factory.ok()) << factory.status();
    factory_ = std::move(*factory);
    auto transport = factory_->Create(epoll_fd_, this, &RealClock::Get());
    ASSERT_TRUE(transport.ok()) << transport.status();
    transport_ = std::move(*transport);
  }

  void Start(uint64_t cookie) {
    in_start_ = true;
    transport_->Start(cookie, cookie, Now());
    in_start_ = false;
  }

  void Done(uint64_t cookie, const TransportResult& result, int64_t now) override {
    EXPECT_FALSE(in_start_) << "Done called from inside Start (cookie " << cookie << ")";
    EXPECT_GT(now, 0);
    results_[cookie].push_back(result);
    if (on_done_) on_done_(cookie);
  }

  // One loop turn as Worker::Run makes it, waiting at most `max_wait_ms`.
  void Turn(int max_wait_ms = 20) {
    transport_->RunDue(Now());
    const int64_t now = Now();
    const int64_t deadline = std::min(transport_->NextDeadline(now), now + max_wait_ms * 1'000'000);
    const int64_t wait_ns = std::max<int64_t>(0, deadline - Now());
    epoll_event events[64];
    const int n =
        epoll_wait(epoll_fd_, events, 64, static_cast<int>((wait_ns + 999'999) / 1'000'000));
    for (int i = 0; i < n; ++i) {
      EXPECT_NE(events[i].data.u64, kWorkerEpollTag);
      transport_->OnEvent(events[i].data, events[i].events, Now());
    }
  }

  // Turns until `done` holds (or about 10 s).
  bool TurnUntil(const std::function<bool()>& done) {
    const int64_t give_up = Now() + 10'000'000'000;
    while (!done()) {
      if (Now() > give_up) return false;
      Turn();
    }
    return true;
  }

  size_t reported() const {
    size_t n = 0;
    for (const auto& [cookie, results] : results_) n += results.size();
    return n;
  }

  static int64_t Now() { return RealClock::Get().MonotonicNs(); }

  Transport& transport() { return *transport_; }
  std::map<uint64_t, std::vector<TransportResult>>& results() { return results_; }
  void set_on_done(std::function<void(uint64_t)> f) { on_done_ = std::move(f); }

 private:
  int epoll_fd_ = -1;
  std::unique_ptr<TransportFactory> factory_;
  std::unique_ptr<Transport> transport_;
  std::map<uint64_t, std::vector<TransportResult>> results_;
  std::function<void(uint64_t)> on_done_;
  bool in_start_ = false;
};

// Both implementations keep the same contract: "" is the native choice, "curl" forces libcurl.
class TransportContract : public ::testing::TestWithParam<const char*> {
 protected:
  Target TargetOn(int port) {
    Target t = TargetFor(absl::StrCat("http://127.0.0.1:", port, "/score"));
    t.set_client(GetParam());
    return t;
  }
  void ExpectKind(const Target& target) {
    auto factory = ChooseTransport(target);
    ASSERT_TRUE(factory.ok());
    EXPECT_EQ((*factory)->kind(),
              std::string(GetParam()) == "curl" ? TransportKind::kCurl : TransportKind::kHttp1);
  }
};

TEST_P(TransportContract, EveryRequestIsReportedOnceWithItsCookie) {
  auto server = BadServer::Start(Misbehaviour::kOk);
  ASSERT_TRUE(server.ok()) << server.status();
  Harness h;
  const Target target = TargetOn((*server)->port());
  ExpectKind(target);
  h.Create(target);
  for (uint64_t cookie : {7u, 8u, 9u}) h.Start(cookie);
  ASSERT_TRUE(h.TurnUntil([&] { return h.reported() >= 3; }));
  for (int i = 0; i < 5; ++i) h.Turn(1);  // nothing more may arrive
  ASSERT_EQ(h.results().size(), 3u);
  for (uint64_t cookie : {7u, 8u, 9u}) {
    ASSERT_EQ(h.results()[cookie].size(), 1u) << cookie;
    const TransportResult& r = h.results()[cookie][0];
    EXPECT_EQ(r.error, ERROR_NONE);
    EXPECT_EQ(r.status, 200u);
    EXPECT_GT(r.sent, 7u);  // headers and the 7-byte payload
    EXPECT_GT(r.received, 0u);
  }
  EXPECT_EQ((*server)->requests_seen(), 3u);
}

TEST_P(TransportContract, RefusedConnectionsAreConnectErrorsOncePerRequest) {
  // What the worker does: a finished request starts the next one from Done (Harness::Done fails
  // the test if that Done comes from inside Start).
  auto port = testing::ClosedPort();
  ASSERT_TRUE(port.ok());
  Harness h;
  h.Create(TargetOn(*port));
  uint64_t next = 1;
  h.set_on_done([&](uint64_t) {
    if (next < 20) h.Start(next++);
  });
  h.Start(0);
  ASSERT_TRUE(h.TurnUntil([&] { return h.reported() >= 20; }));
  for (uint64_t cookie = 0; cookie < 20; ++cookie) {
    ASSERT_EQ(h.results()[cookie].size(), 1u) << cookie;
    EXPECT_EQ(h.results()[cookie][0].error, ERROR_CONNECT) << cookie;
  }
}

TEST_P(TransportContract, ConnectFailuresInsideStartComeOnALaterTurn) {
  // connect() to loopback's broadcast address fails at once (ENETUNREACH) rather than with
  // EINPROGRESS, so the native transport meets the failure inside Start. Nothing is sent.
  Target target = TargetFor("http://127.255.255.255:9/score");
  target.set_client(GetParam());
  Harness chosen;
  chosen.Create(target);
  uint64_t next = 1;
  chosen.set_on_done([&](uint64_t) {
    if (next < 20) chosen.Start(next++);
  });
  chosen.Start(0);
  EXPECT_EQ(chosen.reported(), 0u);
  const int64_t now = Harness::Now();
  EXPECT_LE(chosen.transport().NextDeadline(now), now);  // the loop must not sleep
  chosen.Turn();
  // One failure per turn: each restart's failure waits for the next turn.
  EXPECT_LE(chosen.reported(), 1u);
  ASSERT_TRUE(chosen.TurnUntil([&] { return chosen.reported() >= 20; }));
  for (uint64_t cookie = 0; cookie < 20; ++cookie) {
    ASSERT_EQ(chosen.results()[cookie].size(), 1u) << cookie;
    EXPECT_EQ(chosen.results()[cookie][0].error, ERROR_CONNECT) << cookie;
  }
}

TEST_P(TransportContract, AbortAllEndsEveryRequestInFlightOnce) {
  auto server = BadServer::Start(Misbehaviour::kStall);
  ASSERT_TRUE(server.ok()) << server.status();
  Harness h;
  h.Create(TargetOn((*server)->port()));
  for (uint64_t cookie : {1u, 2u, 3u}) h.Start(cookie);
  ASSERT_TRUE(h.TurnUntil([&] { return (*server)->requests_seen() >= 3; }));
  EXPECT_EQ(h.reported(), 0u);
  h.transport().AbortAll(Harness::Now());
  for (int i = 0; i < 5; ++i) h.Turn(1);  // nothing more may arrive
  ASSERT_EQ(h.reported(), 3u);
  for (uint64_t cookie : {1u, 2u, 3u}) {
    ASSERT_EQ(h.results()[cookie].size(), 1u) << cookie;
    EXPECT_EQ(h.results()[cookie][0].error, ERROR_ABORTED) << cookie;
  }
}

TEST_P(TransportContract, ARequestPastItsTimeoutEndsAsATimeout) {
  auto server = BadServer::Start(Misbehaviour::kStall);
  ASSERT_TRUE(server.ok()) << server.status();
  Harness h;
  Target target = TargetOn((*server)->port());
  target.mutable_timeout()->set_seconds(0);
  target.mutable_timeout()->set_nanos(100'000'000);
  h.Create(target);
  const int64_t started = Harness::Now();
  h.Start(42);
  // The loop sleeps until the transport's deadline: no event arrives from a stalled server.
  ASSERT_TRUE(h.TurnUntil([&] { return h.reported() >= 1; }));
  EXPECT_GE(Harness::Now() - started, 100'000'000);
  ASSERT_EQ(h.results()[42].size(), 1u);
  EXPECT_EQ(h.results()[42][0].error, ERROR_TIMEOUT);
}

INSTANTIATE_TEST_SUITE_P(BothTransports, TransportContract, ::testing::Values("", "curl"),
                         [](const auto& info) {
                           return std::string(info.param).empty() ? "native" : "curl";
                         });

}  // namespace
}  // namespace stampede
