#include "agent/http1_response_parser.h"

#include <algorithm>
#include <cstring>

namespace stampede {
namespace {

constexpr char kHttpPrefix[] = "HTTP/";
constexpr size_t kHttpPrefixLen = 5;
// Bounds parsed numbers well below uint64 overflow; no real body is an exabyte.
constexpr size_t kMaxContentLengthDigits = 18;
constexpr uint64_t kMaxChunkSize = uint64_t{1} << 60;

inline bool IsOws(char c) { return c == ' ' || c == '\t'; }
inline bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// `lower` is an all-lowercase literal of length n. Folds only A-Z, so punctuation never aliases
// (an OR 0x20 trick would let "\r" match "-").
inline bool EqualsLower(const char* s, const char* lower, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + ('a' - 'A'));
    if (c != lower[i]) return false;
  }
  return true;
}

inline void TrimOws(const char** p, size_t* n) {
  while (*n > 0 && IsOws(**p)) ++*p, --*n;
  while (*n > 0 && IsOws((*p)[*n - 1])) --*n;
}

// Calls fn(token, len) for each non-empty element of a comma-separated list, OWS trimmed.
template <typename Fn>
inline void ForEachToken(const char* p, size_t n, Fn fn) {
  const char* end = p + n;
  while (p < end) {
    const char* comma = static_cast<const char*>(memchr(p, ',', end - p));
    const char* stop = comma != nullptr ? comma : end;
    const char* tok = p;
    size_t len = stop - p;
    TrimOws(&tok, &len);
    if (len > 0) fn(tok, len);
    p = comma != nullptr ? comma + 1 : end;
  }
}

// Content-Length: 1*DIGIT, or a list of identical values (RFC 9110 8.6 lets a recipient accept
// "5, 5" from a proxy that merged duplicates).
bool ParseContentLength(const char* p, size_t n, uint64_t* out) {
  size_t i = 0;
  bool have = false;
  uint64_t value = 0;
  while (true) {
    while (i < n && IsOws(p[i])) ++i;
    size_t start = i;
    uint64_t v = 0;
    while (i < n && IsDigit(p[i])) {
      if (i - start >= kMaxContentLengthDigits) return false;
      v = v * 10 + static_cast<uint64_t>(p[i] - '0');
      ++i;
    }
    if (i == start) return false;
    if (have && v != value) return false;
    value = v;
    have = true;
    while (i < n && IsOws(p[i])) ++i;
    if (i == n) break;
    if (p[i] != ',') return false;
    ++i;
  }
  *out = value;
  return true;
}

inline int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

void Http1ResponseParser::Reset(bool head_request) {
  state_ = State::kNeedMore;
  phase_ = Phase::kStatusLine;
  head_request_ = head_request;
  keep_alive_ = false;
  http11_ = false;
  conn_close_ = false;
  conn_keep_alive_ = false;
  has_content_length_ = false;
  has_transfer_encoding_ = false;
  chunked_last_ = false;
  chunk_cr_seen_ = false;
  status_ = 0;
  content_length_ = 0;
  remaining_ = 0;
  header_bytes_ = 0;
  trailer_bytes_ = 0;
  body_bytes_ = 0;
  wire_bytes_ = 0;
  error_ = "";
  partial_.clear();
}

Http1ResponseParser::State Http1ResponseParser::Fail(const char* why) {
  state_ = State::kError;
  error_ = why;
  partial_.clear();
  return state_;
}

size_t Http1ResponseParser::LineLimit() const {
  switch (phase_) {
    case Phase::kStatusLine:
    case Phase::kHeaders:
      return kMaxHeaderBytes - std::min<uint64_t>(header_bytes_, kMaxHeaderBytes);
    case Phase::kTrailers:
      return kMaxTrailerBytes - std::min<uint64_t>(trailer_bytes_, kMaxTrailerBytes);
    default:
      return kMaxChunkLineBytes;
  }
}

Http1ResponseParser::State Http1ResponseParser::Feed(const char* data, size_t size,
                                                     size_t* consumed) {
  *consumed = 0;
  if (state_ != State::kNeedMore) return state_;
  size_t pos = 0;
  while (pos < size) {
    switch (phase_) {
      case Phase::kBodyLength:
      case Phase::kChunkData: {
        const uint64_t take = std::min<uint64_t>(remaining_, size - pos);
        pos += take;
        body_bytes_ += take;
        remaining_ -= take;
        if (remaining_ == 0) {
          if (phase_ == Phase::kChunkData) {
            phase_ = Phase::kChunkDataEnd;
          } else {
            phase_ = Phase::kDone;
          }
        }
        break;
      }
      case Phase::kBodyClose:
        body_bytes_ += size - pos;
        pos = size;
        break;
      case Phase::kChunkDataEnd: {
        // Byte by byte rather than as a line: a peer that sends more data than the chunk size
        // said must fail here, not make us scan its body for a newline.
        const char c = data[pos++];
        if (c == '\n') {
          chunk_cr_seen_ = false;
          phase_ = Phase::kChunkSize;
        } else if (c == '\r' && !chunk_cr_seen_) {
          chunk_cr_seen_ = true;
        } else {
          wire_bytes_ += pos;
          *consumed = pos;
          return Fail("bad chunk terminator");
        }
        break;
      }
      case Phase::kDone:
        break;  // unreachable: the loop exits below
      default: {  // line-oriented phases
        const char* begin = data + pos;
        const size_t avail = size - pos;
        if (phase_ == Phase::kStatusLine) {
          // Reject non-HTTP peers (SSH banners, HTTP/0.9 bodies) from the first bytes instead of
          // waiting for a newline that may never come.
          for (size_t k = partial_.size(), j = 0; k < kHttpPrefixLen && j < avail; ++k, ++j) {
            if (begin[j] != kHttpPrefix[k]) {
              wire_bytes_ += pos;
              *consumed = pos;
              return Fail("not HTTP");
            }
          }
        }
        const char* nl = static_cast<const char*>(memchr(begin, '\n', avail));
        const size_t n = nl != nullptr ? static_cast<size_t>(nl - begin) + 1 : avail;
        // Checked before buffering anything, so partial_ never exceeds the limit.
        if (partial_.size() + n > LineLimit()) {
          wire_bytes_ += pos;
          *consumed = pos;
          return Fail(phase_ == Phase::kTrailers   ? "trailers too large"
                      : phase_ == Phase::kChunkSize ? "chunk line too long"
                                                    : "headers too large");
        }
        if (nl == nullptr) {
          partial_.append(begin, avail);
          pos = size;
          break;
        }
        pos += n;
        bool ok;
        if (partial_.empty()) {
          ok = ProcessLine(begin, n);
        } else {
          partial_.append(begin, n);
          ok = ProcessLine(partial_.data(), partial_.size());
          partial_.clear();
        }
        if (!ok) {
          wire_bytes_ += pos;
          *consumed = pos;
          return state_;
        }
        break;
      }
    }
    if (phase_ == Phase::kDone) {
      wire_bytes_ += pos;
      *consumed = pos;
      state_ = State::kComplete;
      return state_;
    }
  }
  wire_bytes_ += pos;
  *consumed = pos;
  return state_;
}

bool Http1ResponseParser::ProcessLine(const char* line, size_t raw_len) {
  size_t len = raw_len - 1;  // drop '\n'; a bare LF terminator is accepted
  if (len > 0 && line[len - 1] == '\r') --len;
  switch (phase_) {
    case Phase::kStatusLine:
      header_bytes_ += raw_len;
      if (!ParseStatusLine(line, len)) return false;
      phase_ = Phase::kHeaders;
      return true;
    case Phase::kHeaders:
      header_bytes_ += raw_len;
      if (len == 0) {
        EndOfHeaders();
        return true;
      }
      return ParseHeader(line, len);
    case Phase::kChunkSize:
      return ParseChunkSize(line, len);
    case Phase::kTrailers:
      trailer_bytes_ += raw_len;
      if (len == 0) {
        phase_ = Phase::kDone;
      } else if (IsOws(line[0])) {
        Fail("bad trailer line");
        return false;
      }
      return true;  // trailer fields are not used
    default:
      Fail("internal: line in body phase");
      return false;
  }
}

bool Http1ResponseParser::ParseStatusLine(const char* line, size_t len) {
  // "HTTP/1.x SSS" then end of line or " reason". The "HTTP/" prefix was checked in Feed.
  if (len < 12 || line[5] != '1' || line[6] != '.' || !IsDigit(line[7]) || line[8] != ' ' ||
      !IsDigit(line[9]) || !IsDigit(line[10]) || !IsDigit(line[11]) ||
      (len > 12 && line[12] != ' ')) {
    Fail("bad status line");
    return false;
  }
  const int status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
  if (status < 100) {
    Fail("bad status line");
    return false;
  }
  status_ = status;
  http11_ = line[7] != '0';
  return true;
}

bool Http1ResponseParser::ParseHeader(const char* line, size_t len) {
  // Leading whitespace is obs-fold (a continuation line) or garbage; neither is worth supporting.
  const char* colon = static_cast<const char*>(memchr(line, ':', len));
  if (colon == nullptr || colon == line || IsOws(line[0]) || IsOws(colon[-1])) {
    Fail("bad header line");
    return false;
  }
  const size_t name_len = static_cast<size_t>(colon - line);
  // Dispatch on length first: most headers (Server, Date, Content-Type) are rejected with one
  // compare and no byte comparisons.
  switch (name_len) {
    case 10: {
      if (!EqualsLower(line, "connection", 10)) return true;
      const char* v = colon + 1;
      size_t vn = len - name_len - 1;
      ForEachToken(v, vn, [this](const char* t, size_t n) {
        if (n == 5 && EqualsLower(t, "close", 5)) {
          conn_close_ = true;
        } else if (n == 10 && EqualsLower(t, "keep-alive", 10)) {
          conn_keep_alive_ = true;
        }
      });
      return true;
    }
    case 14: {
      if (!EqualsLower(line, "content-length", 14)) return true;
      const char* v = colon + 1;
      size_t vn = len - name_len - 1;
      TrimOws(&v, &vn);
      uint64_t value;
      if (!ParseContentLength(v, vn, &value) ||
          (has_content_length_ && value != content_length_)) {
        Fail("bad Content-Length");
        return false;
      }
      has_content_length_ = true;
      content_length_ = value;
      return true;
    }
    case 17: {
      if (!EqualsLower(line, "transfer-encoding", 17)) return true;
      const char* v = colon + 1;
      size_t vn = len - name_len - 1;
      // Several Transfer-Encoding fields form one list; only the final coding decides framing.
      ForEachToken(v, vn, [this](const char* t, size_t n) {
        if (n == 8 && EqualsLower(t, "identity", 8)) return;  // obsolete no-op coding
        has_transfer_encoding_ = true;
        chunked_last_ = n == 7 && EqualsLower(t, "chunked", 7);
      });
      return true;
    }
    default:
      return true;
  }
}

void Http1ResponseParser::EndOfHeaders() {
  if (status_ < 200) {
    if (status_ == 101) {
      // The connection now speaks another protocol; it cannot carry another HTTP/1 response.
      keep_alive_ = false;
      phase_ = Phase::kDone;
      return;
    }
    // Interim response (100 Continue, 103 Early Hints): drop its fields, await the final one.
    conn_close_ = conn_keep_alive_ = false;
    has_content_length_ = has_transfer_encoding_ = chunked_last_ = false;
    content_length_ = 0;
    phase_ = Phase::kStatusLine;
    return;
  }
  keep_alive_ = !conn_close_ && (http11_ || conn_keep_alive_);
  if (head_request_ || status_ == 204 || status_ == 304) {
    phase_ = Phase::kDone;
  } else if (has_transfer_encoding_) {
    // Transfer-Encoding overrides Content-Length (RFC 9112 6.3); a response whose final coding
    // is not chunked can only end at close.
    if (chunked_last_) {
      phase_ = Phase::kChunkSize;
    } else {
      keep_alive_ = false;
      phase_ = Phase::kBodyClose;
    }
  } else if (has_content_length_) {
    remaining_ = content_length_;
    phase_ = content_length_ == 0 ? Phase::kDone : Phase::kBodyLength;
  } else {
    keep_alive_ = false;
    phase_ = Phase::kBodyClose;
  }
}

bool Http1ResponseParser::ParseChunkSize(const char* line, size_t len) {
  // chunk-size = 1*HEXDIG, then optional BWS and ";ext" (ignored).
  size_t i = 0;
  uint64_t size = 0;
  while (i < len) {
    const int h = HexValue(line[i]);
    if (h < 0) break;
    size = size * 16 + static_cast<uint64_t>(h);
    if (size > kMaxChunkSize) {
      Fail("bad chunk size");
      return false;
    }
    ++i;
  }
  if (i == 0) {
    Fail("bad chunk size");
    return false;
  }
  while (i < len && IsOws(line[i])) ++i;
  if (i < len && line[i] != ';') {
    Fail("bad chunk size");
    return false;
  }
  if (size == 0) {
    phase_ = Phase::kTrailers;
  } else {
    remaining_ = size;
    phase_ = Phase::kChunkData;
  }
  return true;
}

Http1ResponseParser::State Http1ResponseParser::OnEof() {
  if (state_ != State::kNeedMore) return state_;
  if (phase_ == Phase::kBodyClose) {
    keep_alive_ = false;
    phase_ = Phase::kDone;
    state_ = State::kComplete;
    return state_;
  }
  if (wire_bytes_ == 0) return Fail("closed before response");
  return Fail("truncated");
}

}  // namespace stampede
