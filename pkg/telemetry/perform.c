/*
 * perform.c - one HTTP request of the telemetry senders that can be cut
 * short at any moment.
 *
 * A short process (`easel job`) gives its senders at most 2 s at exit. A
 * request already in flight when that time runs out must end then, not at
 * its own timeout, and libcurl's progress callback may be called only once
 * a second on an idle connection. So the request runs on a multi handle
 * whose poll wakes every 50 ms to ask the sender whether to give up.
 */
#include <curl/curl.h>

#include "trace_int.h"

CURLcode telemetry_perform(CURL *h, bool (*give_up)(void *ud), void *ud)
{
    CURLM *m = curl_multi_init();
    CURLcode rc = CURLE_OUT_OF_MEMORY;
    int running = 1;
    if (!m)
        return rc;
    if (curl_multi_add_handle(m, h) != CURLM_OK) {
        curl_multi_cleanup(m);
        return rc;
    }
    rc = CURLE_OK;
    while (running) {
        if (curl_multi_perform(m, &running) != CURLM_OK) {
            rc = CURLE_RECV_ERROR;
            break;
        }
        if (!running)
            break;
        if (give_up && give_up(ud)) {
            rc = CURLE_ABORTED_BY_CALLBACK;
            break;
        }
        if (curl_multi_poll(m, NULL, 0, 50, NULL) != CURLM_OK) {
            rc = CURLE_RECV_ERROR;
            break;
        }
    }
    if (rc == CURLE_OK) {
        int left;
        CURLMsg *msg;
        rc = CURLE_RECV_ERROR;
        while ((msg = curl_multi_info_read(m, &left)) != NULL)
            if (msg->msg == CURLMSG_DONE && msg->easy_handle == h)
                rc = msg->data.result;
    }
    curl_multi_remove_handle(m, h);
    curl_multi_cleanup(m);
    return rc;
}
