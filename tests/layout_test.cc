// Guards the folder layout (docs: DESIGN.md, "Layout"): data flows one way, so folders include
// each other only one way. Reads the project's own sources (STAMPEDE_SOURCE_DIR), collects the
// `#include "folder/..."` lines of every .h/.cc in the product folders and checks them against the
// rules below, then checks that the folder-level include graph has no cycle. The checker is also
// run on small synthetic trees, so that a pass means the rules were really applied.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/e2e.h"

namespace stampede::testing {
namespace {

namespace fs = std::filesystem;

// ---- The rules. --------------------------------------------------------------------------------
// A folder may always include its own files; each row limits what else its files may include.
//   kOnly:  may include no folder of ours but `folders` (none: only itself).
//   kNever: may not include any of `folders`.
// `folders` is a space-separated list. "*" applies the row to every product folder (but, as
// above, never to a folder's own files). Includes whose first component is not one of
// kOurFolders (absl/..., gtest/..., "plan.pb.h", <sys/socket.h>) are not ours and never checked.
enum class Kind { kOnly, kNever };
struct Rule {
  std::string_view folder;
  Kind kind;
  std::string_view folders;
  std::string_view why;
};
// clang-format off
constexpr Rule kRules[] = {
  // folder       kind          folders                            why
  {"common",      Kind::kOnly,  "",                                "common/ is the shared base"},
  {"target",      Kind::kOnly,  "common",                          "the target stands alone"},
  {"agent",       Kind::kNever, "coordinator cli saturate",        "agents speak gRPC only"},
  {"coordinator", Kind::kNever, "agent cli report saturate",       "coordinator/ is the service"},
  {"report",      Kind::kNever, "agent coordinator cli saturate",  "reports read RunReports"},
  {"saturate",    Kind::kNever, "agent coordinator cli",           "search steps are injected"},
  {"*",           Kind::kNever, "cli",                             "cli/ composes the others"},
  {"*",           Kind::kNever, "tests bench",                     "no test code in the product"},
};
// clang-format on

// Folders whose files are checked.
constexpr std::string_view kProductFolders[] = {"common", "agent",    "coordinator", "cli",
                                                "report", "saturate", "target"};
// Top-level folders of ours: an include that starts with one of these is one of ours.
constexpr std::string_view kOurFolders[] = {"common",   "agent",  "coordinator", "cli",   "report",
                                            "saturate", "target", "proto",       "tests", "bench"};

// ---- The checker. ------------------------------------------------------------------------------

// One `#include` of one of our folders.
struct Include {
  std::string file;  // relative to the root: "agent/engine.cc"
  int line = 0;      // 1-based
  std::string path;  // as written: "common/histogram.h"
  std::string from;  // the file's folder: "agent"
  std::string to;    // the included file's folder: "common"
};

std::string Where(const Include& inc) {
  return absl::StrCat(inc.file, ":", inc.line, ": #include \"", inc.path, "\"");
}

bool Contains(auto&& list, std::string_view s) {
  return std::find(std::begin(list), std::end(list), s) != std::end(list);
}

// The names in a Rule's space-separated `folders`.
std::vector<std::string> Names(std::string_view folders) {
  std::vector<std::string> names;
  std::istringstream in{std::string(folders)};
  for (std::string name; in >> name;) names.push_back(name);
  return names;
}

struct Scan {
  std::vector<Include> includes;
  std::map<std::string, int> files_per_folder;  // product folder -> .h/.cc files read
};

// Reads every .h/.cc under root/<product folder>/ (tests/ and bench/ are not product folders).
absl::StatusOr<Scan> ScanTree(const fs::path& root) {
  // `#include "x"` or `#include <x>`, possibly indented or written `# include`. A commented-out
  // include (`// #include`) does not start with '#', so it does not match.
  static const std::regex kIncludeLine(R"(^\s*#\s*include\s*["<]([^">]+)[">])");
  Scan scan;
  for (std::string_view folder : kProductFolders) {
    const fs::path dir = root / folder;
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) continue;
    std::vector<fs::path> files;
    for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
         it.increment(ec)) {
      const std::string ext = it->path().extension().string();
      if (it->is_regular_file() && (ext == ".h" || ext == ".cc")) files.push_back(it->path());
    }
    if (ec) {
      return absl::InternalError(absl::StrCat("cannot list ", dir.string(), ": ", ec.message()));
    }
    std::sort(files.begin(), files.end());  // stable messages
    for (const fs::path& path : files) {
      std::ifstream in(path);
      if (!in) return absl::InternalError(absl::StrCat("cannot read ", path.string()));
      ++scan.files_per_folder[std::string(folder)];
      const std::string rel = path.lexically_relative(root).generic_string();
      std::string text;
      int line_no = 0;
      std::smatch m;
      while (std::getline(in, text)) {
        ++line_no;
        if (!std::regex_search(text, m, kIncludeLine)) continue;
        const std::string included = m[1].str();
        const size_t slash = included.find('/');
        if (slash == std::string::npos) continue;  // "plan.pb.h", <vector>
        const std::string to = included.substr(0, slash);
        if (!Contains(kOurFolders, to)) continue;  // absl/..., grpcpp/...
        scan.includes.push_back({rel, line_no, included, std::string(folder), to});
      }
    }
  }
  return scan;
}

// One message per include that breaks a rule: file:line, the include, the rule and why.
std::vector<std::string> CheckRules(const std::vector<Include>& includes) {
  std::vector<std::string> violations;
  for (const Include& inc : includes) {
    if (inc.from == inc.to) continue;
    for (const Rule& rule : kRules) {
      if (rule.folder != "*" && rule.folder != inc.from) continue;
      std::string broken;
      const std::vector<std::string> folders = Names(rule.folders);
      if (rule.kind == Kind::kOnly && !Contains(folders, inc.to)) {
        std::vector<std::string> allowed = {inc.from};
        allowed.insert(allowed.end(), folders.begin(), folders.end());
        broken = absl::StrCat(inc.from, "/ may include only ", absl::StrJoin(allowed, "/, "), "/");
      } else if (rule.kind == Kind::kNever && Contains(folders, inc.to)) {
        broken = rule.folder == "*" ? absl::StrCat("only ", inc.to, "/ may include ", inc.to, "/")
                                    : absl::StrCat(inc.from, "/ may not include ", inc.to, "/");
      }
      if (!broken.empty()) {
        violations.push_back(absl::StrCat(Where(inc), ": breaks the rule \"", broken, "\" (",
                                          std::string(rule.why), ")"));
        break;  // one message per include: the first rule it breaks
      }
    }
  }
  return violations;
}

// The first cycle in the folder-level include graph, as "a -> b -> a" followed by one include
// that makes each edge; nullopt when the graph is acyclic.
std::optional<std::string> FindCycle(const std::vector<Include>& includes) {
  // Edges in a sorted map, each with its first include, so that the answer is deterministic.
  std::map<std::string, std::map<std::string, const Include*>> edges;
  for (const Include& inc : includes) {
    if (inc.from != inc.to) edges[inc.from].emplace(inc.to, &inc);
  }
  enum class Mark { kNew, kOnPath, kDone };
  std::map<std::string, Mark> mark;
  std::vector<std::string> path;
  std::optional<std::string> found;
  // Depth-first; a node met again while on the current path closes a cycle.
  auto visit = [&](auto&& self, const std::string& node) -> void {
    mark[node] = Mark::kOnPath;
    path.push_back(node);
    for (const auto& [next, inc] : edges[node]) {
      if (found) return;
      if (mark[next] == Mark::kOnPath) {
        std::vector<std::string> cycle(std::find(path.begin(), path.end(), next), path.end());
        cycle.push_back(next);
        std::string text = absl::StrJoin(cycle, " -> ");
        for (size_t i = 0; i + 1 < cycle.size(); ++i) {
          absl::StrAppend(&text, "\n  ", cycle[i], " -> ", cycle[i + 1], ": ",
                          Where(*edges[cycle[i]][cycle[i + 1]]));
        }
        found = text;
        return;
      }
      if (mark[next] == Mark::kNew) self(self, next);
    }
    path.pop_back();
    mark[node] = Mark::kDone;
  };
  for (const auto& [node, unused] : edges) {
    if (found) break;
    if (mark[node] == Mark::kNew) visit(visit, node);
  }
  return found;
}

// ---- The project's own sources. ----------------------------------------------------------------

class ProjectLayout : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<Scan> scan = ScanTree(STAMPEDE_SOURCE_DIR);
    scan_ = new absl::StatusOr<Scan>(std::move(scan));
  }
  static void TearDownTestSuite() {
    delete scan_;
    scan_ = nullptr;
  }
  static absl::StatusOr<Scan>* scan_;
};
absl::StatusOr<Scan>* ProjectLayout::scan_ = nullptr;

TEST_F(ProjectLayout, ScanSeesEveryProductFolder) {
  ASSERT_TRUE(scan_->ok()) << scan_->status();
  // A wrong source root, or a scanner that reads nothing, would pass every rule: refuse it.
  for (std::string_view folder : kProductFolders) {
    EXPECT_GT((*scan_)->files_per_folder[std::string(folder)], 0)
        << "no .h/.cc files read under " << STAMPEDE_SOURCE_DIR << "/" << folder;
  }
  EXPECT_GT((*scan_)->includes.size(), 50u);
}

TEST_F(ProjectLayout, IncludesFollowTheRules) {
  ASSERT_TRUE(scan_->ok()) << scan_->status();
  for (const std::string& violation : CheckRules((*scan_)->includes)) ADD_FAILURE() << violation;
}

TEST_F(ProjectLayout, FolderIncludeGraphHasNoCycle) {
  ASSERT_TRUE(scan_->ok()) << scan_->status();
  const std::optional<std::string> cycle = FindCycle((*scan_)->includes);
  EXPECT_FALSE(cycle.has_value()) << "folders include each other in a cycle: " << *cycle;
}

// ---- The checker on synthetic trees: it can fail. ----------------------------------------------

class LayoutChecker : public ::testing::Test {
 protected:
  void Write(const std::string& rel, const std::string& text) {
    const fs::path path = dir_.path() / rel;
    fs::create_directories(path.parent_path());
    std::ofstream(path) << text;
  }
  Scan ScanOrDie() {
    absl::StatusOr<Scan> scan = ScanTree(dir_.path());
    EXPECT_TRUE(scan.ok()) << scan.status();
    return scan.ok() ? *std::move(scan) : Scan{};
  }
  ScopedTempDir dir_{"layout_test"};
};

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

TEST_F(LayoutChecker, CatchesAForbiddenInclude) {
  ASSERT_FALSE(dir_.path().empty());
  Write("cli/commands.h", "#pragma once\n");
  Write("coordinator/run_manager.cc",
        "#include \"coordinator/run_manager.h\"\n\n#include \"cli/commands.h\"\n");
  EXPECT_THAT(CheckRules(ScanOrDie().includes),
              ElementsAre(AllOf(HasSubstr("coordinator/run_manager.cc:3"),
                                HasSubstr("#include \"cli/commands.h\""),
                                HasSubstr("coordinator/ may not include cli/"))));
}

TEST_F(LayoutChecker, CatchesAnIncludeOutsideAnOnlyList) {
  ASSERT_FALSE(dir_.path().empty());
  Write("common/clock.h", "#include <vector>\n#include \"agent/engine.h\"\n");
  EXPECT_THAT(CheckRules(ScanOrDie().includes),
              ElementsAre(AllOf(HasSubstr("common/clock.h:2"),
                                HasSubstr("common/ may include only common/"))));
}

TEST_F(LayoutChecker, CatchesAnIncludeOfCliFromAnyOtherFolder) {
  ASSERT_FALSE(dir_.path().empty());
  Write("report/format.cc", "#include \"cli/cli_flags.h\"\n");
  Write("cli/main.cc", "#include \"cli/cli_flags.h\"\n");
  EXPECT_THAT(CheckRules(ScanOrDie().includes),
              ElementsAre(AllOf(HasSubstr("report/format.cc:1"),
                                HasSubstr("report/ may not include cli/"))));
}

TEST_F(LayoutChecker, IgnoresWhatIsNotOursAndFoldersThatAreNotProduct) {
  ASSERT_FALSE(dir_.path().empty());
  Write("common/histogram.cc",
        "#include \"common/histogram.h\"\n#include <sys/socket.h>\n#include \"absl/time/time.h\"\n"
        "#include \"histogram.pb.h\"\n// #include \"agent/engine.h\"\n");
  Write("tests/layout_test.cc", "#include \"cli/commands.h\"\n#include \"agent/engine.h\"\n");
  Write("common/notes.txt", "#include \"cli/commands.h\"\n");
  const Scan scan = ScanOrDie();
  EXPECT_THAT(CheckRules(scan.includes), IsEmpty());
  EXPECT_EQ(scan.includes.size(), 1u);  // only common/histogram.h
}

TEST_F(LayoutChecker, CatchesACycleAndNamesItsPath) {
  ASSERT_FALSE(dir_.path().empty());
  Write("agent/a.h", "#include \"report/b.h\"\n");
  Write("report/b.h", "\n#include \"saturate/c.h\"\n");
  Write("saturate/c.h", "#include \"common/d.h\"\n#include \"agent/a.h\"\n");
  const std::optional<std::string> cycle = FindCycle(ScanOrDie().includes);
  ASSERT_TRUE(cycle.has_value());
  EXPECT_THAT(*cycle, AllOf(HasSubstr("agent -> report -> saturate -> agent"),
                            HasSubstr("agent/a.h:1: #include \"report/b.h\""),
                            HasSubstr("report/b.h:2: #include \"saturate/c.h\""),
                            HasSubstr("saturate/c.h:2: #include \"agent/a.h\"")));
}

TEST_F(LayoutChecker, FindsNoCycleInALayeredTree) {
  ASSERT_FALSE(dir_.path().empty());
  Write("cli/main.cc", "#include \"coordinator/server.h\"\n#include \"agent/engine.h\"\n");
  Write("coordinator/server.h", "#include \"common/clock.h\"\n");
  Write("agent/engine.h", "#include \"common/clock.h\"\n");
  Write("common/clock.h", "#include \"common/status_macros.h\"\n");
  EXPECT_EQ(FindCycle(ScanOrDie().includes), std::nullopt);
}

}  // namespace
}  // namespace stampede::testing
