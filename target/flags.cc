#include "target/flags.h"

#include <limits>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/flags.h"
#include "common/status_macros.h"

namespace stampede::target {
namespace {

CommandSpec TargetSpec() {
  const TargetOptions d;
  return {
      .command = "stampede-target",
      .usage = "stampede-target [flags]",
      .description =
          R"(A simulated ML model endpoint for load tests (HTTP/1.1, keep-alive).
  POST /score   JSON in, {"score":..,"replica":..,"serviceMs":..} out after a service time
  GET /healthz  "ok", answered at once (never queued or stalled)
  GET /stats    JSON counters: requests, ok, rejected503, unauthorized401, failed500, inFlight,
                maxInFlight, ...

Model: R replicas, each serving C requests at a time with a FIFO queue of Q more. A request
goes to the least-loaded replica; when every replica has C in service and Q waiting the answer
is an immediate 503 {"error":"overloaded"}. Capacity = R*C/service time.

Once bound it prints "listening on HOST:PORT" on stdout. Bad flags exit with code 2.)",
      .flags = {
          {.name = "--host", .value = "H", .default_value = d.host, .help = "address to listen on"},
          {.name = "--port",
           .value = "P",
           .default_value = absl::StrCat(d.port),
           .help = "port; 0 lets the kernel pick"},
          {.name = "--replicas",
           .value = "R",
           .default_value = absl::StrCat(d.replicas),
           .help = "replicas"},
          {.name = "--concurrency",
           .value = "C",
           .default_value = absl::StrCat(d.concurrency),
           .help = "requests in service at once per replica"},
          {.name = "--queue",
           .value = "Q",
           .default_value = absl::StrCat(d.queue),
           .help = "waiting requests per replica before 503"},
          {.name = "--service-ms",
           .value = "MS",
           .default_value = absl::StrCat(d.service_ms),
           .help = "mean service time in ms; 0 answers at once"},
          {.name = "--service-dist",
           .value = "D",
           .default_value = "fixed",
           .help = "fixed | uniform | lognormal"},
          {.name = "--jitter",
           .value = "J",
           .default_value = absl::StrCat(d.jitter),
           .help = "uniform: +/- fraction of MS in [0,1]; lognormal: sigma of the underlying "
                   "normal, the mean stays MS"},
          {.name = "--key",
           .value = "K",
           .default_help = "none",
           .help = "require \"Authorization: Bearer K\" on /score, else 401"},
          {.name = "--fail-rate",
           .value = "F",
           .default_value = absl::StrCat(d.fail_rate),
           .help = "answer 500 with probability F after the service time"},
          {.name = "--stall-after",
           .value = "N",
           .default_value = absl::StrCat(d.stall_after),
           .help = "with --stall-ms: answer the first N /score requests normally; when request "
                   "N+1 arrives, hold every /score response and arrival for --stall-ms, then "
                   "resume (once). For coordinated-omission tests"},
          {.name = "--stall-ms",
           .value = "M",
           .default_value = absl::StrCat(d.stall_ms),
           .help = "how long the stall lasts; 0: no stall"},
          {.name = "--threads",
           .value = "T",
           .default_value = absl::StrCat(d.threads),
           .help = "event-loop threads sharing the port via SO_REUSEPORT"},
          {.name = "--seed",
           .value = "S",
           .default_help = "from std::random_device",
           .help = "random seed for service times, scores and failures"},
          {.name = "--version", .help = "print the version and exit"},
      }};
}

absl::Status NotEmpty(const std::string& flag, const std::string& value) {
  if (value.empty()) return absl::InvalidArgumentError(absl::StrCat(flag, ": must not be empty"));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<TargetOptions> ParseTargetFlags(const std::vector<absl::string_view>& args) {
  ASSIGN_OR_RETURN(
      ParsedFlags flags,
      ParseCommandLine(TargetSpec(), std::vector<std::string>(args.begin(), args.end())));
  TargetOptions opts;
  if (flags.help() || flags.Bool("--version")) {
    opts.help = flags.help();
    opts.version = !opts.help;
    return opts;
  }
  opts.host = flags.String("--host");
  RETURN_IF_ERROR(NotEmpty("--host", opts.host));
  ASSIGN_OR_RETURN(opts.port, flags.Int("--port", 0, 65535));
  ASSIGN_OR_RETURN(opts.replicas, flags.Int("--replicas", 1, 100000));
  ASSIGN_OR_RETURN(opts.concurrency, flags.Int("--concurrency", 1, 100000));
  ASSIGN_OR_RETURN(opts.queue, flags.Int("--queue", 0, 1000000));
  ASSIGN_OR_RETURN(opts.service_ms, flags.Double("--service-ms", 0, 3600e3));
  const std::string dist = flags.String("--service-dist");
  if (dist == "fixed") {
    opts.service_dist = ServiceDist::kFixed;
  } else if (dist == "uniform") {
    opts.service_dist = ServiceDist::kUniform;
  } else if (dist == "lognormal") {
    opts.service_dist = ServiceDist::kLognormal;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("--service-dist: expected fixed, uniform or lognormal, got \"", dist, "\""));
  }
  // Range checked per distribution below.
  ASSIGN_OR_RETURN(opts.jitter, flags.Double("--jitter", 0, 10));
  if (auto key = flags.Get("--key")) {
    RETURN_IF_ERROR(NotEmpty("--key", *key));
    opts.key = *key;
  }
  ASSIGN_OR_RETURN(opts.fail_rate, flags.Double("--fail-rate", 0, 1));
  ASSIGN_OR_RETURN(opts.stall_after,
                   flags.Int("--stall-after", 0, std::numeric_limits<int64_t>::max()));
  ASSIGN_OR_RETURN(opts.stall_ms, flags.Double("--stall-ms", 0, 3600e3));
  ASSIGN_OR_RETURN(opts.threads, flags.Int("--threads", 1, 256));
  if (auto seed = flags.Get("--seed")) {
    uint64_t v;
    if (!absl::SimpleAtoi(*seed, &v)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--seed: expected a non-negative integer, got \"", *seed, "\""));
    }
    opts.seed = v;
  }
  if (opts.service_dist == ServiceDist::kUniform && opts.jitter > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("--jitter: with --service-dist uniform it is a fraction in [0, 1], got \"",
                     flags.String("--jitter"), "\""));
  }
  if (flags.Has("--stall-after") && opts.stall_ms == 0) {
    return absl::InvalidArgumentError("--stall-after needs --stall-ms > 0");
  }
  return opts;
}

std::string TargetUsage() { return CommandHelp(TargetSpec()); }

}  // namespace stampede::target
