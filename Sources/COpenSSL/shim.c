// Shim for OpenSSL macros Swift cannot import. Each function is a one-line forward.
#include "COpenSSL.h"

void gw_OPENSSL_free(void *ptr) { OPENSSL_free(ptr); }

long gw_BIO_get_mem_data(BIO *bio, char **data) { return BIO_get_mem_data(bio, data); }

STACK_OF(X509) *gw_sk_X509_new_null(void) { return sk_X509_new_null(); }

int gw_sk_X509_push_ref(STACK_OF(X509) *stack, X509 *cert) {
    if (X509_up_ref(cert) != 1) return 0;
    if (sk_X509_push(stack, cert) <= 0) { X509_free(cert); return 0; }
    return 1;
}

int gw_sk_X509_num(const STACK_OF(X509) *stack) { return sk_X509_num(stack); }

X509 *gw_sk_X509_value(const STACK_OF(X509) *stack, int index) { return sk_X509_value(stack, index); }

void gw_sk_X509_pop_free(STACK_OF(X509) *stack) { sk_X509_pop_free(stack, X509_free); }

int gw_selection_public_key(void) { return EVP_PKEY_PUBLIC_KEY; }
int gw_selection_keypair(void) { return EVP_PKEY_KEYPAIR; }

int gw_X509_NAME_print_rfc2253(BIO *bio, const X509_NAME *name) {
    return X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253);
}

int gw_eku_tls_only(X509 *cert) {
    int critical = 0;
    EXTENDED_KEY_USAGE *eku = X509_get_ext_d2i(cert, NID_ext_key_usage, &critical, NULL);
    if (eku == NULL) return critical == -1 ? 0 : -1;   /* -1: absent; -2: more than one */
    int tlsOnly = sk_ASN1_OBJECT_num(eku) > 0;
    for (int i = 0; i < sk_ASN1_OBJECT_num(eku); i++) {
        int nid = OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, i));
        if (nid != NID_server_auth && nid != NID_client_auth) { tlsOnly = 0; break; }
    }
    EXTENDED_KEY_USAGE_free(eku);
    return tlsOnly;
}
