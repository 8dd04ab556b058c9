// stampede-target: a simulated model endpoint. See `stampede-target --help`.
#include <cstdio>
#include <vector>

#include "absl/strings/string_view.h"
#include "target/flags.h"
#include "target/server.h"

int main(int argc, char** argv) {
  std::vector<absl::string_view> args(argv + 1, argv + argc);
  auto opts = stampede::target::ParseTargetFlags(args);
  if (!opts.ok()) {
    std::fprintf(stderr, "stampede-target: %s\nrun 'stampede-target --help' for usage\n",
                 std::string(opts.status().message()).c_str());
    return 2;
  }
  if (opts->help) {
    std::fputs(stampede::target::TargetUsage().c_str(), stdout);
    return 0;
  }
  if (opts->version) {
    std::puts("stampede-target " STAMPEDE_VERSION);
    return 0;
  }
  auto server = stampede::target::Server::Create(*opts);
  if (!server.ok()) {
    std::fprintf(stderr, "stampede-target: %s\n", std::string(server.status().message()).c_str());
    return 1;
  }
  // Tests and scripts wait for exactly this line to learn the port.
  std::printf("listening on %s\n", (*server)->address().c_str());
  std::fflush(stdout);
  absl::Status status = (*server)->Run();
  if (!status.ok()) {
    std::fprintf(stderr, "stampede-target: %s\n", std::string(status.message()).c_str());
    return 1;
  }
  return 0;
}
