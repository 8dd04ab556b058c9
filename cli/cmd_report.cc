// stampede report RUN: the merged report of a run, from a coordinator or a store file.
#include <fstream>
#include <iostream>
#include <string>

#include "absl/strings/str_cat.h"
#include "cli/command_util.h"
#include "cli/commands.h"
#include "cli/flag_specs.h"
#include "cli/run_source.h"
#include "report/report_format.h"

namespace stampede {

int CmdReport(const Args& args) {
  const CommandSpec spec = {
      .command = "stampede report",
      .usage =
          "stampede report RUN [--format text|json|csv] [-o FILE] "
          "[--coordinator HOST:PORT | --db PATH]",
      .description = "The merged report of a run, from a coordinator or from a store file.",
      .positionals = {{.name = "RUN", .help = "the run id (`stampede runs` lists them)"}},
      .flags = WithFlags({{.name = "--format",
                           .value = "text|json|csv",
                           .default_value = "text",
                           .help = "the report's format"},
                          {.name = "--output",
                           .alias = "-o",
                           .value = "FILE",
                           .help = "write the report to FILE instead of stdout"},
                          ReadDbFlag()},
                         RemoteFlags())};
  int parse_code = 0;
  auto flags = ParseOrExit(spec, args, &parse_code);
  if (!flags) return parse_code;
  const std::string format = flags->String("--format");
  if (format != "text" && format != "json" && format != "csv") {
    return Fail("report",
                absl::InvalidArgumentError(
                    absl::StrCat("--format: expected text, json or csv, got \"", format, "\"")),
                2);
  }
  auto report = LoadReport(*flags, flags->positional()[0]);
  if (!report.ok()) return Fail("report", report.status(), ExitCodeFor(report.status()));
  const std::string text = format == "json"  ? FormatReportJson(*report)
                           : format == "csv" ? FormatReportCsv(*report)
                                             : FormatReportText(*report);
  const std::string out = flags->String("--output");
  if (out.empty()) {
    std::cout << text;
    return 0;
  }
  std::ofstream file(out);
  file << text;
  file.close();
  if (!file) {
    return Fail("report", absl::UnavailableError(absl::StrCat("-o: cannot write \"", out, "\"")),
                2);
  }
  std::cout << "wrote " << out << "\n";
  return 0;
}

}  // namespace stampede
