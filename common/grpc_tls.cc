#include "common/grpc_tls.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace stampede {
namespace {

absl::StatusOr<std::string> ReadPem(const std::string& path, const std::string& flag) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": cannot read \"", path, "\": ", std::strerror(errno)));
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  if (buffer.str().find("-----BEGIN") == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": \"", path, "\" is not a PEM file"));
  }
  return buffer.str();
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const TlsFiles& files, const std::string& prefix) {
  if (files.empty()) return grpc::InsecureServerCredentials();
  if (files.cert.empty() || files.key.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        prefix, "cert and ", prefix, "key: the coordinator needs both for TLS"));
  }
  auto cert = ReadPem(files.cert, prefix + "cert");
  if (!cert.ok()) return cert.status();
  auto key = ReadPem(files.key, prefix + "key");
  if (!key.ok()) return key.status();
  grpc::SslServerCredentialsOptions options(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  if (!files.ca.empty()) {
    auto ca = ReadPem(files.ca, prefix + "client-ca");
    if (!ca.ok()) return ca.status();
    options.pem_root_certs = *ca;
    // Mutual TLS: only clients with a certificate from this CA get in.
    options.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  options.pem_key_cert_pairs.push_back({*key, *cert});
  return grpc::SslServerCredentials(options);
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const TlsFiles& files, const std::string& prefix) {
  if (files.empty()) return grpc::InsecureChannelCredentials();
  if (files.ca.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        prefix, "ca: needed to verify the coordinator's certificate when TLS is used"));
  }
  if (files.cert.empty() != files.key.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(prefix, "cert and ", prefix, "key: give both (mutual TLS) or neither"));
  }
  grpc::SslCredentialsOptions options;
  auto ca = ReadPem(files.ca, prefix + "ca");
  if (!ca.ok()) return ca.status();
  options.pem_root_certs = *ca;
  if (!files.cert.empty()) {
    auto cert = ReadPem(files.cert, prefix + "cert");
    if (!cert.ok()) return cert.status();
    auto key = ReadPem(files.key, prefix + "key");
    if (!key.ok()) return key.status();
    options.pem_cert_chain = *cert;
    options.pem_private_key = *key;
  }
  return grpc::SslCredentials(options);
}

TlsFiles TlsFilesFromEnv() {
  auto get = [](const char* name) {
    const char* v = std::getenv(name);
    return std::string(v != nullptr ? v : "");
  };
  return TlsFiles{get("STAMPEDE_TLS_CA"), get("STAMPEDE_TLS_CERT"), get("STAMPEDE_TLS_KEY")};
}

}  // namespace stampede
