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
  const std::string peer = context->peer();
  const grpc::Status status = Guarded("agent link", [&]() -> grpc::Status {
    AgentMessage message;
    if (!stream->Read(&message)) return grpc::Status::OK;
    if (!message.has_register_()) {
      manager_->Log(LogLevel::kWarn, LogFields({{"event", "agent_refused"},
                                                {"reason", "no_register"},
                                                {"peer", peer},
                                                {"detail", "the first message was no Register"}}));
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "the first message on the agent link must be a Register");
    }
    const Register& reg = message.register_();
    // The refusal: logged with what was refused and who asked, told to the agent, and the
    // stream ended with a status the agent can tell apart (UNAUTHENTICATED: the token).
    auto refuse = [&](absl::string_view reason, const absl::Status& why) {
      manager_->Log(LogLevel::kWarn, LogFields({{"event", "agent_refused"},
                                                {"reason", reason},
                                                {"peer", peer},
                                                {"agent", reg.name()},
                                                {"region", reg.region()},
                                                {"detail", why.message()}}));
      CoordinatorMessage rejected;
      rejected.set_rejected(std::string(why.message()));
      stream->Write(rejected);
      return ToGrpc(why);
    };
    // The token first, apart: a bad one is UNAUTHENTICATED (the agent exits with its own code).
    if (absl::Status s = manager_->CheckToken(reg.token()); !s.ok()) {
      return refuse("bad_token", absl::UnauthenticatedError(s.message()));
    }
    StreamWriter writer(stream);
    auto registered = manager_->RegisterAgent(reg, &writer, CertificateNames(*context));
    if (!registered.ok()) {
      const absl::StatusCode code = registered.status().code();
      return refuse(code == absl::StatusCode::kAlreadyExists      ? "name_taken"
                    : code == absl::StatusCode::kInvalidArgument  ? "invalid_registration"
                    : code == absl::StatusCode::kPermissionDenied ? "name_not_in_certificate"
                                                                  : "refused",
                    registered.status());
    }
    session = *registered;
    manager_->Log(LogLevel::kInfo,
                  absl::StrCat(LogFields({{"event", "agent_joined"},
                                          {"agent", session->id()},
                                          {"region", reg.region()},
                                          {"peer", peer},
                                          {"version", reg.version()},
                                          {"instance", reg.instance_id()}}),
                               " cores=", reg.cores(), " active_runs=", reg.active_runs_size()));
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
  if (session != nullptr) {
    const bool replaced = session->closed();
    session->Close();
    // (The agent stopping and the connection breaking look the same from here.)
    manager_->Log(
        LogLevel::kInfo,
        LogFields({{"event", "agent_left"},
                   {"agent", session->id()},
                   {"region", session->Info().region()},
                   {"peer", peer},
                   {"reason", replaced ? "replaced_by_a_new_connection" : "connection_closed"}}));
  }
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
