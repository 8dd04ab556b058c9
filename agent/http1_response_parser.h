// Minimal incremental HTTP/1.x response parser for the native transport: it only finds where a
// response ends (status, framing, keep-alive) and counts bytes. Headers are parsed in place from
// the caller's buffer and bodies are never copied, so the common case (a whole small response in
// one read) is one linear scan with no allocation. Only a header, chunk-size or trailer line that
// straddles two Feed calls is kept, in a bounded internal buffer.
#ifndef STAMPEDE_AGENT_HTTP1_RESPONSE_PARSER_H_
#define STAMPEDE_AGENT_HTTP1_RESPONSE_PARSER_H_

#include <cstddef>
#include <cstdint>
#include <string>

namespace stampede {

// Thread-compatible. Reuse one per connection: Reset before every response (keeps the buffer's
// capacity, so a long-lived connection stops allocating after its first split header).
class Http1ResponseParser {
 public:
  enum class State { kNeedMore, kComplete, kError };

  // Limits that bound memory and reject hostile peers.
  static constexpr size_t kMaxHeaderBytes = 64 * 1024;  // all status lines + headers
  static constexpr size_t kMaxTrailerBytes = 64 * 1024;
  static constexpr size_t kMaxChunkLineBytes = 4 * 1024;  // chunk size + extensions

  Http1ResponseParser() { Reset(); }

  // Starts a new response. `head_request`: the response to a HEAD has no body whatever its
  // headers say.
  void Reset(bool head_request = false);

  // Feeds bytes read from the socket and sets *consumed to how many belong to this response.
  // kNeedMore: all `size` bytes were consumed. kComplete: bytes past *consumed belong to the next
  // (pipelined) response; the caller keeps them and feeds them after Reset. kError: the
  // connection is unusable (see error()); *consumed is where parsing stopped. Calls after
  // kComplete/kError consume nothing and return the same state.
  State Feed(const char* data, size_t size, size_t* consumed);

  // The peer closed the connection. Completes a body delimited by close (kComplete); anything
  // else still open is kError: "closed before response" if not one byte of this response had
  // arrived (a stale keep-alive connection: the request may be retried), "truncated" otherwise.
  State OnEof();

  State state() const { return state_; }
  // The latest status line's code (0 before one is parsed; an interim 1xx until it is replaced).
  int status() const { return status_; }
  // Valid once kComplete: false for "Connection: close", HTTP/1.0 without
  // "Connection: keep-alive", a body delimited by close, or 101 Switching Protocols.
  bool keep_alive() const { return keep_alive_; }
  // Status lines + headers + blank lines, including skipped 1xx interim responses.
  uint64_t header_bytes() const { return header_bytes_; }
  // Body bytes; for chunked, payload only (no chunk framing or trailers).
  uint64_t body_bytes() const { return body_bytes_; }
  // Everything consumed for this response, including interim responses and chunk framing.
  uint64_t wire_bytes() const { return wire_bytes_; }
  // Short static reason when kError, "" otherwise.
  const char* error() const { return error_; }

 private:
  // Where the next byte goes.
  enum class Phase : uint8_t {
    kStatusLine,
    kHeaders,
    kBodyLength,   // Content-Length
    kBodyClose,    // until the peer closes
    kChunkSize,    // chunk-size [; ext] line
    kChunkData,
    kChunkDataEnd,  // the CRLF after chunk data
    kTrailers,
    kDone,
  };

  State Fail(const char* why);
  // One complete line (terminator included); false on error (state_ already kError).
  bool ProcessLine(const char* line, size_t raw_len);
  bool ParseStatusLine(const char* line, size_t len);
  bool ParseHeader(const char* line, size_t len);
  bool ParseChunkSize(const char* line, size_t len);
  void EndOfHeaders();
  size_t LineLimit() const;

  State state_ = State::kNeedMore;
  Phase phase_ = Phase::kStatusLine;
  bool head_request_ = false;
  bool keep_alive_ = false;
  bool http11_ = false;
  bool conn_close_ = false;
  bool conn_keep_alive_ = false;
  bool has_content_length_ = false;
  bool has_transfer_encoding_ = false;  // a coding other than identity was listed
  bool chunked_last_ = false;           // ... and the final one is chunked
  bool chunk_cr_seen_ = false;
  int status_ = 0;
  uint64_t content_length_ = 0;
  uint64_t remaining_ = 0;  // of the Content-Length body or the current chunk
  uint64_t header_bytes_ = 0;
  uint64_t trailer_bytes_ = 0;
  uint64_t body_bytes_ = 0;
  uint64_t wire_bytes_ = 0;
  const char* error_ = "";
  std::string partial_;  // the start of a line split across Feed calls, never more
};

}  // namespace stampede

#endif  // STAMPEDE_AGENT_HTTP1_RESPONSE_PARSER_H_
