// Live progress of a run for the terminal: an updating table per region on a TTY, one plain
// line per update otherwise (logs, CI).
#ifndef STAMPEDE_CLI_PROGRESS_VIEW_H_
#define STAMPEDE_CLI_PROGRESS_VIEW_H_

#include <ostream>
#include <string>

#include "control.pb.h"

namespace stampede {

class ProgressView {
 public:
  ProgressView(std::ostream* out, bool tty) : out_(out), tty_(tty) {}
  void Show(const Progress& progress);
  // Leaves the cursor below the table.
  void Finish();

  // The plain one-line form (exposed for tests).
  static std::string PlainLine(const Progress& progress);
  // The table rows (header + all + one per region).
  static std::string Table(const Progress& progress);
  // One JSON object on one line (`watch --json`): what the plain line shows, by name.
  static std::string JsonLine(const Progress& progress);

 private:
  std::ostream* const out_;
  const bool tty_;
  int lines_drawn_ = 0;
};

}  // namespace stampede

#endif  // STAMPEDE_CLI_PROGRESS_VIEW_H_
