// What the coordinator knows about an agent taking part in a run; stamped onto its records.
#ifndef STAMPEDE_COMMON_AGENT_META_H_
#define STAMPEDE_COMMON_AGENT_META_H_

#include <cstdint>
#include <string>

namespace stampede {

struct AgentMeta {
  std::string id;      // unique per coordinator, e.g. "a3"
  std::string name;    // as the agent registered ("eastus-1")
  std::string region;  // "eastus"
  // Agent wall clock minus coordinator wall clock: coordinator time = agent time - offset.
  int64_t clock_offset_ns = 0;
  int64_t clock_uncertainty_ns = 0;
};

}  // namespace stampede

#endif  // STAMPEDE_COMMON_AGENT_META_H_
