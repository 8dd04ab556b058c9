// Tests of the native transport's HTTP/1.x response parser: framing, keep-alive, interim
// responses, errors, every possible split of the input across reads, a fuzz loop and a timing
// printout.
#include "agent/http1_response_parser.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

namespace stampede {
namespace {

using State = Http1ResponseParser::State;

const std::string kNginx =
    "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: application/json\r\n"
    "Content-Length: 13\r\nConnection: keep-alive\r\n\r\n{\"score\":0.5}";

struct Outcome {
  State state = State::kNeedMore;
  size_t consumed = 0;  // total over all Feed calls
  int status = 0;
  bool keep_alive = false;
  uint64_t header_bytes = 0;
  uint64_t body_bytes = 0;
  uint64_t wire_bytes = 0;
  std::string error;
};

// Feeds `wire` in pieces ending at `cuts` (ascending, within size) and then the rest, the way a
// caller would: stops at the first non-kNeedMore state. Checks the kNeedMore contract (all bytes
// consumed) on every call.
Outcome RunSplit(const std::string& wire, const std::vector<size_t>& cuts, bool head = false,
            bool eof = false) {
  Http1ResponseParser p;
  p.Reset(head);
  Outcome o;
  size_t start = 0;
  std::vector<size_t> ends = cuts;
  ends.push_back(wire.size());
  for (size_t end : ends) {
    if (end < start) continue;
    size_t consumed = 0;
    o.state = p.Feed(wire.data() + start, end - start, &consumed);
    EXPECT_LE(consumed, end - start);
    if (o.state == State::kNeedMore) {
      EXPECT_EQ(consumed, end - start);
    }
    o.consumed += consumed;
    start = end;
    if (o.state != State::kNeedMore) break;
  }
  if (eof && o.state == State::kNeedMore) o.state = p.OnEof();
  o.status = p.status();
  o.keep_alive = p.keep_alive();
  o.header_bytes = p.header_bytes();
  o.body_bytes = p.body_bytes();
  o.wire_bytes = p.wire_bytes();
  o.error = p.error();
  return o;
}

Outcome RunWhole(const std::string& wire, bool head = false, bool eof = false) {
  return RunSplit(wire, {}, head, eof);
}

Outcome RunBytewise(const std::string& wire, bool head = false) {
  std::vector<size_t> cuts;
  for (size_t i = 1; i < wire.size(); ++i) cuts.push_back(i);
  return RunSplit(wire, cuts, head);
}

void ExpectSame(const Outcome& want, const Outcome& got, const std::string& where) {
  EXPECT_EQ(got.state, want.state) << where;
  EXPECT_EQ(got.consumed, want.consumed) << where;
  EXPECT_EQ(got.status, want.status) << where;
  EXPECT_EQ(got.keep_alive, want.keep_alive) << where;
  EXPECT_EQ(got.header_bytes, want.header_bytes) << where;
  EXPECT_EQ(got.body_bytes, want.body_bytes) << where;
  EXPECT_EQ(got.wire_bytes, want.wire_bytes) << where;
  EXPECT_EQ(got.error, want.error) << where;
}

// Every two-piece split and the one-byte-at-a-time feed give the same result as one piece.
void ExpectSplitInvariant(const std::string& wire, bool head = false) {
  const Outcome whole = RunWhole(wire, head);
  for (size_t i = 1; i < wire.size(); ++i) {
    ExpectSame(whole, RunSplit(wire, {i}, head), "split at " + std::to_string(i));
  }
  ExpectSame(whole, RunBytewise(wire, head), "byte at a time");
}

TEST(Http1ResponseParser, NginxResponseInOnePiece) {
  const Outcome o = RunWhole(kNginx);
  EXPECT_EQ(o.state, State::kComplete);
  EXPECT_EQ(o.status, 200);
  EXPECT_TRUE(o.keep_alive);
  EXPECT_EQ(o.header_bytes, kNginx.find("\r\n\r\n") + 4);
  EXPECT_EQ(o.body_bytes, 13u);
  EXPECT_EQ(o.consumed, kNginx.size());
  EXPECT_EQ(o.wire_bytes, kNginx.size());
  EXPECT_EQ(o.error, "");
}

TEST(Http1ResponseParser, NginxResponseSplitAnywhere) { ExpectSplitInvariant(kNginx); }

TEST(Http1ResponseParser, BareLfLineEndings) {
  const std::string wire = "HTTP/1.1 200 OK\nContent-Length: 2\n\nhi";
  const Outcome o = RunWhole(wire);
  EXPECT_EQ(o.state, State::kComplete);
  EXPECT_EQ(o.body_bytes, 2u);
  EXPECT_EQ(o.header_bytes, wire.size() - 2);
  ExpectSplitInvariant(wire);
}

TEST(Http1ResponseParser, PipelinedResponsesStopAtTheFirstsEnd) {
  const std::string second = "HTTP/1.1 404 Not Found\r\ncontent-length: 5\r\n\r\nnope!";
  const std::string wire = kNginx + second;
  Http1ResponseParser p;
  size_t consumed = 0;
  ASSERT_EQ(p.Feed(wire.data(), wire.size(), &consumed), State::kComplete);
  EXPECT_EQ(consumed, kNginx.size());
  EXPECT_EQ(p.status(), 200);
  // Further feeds before Reset consume nothing.
  size_t again = 1;
  EXPECT_EQ(p.Feed(wire.data() + consumed, wire.size() - consumed, &again), State::kComplete);
  EXPECT_EQ(again, 0u);
  p.Reset();
  ASSERT_EQ(p.Feed(wire.data() + consumed, wire.size() - consumed, &again), State::kComplete);
  EXPECT_EQ(again, second.size());
  EXPECT_EQ(p.status(), 404);
  EXPECT_EQ(p.body_bytes(), 5u);
  EXPECT_TRUE(p.keep_alive());
}

const std::string kChunked =
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\nContent-Length: 999\r\n\r\n"
    "5;name=val\r\nhello\r\n"
    "1A ; x=\"y\"\r\nabcdefghijklmnopqrstuvwxyz\r\n"
    "0;last\r\nX-Trailer: t\r\nX-Other: u\r\n\r\n";

TEST(Http1ResponseParser, ChunkedWithExtensionsAndTrailers) {
  const Outcome o = RunWhole(kChunked + "HTTP/1.1 200 OK\r\n");
  EXPECT_EQ(o.state, State::kComplete) << o.error;
  EXPECT_EQ(o.status, 200);
  EXPECT_TRUE(o.keep_alive);
  EXPECT_EQ(o.body_bytes, 5u + 26u);
  EXPECT_EQ(o.header_bytes, kChunked.find("\r\n\r\n") + 4);
  EXPECT_EQ(o.consumed, kChunked.size());
  EXPECT_EQ(o.wire_bytes, kChunked.size());
  ExpectSplitInvariant(kChunked);
}

TEST(Http1ResponseParser, ChunkedBareLfFraming) {
  const std::string wire = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\nabc\n0\n\n";
  const Outcome o = RunWhole(wire);
  EXPECT_EQ(o.state, State::kComplete) << o.error;
  EXPECT_EQ(o.body_bytes, 3u);
  ExpectSplitInvariant(wire);
}

TEST(Http1ResponseParser, ContentLengthZero) {
  const Outcome o = RunWhole("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(o.state, State::kComplete);
  EXPECT_EQ(o.body_bytes, 0u);
  EXPECT_TRUE(o.keep_alive);
}

TEST(Http1ResponseParser, NoBodyFor204And304) {
  const std::string no_content = "HTTP/1.1 204 No Content\r\n\r\n";
  Outcome o = RunWhole(no_content + kNginx);
  EXPECT_EQ(o.state, State::kComplete);
  EXPECT_EQ(o.status, 204);
  EXPECT_EQ(o.consumed, no_content.size());
  EXPECT_TRUE(o.keep_alive);
  o = RunWhole("HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n");
  EXPECT_EQ(o.state, State::kComplete);
  EXPECT_EQ(o.body_bytes, 0u);
}

TEST(Http1ResponseParser, HeadResponseHasNoBody) {
  const std::string wire = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n";
  const Outcome o = RunWhole(wire + "HTTP/1.1", /*head=*/true);
  EXPECT_EQ(o.state, State::kComplete);
  EXPECT_EQ(o.body_bytes, 0u);
  EXPECT_EQ(o.consumed, wire.size());
  EXPECT_TRUE(o.keep_alive);
  ExpectSplitInvariant(wire, /*head=*/true);
}

TEST(Http1ResponseParser, Http10KeepAliveOnlyWhenAsked) {
  Outcome o = RunWhole("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok");
  EXPECT_EQ(o.state, State::kComplete);
  EXPECT_FALSE(o.keep_alive);
  o = RunWhole("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nok");
  EXPECT_EQ(o.state, State::kComplete);
  EXPECT_TRUE(o.keep_alive);
}

TEST(Http1ResponseParser, ConnectionClose) {
  Outcome o = RunWhole("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok");
  EXPECT_EQ(o.state, State::kComplete);
  EXPECT_FALSE(o.keep_alive);
  o = RunWhole("HTTP/1.1 200 OK\r\nCONNECTION:  Upgrade ,CLOSE \r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(o.state, State::kComplete);
  EXPECT_FALSE(o.keep_alive);
  // "closed" is not the token "close".
  o = RunWhole("HTTP/1.1 200 OK\r\nConnection: closed\r\nContent-Length: 0\r\n\r\n");
  EXPECT_TRUE(o.keep_alive);
}

TEST(Http1ResponseParser, BodyUntilEof) {
  Http1ResponseParser p;
  const std::string head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n";
  size_t consumed = 0;
  EXPECT_EQ(p.Feed(head.data(), head.size(), &consumed), State::kNeedMore);
  EXPECT_EQ(p.Feed("abc", 3, &consumed), State::kNeedMore);
  EXPECT_EQ(p.Feed("defg", 4, &consumed), State::kNeedMore);
  EXPECT_EQ(consumed, 4u);
  EXPECT_EQ(p.OnEof(), State::kComplete);
  EXPECT_EQ(p.status(), 200);
  EXPECT_EQ(p.body_bytes(), 7u);
  EXPECT_EQ(p.header_bytes(), head.size());
  EXPECT_EQ(p.wire_bytes(), head.size() + 7);
  EXPECT_FALSE(p.keep_alive());
  // A final coding other than chunked also ends at close.
  const Outcome o = RunWhole("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxyz", false, true);
  EXPECT_EQ(o.state, State::kComplete);
  EXPECT_EQ(o.body_bytes, 3u);
  EXPECT_FALSE(o.keep_alive);
}

TEST(Http1ResponseParser, InterimResponsesAreSkipped) {
  const std::string interim =
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n";
  const std::string wire = interim + kNginx;
  const Outcome o = RunWhole(wire);
  EXPECT_EQ(o.state, State::kComplete);
  EXPECT_EQ(o.status, 200);
  EXPECT_EQ(o.body_bytes, 13u);
  EXPECT_EQ(o.header_bytes, interim.size() + kNginx.size() - 13);
  EXPECT_EQ(o.consumed, wire.size());
  ExpectSplitInvariant(wire);
}

TEST(Http1ResponseParser, SwitchingProtocolsCompletes) {
  const std::string wire = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n";
  const Outcome o = RunWhole(wire + "\x81\x05hello");
  EXPECT_EQ(o.state, State::kComplete);
  EXPECT_EQ(o.status, 101);
  EXPECT_EQ(o.consumed, wire.size());
  EXPECT_FALSE(o.keep_alive);
}

TEST(Http1ResponseParser, NotHttpFailsFromTheFirstBytes) {
  Http1ResponseParser p;
  size_t consumed = 0;
  EXPECT_EQ(p.Feed("SSH-2", 5, &consumed), State::kError);
  EXPECT_STREQ(p.error(), "not HTTP");
  // Byte at a time: no later than the fifth byte.
  for (const std::string wire : {"SSH-2.0-x\r\n", "HTTPS 200\r\n", "<html>hi", "http/1.1 200"}) {
    const Outcome o = RunBytewise(wire);
    EXPECT_EQ(o.state, State::kError) << wire;
    EXPECT_EQ(o.error, "not HTTP") << wire;
    EXPECT_LE(o.consumed, 4u) << wire;
  }
}

TEST(Http1ResponseParser, BadStatusLines) {
  for (const std::string wire :
       {"HTTP/2 200 OK\r\n", "HTTP/1.1 20 OK\r\n", "HTTP/1.1 2000 OK\r\n", "HTTP/1.1  200 OK\r\n",
        "HTTP/1.1 099 Low\r\n", "HTTP/1.x 200 OK\r\n", "HTTP/1.1\r\n"}) {
    const Outcome o = RunWhole(wire);
    EXPECT_EQ(o.state, State::kError) << wire;
    EXPECT_EQ(o.error, "bad status line") << wire;
  }
  // No reason phrase is fine.
  EXPECT_EQ(RunWhole("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n").state, State::kComplete);
}

TEST(Http1ResponseParser, TruncatedResponsesFailOnEof) {
  Outcome o = RunWhole(kNginx.substr(0, kNginx.size() - 3), false, /*eof=*/true);
  EXPECT_EQ(o.state, State::kError);
  EXPECT_EQ(o.error, "truncated");
  o = RunWhole(kNginx.substr(0, 30), false, true);
  EXPECT_EQ(o.error, "truncated");
  o = RunWhole(kChunked.substr(0, kChunked.size() - 2), false, true);
  EXPECT_EQ(o.error, "truncated");
  o = RunWhole("", false, true);
  EXPECT_EQ(o.state, State::kError);
  EXPECT_EQ(o.error, "closed before response");
}

TEST(Http1ResponseParser, BadChunks) {
  const std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (const std::string body : {"zz\r\n", "-1\r\n", ";x\r\n", "5 5\r\n", "\r\n",
                                 "fffffffffffffffff\r\n"}) {
    const Outcome o = RunWhole(head + body);
    EXPECT_EQ(o.state, State::kError) << body;
    EXPECT_EQ(o.error, "bad chunk size") << body;
  }
  // More data than the chunk size announced.
  const Outcome o = RunWhole(head + "3\r\nabcd\r\n0\r\n\r\n");
  EXPECT_EQ(o.state, State::kError);
  EXPECT_EQ(o.error, "bad chunk terminator");
  // An endless chunk extension is bounded.
  const Outcome ext = RunWhole(head + "5;" + std::string(10000, 'x'));
  EXPECT_EQ(ext.state, State::kError);
  EXPECT_EQ(ext.error, "chunk line too long");
}

TEST(Http1ResponseParser, HeadersLargerThan64KiBFail) {
  // One endless header line fed in 1 KiB reads: fails without a newline ever arriving.
  std::string wire = "HTTP/1.1 200 OK\r\nX-Big: " + std::string(70 * 1024, 'a');
  std::vector<size_t> cuts;
  for (size_t i = 1024; i < wire.size(); i += 1024) cuts.push_back(i);
  Outcome o = RunSplit(wire, cuts);
  EXPECT_EQ(o.state, State::kError);
  EXPECT_EQ(o.error, "headers too large");
  EXPECT_LE(o.consumed, Http1ResponseParser::kMaxHeaderBytes);
  // Many small lines, in one buffer.
  wire = "HTTP/1.1 200 OK\r\n";
  while (wire.size() < 66 * 1024) wire += "X-Header: some value here\r\n";
  o = RunWhole(wire + "\r\n");
  EXPECT_EQ(o.state, State::kError);
  EXPECT_EQ(o.error, "headers too large");
  // Just under the limit is fine.
  wire = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n";
  while (wire.size() < 63 * 1024) wire += "X-Header: some value here\r\n";
  EXPECT_EQ(RunWhole(wire + "\r\n").state, State::kComplete);
}

TEST(Http1ResponseParser, InvalidContentLength) {
  for (const std::string value : {"abc", "-1", "1 2", "", "+5", "0x10", "12a", "5,6",
                                  "99999999999999999999"}) {
    const Outcome o = RunWhole("HTTP/1.1 200 OK\r\nContent-Length: " + value + "\r\n\r\n");
    EXPECT_EQ(o.state, State::kError) << value;
    EXPECT_EQ(o.error, "bad Content-Length") << value;
  }
  Outcome o = RunWhole("HTTP/1.1 200 OK\r\nContent-Length: 5\r\ncontent-length: 6\r\n\r\n");
  EXPECT_EQ(o.error, "bad Content-Length");
  // Identical duplicates (or a merged list of them) are accepted.
  o = RunWhole("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2, 2\r\n\r\nok");
  EXPECT_EQ(o.state, State::kComplete);
  EXPECT_EQ(o.body_bytes, 2u);
}

TEST(Http1ResponseParser, BadHeaderLines) {
  for (const std::string line : {"NoColon", ": empty name", " Folded: x", "Name : x"}) {
    const Outcome o = RunWhole("HTTP/1.1 200 OK\r\n" + line + "\r\n\r\n");
    EXPECT_EQ(o.state, State::kError) << line;
    EXPECT_EQ(o.error, "bad header line") << line;
  }
}

// Random bytes and random mutations of valid responses, fed in random splits: only checks that
// nothing crashes or reads out of bounds (run under ASan to make that meaningful) and that the
// state contract holds.
TEST(Http1ResponseParser, FuzzNeverCrashes) {
  std::mt19937_64 rng(20240601);
  const std::vector<std::string> seeds = {
      kNginx,
      kChunked,
      "HTTP/1.1 100 Continue\r\n\r\n" + kNginx,
      "HTTP/1.0 200 OK\r\n\r\nbody until close",
      "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n",
      "HTTP/1.1 200 OK\ntransfer-encoding: chunked\n\n3\nabc\n0\n\n",
  };
  const char kAlphabet[] = "HTTP/1.0 2\r\n:;,-Content-LengthTransfer-Encodingchunkedclose0123456789aF";
  for (int iter = 0; iter < 20000; ++iter) {
    std::string wire;
    if (iter % 2 == 0) {
      const size_t n = rng() % 200;
      for (size_t i = 0; i < n; ++i) {
        // Mostly protocol-ish bytes so the fuzz gets past the status line sometimes.
        wire.push_back(rng() % 4 == 0 ? static_cast<char>(rng())
                                      : kAlphabet[rng() % (sizeof(kAlphabet) - 1)]);
      }
      if (iter % 4 == 0) wire = "HTTP/1.1 200 OK\r\n" + wire;
    } else {
      wire = seeds[rng() % seeds.size()];
      const int mutations = 1 + static_cast<int>(rng() % 4);
      for (int m = 0; m < mutations && !wire.empty(); ++m) {
        const size_t at = rng() % wire.size();
        switch (rng() % 4) {
          case 0:
            wire[at] = static_cast<char>(rng());
            break;
          case 1:
            wire.erase(at, 1 + rng() % 8);
            break;
          case 2:
            wire.insert(at, 1, kAlphabet[rng() % (sizeof(kAlphabet) - 1)]);
            break;
          default:
            wire.insert(at, wire.substr(rng() % wire.size(), rng() % 16));
            break;
        }
      }
    }
    Http1ResponseParser p;
    p.Reset(rng() % 8 == 0);
    size_t pos = 0;
    State state = State::kNeedMore;
    while (pos < wire.size() && state == State::kNeedMore) {
      const size_t piece = 1 + rng() % (wire.size() - pos);
      // A heap copy of exactly the piece, so ASan catches any read past its end.
      const std::vector<char> buf(wire.begin() + pos, wire.begin() + pos + piece);
      size_t consumed = ~size_t{0};
      state = p.Feed(buf.data(), buf.size(), &consumed);
      ASSERT_LE(consumed, piece);
      if (state == State::kNeedMore) {
        ASSERT_EQ(consumed, piece);
      }
      pos += consumed;
      if (state != State::kNeedMore) break;
    }
    if (state == State::kNeedMore && rng() % 2 == 0) state = p.OnEof();
    ASSERT_EQ(state, p.state());
    ASSERT_LE(p.wire_bytes(), wire.size());
    ASSERT_LE(p.header_bytes() + p.body_bytes(), p.wire_bytes());
    if (state == State::kError) {
      ASSERT_STRNE(p.error(), "");
    } else {
      ASSERT_STREQ(p.error(), "");
    }
    if (state == State::kComplete) {
      ASSERT_GE(p.status(), 100);
    }
  }
}

// Timing printout only (shared CI machines are too noisy to assert on).
TEST(Http1ResponseParser, NanosecondsPerResponse) {
  constexpr int kIterations = 1'000'000;
  Http1ResponseParser p;
  uint64_t body = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kIterations; ++i) {
    p.Reset();
    size_t consumed = 0;
    if (p.Feed(kNginx.data(), kNginx.size(), &consumed) != State::kComplete) FAIL();
    body += p.body_bytes() + consumed;
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;
  const double ns = std::chrono::duration<double, std::nano>(elapsed).count() / kIterations;
  EXPECT_EQ(body, uint64_t{kIterations} * (13 + kNginx.size()));
  std::printf("Http1ResponseParser: %.1f ns per %zu-byte response\n", ns, kNginx.size());
}

}  // namespace
}  // namespace stampede
