// A RecordSink that merges every batch into a RunAggregator (common/run_aggregator.h): how a run
// on this machine alone (`stampede-agent run`) gets the same merged report, built by the same
// code, as a distributed run gets on the coordinator.
#ifndef STAMPEDE_AGENT_AGGREGATOR_SINK_H_
#define STAMPEDE_AGENT_AGGREGATOR_SINK_H_

#include <utility>

#include "agent/record_sink.h"
#include "common/agent_meta.h"
#include "common/run_aggregator.h"

namespace stampede {

class AggregatorSink final : public RecordSink {
 public:
  // `aggregator` outlives the sink; `agent` is who the records are credited to.
  AggregatorSink(RunAggregator* aggregator, AgentMeta agent)
      : aggregator_(aggregator), agent_(std::move(agent)) {
    aggregator_->AddAgent(agent_);
  }
  // Worker threads; RunAggregator is thread-safe.
  void Consume(const RecordBatch& batch) override { aggregator_->AddBatch(agent_, batch); }

 private:
  RunAggregator* const aggregator_;
  const AgentMeta agent_;
};

}  // namespace stampede

#endif  // STAMPEDE_AGENT_AGGREGATOR_SINK_H_
