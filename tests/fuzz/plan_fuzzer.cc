// Plan loading on arbitrary bytes: ParsePlan with payload resolution on (into a folder of its own
// holding a JSON and a text payload) and an environment that has a key for every name. Beyond
// "no crash, no hang, no leak, no undefined behaviour" (the sanitizers and libFuzzer's time and
// memory limits), it checks what the loader promises:
//   - a plan that loads passes ValidatePlan, summarises, and loads again from protobuf's printing
//     of it with the same result (so stored and sent plans round-trip);
//   - a refusal is InvalidArgument, NotFound or another errno status, its message is short
//     (excerpts, not echoes) and never holds the key (unless the plan does).
#include <stdlib.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>

#include "absl/strings/string_view.h"
#include "common/plan_loader.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"

namespace {

namespace fs = std::filesystem;

constexpr char kKey[] = "sk-fuzz-0123456789";
// 20 listed problems of a few hundred bytes each at most (plan_validation.cc).
constexpr size_t kMaxMessageBytes = 16 << 10;

void Check(bool condition, const char* what, absl::string_view detail = "") {
  if (condition) return;
  std::fprintf(stderr, "plan_fuzzer: %s\n%.*s\n", what, static_cast<int>(detail.size()),
               detail.data());
  std::abort();
}

// A folder with the payloads plans may name, removed at exit. Never destroyed: the exit handler
// runs after static destructors would have.
const std::string& PayloadDir() {
  static const std::string* const dir = [] {
    auto* path =
        new std::string((fs::temp_directory_path() / "stampede_plan_fuzzer.XXXXXX").string());
    Check(::mkdtemp(path->data()) != nullptr, "mkdtemp failed");
    std::ofstream(fs::path(*path) / "payload.json") << R"({"inputs": [[0.1, 0.2]]})";
    std::ofstream(fs::path(*path) / "body.txt") << "not json";
    std::atexit([] {
      std::error_code ignored;
      fs::remove_all(PayloadDir(), ignored);
    });
    return path;
  }();
  return *dir;
}

stampede::PlanLoadOptions Options(bool resolve) {
  stampede::PlanLoadOptions options;
  options.base_dir = PayloadDir();
  options.env = [](std::string_view) -> std::optional<std::string> { return kKey; };
  options.resolve = resolve;
  return options;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view json(reinterpret_cast<const char*>(data), size);
  const absl::StatusOr<stampede::Plan> plan = stampede::ParsePlan(json, Options(true));
  if (!plan.ok()) {
    const absl::string_view message = plan.status().message();
    Check(!message.empty(), "empty error message");
    Check(message.size() <= kMaxMessageBytes, "error message too long", message.substr(0, 500));
    // Unless the plan itself says it (libFuzzer learns strings the code compares against).
    Check(message.find(kKey) == absl::string_view::npos || json.find(kKey) != json.npos,
          "error message holds the key", message);
    return 0;
  }
  Check(stampede::ValidatePlan(*plan).ok(), "a loaded plan fails ValidatePlan",
        plan->ShortDebugString());
  Check(!stampede::PlanSummary(*plan).empty(), "empty summary");

  const stampede::Plan stored = stampede::WithoutSecrets(*plan);
  std::string printed;
  Check(google::protobuf::util::MessageToJsonString(stored, &printed).ok(), "cannot print");
  const absl::StatusOr<stampede::Plan> again = stampede::ParsePlan(printed, Options(false));
  Check(again.ok(), "a printed plan does not load again",
        again.ok() ? "" : std::string(again.status().message()) + "\n" + printed);
  Check(google::protobuf::util::MessageDifferencer::Equals(stored, *again),
        "a printed plan loads differently", printed);
  return 0;
}
