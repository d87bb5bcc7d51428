// tls.hpp - OpenSSL 3 contexts for servers (smtpd, pop3d, imapd) and the SMTP
// client, as RAII handles, plus a one-line description of a session for
// logs and Received headers.
// SECURITY: TLS 1.2 is the floor; private keys are read before privileges drop.
#pragma once

#include <memory>
#include <string>

#include <openssl/ssl.h>

namespace tern {

struct ssl_ctx_deleter { void operator()(SSL_CTX* c) const noexcept { SSL_CTX_free(c); } };
struct ssl_deleter { void operator()(SSL* s) const noexcept { SSL_free(s); } };
struct evp_pkey_deleter { void operator()(EVP_PKEY* k) const noexcept { EVP_PKEY_free(k); } };
struct x509_deleter { void operator()(X509* x) const noexcept { X509_free(x); } };
using ssl_ctx_ptr = std::unique_ptr<SSL_CTX, ssl_ctx_deleter>;
using ssl_ptr = std::unique_ptr<SSL, ssl_deleter>;
using evp_pkey_ptr = std::unique_ptr<EVP_PKEY, evp_pkey_deleter>;
using x509_ptr = std::unique_ptr<X509, x509_deleter>;

// Server context with certificate chain and key; min_version "TLSv1.2" or "TLSv1.3".
ssl_ctx_ptr make_server_ctx(const std::string& cert_file, const std::string& key_file,
                            const std::string& min_version, std::string& err);

enum class tls_verify { none, peer };
// Client context; with verify=peer the system trust store (or ca_file) checks the server.
ssl_ctx_ptr make_client_ctx(tls_verify verify, const std::string& ca_file, const std::string& min_version,
                            std::string& err);

// "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)"
std::string describe_tls(SSL* ssl);

// The last OpenSSL error queue entries as text (and clears the queue).
std::string openssl_error();

// Write a self-signed certificate and key (tern init). RSA 2048, valid for
// `days`, subject CN and subjectAltName DNS = hostname.
bool make_self_signed(const std::string& hostname, const std::string& cert_file, const std::string& key_file,
                      int days, std::string& err);

}  // namespace tern
