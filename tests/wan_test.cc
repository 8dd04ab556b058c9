// Multi-region runs under simulated WAN conditions, with real processes on one machine.
//
// One network namespace per region holds that region's `stampede-agent` and its own
// `stampede-target` (every region's target on the same port, so one plan URL serves all); the
// coordinator (`stampede serve`) lives in another namespace. Each region reaches the coordinator
// over its own veth pair, through a `stampede-delay-relay` on the coordinator's side of the link
// (no netem on this kernel), with round trips of about 20, 90 and 250 ms, jitter, and an
// asymmetric path on one region. The far region's agent runs with CLOCK_REALTIME shifted by +3 s
// (libfaketime; CLOCK_MONOTONIC untouched). A zero-delay relay in front of each target notes when
// each agent's first request really arrived, on the machine's true clock.
//
// Namespaces need root: without it (or without a working `ip netns`) every test here is skipped
// with the reason. Names carry the test process's id, so that `ctest -j2` can run two at once,
// and are removed when a test ends, passed or failed (and at the next start if a test process
// was killed before it could).
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/json_reader.h"
#include "tests/support/e2e.h"
#include "tests/support/process.h"

namespace stampede {
namespace {

using testing::BinPath;
using testing::ChildProcess;
using testing::PollUntil;
using testing::Query;
using testing::RunCommand;

// The simulated regions. up: agent -> coordinator, down: coordinator -> agent (one way, ms).
struct Region {
  const char* name;
  int up_ms;
  int down_ms;
  int jitter_ms;
  int clock_shift_s;  // the agent's CLOCK_REALTIME minus the true one
};
constexpr Region kRegions[] = {
    {"eastus", 10, 10, 2, 0},
    {"westeurope", 60, 30, 5, 0},  // asymmetric: 90 ms round trip, 60 of it on the way up
    {"southeastasia", 125, 125, 5, 3},
};
constexpr int kRegionCount = 3;

// Slack for a loaded 2-core machine on top of what the simulated links explain.
constexpr int64_t kSchedulingSlackNs = 5'000'000;

int64_t WallNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The `ip` binary (ChildProcess runs a path, it does not search PATH).
const std::string& IpPath() {
  static const std::string path = [] {
    for (const char* dir : {"/usr/sbin", "/sbin", "/usr/bin", "/bin"}) {
      const std::string p = absl::StrCat(dir, "/ip");
      if (access(p.c_str(), X_OK) == 0) return p;
    }
    return std::string("ip");
  }();
  return path;
}

absl::Status Ip(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {IpPath()};
  argv.insert(argv.end(), args.begin(), args.end());
  auto result = RunCommand(argv, {}, std::chrono::seconds(20));
  if (!result.ok()) return result.status();
  if (result->exit_code != 0) {
    return absl::InternalError(absl::StrCat(absl::StrJoin(argv, " "), " failed (",
                                            result->exit_code,
                                            "): ", absl::StripAsciiWhitespace(result->output)));
  }
  return absl::OkStatus();
}

// `argv` run inside network namespace `ns`. setpriv's parent-death signal makes the child die
// with the test process even if that is killed outright, instead of running on in a namespace
// nobody will delete.
std::vector<std::string> InNamespace(const std::string& ns, const std::vector<std::string>& argv) {
  std::vector<std::string> out = {IpPath(),  "netns",       "exec", ns,
                                  "setpriv", "--pdeathsig", "KILL", "--"};
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

// Runs `fn` on a thread that has entered network namespace `ns` (network namespaces are per
// thread), so that the test can reach a server inside it on that namespace's loopback.
template <typename F>
auto CallInNamespace(const std::string& ns, F fn) -> decltype(fn()) {
  decltype(fn()) result{};
  std::thread([&] {
    const int fd = open(absl::StrCat("/run/netns/", ns).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
      ADD_FAILURE() << "cannot enter namespace " << ns << ": " << strerror(errno);
      if (fd >= 0) close(fd);
      return;
    }
    close(fd);
    result = fn();
  }).join();
  return result;
}

// The namespaces and links of one test: "stampede-wan-PID-N-coord" and one
// "stampede-wan-PID-N-rK" per region, joined by veth pairs cK (10.77.K.1, coordinator side)
// and rK (10.77.K.2). Everything is created inside the namespaces: nothing is added to the
// namespace the test runs in, and deleting the namespaces removes the links.
class WanNetwork {
 public:
  static absl::StatusOr<std::unique_ptr<WanNetwork>> Create(int regions) {
    RemoveStale();
    static int instance = 0;
    const std::string prefix = absl::StrCat(kPrefix, getpid(), "-", instance++, "-");
    std::unique_ptr<WanNetwork> net(new WanNetwork());
    net->coordinator_ = prefix + "coord";
    if (auto s = net->Add(net->coordinator_); !s.ok()) return s;
    for (int i = 0; i < regions; ++i) {
      const std::string ns = absl::StrCat(prefix, "r", i);
      if (auto s = net->Add(ns); !s.ok()) return s;
      net->regions_.push_back(ns);
      const std::string c = absl::StrCat("c", i);
      const std::string r = absl::StrCat("r", i);
      for (const auto& args : std::vector<std::vector<std::string>>{
               {"-n", net->coordinator_, "link", "add", c, "type", "veth", "peer", "name", r,
                "netns", ns},
               {"-n", net->coordinator_, "addr", "add", absl::StrCat("10.77.", i, ".1/24"), "dev",
                c},
               {"-n", net->coordinator_, "link", "set", c, "up"},
               {"-n", ns, "addr", "add", absl::StrCat("10.77.", i, ".2/24"), "dev", r},
               {"-n", ns, "link", "set", r, "up"}}) {
        if (auto s = Ip(args); !s.ok()) return s;
      }
    }
    return net;
  }
  WanNetwork(const WanNetwork&) = delete;
  WanNetwork& operator=(const WanNetwork&) = delete;
  ~WanNetwork() {
    for (const std::string& ns : created_) (void)Ip({"netns", "del", ns});
  }

  const std::string& coordinator() const { return coordinator_; }
  const std::string& region(int i) const { return regions_[static_cast<size_t>(i)]; }
  // The coordinator's end of region i's link.
  static std::string CoordinatorSide(int i) { return absl::StrCat("10.77.", i, ".1"); }
  // Takes region i's link down (every packet between it and the coordinator is lost, as on a
  // real outage: no reset, nothing) or back up.
  absl::Status SetRegionLink(int i, bool up) {
    return Ip({"-n", coordinator_, "link", "set", absl::StrCat("c", i), up ? "up" : "down"});
  }

 private:
  static constexpr char kPrefix[] = "stampede-wan-";

  WanNetwork() = default;

  absl::Status Add(const std::string& ns) {
    if (auto s = Ip({"netns", "add", ns}); !s.ok()) return s;
    created_.push_back(ns);
    return Ip({"-n", ns, "link", "set", "lo", "up"});
  }

  // Namespaces left by a test process that was killed before its destructors ran.
  static void RemoveStale() {
    auto list = RunCommand({IpPath(), "netns", "list"});
    if (!list.ok()) return;
    for (absl::string_view line : absl::StrSplit(list->output, '\n', absl::SkipEmpty())) {
      const std::string name(line.substr(0, line.find(' ')));
      if (!absl::StartsWith(name, kPrefix)) continue;
      absl::string_view rest = absl::string_view(name).substr(sizeof(kPrefix) - 1);
      int pid = 0;
      if (!absl::SimpleAtoi(rest.substr(0, rest.find('-')), &pid) || pid == getpid()) continue;
      if (!Alive(pid)) (void)Ip({"netns", "del", name});
    }
  }

  // A process that exists and is not a zombie (a killed test whose parent has not reaped it).
  static bool Alive(int pid) {
    if (kill(pid, 0) != 0 && errno == ESRCH) return false;
    std::ifstream stat(absl::StrCat("/proc/", pid, "/stat"));
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    const size_t paren = text.rfind(')');  // the command name may hold spaces and parentheses
    return paren == std::string::npos || text.substr(paren + 1, 3) != " Z ";
  }

  std::string coordinator_;
  std::vector<std::string> regions_;
  std::vector<std::string> created_;
};

std::string FindLibfaketime() {
  std::error_code ec;
  for (const auto& dir : std::filesystem::directory_iterator("/usr/lib", ec)) {
    const auto lib = dir.path() / "faketime" / "libfaketime.so.1";
    if (std::filesystem::exists(lib, ec)) return lib.string();
  }
  return "";
}

// A member of a parsed JSON object ("" path parts walk down objects); null when absent.
const google::protobuf::Value& Member(const google::protobuf::Value& v,
                                      const std::vector<std::string>& path) {
  static const google::protobuf::Value kNull;
  const google::protobuf::Value* at = &v;
  for (const std::string& key : path) {
    const auto& fields = at->struct_value().fields();
    const auto it = fields.find(key);
    if (it == fields.end()) return kNull;
    at = &it->second;
  }
  return *at;
}

// Everything a run needs, started in SetUp: namespaces, targets (with the first-byte relays in
// front), the coordinator, the delaying relays and one agent per region, all registered.
class Wan : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) {
      GTEST_SKIP() << "the WAN simulation needs root (network namespaces); run as root or see "
                      "examples/multiregion/README.md";
    }
    auto net = WanNetwork::Create(kRegionCount);
    if (!net.ok()) {
      GTEST_SKIP() << "cannot create network namespaces here: " << net.status();
    }
    net_ = std::move(*net);
    faketime_ = FindLibfaketime();
    dir_ = testing::UniqueTestDir("stampede-wan");
    db_ = (dir_ / "stampede.db").string();

    // Targets, then the zero-delay relays in front of them: the same ports in every region.
    int target_port = 0;
    int front_port = 0;
    for (int i = 0; i < kRegionCount; ++i) {
      targets_.push_back(
          Start(net_->region(i),
                {BinPath("stampede-target"), "--port", absl::StrCat(target_port), "--replicas", "4",
                 "--concurrency", "16", "--queue", "64", "--service-ms", "2"},
                &target_port));
      ASSERT_NE(targets_.back(), nullptr);
      fronts_.push_back(Start(
          net_->region(i),
          {BinPath("stampede-delay-relay"), "--listen", absl::StrCat("127.0.0.1:", front_port),
           "--to", absl::StrCat("127.0.0.1:", target_port)},
          &front_port));
      ASSERT_NE(fronts_.back(), nullptr);
    }
    target_port_ = target_port;
    url_port_ = front_port;

    StartCoordinator();
    ASSERT_NE(serve_, nullptr);
    for (int i = 0; i < kRegionCount; ++i) {
      const Region& r = kRegions[i];
      int relay_port = 0;
      relays_.push_back(
          Start(net_->coordinator(),
                {BinPath("stampede-delay-relay"), "--listen",
                 absl::StrCat(WanNetwork::CoordinatorSide(i), ":0"), "--to", address_,
                 "--up-delay-ms", absl::StrCat(r.up_ms), "--down-delay-ms", absl::StrCat(r.down_ms),
                 "--jitter-ms", absl::StrCat(r.jitter_ms), "--seed", absl::StrCat(i + 1)},
                &relay_port));
      ASSERT_NE(relays_.back(), nullptr);
      std::vector<std::string> argv;
      if (r.clock_shift_s != 0 && shift_clocks_ && !faketime_.empty()) {
        // CLOCK_REALTIME shifted; CLOCK_MONOTONIC, which the agent schedules on, left alone.
        argv = {"env", "LD_PRELOAD=" + faketime_, absl::StrCat("FAKETIME=+", r.clock_shift_s, "s"),
                "FAKETIME_DONT_FAKE_MONOTONIC=1"};
      }
      for (const std::string& a :
           {BinPath("stampede-agent"), std::string("--coordinator"),
            absl::StrCat(WanNetwork::CoordinatorSide(i), ":", relay_port), std::string("--name"),
            absl::StrCat("agent-", r.name), std::string("--region"), std::string(r.name),
            std::string("--threads"), std::string("1")}) {
        argv.push_back(a);
      }
      auto agent = ChildProcess::Start(InNamespace(net_->region(i), argv));
      ASSERT_TRUE(agent.ok()) << agent.status();
      agents_.push_back(std::make_unique<ChildProcess>(std::move(*agent)));
    }
    ASSERT_TRUE(PollUntil(
        [&] {
          auto out = Cli({"agents"});
          size_t idle = 0;
          for (absl::string_view l : absl::StrSplit(out, '\n'))
            idle += absl::StrContains(l, " idle ");
          return idle == kRegionCount;
        },
        std::chrono::seconds(20)))
        << "the agents did not register: " << Cli({"agents"});
  }

  // On a failure, what the coordinator and the agents said: the end of each one's output.
  void TearDown() override {
    if (!HasFailure()) return;
    auto dump = [](const std::string& what, ChildProcess* child) {
      if (child == nullptr) return;
      child->Signal(SIGTERM);
      (void)child->Wait(std::chrono::seconds(5));
      const std::string& out = child->output();
      const size_t from = out.size() > 3000 ? out.size() - 3000 : 0;
      std::cout << "---- " << what << " (last " << out.size() - from << " bytes)\n"
                << out.substr(from) << "\n";
    };
    dump("stampede serve", serve_.get());
    for (size_t i = 0; i < agents_.size(); ++i) {
      dump(absl::StrCat("agent ", kRegions[i].name), agents_[i].get());
    }
  }

  // Starts argv in namespace ns and reads its "listening on HOST:PORT" line into *port.
  std::unique_ptr<ChildProcess> Start(const std::string& ns, const std::vector<std::string>& argv,
                                      int* port) {
    auto child = ChildProcess::Start(InNamespace(ns, argv));
    EXPECT_TRUE(child.ok()) << child.status();
    if (!child.ok()) return nullptr;
    auto line = child->WaitForLine("listening on", std::chrono::seconds(15));
    EXPECT_TRUE(line.ok()) << line.status() << "\n" << child->output();
    if (!line.ok()) return nullptr;
    EXPECT_TRUE(
        absl::SimpleAtoi(absl::StripAsciiWhitespace(line->substr(line->rfind(':') + 1)), port))
        << *line;
    return std::make_unique<ChildProcess>(std::move(*child));
  }

  // `stampede serve` in the coordinator's namespace, on loopback there: on a fresh port the first
  // time, then on the same address (a restart).
  void StartCoordinator() {
    const std::string listen = address_.empty() ? "127.0.0.1:0" : address_;
    auto serve = ChildProcess::Start(InNamespace(
        net_->coordinator(), {BinPath("stampede"), "serve", "--listen", listen, "--db", db_}));
    ASSERT_TRUE(serve.ok()) << serve.status();
    auto line = serve->WaitForLine("coordinator listening on", std::chrono::seconds(15));
    ASSERT_TRUE(line.ok()) << line.status() << "\n" << serve->output();
    const size_t on = line->find(" on ") + 4;
    address_ = std::string(absl::StripAsciiWhitespace(line->substr(on, line->find(',') - on)));
    serve_ = std::make_unique<ChildProcess>(std::move(*serve));
  }

  // A `stampede` command against the coordinator (run from its namespace); its output.
  std::string Cli(std::vector<std::string> args,
                  std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    args.insert(args.begin(), BinPath("stampede"));
    args.push_back("--coordinator");
    args.push_back(address_);
    auto out = RunCommand(InNamespace(net_->coordinator(), args), {}, timeout);
    if (!out.ok()) return absl::StrCat("error: ", out.status().ToString());
    return out->output;
  }

  // Starts the plan with `stages` on every agent and returns its id once started.
  std::string StartRun(const std::string& stages) {
    const std::string plan = testing::WritePlan(dir_, url_port_, stages, "{}");
    const std::string out = Cli({"run", plan, "--detach"});
    const size_t at = out.find("r-");
    EXPECT_NE(at, std::string::npos) << out;
    if (at == std::string::npos) return "";
    return std::string(
        absl::StripAsciiWhitespace(out.substr(at, out.find_first_of(" \n", at) - at)));
  }

  // Follows the run to its end (`stampede watch`); its final state line.
  std::string Watch(const std::string& run_id) {
    return Cli({"watch", run_id}, std::chrono::seconds(90));
  }

  // Requests region i's stampede-target served (its /stats).
  int64_t Served(int i) {
    const int port = target_port_;
    return CallInNamespace(net_->region(i), [port] { return testing::ServerRequests(port); });
  }

  int64_t StoredInt(const std::string& sql) {
    const auto rows = Query(db_, sql);
    if (rows.empty() || rows[0].empty()) return -1;
    return testing::Int(rows[0][0]);
  }
  int64_t StoredForRegion(const std::string& run_id, int i) {
    return StoredInt(absl::StrCat("SELECT COUNT(*) FROM records WHERE run_id='", run_id,
                                  "' AND region='", kRegions[i].name, "'"));
  }
  // Distinct (agent, intended start): with one worker per agent and constant arrivals each
  // request has its own, so a record stored twice would make this smaller than the count.
  int64_t DistinctRecords(const std::string& run_id) {
    return StoredInt(absl::StrCat(
        "SELECT COUNT(*) FROM (SELECT DISTINCT agent, ts_ns FROM records WHERE run_id='", run_id,
        "')"));
  }
  std::string RunState(const std::string& run_id) {
    const auto rows =
        Query(db_, absl::StrCat("SELECT state FROM runs WHERE run_id='", run_id, "'"));
    return rows.empty() ? "" : rows[0][0];
  }

  // The report's JSON from the coordinator.
  google::protobuf::Value Report(const std::string& run_id) {
    const std::string text = Cli({"report", run_id, "--format", "json"});
    auto json = ReadJson(text, {.max_bytes = 16 << 20, .max_depth = 64});
    EXPECT_TRUE(json.ok()) << json.status() << "\n" << text;
    return json.ok() ? *json : google::protobuf::Value();
  }

  // Every region's stampede-target count equals the records the store holds for that region, and
  // what the run was meant to send; no record twice.
  void ExpectEveryRequestStoredOnce(const std::string& run_id, int64_t per_region) {
    int64_t total = 0;
    for (int i = 0; i < kRegionCount; ++i) {
      EXPECT_EQ(Served(i), per_region) << kRegions[i].name << ": the agent ran its whole schedule";
      EXPECT_EQ(StoredForRegion(run_id, i), per_region) << kRegions[i].name << ": every record";
      total += per_region;
    }
    EXPECT_EQ(DistinctRecords(run_id), total) << "none twice";
    EXPECT_TRUE(PollUntil(
        [&] {
          return StoredInt(absl::StrCat("SELECT requests FROM runs WHERE run_id='", run_id, "'")) ==
                 total;
        },
        std::chrono::seconds(10)))
        << "the stored report counts them all";
  }

  // Whether the regions' agents get their clock shifts (kRegions). libfaketime shifts what the
  // process reads, not the kernel's clock: a timed wait that the agent (abseil, gRPC) turns into
  // an absolute CLOCK_REALTIME deadline for the kernel lasts the shift longer than asked (3.1 s
  // for 100 ms at +3 s). Nothing is lost to it, but a timeout-paced step of a shifted agent is
  // slowed by the shift, an artifact of the simulation that a real skewed clock does not have.
  bool shift_clocks_ = true;
  std::unique_ptr<WanNetwork> net_;  // first: destroyed after every process in it
  std::string faketime_;
  std::filesystem::path dir_;
  std::string db_;
  std::string address_;  // the coordinator's, inside its namespace
  int target_port_ = 0;  // stampede-target's, in every region
  int url_port_ = 0;     // the first-byte relay's in front of it, in every region: the plan's
  std::vector<std::unique_ptr<ChildProcess>> targets_;
  std::vector<std::unique_ptr<ChildProcess>> fronts_;
  std::unique_ptr<ChildProcess> serve_;
  std::vector<std::unique_ptr<ChildProcess>> relays_;
  std::vector<std::unique_ptr<ChildProcess>> agents_;
};

// The synchronised start, checked against the truth: the instant each agent's first request
// reached its region's server (the first-byte relay, on the machine's own clock, which is the
// coordinator's) against the start the coordinator scheduled. Offset estimation is two-way, so
// a path with different delays each way is misjudged by half the difference, and the start on
// that region moves by as much: that is measured too, and it stays within the stated
// uncertainty.
TEST_F(Wan, EveryAgentStartsOnTheCoordinatorsInstantAndItsClockOffsetIsMeasured) {
  if (faketime_.empty()) {
    GTEST_SKIP() << "libfaketime is not installed (apt-get install faketime; scripts/setup.sh "
                    "installs it): no agent clock can be shifted";
  }
  const std::string run_id = StartRun(R"([{"rate": 50, "duration": "2s"}])");
  ASSERT_FALSE(run_id.empty());
  const std::string watched = Watch(run_id);
  ASSERT_TRUE(absl::StrContains(watched, "state finished")) << watched;

  const int64_t start_ns =
      StoredInt(absl::StrCat("SELECT started_ns FROM runs WHERE run_id='", run_id, "'"));
  const auto report = Report(run_id);
  // A double carries ns since 1970 to within 256 ns.
  EXPECT_NEAR(Member(report, {"startedNs"}).number_value(), static_cast<double>(start_ns), 1e3)
      << "the report's start is the stored one";
  std::map<std::string, const google::protobuf::Value*> reported;
  for (const auto& a : Member(report, {"byAgent"}).list_value().values()) {
    reported[Member(a, {"region"}).string_value()] = &a;
  }
  const std::string agents_json = Cli({"agents", "--json"});
  auto agents = ReadJson(agents_json, {.max_bytes = 1 << 20, .max_depth = 16});
  ASSERT_TRUE(agents.ok()) << agents.status() << "\n" << agents_json;

  for (int i = 0; i < kRegionCount; ++i) {
    const Region& r = kRegions[i];
    SCOPED_TRACE(r.name);
    // The clock offset the coordinator measured, from the store (the run's), the report and
    // `stampede agents --json`: the injected shift, off by half the path's asymmetry.
    const auto row = Query(db_, absl::StrCat("SELECT clock_offset_ns, clock_uncertainty_ns FROM "
                                             "run_agents WHERE run_id='",
                                             run_id, "' AND region='", r.name, "'"));
    ASSERT_EQ(row.size(), 1u);
    const int64_t offset_ns = testing::Int(row[0][0]);
    const int64_t uncertainty_ns = testing::Int(row[0][1]);
    const int64_t shift_ns = int64_t{r.clock_shift_s} * 1'000'000'000;
    const int64_t asymmetry_ns = int64_t{r.down_ms - r.up_ms} * 1'000'000 / 2;
    const int64_t jitter_ns = int64_t{r.jitter_ms} * 1'000'000;
    EXPECT_LE(std::abs(offset_ns - shift_ns), uncertainty_ns)
        << "offset " << offset_ns / 1e6 << " ms, injected " << r.clock_shift_s << " s, stated +/- "
        << uncertainty_ns / 1e6 << " ms";
    EXPECT_LE(std::abs(offset_ns - shift_ns - asymmetry_ns), jitter_ns + kSchedulingSlackNs)
        << "offset " << offset_ns / 1e6 << " ms: expected the shift plus half the asymmetry, "
        << (shift_ns + asymmetry_ns) / 1e6 << " ms";
    const int64_t rtt_ns = int64_t{r.up_ms + r.down_ms} * 1'000'000;
    EXPECT_GE(2 * uncertainty_ns, rtt_ns - 2 * jitter_ns) << "the uncertainty is half a round trip";
    EXPECT_LE(2 * uncertainty_ns, rtt_ns + 2 * jitter_ns + 2 * kSchedulingSlackNs);
    ASSERT_TRUE(reported.count(r.name));
    EXPECT_NEAR(Member(*reported[r.name], {"clockOffsetMs"}).number_value(), offset_ns / 1e6,
                0.002);
    EXPECT_NEAR(Member(*reported[r.name], {"clockUncertaintyMs"}).number_value(),
                uncertainty_ns / 1e6, 0.002);
    bool listed = false;
    for (const auto& a : agents->list_value().values()) {
      if (Member(a, {"region"}).string_value() != r.name) continue;
      listed = true;
      EXPECT_NEAR(Member(a, {"clockOffsetMs"}).number_value(), offset_ns / 1e6, 0.002);
    }
    EXPECT_TRUE(listed) << agents_json;

    // On the coordinator's timeline (the store), the first record is at the start: its intended
    // time, corrected by the offset, and the request left within a few ms of it (the agent's
    // own measure, latency minus service time).
    const auto first =
        Query(db_, absl::StrCat("SELECT ts_ns, latency_us - service_us FROM "
                                "records WHERE run_id='",
                                run_id, "' AND region='", r.name, "' ORDER BY ts_ns LIMIT 1"));
    ASSERT_EQ(first.size(), 1u);
    // (Record times are offsets from the run's origin, rounded: a few hundred ns either way.)
    EXPECT_LE(std::abs(testing::Int(first[0][0]) - start_ns), 1'000'000);
    EXPECT_LE(testing::Int(first[0][1]), kSchedulingSlackNs / 1000) << "sent late by (us)";

    // The truth: when it reached the server, on the true clock.
    fronts_[static_cast<size_t>(i)]->Signal(SIGTERM);
    ASSERT_TRUE(fronts_[static_cast<size_t>(i)]->Wait(std::chrono::seconds(10)).ok());
    int64_t first_byte_ns = INT64_MAX;
    for (absl::string_view l :
         absl::StrSplit(fronts_[static_cast<size_t>(i)]->output(), '\n', absl::SkipEmpty())) {
      const size_t at = l.find("wall_ns=");
      int64_t ns = 0;
      if (at != absl::string_view::npos && absl::SimpleAtoi(l.substr(at + 8), &ns)) {
        first_byte_ns = std::min(first_byte_ns, ns);
      }
    }
    ASSERT_NE(first_byte_ns, INT64_MAX) << fronts_[static_cast<size_t>(i)]->output();
    // The agent takes the start as start + its measured offset on its own clock, so it starts
    // late by (measured offset - true offset): minus half the asymmetry, plus jitter.
    const int64_t error_ns = first_byte_ns - start_ns;
    const int64_t expected_error_ns = offset_ns - shift_ns;
    std::cout << r.name << ": first request " << error_ns / 1e6
              << " ms after the scheduled start (path asymmetry predicts " << asymmetry_ns / 1e6
              << " ms); offset " << offset_ns / 1e6 << " +/- " << uncertainty_ns / 1e6 << " ms\n";
    EXPECT_LE(std::abs(error_ns - expected_error_ns), kSchedulingSlackNs)
        << "first request " << error_ns / 1e6 << " ms after the start; the offset's error "
        << expected_error_ns / 1e6 << " ms explains all but the scheduling; the agent says it "
        << "sent it " << testing::Int(first[0][1]) / 1e3 << " ms late (a busy CPU?)";
    EXPECT_LE(std::abs(error_ns), uncertainty_ns + kSchedulingSlackNs)
        << "within the stated uncertainty";
    if (r.up_ms == r.down_ms) {
      EXPECT_LE(std::abs(error_ns), jitter_ns + kSchedulingSlackNs)
          << "a symmetric path starts within a few ms of the coordinator's instant";
    }
  }
}

// What the report says each region did is what each region's server saw, exactly.
TEST_F(Wan, ThePerRegionReportMatchesEachRegionsServerExactly) {
  // Closed model: how many requests each region makes is not known in advance.
  const std::string run_id = StartRun(R"([{"concurrency": 2, "duration": "3s"}])");
  ASSERT_FALSE(run_id.empty());
  const std::string watched = Watch(run_id);
  ASSERT_TRUE(absl::StrContains(watched, "state finished")) << watched;
  const auto report = Report(run_id);
  int64_t total = 0;
  for (int i = 0; i < kRegionCount; ++i) {
    const Region& r = kRegions[i];
    const int64_t served = Served(i);
    EXPECT_GT(served, 100) << r.name;
    EXPECT_EQ(static_cast<int64_t>(Member(report, {"byRegion", r.name, "requests"}).number_value()),
              served)
        << r.name;
    EXPECT_EQ(Member(report, {"byRegion", r.name, "errors"}).number_value(), 0) << r.name;
    EXPECT_EQ(StoredForRegion(run_id, i), served) << r.name;
    total += served;
    std::cout << r.name << ": report "
              << Member(report, {"byRegion", r.name, "requests"}).number_value() << ", server "
              << served << "\n";
  }
  EXPECT_EQ(static_cast<int64_t>(Member(report, {"totals", "requests"}).number_value()), total);
}

// A region cut off for 10 s mid-run (its link down: packets lost, no reset) is declared lost by
// the coordinator and keeps running; when the link returns its records arrive and the run ends
// with every one of them.
TEST_F(Wan, ARegionCutOffForTenSecondsLosesNoRecord) {
  constexpr int kFar = 2;
  const std::string run_id = StartRun(R"([{"rate": 100, "duration": "15s"}])");
  ASSERT_FALSE(run_id.empty());
  ASSERT_TRUE(
      PollUntil([&] { return StoredForRegion(run_id, kFar) >= 100; }, std::chrono::seconds(15)));

  ASSERT_TRUE(net_->SetRegionLink(kFar, false).ok());
  const auto cut_at = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(1));  // what was in flight lands
  const int64_t stored_early = StoredForRegion(run_id, kFar);
  const int64_t served_early = Served(kFar);
  std::this_thread::sleep_for(cut_at + std::chrono::seconds(10) -
                              std::chrono::steady_clock::now());  // the outage itself
  const int64_t stored_late = StoredForRegion(run_id, kFar);
  const int64_t served_late = Served(kFar);
  ASSERT_TRUE(net_->SetRegionLink(kFar, true).ok());
  EXPECT_EQ(stored_late, stored_early) << "nothing crossed the cut link";
  EXPECT_GT(served_late - served_early, 800) << "the agent kept its schedule meanwhile";

  ASSERT_TRUE(PollUntil(
      [&] {
        return RunState(run_id) != "running" &&
               StoredInt(absl::StrCat("SELECT requests FROM runs WHERE run_id='", run_id, "'")) ==
                   3 * 1500;
      },
      std::chrono::seconds(45)))
      << RunState(run_id) << ", " << StoredForRegion(run_id, kFar) << " stored for the far region";
  EXPECT_EQ(RunState(run_id), "finished");
  ExpectEveryRequestStoredOnce(run_id, 1500);
}

// The coordinator killed outright mid-run and restarted on the same store and address; the
// relays and agents are left as they are. The run ends normally with every record.
TEST_F(Wan, ACoordinatorRestartedMidRunLosesNoRecord) {
  const std::string run_id = StartRun(R"([{"rate": 100, "duration": "8s"}])");
  ASSERT_FALSE(run_id.empty());
  ASSERT_TRUE(PollUntil(
      [&] {
        return StoredInt(absl::StrCat("SELECT COUNT(*) FROM records WHERE "
                                      "run_id='",
                                      run_id, "'")) >= 600;
      },
      std::chrono::seconds(15)));
  serve_->Signal(SIGKILL);
  ASSERT_TRUE(serve_->Wait(std::chrono::seconds(10)).ok());
  const int64_t stored_at_kill =
      StoredInt(absl::StrCat("SELECT COUNT(*) FROM records WHERE run_id='", run_id, "'"));
  StartCoordinator();
  ASSERT_NE(serve_, nullptr);
  EXPECT_TRUE(absl::StrContains(serve_->output(), "event=recovered")) << serve_->output();

  const std::string watched = Watch(run_id);
  EXPECT_TRUE(absl::StrContains(watched, "state finished")) << watched;
  EXPECT_LT(stored_at_kill, 3 * 800);
  ExpectEveryRequestStoredOnce(run_id, 800);
}

// The same, with every agent on the true clock: for a test that bounds how long a step takes,
// where the stretched timed waits of a libfaketime-shifted agent (see shift_clocks_) would
// measure the simulation rather than the link.
class WanTrueClocks : public Wan {
 protected:
  WanTrueClocks() { shift_clocks_ = false; }
};

// The agents' request rate does not depend on their link to the coordinator: the 250 ms region
// achieves the planned rate like the 20 ms one, its records reach the store while the run goes
// on, not one batch per round trip at the end, and the run ends when its schedule does.
TEST_F(WanTrueClocks, TheRunsThroughputIsNotLimitedByTheCoordinatorLinksDelay) {
  constexpr int kRate = 300;
  constexpr int kSeconds = 5;
  const std::string run_id =
      StartRun(absl::StrCat(R"([{"rate": )", kRate, R"(, "duration": ")", kSeconds, R"(s"}])"));
  ASSERT_FALSE(run_id.empty());
  const int64_t start_ns =
      StoredInt(absl::StrCat("SELECT started_ns FROM runs WHERE run_id='", run_id, "'"));
  // Mid-run, how far behind its schedule is each region's ingest?
  std::this_thread::sleep_for(std::chrono::nanoseconds(start_ns + 3'000'000'000 - WallNs()));
  for (int i = 0; i < kRegionCount; ++i) {
    const int64_t stored = StoredForRegion(run_id, i);
    const double behind_s = (WallNs() - start_ns) / 1e9 - static_cast<double>(stored) / kRate;
    std::cout << kRegions[i].name << ": records stored " << behind_s * 1000
              << " ms behind the schedule at 3 s\n";
    // Flushes every 100 ms, then one trip up (125 ms at most) and the store's commit.
    EXPECT_LT(behind_s, 0.6) << kRegions[i].name << ": " << stored << " stored";
  }
  const std::string watched = Watch(run_id);
  ASSERT_TRUE(absl::StrContains(watched, "state finished")) << watched;
  const auto report = Report(run_id);
  for (int i = 0; i < kRegionCount; ++i) {
    const Region& r = kRegions[i];
    EXPECT_EQ(Served(i), kRate * kSeconds) << r.name;
    EXPECT_NEAR(Member(report, {"byRegion", r.name, "throughputRps"}).number_value(), kRate,
                kRate * 0.03)
        << r.name;
  }
  EXPECT_EQ(Member(report, {"totals", "dropped"}).number_value(), 0);
  const int64_t ended_ns =
      StoredInt(absl::StrCat("SELECT ended_ns FROM runs WHERE run_id='", run_id, "'"));
  EXPECT_LT(ended_ns - start_ns, (kSeconds + 1) * 1'000'000'000LL)
      << "the run ended " << (ended_ns - start_ns) / 1e9 << " s after its start";
}

}  // namespace
}  // namespace stampede
