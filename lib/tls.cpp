// tls.cpp - see tls.hpp.
#include "lib/tls.hpp"

#include <cstdio>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include "lib/fd.hpp"

namespace tern {

std::string openssl_error() {
    std::string out;
    unsigned long e;
    while ((e = ERR_get_error()) != 0) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        if (!out.empty()) out += "; ";
        out += buf;
    }
    return out.empty() ? "unknown TLS error" : out;
}

static int version_of(const std::string& v) { return v == "TLSv1.3" ? TLS1_3_VERSION : TLS1_2_VERSION; }

ssl_ctx_ptr make_server_ctx(const std::string& cert_file, const std::string& key_file,
                            const std::string& min_version, std::string& err) {
    ssl_ctx_ptr ctx(SSL_CTX_new(TLS_server_method()));
    if (!ctx) {
        err = openssl_error();
        return {};
    }
    SSL_CTX_set_min_proto_version(ctx.get(), version_of(min_version));
    SSL_CTX_set_options(ctx.get(), SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_mode(ctx.get(), SSL_MODE_RELEASE_BUFFERS);
    if (SSL_CTX_use_certificate_chain_file(ctx.get(), cert_file.c_str()) != 1) {
        err = "cannot load certificate " + cert_file + ": " + openssl_error();
        return {};
    }
    if (SSL_CTX_use_PrivateKey_file(ctx.get(), key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
        err = "cannot load private key " + key_file + ": " + openssl_error();
        return {};
    }
    if (SSL_CTX_check_private_key(ctx.get()) != 1) {
        err = "private key " + key_file + " does not match certificate " + cert_file;
        return {};
    }
    SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_SERVER);
    return ctx;
}

ssl_ctx_ptr make_client_ctx(tls_verify verify, const std::string& ca_file, const std::string& min_version,
                            std::string& err) {
    ssl_ctx_ptr ctx(SSL_CTX_new(TLS_client_method()));
    if (!ctx) {
        err = openssl_error();
        return {};
    }
    SSL_CTX_set_min_proto_version(ctx.get(), version_of(min_version));
    SSL_CTX_set_options(ctx.get(), SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_mode(ctx.get(), SSL_MODE_RELEASE_BUFFERS);
    if (verify == tls_verify::peer) {
        SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
        int ok = ca_file.empty() ? SSL_CTX_set_default_verify_paths(ctx.get())
                                 : SSL_CTX_load_verify_locations(ctx.get(), ca_file.c_str(), nullptr);
        if (ok != 1) {
            err = "cannot load trust anchors: " + openssl_error();
            return {};
        }
    } else {
        SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
    }
    return ctx;
}

std::string describe_tls(SSL* ssl) {
    if (!ssl) return "";
    const SSL_CIPHER* c = SSL_get_current_cipher(ssl);
    int alg_bits = 0;
    int bits = c ? SSL_CIPHER_get_bits(c, &alg_bits) : 0;
    std::string s = SSL_get_version(ssl);
    s += " with cipher ";
    s += c ? SSL_CIPHER_get_name(c) : "unknown";
    s += " (" + std::to_string(bits) + "/" + std::to_string(alg_bits) + " bits)";
    return s;
}

bool make_self_signed(const std::string& hostname, const std::string& cert_file, const std::string& key_file,
                      int days, std::string& err) {
    evp_pkey_ptr key(EVP_RSA_gen(2048));
    if (!key) {
        err = "key generation failed: " + openssl_error();
        return false;
    }
    x509_ptr x(X509_new());
    X509_set_version(x.get(), 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x.get()), static_cast<long>(time(nullptr)));
    X509_gmtime_adj(X509_getm_notBefore(x.get()), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x.get()), static_cast<long>(days) * 86400);
    X509_set_pubkey(x.get(), key.get());
    X509_NAME* name = X509_get_subject_name(x.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(hostname.c_str()), -1,
                               -1, 0);
    X509_set_issuer_name(x.get(), name);
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x.get(), x.get(), nullptr, nullptr, 0);
    std::string san = "DNS:" + hostname;
    if (X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, NID_subject_alt_name, san.c_str())) {
        X509_add_ext(x.get(), ext, -1);
        X509_EXTENSION_free(ext);
    }
    if (X509_sign(x.get(), key.get(), EVP_sha256()) == 0) {
        err = "signing failed: " + openssl_error();
        return false;
    }
    auto write_pem = [&](const std::string& path, mode_t mode, bool is_key) -> bool {
        std::string tmp = path + ".tmp";
        FILE* f = std::fopen(tmp.c_str(), "w");
        if (!f) {
            err = "cannot write " + tmp + ": " + errno_text();
            return false;
        }
        ::chmod(tmp.c_str(), mode);
        int ok = is_key ? PEM_write_PrivateKey(f, key.get(), nullptr, nullptr, 0, nullptr, nullptr)
                        : PEM_write_X509(f, x.get());
        bool closed = std::fclose(f) == 0;
        if (!ok || !closed || ::rename(tmp.c_str(), path.c_str()) != 0) {
            err = "cannot write " + path;
            return false;
        }
        return true;
    };
    return write_pem(key_file, 0600, true) && write_pem(cert_file, 0644, false);
}

}  // namespace tern
