// Checks each BadServer misbehaviour from the client side with libcurl, so that tests of the load
// engine can rely on the exact CURLcode each one produces (curl 7.88 on Debian 12).
#include "tests/support/bad_server.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace stampede::testing {
namespace {

using std::chrono::milliseconds;
using ::testing::AnyOf;
using ::testing::Eq;

class CurlEnvironment : public ::testing::Environment {
 public:
  void SetUp() override { ASSERT_EQ(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK); }
  void TearDown() override { curl_global_cleanup(); }
};
::testing::Environment* const kCurlEnvironment =
    ::testing::AddGlobalTestEnvironment(new CurlEnvironment);

struct Reply {
  CURLcode code = CURLE_OK;
  long status = 0;
  std::string body;
  milliseconds elapsed{0};
  std::string error;  // curl's error buffer, for failure messages
};

std::string Describe(const Reply& r) {
  return absl::StrCat("curl code ", static_cast<int>(r.code), " (", curl_easy_strerror(r.code),
                      ": ", r.error, "), status ", r.status, ", ", r.body.size(), " body bytes, ",
                      r.elapsed.count(), " ms");
}

size_t AppendBody(char* data, size_t size, size_t nmemb, void* user) {
  static_cast<std::string*>(user)->append(data, size * nmemb);
  return size * nmemb;
}

// One easy handle; reusing it across Post calls reuses its cached connection (keep-alive).
class Client {
 public:
  Client() : handle_(curl_easy_init()) {}
  ~Client() { curl_easy_cleanup(handle_); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  Reply Post(int port, milliseconds timeout = milliseconds(5000),
             const std::string& body = "{\"user\":7}") {
    Reply reply;
    char errbuf[CURL_ERROR_SIZE] = {0};
    const std::string url = absl::StrCat("http://127.0.0.1:", port, "/score");
    curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
    curl_easy_setopt(handle_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(handle_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(handle_, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
    curl_easy_setopt(handle_, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(handle_, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(handle_, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(handle_, CURLOPT_WRITEFUNCTION, &AppendBody);
    curl_easy_setopt(handle_, CURLOPT_WRITEDATA, &reply.body);
    curl_easy_setopt(handle_, CURLOPT_ERRORBUFFER, errbuf);
    const auto start = std::chrono::steady_clock::now();
    reply.code = curl_easy_perform(handle_);
    reply.elapsed =
        std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - start);
    curl_easy_getinfo(handle_, CURLINFO_RESPONSE_CODE, &reply.status);
    reply.error = errbuf;
    // The handle keeps pointers to these; clear them before they go out of scope.
    curl_easy_setopt(handle_, CURLOPT_HTTPHEADER, nullptr);
    curl_easy_setopt(handle_, CURLOPT_ERRORBUFFER, nullptr);
    curl_slist_free_all(headers);
    return reply;
  }

  CURL* handle() { return handle_; }

 private:
  CURL* handle_;
};

Reply PostOnce(int port, milliseconds timeout = milliseconds(5000)) {
  Client client;
  return client.Post(port, timeout);
}

// Polls `done` until it holds or `timeout` passes; for counters the server thread updates
// after the client has already seen the effect.
bool WaitFor(const std::function<bool()>& done, milliseconds timeout = milliseconds(5000)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(milliseconds(1));
  }
  return true;
}

std::unique_ptr<BadServer> MustStart(Misbehaviour m, BadServerOptions options = {}) {
  absl::StatusOr<std::unique_ptr<BadServer>> server = BadServer::Start(m, options);
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? std::move(*server) : nullptr;
}

// A blocking raw client socket for what libcurl will not do (pipelining, abrupt hang-ups).
int ConnectRaw(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  timeval tv{5, 0};  // bounds every recv below
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

bool SendAll(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

// Reads until `pred(received)` holds, EOF, error or the socket's receive timeout.
std::string RecvUntil(int fd, const std::function<bool(const std::string&)>& pred) {
  std::string got;
  char buf[4096];
  while (!pred(got)) {
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  return got;
}

size_t CountOf(const std::string& haystack, const std::string& needle) {
  size_t count = 0;
  for (size_t pos = haystack.find(needle); pos != std::string::npos;
       pos = haystack.find(needle, pos + needle.size())) {
    ++count;
  }
  return count;
}

const char kRawRequest[] =
    "POST /score HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-length: 10\r\n\r\n{\"user\":7}";

TEST(BadServerTest, BindsLoopbackEphemeralPort) {
  auto server = MustStart(Misbehaviour::kOk);
  ASSERT_NE(server, nullptr);
  EXPECT_GT(server->port(), 0);
  EXPECT_EQ(server->requests_seen(), 0u);
  EXPECT_EQ(server->connections_accepted(), 0u);
}

TEST(BadServerTest, RejectsBadOptions) {
  EXPECT_FALSE(BadServer::Start(Misbehaviour::kStatus, {.status = 99}).ok());
  EXPECT_FALSE(
      BadServer::Start(Misbehaviour::kTrickle, {.trickle_interval = milliseconds(-1)}).ok());
}

TEST(BadServerTest, OkAnswers200WithJson) {
  auto server = MustStart(Misbehaviour::kOk);
  ASSERT_NE(server, nullptr);
  const Reply r = PostOnce(server->port());
  EXPECT_EQ(r.code, CURLE_OK) << Describe(r);
  EXPECT_EQ(r.status, 200) << Describe(r);
  EXPECT_EQ(r.body, "{\"ok\":true}");
  EXPECT_EQ(server->requests_seen(), 1u);
  EXPECT_EQ(server->connections_accepted(), 1u);
}

TEST(BadServerTest, OkKeepsConnectionAliveAcrossRequests) {
  auto server = MustStart(Misbehaviour::kOk);
  ASSERT_NE(server, nullptr);
  Client client;
  const Reply first = client.Post(server->port());
  const Reply second = client.Post(server->port());
  EXPECT_EQ(first.code, CURLE_OK) << Describe(first);
  EXPECT_EQ(second.code, CURLE_OK) << Describe(second);
  EXPECT_EQ(second.status, 200);
  long new_connections = -1;
  curl_easy_getinfo(client.handle(), CURLINFO_NUM_CONNECTS, &new_connections);
  EXPECT_EQ(new_connections, 0) << "second request should reuse the first connection";
  EXPECT_EQ(server->requests_seen(), 2u);
  EXPECT_EQ(server->connections_accepted(), 1u);
}

TEST(BadServerTest, OkServesPipelinedRequestsInOrder) {
  auto server = MustStart(Misbehaviour::kOk);
  ASSERT_NE(server, nullptr);
  const int fd = ConnectRaw(server->port());
  ASSERT_GE(fd, 0);
  // Three requests in one write; the last one asks to close so EOF ends the read.
  const std::string last = "GET /score HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  ASSERT_TRUE(SendAll(fd, absl::StrCat(kRawRequest, kRawRequest, last)));
  const std::string got = RecvUntil(fd, [](const std::string&) { return false; });
  close(fd);
  EXPECT_EQ(CountOf(got, "HTTP/1.1 200 OK\r\n"), 3u) << got;
  EXPECT_EQ(CountOf(got, "{\"ok\":true}"), 3u) << got;
  EXPECT_EQ(CountOf(got, "Connection: close\r\n"), 1u) << got;
  EXPECT_EQ(server->requests_seen(), 3u);
}

TEST(BadServerTest, OkAnswersExpectContinueForLargeBodies) {
  auto server = MustStart(Misbehaviour::kOk);
  ASSERT_NE(server, nullptr);
  Client client;
  // A multi-megabyte body makes libcurl send "Expect: 100-continue"; a long expect timeout
  // makes a missing "100 Continue" show up as a slow request.
  curl_easy_setopt(client.handle(), CURLOPT_EXPECT_100_TIMEOUT_MS, 10000L);
  const std::string big(3 * 1024 * 1024, 'a');
  const Reply r = client.Post(server->port(), milliseconds(20000), big);
  EXPECT_EQ(r.code, CURLE_OK) << Describe(r);
  EXPECT_EQ(r.status, 200);
  EXPECT_LT(r.elapsed, milliseconds(5000)) << Describe(r);
  EXPECT_EQ(server->requests_seen(), 1u);
}

TEST(BadServerTest, StatusAnswersConfiguredCode) {
  auto server = MustStart(Misbehaviour::kStatus);
  ASSERT_NE(server, nullptr);
  Client client;
  const Reply first = client.Post(server->port());
  const Reply second = client.Post(server->port());
  EXPECT_EQ(first.code, CURLE_OK) << Describe(first);
  EXPECT_EQ(first.status, 503);
  EXPECT_EQ(first.body, "{\"error\":\"injected\",\"status\":503}");
  EXPECT_EQ(second.code, CURLE_OK) << Describe(second);
  EXPECT_EQ(second.status, 503);
  EXPECT_EQ(server->requests_seen(), 2u);
  EXPECT_EQ(server->connections_accepted(), 1u);  // error statuses keep the connection
}

TEST(BadServerTest, StatusHonoursOption) {
  auto server = MustStart(Misbehaviour::kStatus, {.status = 404});
  ASSERT_NE(server, nullptr);
  const Reply r = PostOnce(server->port());
  EXPECT_EQ(r.code, CURLE_OK) << Describe(r);
  EXPECT_EQ(r.status, 404);
}

TEST(BadServerTest, CloseBeforeResponseGivesGotNothing) {
  auto server = MustStart(Misbehaviour::kCloseBeforeResponse);
  ASSERT_NE(server, nullptr);
  const Reply r = PostOnce(server->port());
  EXPECT_EQ(r.code, CURLE_GOT_NOTHING) << Describe(r);
  EXPECT_EQ(server->requests_seen(), 1u);
}

TEST(BadServerTest, CloseMidResponseGivesPartialFile) {
  auto server = MustStart(Misbehaviour::kCloseMidResponse);
  ASSERT_NE(server, nullptr);
  const Reply r = PostOnce(server->port());
  // curl 7.88 reports CURLE_PARTIAL_FILE ("transfer closed with 990 bytes remaining to read");
  // RECV_ERROR is accepted too because which one a client sees for truncation is not an API
  // promise of libcurl.
  EXPECT_THAT(r.code, AnyOf(Eq(CURLE_PARTIAL_FILE), Eq(CURLE_RECV_ERROR))) << Describe(r);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body.size(), 10u);
  EXPECT_EQ(server->requests_seen(), 1u);
}

TEST(BadServerTest, ResetAfterRequestGivesRecvError) {
  auto server = MustStart(Misbehaviour::kResetAfterRequest);
  ASSERT_NE(server, nullptr);
  const Reply r = PostOnce(server->port());
  // curl 7.88 reports CURLE_RECV_ERROR ("Connection reset by peer"); GOT_NOTHING is accepted
  // because a reset racing with the end of the upload can surface as an empty reply.
  EXPECT_THAT(r.code, AnyOf(Eq(CURLE_RECV_ERROR), Eq(CURLE_GOT_NOTHING))) << Describe(r);
  EXPECT_EQ(server->requests_seen(), 1u);
}

TEST(BadServerTest, GarbageGivesUnsupportedProtocol) {
  auto server = MustStart(Misbehaviour::kGarbage);
  ASSERT_NE(server, nullptr);
  const Reply r = PostOnce(server->port());
  // curl 7.88 takes a reply without an "HTTP/" status line for HTTP/0.9, which it refuses
  // by default ("Received HTTP/0.9 when not allowed").
  EXPECT_EQ(r.code, CURLE_UNSUPPORTED_PROTOCOL) << Describe(r);
  EXPECT_EQ(server->requests_seen(), 1u);
}

TEST(BadServerTest, StallTimesOut) {
  auto server = MustStart(Misbehaviour::kStall);
  ASSERT_NE(server, nullptr);
  const Reply r = PostOnce(server->port(), milliseconds(300));
  EXPECT_EQ(r.code, CURLE_OPERATION_TIMEDOUT) << Describe(r);
  EXPECT_GE(r.elapsed, milliseconds(290)) << Describe(r);
  EXPECT_TRUE(WaitFor([&] { return server->requests_seen() == 1; }));
}

TEST(BadServerTest, StopClosesStalledConnections) {
  auto server = MustStart(Misbehaviour::kStall);
  ASSERT_NE(server, nullptr);
  const int fd = ConnectRaw(server->port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendAll(fd, kRawRequest));
  ASSERT_TRUE(WaitFor([&] { return server->requests_seen() == 1; }));
  server.reset();  // must not hang on the open connection
  char c;
  EXPECT_EQ(recv(fd, &c, 1, 0), 0) << "expected EOF once the server stopped";
  close(fd);
}

TEST(BadServerTest, TrickleDeliversSlowly) {
  auto server = MustStart(Misbehaviour::kTrickle, {.trickle_interval = milliseconds(2)});
  ASSERT_NE(server, nullptr);
  const Reply r = PostOnce(server->port());
  EXPECT_EQ(r.code, CURLE_OK) << Describe(r);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body.size(), 200u);
  EXPECT_EQ(r.body.front(), '{');
  EXPECT_EQ(r.body.back(), '}');
  EXPECT_GE(r.elapsed, milliseconds(400)) << Describe(r);
  EXPECT_EQ(server->requests_seen(), 1u);
}

TEST(BadServerTest, TrickleSurvivesClientHangingUp) {
  auto server = MustStart(Misbehaviour::kTrickle, {.trickle_interval = milliseconds(1)});
  ASSERT_NE(server, nullptr);
  // Hang up after the head, mid body; the server then hits EPIPE/ECONNRESET, never SIGPIPE.
  const int fd = ConnectRaw(server->port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendAll(fd, kRawRequest));
  const std::string head = RecvUntil(
      fd, [](const std::string& got) { return got.find("\r\n\r\n") != std::string::npos; });
  EXPECT_NE(head.find("Content-Length: 200"), std::string::npos) << head;
  close(fd);
  // Still serving others afterwards.
  const Reply r = PostOnce(server->port());
  EXPECT_EQ(r.code, CURLE_OK) << Describe(r);
  EXPECT_EQ(r.body.size(), 200u);
  EXPECT_EQ(server->connections_accepted(), 2u);
}

TEST(BadServerTest, ClosedPortRefusesConnections) {
  absl::StatusOr<int> port = ClosedPort();
  ASSERT_TRUE(port.ok()) << port.status();
  EXPECT_GT(*port, 0);
  const Reply r = PostOnce(*port);
  EXPECT_EQ(r.code, CURLE_COULDNT_CONNECT) << Describe(r);
}

}  // namespace
}  // namespace stampede::testing
