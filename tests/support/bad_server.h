// Test support: an in-process loopback HTTP/1.1 server that misbehaves on purpose, so that the
// load engine's handling of broken targets (resets, truncation, garbage, stalls, slow bodies,
// error statuses) can be exercised deterministically without a real target process.
#ifndef STAMPEDE_TESTS_SUPPORT_BAD_SERVER_H_
#define STAMPEDE_TESTS_SUPPORT_BAD_SERVER_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"

namespace stampede::testing {

// What the server does once it has read a complete request.
enum class Misbehaviour {
  kOk,                   // valid keep-alive HTTP/1.1 200 with a small JSON body, immediately
  kCloseBeforeResponse,  // read the full request, then close cleanly (client sees an empty reply)
  kCloseMidResponse,     // headers announcing Content-Length: 1000, 10 body bytes, then close
  kResetAfterRequest,    // close with SO_LINGER {1,0} so the peer gets a TCP RST
  kGarbage,              // reply with bytes that are not HTTP ("SSH-2.0-nonsense..."), then close
  kStall,                // never answer; keep the connection open until the server stops
  kTrickle,              // valid 200 with a 200-byte body sent one byte every trickle_interval,
                         // keep-alive afterwards
  kStatus,               // valid keep-alive response with status `status`, JSON body
};

struct BadServerOptions {
  std::chrono::milliseconds trickle_interval{5};
  int status = 503;  // for kStatus; 200..599
};

// Listens on 127.0.0.1 (never any other address) on a kernel-chosen port. One background thread
// runs a poll() loop over the listening socket and every connection; all sockets are
// non-blocking. Requests are parsed just enough for what libcurl sends: headers up to
// "\r\n\r\n", then Content-Length body bytes (discarded). Keep-alive and pipelined requests
// are served in order. Chunked request bodies are not supported (the connection is dropped).
class BadServer {
 public:
  static absl::StatusOr<std::unique_ptr<BadServer>> Start(Misbehaviour m,
                                                          BadServerOptions options = {});
  BadServer(const BadServer&) = delete;
  BadServer& operator=(const BadServer&) = delete;
  ~BadServer();  // stops the thread, closes every socket

  int port() const { return port_; }
  // Complete requests (headers and body) read so far.
  uint64_t requests_seen() const { return requests_seen_.load(); }
  uint64_t connections_accepted() const { return connections_accepted_.load(); }

 private:
  struct Connection;

  BadServer(Misbehaviour m, BadServerOptions options, int listen_fd, int wake_fd, int port)
      : misbehaviour_(m),
        options_(options),
        listen_fd_(listen_fd),
        wake_fd_(wake_fd),
        port_(port) {}

  void Run();
  void AcceptAll(std::vector<std::unique_ptr<Connection>>& conns);
  // Drives one connection as far as it can go without blocking: flushes output, parses
  // requests, produces responses, emits due trickle bytes. Sets conn.dead when it must close.
  // Returns false when it stopped on its step budget with work left.
  bool Service(Connection& conn);
  bool Step(Connection& conn);  // one state transition; false when nothing more can happen now
  void Respond(Connection& conn);

  const Misbehaviour misbehaviour_;
  const BadServerOptions options_;
  const int listen_fd_;
  const int wake_fd_;  // eventfd; written by the destructor to end Run()
  const int port_;
  std::atomic<uint64_t> requests_seen_{0};
  std::atomic<uint64_t> connections_accepted_{0};
  std::thread thread_;
};

// A loopback port with nothing listening on it (bind port 0, read the port, close): connecting
// gets ECONNREFUSED. Another process could grab the port afterwards, which on a test machine is
// unlikely enough within the lifetime of one test.
absl::StatusOr<int> ClosedPort();

}  // namespace stampede::testing

#endif  // STAMPEDE_TESTS_SUPPORT_BAD_SERVER_H_
