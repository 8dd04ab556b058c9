#include "agent/spool_files.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"

namespace stampede {
namespace {

// The format's version is the magic's last byte: a later format gets a new magic, and files of
// an older one are unreadable (counted and skipped) rather than misread.
constexpr char kMagic[8] = {'S', 'T', 'M', 'P', 'S', 'P', 'L', '1'};
constexpr size_t kHeaderSize = 16;  // magic, u32 payload length, u32 CRC-32 of the payload
constexpr absl::string_view kBatchPrefix = "batch-";
constexpr size_t kSeqDigits = 20;  // UINT64_MAX has 20 digits
// Larger than any batch the link can send (its gRPC messages are capped at 64 MiB).
constexpr uint32_t kMaxPayload = 256u << 20;

void PutU32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i)
    v |= static_cast<uint32_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}

uint32_t Crc32(const char* data, size_t n) {
  uLong crc = crc32(0L, Z_NULL, 0);
  // zlib takes uInt lengths; payloads are below kMaxPayload, far under 4 GiB.
  crc = crc32(crc, reinterpret_cast<const Bytef*>(data), static_cast<uInt>(n));
  return static_cast<uint32_t>(crc);
}

absl::Status ErrnoError(absl::string_view what, const std::string& path, int err) {
  const std::string message = absl::StrCat(what, " ", path, ": ", std::strerror(err));
  if (err == ENOENT) return absl::NotFoundError(message);
  if (err == ENOSPC || err == EDQUOT) return absl::ResourceExhaustedError(message);
  return absl::InternalError(message);
}

absl::Status WriteAll(int fd, const std::string& bytes, const std::string& path) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("write", path, errno);
    }
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

}  // namespace

bool IsSafeRunId(absl::string_view run_id) {
  if (run_id.empty() || run_id.size() > 128 || run_id[0] == '.') return false;
  for (char c : run_id) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      return false;
    }
  }
  return true;
}

std::string BatchFileName(uint64_t seq) {
  return absl::StrFormat("%s%0*d", kBatchPrefix, static_cast<int>(kSeqDigits), seq);
}

std::optional<uint64_t> ParseBatchFileName(absl::string_view name) {
  if (!absl::ConsumePrefix(&name, kBatchPrefix) || name.size() != kSeqDigits) return std::nullopt;
  for (char c : name) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return std::nullopt;
  }
  uint64_t seq = 0;
  if (!absl::SimpleAtoi(name, &seq)) return std::nullopt;
  return seq;
}

bool IsTempFileName(absl::string_view name) {
  return absl::StartsWith(name, ".") && absl::EndsWith(name, ".tmp");
}

absl::StatusOr<int> LockSpoolDirectory(const std::string& dir) {
  std::error_code ec;
  // Made private when the agent makes it (records say what was tested, and how it fared).
  if (std::filesystem::create_directories(dir, ec)) {
    std::filesystem::permissions(dir, std::filesystem::perms::owner_all, ec);
  }
  if (ec) return absl::InternalError(absl::StrCat("spool directory ", dir, ": ", ec.message()));
  const std::string path = absl::StrCat(dir, "/", kLockFileName);
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoError("open", path, errno);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK) {
      return absl::FailedPreconditionError(
          absl::StrCat("spool directory ", dir, " is in use by another agent process"));
    }
    return ErrnoError("lock", path, err);
  }
  return fd;
}

std::string EncodeSpoolFile(const google::protobuf::MessageLite& message) {
  const size_t n = message.ByteSizeLong();
  std::string out(kHeaderSize + n, '\0');
  char* payload = out.data() + kHeaderSize;
  message.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(payload));
  std::memcpy(out.data(), kMagic, sizeof(kMagic));
  PutU32(out.data() + 8, static_cast<uint32_t>(n));
  PutU32(out.data() + 12, Crc32(payload, n));
  return out;
}

absl::Status WriteSpoolFile(const std::string& dir, absl::string_view name,
                            const std::string& encoded) {
  if (encoded.size() > kHeaderSize + kMaxPayload) {
    return absl::InvalidArgumentError(
        absl::StrCat("spool: a file of ", encoded.size(), " bytes is too large"));
  }
  const std::string final_path = absl::StrCat(dir, "/", name);
  const std::string temp_path = absl::StrCat(dir, "/.", name, ".tmp");
  const int fd = ::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoError("open", temp_path, errno);
  absl::Status status = WriteAll(fd, encoded, temp_path);
  // close() can report a deferred write error (NFS, quotas): it counts.
  if (::close(fd) != 0 && status.ok()) status = ErrnoError("close", temp_path, errno);
  if (status.ok() && ::rename(temp_path.c_str(), final_path.c_str()) != 0) {
    status = ErrnoError("rename", final_path, errno);
  }
  if (!status.ok()) ::unlink(temp_path.c_str());
  return status;
}

absl::Status WriteSpoolFile(const std::string& dir, absl::string_view name,
                            const google::protobuf::MessageLite& message) {
  return WriteSpoolFile(dir, name, EncodeSpoolFile(message));
}

absl::Status ReadSpoolFile(const std::string& path, google::protobuf::MessageLite* message) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("open", path, errno);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return ErrnoError("stat", path, err);
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size < kHeaderSize || size > kHeaderSize + kMaxPayload) {
    ::close(fd);
    return absl::DataLossError(absl::StrCat(path, ": ", size, " bytes is not a spool file"));
  }
  std::string bytes(size, '\0');
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::read(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  if (done != bytes.size()) return absl::DataLossError(absl::StrCat(path, ": short read"));
  if (std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0) {
    return absl::DataLossError(absl::StrCat(path, ": not a spool file of this version"));
  }
  const uint32_t length = GetU32(bytes.data() + 8);
  if (length != size - kHeaderSize) {
    return absl::DataLossError(
        absl::StrCat(path, ": truncated (", size - kHeaderSize, " of ", length, " bytes)"));
  }
  const char* payload = bytes.data() + kHeaderSize;
  if (Crc32(payload, length) != GetU32(bytes.data() + 12)) {
    return absl::DataLossError(absl::StrCat(path, ": checksum mismatch"));
  }
  if (!message->ParseFromArray(payload, static_cast<int>(length))) {
    return absl::DataLossError(absl::StrCat(path, ": does not parse"));
  }
  return absl::OkStatus();
}

}  // namespace stampede
