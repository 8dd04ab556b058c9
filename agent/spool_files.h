// The agent spool's on-disk format: one directory per run under the spool directory, one file per
// unacknowledged record batch, and the run's RunFinished once its engine is done.
//
//   <spool_dir>/.lock                         held (flock) by the one agent process using the dir
//   <spool_dir>/<run_id>/batch-<seq, 20 digits>
//   <spool_dir>/<run_id>/finished
//   <spool_dir>/<run_id>/.<name>.tmp          a file being written (never read back)
//
// Every file is a 16-byte header (magic with the format version, payload length, CRC-32 of the
// payload) and the serialized message. A file is written under a temporary name and renamed, so a
// process killed mid-write leaves no half file under a real name; the header catches the rest (a
// truncated or zero-filled file after an OS crash).
//
// No fsync: a killed agent loses nothing that reached the page cache, which is what the spool is
// for (an agent process restarted mid-run); fsync per batch would cost milliseconds on the
// engine's flushing worker. An OS crash or power loss may lose (or leave unreadable) the last
// batches written before it: that is the documented limit.
#ifndef STAMPEDE_AGENT_SPOOL_FILES_H_
#define STAMPEDE_AGENT_SPOOL_FILES_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message_lite.h"

namespace stampede {

// A run id usable as a directory name: 1 to 128 of [A-Za-z0-9._-], not starting with '.'.
// Run ids come from the coordinator; anything else is kept out of paths.
bool IsSafeRunId(absl::string_view run_id);

// "batch-00000000000000000042"; the zero padding makes a directory listing sort by seq.
std::string BatchFileName(uint64_t seq);
// The seq of a batch file name; nullopt for any other name.
std::optional<uint64_t> ParseBatchFileName(absl::string_view name);
inline constexpr absl::string_view kFinishedFileName = "finished";
inline constexpr absl::string_view kLockFileName = ".lock";
// Files being written start with '.' and end in ".tmp".
bool IsTempFileName(absl::string_view name);

// Creates the spool directory (and its parents) when missing, and takes its lock: one agent
// process per spool directory, or two would resend (and delete) each other's batches. Returns the
// lock's file descriptor (closing it releases the lock); FailedPrecondition when another process
// holds it.
absl::StatusOr<int> LockSpoolDirectory(const std::string& dir);

// Header + payload: a file's whole content.
std::string EncodeSpoolFile(const google::protobuf::MessageLite& message);
// Writes `encoded` (from EncodeSpoolFile) to `dir/name` through a temporary file and a rename.
// Leaves no file behind on failure; ResourceExhausted when the disk is full.
absl::Status WriteSpoolFile(const std::string& dir, absl::string_view name,
                            const std::string& encoded);
absl::Status WriteSpoolFile(const std::string& dir, absl::string_view name,
                            const google::protobuf::MessageLite& message);
// Reads and checks a file written by WriteSpoolFile into `message`. DataLoss for a file that is
// truncated, has the wrong magic or checksum, or does not parse; NotFound when it is missing.
absl::Status ReadSpoolFile(const std::string& path, google::protobuf::MessageLite* message);

}  // namespace stampede

#endif  // STAMPEDE_AGENT_SPOOL_FILES_H_
