// COpenSSL: the OpenSSL 3 headers the gateway uses, plus a small shim for what Swift
// cannot import (function-like macros, type-generic stack macros, composed flag values).
// Every shim name starts with `gw_`. Only GatewayCrypto imports this module.
#ifndef GATEWAY_COPENSSL_H
#define GATEWAY_COPENSSL_H
#include <openssl/evp.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/x509_vfy.h>
#include <openssl/pem.h>
#include <openssl/ecdsa.h>
#include <openssl/rsa.h>
#include <openssl/bn.h>
#include <openssl/rand.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/param_build.h>
#include <openssl/core_names.h>

// MARK: memory

/// OPENSSL_free is a macro (it passes __FILE__/__LINE__).
void gw_OPENSSL_free(void *ptr);

/// BIO_get_mem_data is a macro over BIO_ctrl; returns the length and sets *data.
long gw_BIO_get_mem_data(BIO *bio, char **data);

// MARK: STACK_OF(X509): the sk_X509_* macros are type-generic and do not import.

STACK_OF(X509) *gw_sk_X509_new_null(void);
/// Pushes `cert` and takes a reference of its own (X509_up_ref), so the caller keeps its own.
int gw_sk_X509_push_ref(STACK_OF(X509) *stack, X509 *cert);
int gw_sk_X509_num(const STACK_OF(X509) *stack);
X509 *gw_sk_X509_value(const STACK_OF(X509) *stack, int index);
/// Frees the stack and drops one reference of each element.
void gw_sk_X509_pop_free(STACK_OF(X509) *stack);

// MARK: composed constants

/// EVP_PKEY_PUBLIC_KEY / EVP_PKEY_KEYPAIR selections for EVP_PKEY_fromdata.
int gw_selection_public_key(void);
int gw_selection_keypair(void);

/// X509_NAME_print_ex with XN_FLAG_RFC2253 (a composed unsigned long macro).
int gw_X509_NAME_print_rfc2253(BIO *bio, const X509_NAME *name);
/// 1 when the certificate has an extendedKeyUsage extension that names TLS purposes only
/// (serverAuth, clientAuth): a TLS certificate, not a signer's. 0 otherwise (no extension,
/// or another purpose listed), -1 when the extension cannot be read.
int gw_eku_tls_only(X509 *cert);

#endif
