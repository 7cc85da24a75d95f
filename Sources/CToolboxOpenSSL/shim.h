#ifndef TOOLBOX_COPENSSL_SHIM_H
#define TOOLBOX_COPENSSL_SHIM_H
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/pem.h>
#include <openssl/bio.h>
#include <openssl/pkcs12.h>

/* ToolboxTransport's SocketPoller: Glibc's Swift module does not export <sys/epoll.h> or <sys/eventfd.h>. */
#if defined(__linux__)
#include <sys/epoll.h>
#include <sys/eventfd.h>
#endif

/* ToolboxTransport: function forms of OpenSSL macros that Swift cannot import. */
static inline int toolbox_SSL_set_tlsext_host_name(SSL *ssl, const char *name) {
    return (int)SSL_set_tlsext_host_name(ssl, name);
}
static inline int toolbox_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_min_proto_version(ctx, version);
}
static inline uint64_t toolbox_SSL_CTX_set_transport_options(SSL_CTX *ctx) {
    /* Peers that close TCP without close_notify are common (HTTP servers); treat that as EOF, not an error. */
    return SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION);
}
static inline long toolbox_SSL_CTX_set_release_buffers(SSL_CTX *ctx) {
    return SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
}
#endif
