#ifndef GATEWAY_CCURL_H
#define GATEWAY_CCURL_H
#include <curl/curl.h>
#endif
