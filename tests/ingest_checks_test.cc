// The coordinator's checks on what arrives from outside, one by one: the seq ledger (bounded
// window, exactly-once bookkeeping), tokens compared in constant time, names bound to
// certificates.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>

#include "coordinator/registration.h"
#include "coordinator/seq_ledger.h"

namespace stampede {
namespace {

using ::testing::HasSubstr;

TEST(SeqLedger, TracksPendingAndCommittedAndAdvancesItsPrefix) {
  SeqLedger ledger;
  EXPECT_EQ(ledger.Lookup(0), SeqLedger::Seen::kNew);
  ledger.MarkPending(1);
  EXPECT_EQ(ledger.Lookup(1), SeqLedger::Seen::kPending);
  ledger.MarkCommitted(1);
  EXPECT_EQ(ledger.Lookup(1), SeqLedger::Seen::kCommitted);
  EXPECT_EQ(ledger.prefix(), 0u) << "seq 0 is still missing";
  ledger.MarkCommitted(0);
  EXPECT_EQ(ledger.prefix(), 2u);
  EXPECT_EQ(ledger.committed(), 2u);
  ledger.MarkCommitted(1);  // again: no double count
  EXPECT_EQ(ledger.committed(), 2u);
  ledger.MarkPending(5);
  ledger.Forget(5);  // its commit failed: a resend may bring it again
  EXPECT_EQ(ledger.Lookup(5), SeqLedger::Seen::kNew);
}

TEST(SeqLedger, RefusesSeqsBeyondTheWindowWithoutAllocating) {
  SeqLedger ledger;
  EXPECT_TRUE(ledger.CheckWindow(SeqLedger::kWindow - 1).ok());
  for (uint64_t seq : {SeqLedger::kWindow, uint64_t{1} << 40, UINT64_MAX}) {
    const absl::Status s = ledger.CheckWindow(seq);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << seq;
    EXPECT_THAT(std::string(s.message()), HasSubstr("batch.seq"));
  }
  for (uint64_t seq = 0; seq < 1000; ++seq) ledger.MarkCommitted(seq);
  EXPECT_TRUE(ledger.CheckWindow(999 + SeqLedger::kWindow).ok()) << "the window moves with it";
}

TEST(Registration, TokensCompareInConstantTimeAndExactly) {
  EXPECT_TRUE(ConstantTimeEquals("secret", "secret"));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_FALSE(ConstantTimeEquals("secret", "secreT"));
  EXPECT_FALSE(ConstantTimeEquals("secret", "secret2"));
  EXPECT_FALSE(ConstantTimeEquals("secret", ""));
  EXPECT_FALSE(ConstantTimeEquals(std::string("a\0b", 3), std::string("a\0c", 3)));
}

TEST(Registration, AnAgentNameMustBeOneOfItsCertificatesNames) {
  EXPECT_TRUE(CheckNameMatchesCertificate("eastus-1", {"eastus-1"}).ok());
  EXPECT_TRUE(CheckNameMatchesCertificate("eastus-1", {"agent", "eastus-1"}).ok());
  const absl::Status s = CheckNameMatchesCertificate("westus-9", {"eastus-1"});
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(s.message()), HasSubstr("\"eastus-1\""));
  EXPECT_FALSE(CheckNameMatchesCertificate("x", {}).ok());
}

}  // namespace
}  // namespace stampede
