#include "target/flags.h"

#include <cmath>
#include <functional>
#include <limits>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"

namespace stampede::target {
namespace {

absl::Status BadValue(absl::string_view flag, absl::string_view value, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("invalid value '", value, "' for ", flag, ": ", why));
}

absl::StatusOr<int64_t> ParseInt(absl::string_view flag, absl::string_view value, int64_t min,
                                 int64_t max) {
  int64_t v;
  if (!absl::SimpleAtoi(value, &v)) return BadValue(flag, value, "expected an integer");
  if (v < min || v > max) {
    return BadValue(flag, value, absl::StrCat("must be in [", min, ", ", max, "]"));
  }
  return v;
}

absl::StatusOr<double> ParseDouble(absl::string_view flag, absl::string_view value, double min,
                                   double max) {
  double v;
  // SimpleAtod accepts "nan" and "inf"; neither is a meaningful duration or probability.
  if (!absl::SimpleAtod(value, &v) || !std::isfinite(v)) {
    return BadValue(flag, value, "expected a number");
  }
  if (v < min || v > max) {
    return BadValue(flag, value, absl::StrFormat("must be in [%.15g, %.15g]", min, max));
  }
  return v;
}

// Each handler stores one flag's value into the options.
using Handler = std::function<absl::Status(absl::string_view flag, absl::string_view value,
                                           TargetOptions& opts)>;

template <typename T>
Handler IntFlag(T TargetOptions::*field, int64_t min, int64_t max) {
  return [field, min, max](absl::string_view flag, absl::string_view value,
                           TargetOptions& opts) -> absl::Status {
    ASSIGN_OR_RETURN(int64_t v, ParseInt(flag, value, min, max));
    opts.*field = static_cast<T>(v);
    return absl::OkStatus();
  };
}

Handler DoubleFlag(double TargetOptions::*field, double min, double max) {
  return [field, min, max](absl::string_view flag, absl::string_view value,
                           TargetOptions& opts) -> absl::Status {
    ASSIGN_OR_RETURN(opts.*field, ParseDouble(flag, value, min, max));
    return absl::OkStatus();
  };
}

const absl::flat_hash_map<absl::string_view, Handler>& Handlers() {
  static const auto* handlers = new absl::flat_hash_map<absl::string_view, Handler>{
      {"--host",
       [](absl::string_view flag, absl::string_view value, TargetOptions& opts) {
         if (value.empty()) return BadValue(flag, value, "must not be empty");
         opts.host = std::string(value);
         return absl::OkStatus();
       }},
      {"--port", IntFlag(&TargetOptions::port, 0, 65535)},
      {"--replicas", IntFlag(&TargetOptions::replicas, 1, 100000)},
      {"--concurrency", IntFlag(&TargetOptions::concurrency, 1, 100000)},
      {"--queue", IntFlag(&TargetOptions::queue, 0, 1000000)},
      {"--service-ms", DoubleFlag(&TargetOptions::service_ms, 0, 3600e3)},
      {"--service-dist",
       [](absl::string_view flag, absl::string_view value, TargetOptions& opts) {
         if (value == "fixed") {
           opts.service_dist = ServiceDist::kFixed;
         } else if (value == "uniform") {
           opts.service_dist = ServiceDist::kUniform;
         } else if (value == "lognormal") {
           opts.service_dist = ServiceDist::kLognormal;
         } else {
           return BadValue(flag, value, "expected fixed, uniform or lognormal");
         }
         return absl::OkStatus();
       }},
      // Range checked per distribution once all flags are known.
      {"--jitter", DoubleFlag(&TargetOptions::jitter, 0, 10)},
      {"--key",
       [](absl::string_view flag, absl::string_view value, TargetOptions& opts) {
         if (value.empty()) return BadValue(flag, value, "must not be empty");
         opts.key = std::string(value);
         return absl::OkStatus();
       }},
      {"--fail-rate", DoubleFlag(&TargetOptions::fail_rate, 0, 1)},
      {"--stall-after",
       IntFlag(&TargetOptions::stall_after, 0, std::numeric_limits<int64_t>::max())},
      {"--stall-ms", DoubleFlag(&TargetOptions::stall_ms, 0, 3600e3)},
      {"--threads", IntFlag(&TargetOptions::threads, 1, 256)},
      {"--seed",
       [](absl::string_view flag, absl::string_view value, TargetOptions& opts) {
         uint64_t v;
         if (!absl::SimpleAtoi(value, &v)) {
           return BadValue(flag, value, "expected a non-negative integer");
         }
         opts.seed = v;
         return absl::OkStatus();
       }},
  };
  return *handlers;
}

}  // namespace

absl::StatusOr<TargetOptions> ParseTargetFlags(const std::vector<absl::string_view>& args) {
  TargetOptions opts;
  bool stall_after_given = false;
  for (size_t i = 0; i < args.size(); ++i) {
    absl::string_view arg = args[i];
    if (arg == "--help" || arg == "-h") {
      opts.help = true;
      continue;
    }
    if (arg.substr(0, 2) != "--") {
      return absl::InvalidArgumentError(absl::StrCat("unexpected argument '", arg, "'"));
    }
    absl::string_view flag = arg;
    absl::string_view value;
    bool has_value = false;
    if (size_t eq = arg.find('='); eq != absl::string_view::npos) {
      flag = arg.substr(0, eq);
      value = arg.substr(eq + 1);
      has_value = true;
    }
    auto it = Handlers().find(flag);
    if (it == Handlers().end()) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag ", flag));
    }
    if (!has_value) {
      if (i + 1 >= args.size()) {
        return absl::InvalidArgumentError(absl::StrCat("flag ", flag, " needs a value"));
      }
      value = args[++i];
    }
    RETURN_IF_ERROR(it->second(flag, value, opts));
    if (flag == "--stall-after") stall_after_given = true;
  }
  if (opts.service_dist == ServiceDist::kUniform && opts.jitter > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid value '", opts.jitter,
                     "' for --jitter: with --service-dist uniform it is a fraction in [0, 1]"));
  }
  if (stall_after_given && opts.stall_ms == 0) {
    return absl::InvalidArgumentError("--stall-after needs --stall-ms > 0");
  }
  return opts;
}

std::string TargetUsage() {
  return R"(usage: stampede-target [flags]

A simulated ML model endpoint for load tests (HTTP/1.1, keep-alive).
  POST /score   JSON in, {"score":..,"replica":..,"serviceMs":..} out after a service time
  GET /healthz  "ok", answered at once (never queued or stalled)
  GET /stats    JSON counters: requests, ok, rejected503, unauthorized401, failed500, inFlight,
                maxInFlight, ...

Model: R replicas, each serving C requests at a time with a FIFO queue of Q more. A request
goes to the least-loaded replica; when every replica has C in service and Q waiting the answer
is an immediate 503 {"error":"overloaded"}. Capacity = R*C/service time.

Flags (--flag value or --flag=value):
  --host H             address to listen on (default 127.0.0.1)
  --port P             port; 0 lets the kernel pick (default 8080). Once bound, prints
                       "listening on HOST:PORT" on stdout.
  --replicas R         replicas (default 1)
  --concurrency C      requests in service at once per replica (default 1)
  --queue Q            waiting requests per replica before 503 (default 8)
  --service-ms MS      mean service time in ms (default 10; 0 answers at once)
  --service-dist D     fixed | uniform | lognormal (default fixed)
  --jitter J           uniform: +/- fraction of MS in [0,1]; lognormal: sigma of the
                       underlying normal, mean stays MS (default 0.5)
  --key K              require "Authorization: Bearer K" on /score, else 401
  --fail-rate F        answer 500 with probability F after the service time (default 0)
  --stall-after N      answer the first N /score requests normally; when request N+1
  --stall-ms M           arrives, hold every /score response and arrival for M ms, then
                         resume (once). For coordinated-omission tests.
  --threads T          event-loop threads sharing the port via SO_REUSEPORT (default 1)
  --seed S             random seed for service times, scores and failures
  --help               this text

Bad flags exit with code 2.
)";
}

}  // namespace stampede::target
