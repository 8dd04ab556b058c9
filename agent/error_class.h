// Maps what libcurl and the HTTP status say about a finished request to an ErrorClass.
#ifndef STAMPEDE_AGENT_ERROR_CLASS_H_
#define STAMPEDE_AGENT_ERROR_CLASS_H_

#include <curl/curl.h>

#include "common/error_names.h"
#include "records.pb.h"

namespace stampede {

// A response that arrived whole: 4xx/5xx are HTTP error classes, a "response" without a status
// line (status < 100) is a protocol error. Shared by both transports.
ErrorClass ClassifyStatus(long status);

// What libcurl says about a finished transfer. `status` is the HTTP status (0 when none
// arrived); transport failures win over whatever status was seen.
ErrorClass ClassifyResult(CURLcode code, long status);

}  // namespace stampede

#endif  // STAMPEDE_AGENT_ERROR_CLASS_H_
