// Arithmetic on timestamps that come from agents. They may be garbage (a broken clock, a hostile
// message), so sums and differences wrap around instead of overflowing: a corrupt value lands in
// a strange second of the timeline, never in undefined behaviour.
#ifndef STAMPEDE_COMMON_TIMELINE_H_
#define STAMPEDE_COMMON_TIMELINE_H_

#include <cstdint>

namespace stampede {

inline int64_t WrapAdd(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
}

inline int64_t WrapSub(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) - static_cast<uint64_t>(b));
}

// An instant on an agent's wall clock, moved onto the coordinator's timeline: the agent's clock
// runs `clock_offset_ns` ahead of the coordinator's (AgentMeta::clock_offset_ns), so
// coordinator time = agent time - offset.
inline int64_t AgentToCoordinatorNs(int64_t agent_ns, int64_t clock_offset_ns) {
  return WrapSub(agent_ns, clock_offset_ns);
}

}  // namespace stampede

#endif  // STAMPEDE_COMMON_TIMELINE_H_
