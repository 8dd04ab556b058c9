// Local RETURN_IF_ERROR / ASSIGN_OR_RETURN: this abseil release ships no status_macros.h.
#ifndef STAMPEDE_COMMON_STATUS_MACROS_H_
#define STAMPEDE_COMMON_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define STAMPEDE_CONCAT_INNER_(a, b) a##b
#define STAMPEDE_CONCAT_(a, b) STAMPEDE_CONCAT_INNER_(a, b)

// Returns the status from the enclosing function when `expr` is not OK.
#define RETURN_IF_ERROR(expr)                         \
  do {                                                \
    if (::absl::Status stampede_status_ = (expr);     \
        !stampede_status_.ok()) {                     \
      return stampede_status_;                        \
    }                                                 \
  } while (0)

// `ASSIGN_OR_RETURN(auto x, MakeX());` declares x from the value, or returns the error.
#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL_(STAMPEDE_CONCAT_(stampede_statusor_, __LINE__), lhs, expr)

#define ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                           \
  if (!statusor.ok()) return statusor.status();     \
  lhs = std::move(statusor).value()

#endif  // STAMPEDE_COMMON_STATUS_MACROS_H_
