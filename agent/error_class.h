// Maps what libcurl and the HTTP status say about a finished request to an ErrorClass.
#ifndef STAMPEDE_AGENT_ERROR_CLASS_H_
#define STAMPEDE_AGENT_ERROR_CLASS_H_

#include <curl/curl.h>

#include "common/error_names.h"
#include "records.pb.h"

namespace stampede {

// `status` is the HTTP status (0 when none arrived). A transfer that completed with a 4xx/5xx
// status is an HTTP error class; transport failures win over whatever status was seen.
ErrorClass ClassifyResult(CURLcode code, long status);

}  // namespace stampede

#endif  // STAMPEDE_AGENT_ERROR_CLASS_H_
