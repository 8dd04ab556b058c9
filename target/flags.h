// Command-line options of stampede-target and their parser.
#ifndef STAMPEDE_TARGET_FLAGS_H_
#define STAMPEDE_TARGET_FLAGS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace stampede::target {

enum class ServiceDist { kFixed, kUniform, kLognormal };

struct TargetOptions {
  std::string host = "127.0.0.1";
  int port = 8080;
  int replicas = 1;
  int concurrency = 1;     // concurrent requests in service per replica
  int queue = 8;           // waiting requests per replica before 503
  double service_ms = 10;  // mean service time
  ServiceDist service_dist = ServiceDist::kFixed;
  double jitter = 0.5;  // uniform: +/- fraction of service_ms; lognormal: sigma
  std::string key;      // empty: no authentication
  double fail_rate = 0;
  int64_t stall_after = 0;       // requests answered normally before the stall
  double stall_ms = 0;           // 0: no stall
  int threads = 1;               // event-loop threads
  std::optional<uint64_t> seed;  // unset: seeded from std::random_device
  bool help = false;             // -h/--help: print TargetUsage() and exit 0
  bool version = false;          // --version
};

// Parses argv[1..] with the common parser (common/flags.h): "--flag value" or "--flag=value". An
// error names the offending flag; the caller prints it and exits 2. With -h/--help (or
// --version) only `help` (or `version`) is set and nothing else is checked.
absl::StatusOr<TargetOptions> ParseTargetFlags(const std::vector<absl::string_view>& args);

// The --help text: every flag with its default.
std::string TargetUsage();

}  // namespace stampede::target

#endif  // STAMPEDE_TARGET_FLAGS_H_
