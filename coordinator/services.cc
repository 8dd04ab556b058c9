#include "coordinator/services.h"

#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/grpc_status.h"
#include "common/log_line.h"

namespace stampede {
namespace {

class StreamWriter final : public MessageWriter {
 public:
  explicit StreamWriter(grpc::ServerReaderWriter<CoordinatorMessage, AgentMessage>* stream)
      : stream_(stream) {}
  bool Write(const CoordinatorMessage& message) override { return stream_->Write(message); }

 private:
  grpc::ServerReaderWriter<CoordinatorMessage, AgentMessage>* const stream_;
};

constexpr absl::Duration kWatchInterval = absl::Milliseconds(500);

}  // namespace

namespace {

// The names of the peer's client certificate (common name and subject alternative names), when
// the channel is mutually authenticated; empty otherwise.
std::vector<std::string> CertificateNames(const grpc::ServerContext& context) {
  std::vector<std::string> names;
  const std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  if (auth == nullptr || !auth->IsPeerAuthenticated()) return names;
  for (const char* property : {"x509_common_name", "x509_subject_alternative_name"}) {
    for (const grpc::string_ref& value : auth->FindPropertyValues(property)) {
      names.emplace_back(value.data(), value.size());
    }
  }
  return names;
}

// Runs a handler so that nothing escapes it: an exception (an allocation failure on a hostile
// message, say) becomes an INTERNAL status for this call, never a crash or an UNKNOWN with the
// stream left half open.
template <typename Handler>
grpc::Status Guarded(const char* what, Handler handler) {
  try {
    return handler();
  } catch (const std::exception& e) {
    std::cerr << "coordinator: "
              << LogFields({{"event", "handler_error"}, {"call", what}, {"reason", e.what()}})
              << "\n";
    return grpc::Status(grpc::StatusCode::INTERNAL, absl::StrCat(what, ": ", e.what()));
  } catch (...) {
    std::cerr << "coordinator: " << LogFields({{"event", "handler_error"}, {"call", what}}) << "\n";
    return grpc::Status(grpc::StatusCode::INTERNAL, absl::StrCat(what, ": internal error"));
  }
}

}  // namespace

grpc::Status AgentLinkService::Connect(
    grpc::ServerContext* context,
    grpc::ServerReaderWriter<CoordinatorMessage, AgentMessage>* stream) {
  std::shared_ptr<AgentSession> session;
  const grpc::Status status = Guarded("agent link", [&]() -> grpc::Status {
    AgentMessage message;
    if (!stream->Read(&message)) return grpc::Status::OK;
    if (!message.has_register_()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "the first message on the agent link must be a Register");
    }
    StreamWriter writer(stream);
    auto registered =
        manager_->RegisterAgent(message.register_(), &writer, CertificateNames(*context));
    if (!registered.ok()) {
      std::cerr << "coordinator: "
                << LogFields({{"event", "agent_refused"},
                              {"peer", context->peer()},
                              {"reason", registered.status().message()}})
                << "\n";
      CoordinatorMessage rejected;
      rejected.set_rejected(std::string(registered.status().message()));
      stream->Write(rejected);
      return ToGrpc(registered.status());
    }
    session = *registered;
    CoordinatorMessage accepted;
    accepted.set_accepted_agent_id(session->id());
    session->Send(std::move(accepted));
    while (stream->Read(&message)) {
      manager_->OnAgentMessage(*session, message);
      if (session->closed()) break;  // replaced by a newer connection of the same agent
    }
    return grpc::Status::OK;
  });
  // Always closed, however the handler ended: its writer thread writes to this stream, which
  // is gone once Connect returns.
  if (session != nullptr) session->Close();
  return status;
}

grpc::Status CoordinatorService::ListAgents(grpc::ServerContext*, const ListAgentsRequest* request,
                                            ListAgentsResponse* response) {
  return Guarded("ListAgents", [&]() -> grpc::Status {
    if (auto s = manager_->CheckToken(request->token()); !s.ok()) return ToGrpc(s);
    for (AgentInfo& a : manager_->ListAgents()) *response->add_agents() = std::move(a);
    return grpc::Status::OK;
  });
}

grpc::Status CoordinatorService::StartRun(grpc::ServerContext*, const StartRunRequest* request,
                                          StartRunResponse* response) {
  return Guarded("StartRun", [&]() -> grpc::Status {
    if (auto s = manager_->CheckToken(request->token()); !s.ok()) return ToGrpc(s);
    auto started = manager_->StartRun(request->plan());
    if (!started.ok()) return ToGrpc(started.status());
    *response = std::move(*started);
    return grpc::Status::OK;
  });
}

grpc::Status CoordinatorService::Watch(grpc::ServerContext* context, const RunRef* request,
                                       grpc::ServerWriter<Progress>* writer) {
  return Guarded("Watch", [&]() -> grpc::Status {
    if (auto s = manager_->CheckToken(request->token()); !s.ok()) return ToGrpc(s);
    while (!context->IsCancelled()) {
      auto progress = manager_->GetProgress(request->run_id());
      if (!progress.ok()) return ToGrpc(progress.status());
      if (!writer->Write(*progress) || progress->done()) break;
      manager_->WaitDone(request->run_id(), kWatchInterval);
    }
    return grpc::Status::OK;
  });
}

grpc::Status CoordinatorService::Abort(grpc::ServerContext*, const RunRef* request,
                                       RunSummary* response) {
  return Guarded("Abort", [&]() -> grpc::Status {
    if (auto s = manager_->CheckToken(request->token()); !s.ok()) return ToGrpc(s);
    auto summary = manager_->Abort(request->run_id());
    if (!summary.ok()) return ToGrpc(summary.status());
    *response = std::move(*summary);
    return grpc::Status::OK;
  });
}

grpc::Status CoordinatorService::ListRuns(grpc::ServerContext*, const ListRunsRequest* request,
                                          ListRunsResponse* response) {
  return Guarded("ListRuns", [&]() -> grpc::Status {
    if (auto s = manager_->CheckToken(request->token()); !s.ok()) return ToGrpc(s);
    auto runs = manager_->ListRuns();
    if (!runs.ok()) return ToGrpc(runs.status());
    for (RunSummary& r : *runs) *response->add_runs() = std::move(r);
    return grpc::Status::OK;
  });
}

grpc::Status CoordinatorService::GetReport(grpc::ServerContext*, const RunRef* request,
                                           RunReport* response) {
  return Guarded("GetReport", [&]() -> grpc::Status {
    if (auto s = manager_->CheckToken(request->token()); !s.ok()) return ToGrpc(s);
    auto report = manager_->GetReport(request->run_id());
    if (!report.ok()) return ToGrpc(report.status());
    *response = std::move(*report);
    return grpc::Status::OK;
  });
}

}  // namespace stampede
