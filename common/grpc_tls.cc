#include "common/grpc_tls.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "openssl/err.h"
#include "openssl/evp.h"
#include "openssl/pem.h"
#include "openssl/x509.h"

namespace stampede {
namespace {

// What a PEM file must hold.
enum class PemKind { kCertificates, kPrivateKey };

// OpenSSL's reason for the last failure, for a message ("no start line", "bad decrypt").
std::string OpenSslReason() {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  const char* reason = code == 0 ? nullptr : ERR_reason_error_string(code);
  return reason != nullptr ? reason : "unreadable";
}

// Parses `pem` as what `kind` says, so that a key given for a certificate (or garbage) is named
// here, with its flag and file, instead of failing deep in gRPC's handshake later.
absl::Status CheckPem(const std::string& pem, PemKind kind, const std::string& path,
                      const std::string& flag) {
  ERR_clear_error();
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (bio == nullptr) return absl::ResourceExhaustedError("out of memory reading PEM");
  absl::Status status;
  if (kind == PemKind::kCertificates) {
    X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    if (cert == nullptr) {
      status = absl::InvalidArgumentError(
          absl::StrCat(flag, ": \"", path, "\" holds no certificate (", OpenSslReason(), ")"));
    }
    X509_free(cert);
  } else {
    EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
    if (key == nullptr) {
      status = absl::InvalidArgumentError(absl::StrCat(
          flag, ": \"", path, "\" holds no private key, or one protected by a passphrase (",
          OpenSslReason(), ")"));
    }
    EVP_PKEY_free(key);
  }
  BIO_free(bio);
  return status;
}

// The key must be the certificate's: else every handshake fails with a vague error.
absl::Status CheckKeyMatches(const std::string& cert_pem, const std::string& key_pem,
                             const TlsFiles& files, const std::string& prefix) {
  ERR_clear_error();
  BIO* cert_bio = BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size()));
  BIO* key_bio = BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size()));
  X509* cert = cert_bio ? PEM_read_bio_X509(cert_bio, nullptr, nullptr, nullptr) : nullptr;
  EVP_PKEY* key = key_bio ? PEM_read_bio_PrivateKey(key_bio, nullptr, nullptr, nullptr) : nullptr;
  const bool match = cert != nullptr && key != nullptr && X509_check_private_key(cert, key) == 1;
  X509_free(cert);
  EVP_PKEY_free(key);
  BIO_free(cert_bio);
  BIO_free(key_bio);
  ERR_clear_error();
  if (match) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(prefix, "key: \"", files.key,
                                                 "\" is not the private key of the certificate in "
                                                 "\"",
                                                 files.cert, "\" (", prefix, "cert)"));
}

absl::StatusOr<std::string> ReadPem(const std::string& path, const std::string& flag) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": cannot read \"", path, "\": ", std::strerror(errno)));
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  if (buffer.str().find("-----BEGIN") == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": \"", path, "\" is not a PEM file"));
  }
  return buffer.str();
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const TlsFiles& files, const std::string& prefix) {
  if (files.empty()) return grpc::InsecureServerCredentials();
  if (files.cert.empty() || files.key.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(prefix, "cert and ", prefix, "key: the coordinator needs both for TLS"));
  }
  auto cert = ReadPem(files.cert, prefix + "cert");
  if (!cert.ok()) return cert.status();
  auto key = ReadPem(files.key, prefix + "key");
  if (!key.ok()) return key.status();
  if (auto s = CheckPem(*cert, PemKind::kCertificates, files.cert, prefix + "cert"); !s.ok()) {
    return s;
  }
  if (auto s = CheckPem(*key, PemKind::kPrivateKey, files.key, prefix + "key"); !s.ok()) return s;
  if (auto s = CheckKeyMatches(*cert, *key, files, prefix); !s.ok()) return s;
  grpc::SslServerCredentialsOptions options(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  if (!files.ca.empty()) {
    auto ca = ReadPem(files.ca, prefix + "client-ca");
    if (!ca.ok()) return ca.status();
    if (auto s = CheckPem(*ca, PemKind::kCertificates, files.ca, prefix + "client-ca"); !s.ok()) {
      return s;
    }
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
  if (auto s = CheckPem(*ca, PemKind::kCertificates, files.ca, prefix + "ca"); !s.ok()) return s;
  options.pem_root_certs = *ca;
  if (!files.cert.empty()) {
    auto cert = ReadPem(files.cert, prefix + "cert");
    if (!cert.ok()) return cert.status();
    auto key = ReadPem(files.key, prefix + "key");
    if (!key.ok()) return key.status();
    if (auto s = CheckPem(*cert, PemKind::kCertificates, files.cert, prefix + "cert"); !s.ok()) {
      return s;
    }
    if (auto s = CheckPem(*key, PemKind::kPrivateKey, files.key, prefix + "key"); !s.ok()) {
      return s;
    }
    if (auto s = CheckKeyMatches(*cert, *key, files, prefix); !s.ok()) return s;
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
