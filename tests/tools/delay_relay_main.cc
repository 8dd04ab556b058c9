// stampede-delay-relay: the test support DelayRelay as a process, so that a relay can run inside
// a network namespace (`ip netns exec NS stampede-delay-relay ...`) on a simulated WAN path. See
// tests/support/delay_relay.h and `stampede-delay-relay --help`.
#include <signal.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/flags.h"
#include "tests/support/delay_relay.h"

namespace {

stampede::CommandSpec Spec() {
  return {
      .command = "stampede-delay-relay",
      .usage =
          "stampede-delay-relay --to HOST:PORT [--listen HOST:PORT] [--delay-ms MS] "
          "[--up-delay-ms MS] [--down-delay-ms MS] [--jitter-ms MS]",
      .description =
          R"(A TCP relay that delays the bytes it carries, to simulate a wide-area link where no
netem qdisc is available. Every accepted connection is paired with a connection to --to; each
chunk read is released to the other side at its arrival time plus the one-way delay of its
direction, +/- jitter, never before the chunk ahead of it (no reordering; the stream is not
serialised behind the delay). "up" is client -> --to, "down" the answers.

Once bound it prints "listening on HOST:PORT", then for each connection "first byte conn=N
wall_ns=T": the CLOCK_REALTIME instant the client's first byte reached the relay. It runs
until SIGTERM or SIGINT.)",
      .flags =
          {
              {.name = "--listen",
               .value = "HOST:PORT",
               .default_value = "127.0.0.1:0",
               .help = "numeric address to listen on; port 0 lets the kernel pick"},
              {.name = "--to", .value = "HOST:PORT", .help = "numeric address to connect to"},
              {.name = "--delay-ms",
               .value = "MS",
               .default_value = "0",
               .help = "one-way delay, both directions (round trip: twice this)"},
              {.name = "--up-delay-ms",
               .value = "MS",
               .default_help = "--delay-ms",
               .help = "one-way delay client -> upstream (an asymmetric path)"},
              {.name = "--down-delay-ms",
               .value = "MS",
               .default_help = "--delay-ms",
               .help = "one-way delay upstream -> client"},
              {.name = "--jitter-ms",
               .value = "MS",
               .default_value = "0",
               .help = "each chunk's delay varies uniformly by +/- this much"},
              {.name = "--seed", .value = "N", .default_value = "1", .help = "jitter's seed"},
          },
  };
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "stampede-delay-relay: %s\n", message.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  int exit_code = 0;
  const auto flags =
      stampede::ParseOrExit(Spec(), std::vector<std::string>(argv + 1, argv + argc), &exit_code);
  if (!flags) return exit_code;
  if (!flags->Has("--to")) return Fail("--to is required");
  constexpr int64_t kMaxMs = 60'000;
  auto delay = flags->Int("--delay-ms", 0, kMaxMs);
  auto jitter = flags->Int("--jitter-ms", 0, kMaxMs);
  auto seed = flags->Int("--seed", 0, INT64_MAX);
  if (!delay.ok()) return Fail(std::string(delay.status().message()));
  if (!jitter.ok()) return Fail(std::string(jitter.status().message()));
  if (!seed.ok()) return Fail(std::string(seed.status().message()));
  int64_t up_ms = *delay;
  int64_t down_ms = *delay;
  if (flags->Has("--up-delay-ms")) {
    auto v = flags->Int("--up-delay-ms", 0, kMaxMs);
    if (!v.ok()) return Fail(std::string(v.status().message()));
    up_ms = *v;
  }
  if (flags->Has("--down-delay-ms")) {
    auto v = flags->Int("--down-delay-ms", 0, kMaxMs);
    if (!v.ok()) return Fail(std::string(v.status().message()));
    down_ms = *v;
  }

  // Stop on SIGTERM/SIGINT: blocked here (and so in the relay's thread), taken by sigwait.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  stampede::testing::DelayRelayOptions options;
  options.listen = flags->String("--listen");
  options.upstream = flags->String("--to");
  options.up_delay = absl::Milliseconds(up_ms);
  options.down_delay = absl::Milliseconds(down_ms);
  options.jitter = absl::Milliseconds(*jitter);
  options.seed = static_cast<uint64_t>(*seed);
  options.on_first_byte = [](uint64_t connection, int64_t wall_ns) {
    std::printf("first byte conn=%llu wall_ns=%lld\n", static_cast<unsigned long long>(connection),
                static_cast<long long>(wall_ns));
    std::fflush(stdout);
  };
  auto relay = stampede::testing::DelayRelay::Start(std::move(options));
  if (!relay.ok()) {
    std::fprintf(stderr, "stampede-delay-relay: %s\n",
                 std::string(relay.status().message()).c_str());
    return 1;
  }
  // Tests and scripts wait for exactly this line to learn the port.
  std::printf("listening on %s\n", (*relay)->address().c_str());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&stop_signals, &sig);
  return 0;
}
