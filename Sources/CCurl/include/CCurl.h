// CCurl: the C side of the libcurl wrapper.
//
// Swift cannot call C variadic functions, and curl_easy_setopt, curl_easy_getinfo and
// curl_multi_setopt are variadic: the argument's C type is chosen by the option. This header
// offers one typed, non-variadic entry point per argument kind instead, plus the few macros
// Swift cannot import. Every name is prefixed gw_curl_ so nothing clashes with libcurl.
//
// Layering: this shim (C) -> owner classes in GatewayTransport/Curl (one final class per
// pointer, freed in deinit) -> the Swift API (HTTPSClient), which shows no C type.
#ifndef GATEWAY_CCURL_H
#define GATEWAY_CCURL_H

#include <curl/curl.h>
#include <stdint.h>
#include <stddef.h>

/// The write and header callback shape (CURLOPT_WRITEFUNCTION, CURLOPT_HEADERFUNCTION).
typedef size_t (*gw_curl_data_callback)(char *data, size_t size, size_t count, void *context);

/// curl_global_init(CURL_GLOBAL_DEFAULT) exactly once per process, thread-safe (pthread_once).
/// Returns the CURLcode of that one call on every call.
CURLcode gw_curl_global_init_once(void);

/// The libcurl version string ("7.88.1"); CURLVERSION_NOW is a macro Swift cannot import.
const char *gw_curl_version(void);
/// The same as 0xXXYYZZ (major, minor, patch): 8.14.1 is 0x080e01.
unsigned int gw_curl_version_num(void);
/// Non-zero when the libcurl in use supports HTTP/2 (CURL_VERSION_HTTP2).
int gw_curl_supports_http2(void);

// curl_easy_setopt, one function per argument kind.
CURLcode gw_curl_easy_setopt_long(CURL *handle, CURLoption option, long value);
CURLcode gw_curl_easy_setopt_string(CURL *handle, CURLoption option, const char *value);
CURLcode gw_curl_easy_setopt_pointer(CURL *handle, CURLoption option, void *value);
CURLcode gw_curl_easy_setopt_off_t(CURL *handle, CURLoption option, int64_t value);
CURLcode gw_curl_easy_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *value);
/* A blob option (CURLOPT_SSLKEY_BLOB…), copied by libcurl (CURL_BLOB_COPY); NULL clears it. */
CURLcode gw_curl_easy_setopt_blob(CURL *handle, CURLoption option, const void *data, size_t length);
CURLcode gw_curl_easy_setopt_data_callback(CURL *handle, CURLoption option, gw_curl_data_callback value);

// curl_easy_getinfo, one function per result kind.
CURLcode gw_curl_easy_getinfo_long(CURL *handle, CURLINFO info, long *value);
CURLcode gw_curl_easy_getinfo_string(CURL *handle, CURLINFO info, const char **value);
CURLcode gw_curl_easy_getinfo_double(CURL *handle, CURLINFO info, double *value);
CURLcode gw_curl_easy_getinfo_off_t(CURL *handle, CURLINFO info, int64_t *value);
CURLcode gw_curl_easy_getinfo_pointer(CURL *handle, CURLINFO info, void **value);

// curl_multi_setopt, one function per argument kind.
CURLMcode gw_curl_multi_setopt_long(CURLM *handle, CURLMoption option, long value);
CURLMcode gw_curl_multi_setopt_pointer(CURLM *handle, CURLMoption option, void *value);

/// Reads one CURLMsg: when it says a transfer is done, stores its easy handle and result and
/// returns 1; returns 0 for any other message. (CURLMsg's `data` is a C union.)
int gw_curl_message_done(const CURLMsg *message, CURL **handle, CURLcode *result);

/// CURL_ERROR_SIZE, the size CURLOPT_ERRORBUFFER requires (a macro).
size_t gw_curl_error_size(void);

#endif
