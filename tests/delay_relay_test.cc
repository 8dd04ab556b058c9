// The delaying relay of the WAN simulation (tests/support/delay_relay.h), on loopback: each
// direction's delay is applied within a tolerance, jitter varies it without reordering a byte,
// bytes arrive intact, the end of a stream is passed on, and a stream is not held to one chunk
// per round trip. Timings are real: lower bounds are exact (a byte can never arrive early),
// upper bounds leave room for a loaded machine.
#include "tests/support/delay_relay.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace stampede::testing {
namespace {

// Slack above a computed delay before a test calls it late: a 2-core machine shared with other
// builds can hold a thread off the CPU for tens of ms. Lower bounds need no slack.
constexpr int64_t kLateMs = 60;

int64_t MonoNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

int64_t WallNs() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

double Ms(int64_t ns) { return static_cast<double>(ns) / 1e6; }

// Blocking sockets with a receive timeout, so that a broken relay fails a test instead of
// hanging it.
void Timeouts(int fd) {
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

class Listener {
 public:
  Listener() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(listen(fd_, 16), 0);
    socklen_t len = sizeof(addr);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~Listener() { close(fd_); }
  int port() const { return port_; }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }
  int Accept() {
    const int fd = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    Timeouts(fd);
    return fd;
  }

 private:
  int fd_ = -1;
  int port_ = 0;
};

int Connect(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0) << strerror(errno);
  Timeouts(fd);
  return fd;
}

bool WriteAll(int fd, const char* data, size_t n) {
  while (n > 0) {
    const ssize_t w = send(fd, data, n, MSG_NOSIGNAL);
    if (w <= 0) return false;
    data += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

// Reads exactly n bytes; fewer on EOF, error or timeout.
std::string ReadExactly(int fd, size_t n) {
  std::string out(n, '\0');
  size_t got = 0;
  while (got < n) {
    const ssize_t r = read(fd, out.data() + got, n - got);
    if (r <= 0) break;
    got += static_cast<size_t>(r);
  }
  out.resize(got);
  return out;
}

std::unique_ptr<DelayRelay> StartRelay(DelayRelayOptions options) {
  auto relay = DelayRelay::Start(std::move(options));
  EXPECT_TRUE(relay.ok()) << relay.status();
  return relay.ok() ? std::move(*relay) : nullptr;
}

TEST(DelayRelay, DelaysEachDirectionByItsOwnAmount) {
  Listener upstream;
  auto relay = StartRelay({.upstream = upstream.address(),
                           .up_delay = absl::Milliseconds(40),
                           .down_delay = absl::Milliseconds(15)});
  ASSERT_NE(relay, nullptr);
  const int client = Connect(relay->port());
  const int server = upstream.Accept();
  ASSERT_GE(server, 0);
  for (int i = 0; i < 5; ++i) {
    const int64_t sent = MonoNs();
    ASSERT_TRUE(WriteAll(client, "p", 1));
    ASSERT_EQ(ReadExactly(server, 1), "p");
    const int64_t arrived = MonoNs();
    ASSERT_TRUE(WriteAll(server, "q", 1));
    ASSERT_EQ(ReadExactly(client, 1), "q");
    const int64_t back = MonoNs();
    EXPECT_GE(arrived - sent, 40'000'000) << "up, exchange " << i;
    EXPECT_LE(arrived - sent, (40 + kLateMs) * 1'000'000) << "up, exchange " << i;
    EXPECT_GE(back - arrived, 15'000'000) << "down, exchange " << i;
    EXPECT_LE(back - arrived, (15 + kLateMs) * 1'000'000) << "down, exchange " << i;
  }
  close(client);
  close(server);
}

TEST(DelayRelay, JitterVariesTheDelayWithoutReorderingOrChangingAByte) {
  Listener upstream;
  constexpr int kDelayMs = 20;
  constexpr int kJitterMs = 15;
  auto relay = StartRelay({.upstream = upstream.address(),
                           .up_delay = absl::Milliseconds(kDelayMs),
                           .down_delay = absl::Milliseconds(kDelayMs),
                           .jitter = absl::Milliseconds(kJitterMs),
                           .seed = 7});
  ASSERT_NE(relay, nullptr);
  const int client = Connect(relay->port());
  const int server = upstream.Accept();
  ASSERT_GE(server, 0);

  // 200 messages of 1000 bytes, each byte a function of its position in the stream, sent 1 ms
  // apart so that each is its own chunk with its own jitter. The server echoes the stream back.
  constexpr int kMessages = 200;
  constexpr size_t kSize = 1000;
  auto byte_at = [](size_t i) { return static_cast<char>((i * 131 + i / 251) & 0xff); };
  std::vector<int64_t> sent(kMessages);
  std::vector<int64_t> arrived(kMessages);
  std::string received;
  std::thread echo([&] {
    for (int m = 0; m < kMessages; ++m) {
      const std::string message = ReadExactly(server, kSize);
      arrived[m] = MonoNs();
      received += message;
      if (!WriteAll(server, message.data(), message.size())) return;
    }
  });
  std::string stream;
  for (int m = 0; m < kMessages; ++m) {
    std::string message(kSize, '\0');
    for (size_t i = 0; i < kSize; ++i) message[i] = byte_at(m * kSize + i);
    stream += message;
    sent[m] = MonoNs();
    ASSERT_TRUE(WriteAll(client, message.data(), message.size()));
    std::this_thread::sleep_for(std::chrono::milliseconds(1));  // pacing the sender
  }
  const std::string echoed = ReadExactly(client, stream.size());
  echo.join();
  EXPECT_TRUE(received == stream) << "bytes changed or reordered on the way up";
  EXPECT_TRUE(echoed == stream) << "bytes changed or reordered on the way back";

  int64_t lowest = INT64_MAX;
  int64_t highest = 0;
  for (int m = 0; m < kMessages; ++m) {
    lowest = std::min(lowest, arrived[m] - sent[m]);
    highest = std::max(highest, arrived[m] - sent[m]);
  }
  EXPECT_GE(lowest, (kDelayMs - kJitterMs) * 1'000'000) << Ms(lowest);
  EXPECT_LE(highest, (kDelayMs + kJitterMs + kLateMs) * 1'000'000) << Ms(highest);
  EXPECT_GT(highest - lowest, 5'000'000) << "jitter: the delays should vary, lowest " << Ms(lowest)
                                         << " ms, highest " << Ms(highest) << " ms";
  close(client);
  close(server);
}

TEST(DelayRelay, AStreamFlowsAtItsOwnRateNotOneChunkPerRoundTrip) {
  Listener upstream;
  constexpr int kDelayMs = 100;
  auto relay = StartRelay({.upstream = upstream.address(),
                           .up_delay = absl::Milliseconds(kDelayMs),
                           .down_delay = absl::Milliseconds(kDelayMs)});
  ASSERT_NE(relay, nullptr);
  const int client = Connect(relay->port());
  const int server = upstream.Accept();
  ASSERT_GE(server, 0);

  // 16 MiB in 64 KiB writes: 256 chunks at least. Held one at a time behind the delay they would
  // take 25 s; queued with their arrival times they take the delay plus the copying.
  constexpr size_t kTotal = 16 << 20;
  constexpr size_t kWrite = 64 << 10;
  const int64_t start = MonoNs();
  std::thread writer([&] {
    const std::string block(kWrite, 'x');
    for (size_t sent = 0; sent < kTotal; sent += kWrite) {
      if (!WriteAll(client, block.data(), block.size())) return;
    }
  });
  std::string first = ReadExactly(server, 1);
  const int64_t first_at = MonoNs();
  const std::string rest = ReadExactly(server, kTotal - 1);
  const int64_t done_at = MonoNs();
  writer.join();
  ASSERT_EQ(first.size() + rest.size(), kTotal);
  EXPECT_GE(first_at - start, kDelayMs * 1'000'000) << "the first byte is delayed";
  EXPECT_LT(done_at - start, 1'500'000'000)
      << "16 MiB took " << Ms(done_at - start) << " ms over a " << kDelayMs << " ms path";

  // Small messages paced 2 ms apart for 200 ms arrive spread the same way, one delay later.
  std::thread pacer([&] {
    for (int m = 0; m < 100; ++m) {
      if (!WriteAll(client, "m", 1)) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
  const int64_t paced_start = MonoNs();
  EXPECT_EQ(ReadExactly(server, 100), std::string(100, 'm'));
  const int64_t paced_end = MonoNs();
  pacer.join();
  EXPECT_LT(paced_end - paced_start, (kDelayMs + 200 + 4 * kLateMs) * 1'000'000)
      << "100 paced messages took " << Ms(paced_end - paced_start) << " ms";
  // The relay counts a write after it returns, so the last count may trail the reader a moment.
  const int64_t deadline = MonoNs() + 1'000'000'000;
  while (relay->bytes_up() < kTotal + 100 && MonoNs() < deadline) std::this_thread::yield();
  EXPECT_EQ(relay->bytes_up(), kTotal + 100);
  close(client);
  close(server);
}

TEST(DelayRelay, PassesOnTheEndOfEachStreamAfterItsDelay) {
  Listener upstream;
  auto relay = StartRelay({.upstream = upstream.address(),
                           .up_delay = absl::Milliseconds(30),
                           .down_delay = absl::Milliseconds(10)});
  ASSERT_NE(relay, nullptr);
  const int client = Connect(relay->port());
  const int server = upstream.Accept();
  ASSERT_GE(server, 0);
  ASSERT_TRUE(WriteAll(client, "last words", 10));
  const int64_t shut = MonoNs();
  shutdown(client, SHUT_WR);
  EXPECT_EQ(ReadExactly(server, 64), "last words") << "then EOF";
  EXPECT_GE(MonoNs() - shut, 30'000'000) << "the end of the stream is delayed like its bytes";
  // The other direction is still open until the server ends it too.
  ASSERT_TRUE(WriteAll(server, "reply", 5));
  close(server);
  EXPECT_EQ(ReadExactly(client, 64), "reply") << "then EOF";
  close(client);
}

TEST(DelayRelay, ReportsWhenEachConnectionsFirstByteArrived) {
  Listener upstream;
  std::mutex mu;
  std::vector<std::pair<uint64_t, int64_t>> firsts;
  auto relay = StartRelay({.upstream = upstream.address(),
                           .up_delay = absl::Milliseconds(50),
                           .on_first_byte = [&](uint64_t connection, int64_t wall_ns) {
                             std::lock_guard<std::mutex> lock(mu);
                             firsts.emplace_back(connection, wall_ns);
                           }});
  ASSERT_NE(relay, nullptr);
  std::vector<int64_t> before;
  std::vector<int64_t> received;
  for (int i = 0; i < 2; ++i) {
    const int client = Connect(relay->port());
    const int server = upstream.Accept();
    before.push_back(WallNs());
    ASSERT_TRUE(WriteAll(client, "ab", 2));
    ASSERT_TRUE(WriteAll(client, "cd", 2));
    EXPECT_EQ(ReadExactly(server, 4), "abcd");
    received.push_back(WallNs());
    close(client);
    close(server);
  }
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(firsts.size(), 2u) << "once per connection";
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(firsts[i].first, i + 1);
    // Its arrival at the relay, not its release: after the send, and at least the 50 ms delay
    // before the upstream got it.
    EXPECT_GE(firsts[i].second, before[i]);
    EXPECT_LE(firsts[i].second, received[i] - 50'000'000);
  }
  EXPECT_EQ(relay->connections(), 2u);
}

TEST(DelayRelay, ClosesTheClientWhenTheUpstreamRefuses) {
  int port = 0;
  {
    Listener gone;  // a port that was free a moment ago, now closed
    port = gone.port();
  }
  auto relay = StartRelay({.upstream = absl::StrCat("127.0.0.1:", port)});
  ASSERT_NE(relay, nullptr);
  const int client = Connect(relay->port());
  char c;
  EXPECT_LE(read(client, &c, 1), 0) << "EOF or reset, not a timeout";
  EXPECT_NE(errno, EAGAIN);
  close(client);
}

TEST(DelayRelay, RefusesBadAddressesAndNegativeDelays) {
  EXPECT_FALSE(DelayRelay::Start({.upstream = "localhost:80"}).ok()) << "numeric only";
  EXPECT_FALSE(DelayRelay::Start({.upstream = "127.0.0.1"}).ok());
  EXPECT_FALSE(DelayRelay::Start({.listen = "127.0.0.1:70000", .upstream = "127.0.0.1:1"}).ok());
  EXPECT_FALSE(
      DelayRelay::Start({.upstream = "127.0.0.1:1", .up_delay = absl::Milliseconds(-1)}).ok());
  auto v6 = DelayRelay::Start({.listen = "[::1]:0", .upstream = "127.0.0.1:1"});
  if (v6.ok()) {
    EXPECT_EQ((*v6)->address().rfind("[::1]:", 0), 0u) << (*v6)->address();
  }
}

}  // namespace
}  // namespace stampede::testing
