// Typed, non-variadic wrappers over libcurl's variadic calls; see include/CCurl.h.
// Each wrapper passes exactly the C type libcurl reads for that option kind: passing an int
// where libcurl reads a long (or a long where it reads curl_off_t) is undefined behaviour
// on some ABIs, which is the reason these exist rather than one generic wrapper.
#include "CCurl.h"
#include <pthread.h>

_Static_assert(sizeof(curl_off_t) == sizeof(int64_t), "curl_off_t must be 64-bit");
_Static_assert(CURL_ERROR_SIZE >= 256, "CURLOPT_ERRORBUFFER size");

static pthread_once_t gw_curl_once = PTHREAD_ONCE_INIT;
static CURLcode gw_curl_init_result = CURLE_FAILED_INIT;

static void gw_curl_global_init_run(void) {
    gw_curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

CURLcode gw_curl_global_init_once(void) {
    pthread_once(&gw_curl_once, gw_curl_global_init_run);
    return gw_curl_init_result;
}

const char *gw_curl_version(void) {
    return curl_version_info(CURLVERSION_NOW)->version;
}

unsigned int gw_curl_version_num(void) {
    return curl_version_info(CURLVERSION_NOW)->version_num;
}

int gw_curl_supports_http2(void) {
    return (curl_version_info(CURLVERSION_NOW)->features & CURL_VERSION_HTTP2) != 0;
}

CURLcode gw_curl_easy_setopt_long(CURL *handle, CURLoption option, long value) {
    return curl_easy_setopt(handle, option, value);
}

CURLcode gw_curl_easy_setopt_string(CURL *handle, CURLoption option, const char *value) {
    return curl_easy_setopt(handle, option, value);
}

CURLcode gw_curl_easy_setopt_pointer(CURL *handle, CURLoption option, void *value) {
    return curl_easy_setopt(handle, option, value);
}

CURLcode gw_curl_easy_setopt_off_t(CURL *handle, CURLoption option, int64_t value) {
    return curl_easy_setopt(handle, option, (curl_off_t)value);
}

CURLcode gw_curl_easy_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *value) {
    return curl_easy_setopt(handle, option, value);
}

CURLcode gw_curl_easy_setopt_blob(CURL *handle, CURLoption option, const void *data, size_t length) {
    if (data == NULL) return curl_easy_setopt(handle, option, (struct curl_blob *)NULL);
    struct curl_blob blob = { (void *)data, length, CURL_BLOB_COPY };
    return curl_easy_setopt(handle, option, &blob);
}

CURLcode gw_curl_easy_setopt_data_callback(CURL *handle, CURLoption option, gw_curl_data_callback value) {
    return curl_easy_setopt(handle, option, value);
}

CURLcode gw_curl_easy_getinfo_long(CURL *handle, CURLINFO info, long *value) {
    return curl_easy_getinfo(handle, info, value);
}

CURLcode gw_curl_easy_getinfo_string(CURL *handle, CURLINFO info, const char **value) {
    // libcurl writes a char* it owns; it stays valid until the handle is reset or cleaned up.
    char *result = NULL;
    CURLcode code = curl_easy_getinfo(handle, info, &result);
    *value = result;
    return code;
}

CURLcode gw_curl_easy_getinfo_double(CURL *handle, CURLINFO info, double *value) {
    return curl_easy_getinfo(handle, info, value);
}

CURLcode gw_curl_easy_getinfo_off_t(CURL *handle, CURLINFO info, int64_t *value) {
    curl_off_t result = 0;
    CURLcode code = curl_easy_getinfo(handle, info, &result);
    *value = (int64_t)result;
    return code;
}

CURLcode gw_curl_easy_getinfo_pointer(CURL *handle, CURLINFO info, void **value) {
    // CURLINFO_PRIVATE is documented as char **; the pointer is whatever was set.
    char *result = NULL;
    CURLcode code = curl_easy_getinfo(handle, info, &result);
    *value = result;
    return code;
}

CURLMcode gw_curl_multi_setopt_long(CURLM *handle, CURLMoption option, long value) {
    return curl_multi_setopt(handle, option, value);
}

CURLMcode gw_curl_multi_setopt_pointer(CURLM *handle, CURLMoption option, void *value) {
    return curl_multi_setopt(handle, option, value);
}

int gw_curl_message_done(const CURLMsg *message, CURL **handle, CURLcode *result) {
    if (message == NULL || message->msg != CURLMSG_DONE) return 0;
    *handle = message->easy_handle;
    *result = message->data.result;
    return 1;
}

size_t gw_curl_error_size(void) {
    return CURL_ERROR_SIZE;
}
