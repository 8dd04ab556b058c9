// stampede report RUN: the merged report of a run, from a coordinator or a store file.
#include <fstream>
#include <iostream>
#include <string>

#include "absl/strings/str_cat.h"
#include "cli/cli_flags.h"
#include "cli/command_util.h"
#include "cli/commands.h"
#include "cli/run_source.h"
#include "report/report_format.h"

namespace stampede {

int CmdReport(const Args& args) {
  auto flags =
      CliFlags::Parse(args, {"--coordinator", "--token", "--db", "--format", "-o", "--output"}, {});
  if (!flags.ok()) return Fail("report", flags.status(), 2);
  if (flags->positional().size() != 1) {
    std::cerr << "usage: stampede report RUN [--format text|json|csv] [-o FILE] "
                 "[--coordinator ADDR | --db PATH]\n";
    return 2;
  }
  const std::string format = flags->GetOr("--format", "text");
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
  const std::string out = flags->GetOr("-o", flags->GetOr("--output", ""));
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
