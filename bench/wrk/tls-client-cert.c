/*
 * wrk has no option for a TLS client certificate. Preloaded into wrk (LD_PRELOAD), this
 * wraps OpenSSL's SSL_CTX_new, which wrk calls once at start, and loads the certificate
 * chain and key named by WRK_TLS_CERT and WRK_TLS_KEY into the context it returns, so wrk
 * can drive the broker over mutual TLS. Built by bench/native-wrk.ts with the system's cc
 * and libssl headers; nothing of the broker uses it.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <openssl/ssl.h>

SSL_CTX *SSL_CTX_new(const SSL_METHOD *method) {
  static SSL_CTX *(*real)(const SSL_METHOD *);
  if (!real) real = (SSL_CTX * (*)(const SSL_METHOD *)) dlsym(RTLD_NEXT, "SSL_CTX_new");
  SSL_CTX *ctx = real(method);
  const char *cert = getenv("WRK_TLS_CERT");
  const char *key = getenv("WRK_TLS_KEY");
  if (ctx && cert && key) {
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
      fprintf(stderr, "tls-client-cert: cannot load %s and %s\n", cert, key);
      exit(2);
    }
  }
  return ctx;
}
