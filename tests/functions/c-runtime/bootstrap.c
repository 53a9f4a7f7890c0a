/*
 * A Lambda custom runtime in C (provided.al2023): the Runtime API loop over a plain socket.
 * Answers {"machine": <uname -m>, "event": <the event>}. Built static for x86_64 and arm64.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

static char host[64];
static int port;

static int connect_api(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    inet_pton(AF_INET, host, &a.sin_addr);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        perror("connect");
        exit(1);
    }
    return fd;
}

/* Sends a request and reads the whole response (Connection: close) into buf. */
static size_t exchange(const char *req, size_t req_len, char *buf, size_t cap) {
    int fd = connect_api();
    size_t sent = 0;
    while (sent < req_len) {
        ssize_t n = write(fd, req + sent, req_len - sent);
        if (n <= 0) exit(1);
        sent += (size_t)n;
    }
    size_t got = 0;
    ssize_t n;
    while (got < cap - 1 && (n = read(fd, buf + got, cap - 1 - got)) > 0) got += (size_t)n;
    buf[got] = 0;
    close(fd);
    return got;
}

static const char *header(const char *resp, const char *name, char *out, size_t cap) {
    const char *p = resp;
    size_t nl = strlen(name);
    while ((p = strchr(p, '\n')) != NULL) {
        p++;
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            p += nl + 1;
            while (*p == ' ') p++;
            size_t i = 0;
            while (*p && *p != '\r' && *p != '\n' && i < cap - 1) out[i++] = *p++;
            out[i] = 0;
            return out;
        }
    }
    return NULL;
}

int main(void) {
    const char *api = getenv("AWS_LAMBDA_RUNTIME_API");
    if (!api || sscanf(api, "%63[^:]:%d", host, &port) != 2) {
        fprintf(stderr, "AWS_LAMBDA_RUNTIME_API is not set\n");
        return 1;
    }
    struct utsname u;
    uname(&u);
    static char resp[1 << 20], out[(1 << 20) + 512], req[(1 << 20) + 1024];
    for (;;) {
        char rq[] = "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: api\r\nConnection: close\r\n\r\n";
        exchange(rq, sizeof rq - 1, resp, sizeof resp);
        char id[128];
        if (!header(resp, "lambda-runtime-aws-request-id", id, sizeof id)) {
            fprintf(stderr, "no request id\n");
            return 1;
        }
        const char *body = strstr(resp, "\r\n\r\n");
        body = body ? body + 4 : "null";
        printf("c runtime on %s handling %s\n", u.machine, id);
        fflush(stdout);
        int len = snprintf(out, sizeof out, "{\"machine\": \"%s\", \"event\": %s}", u.machine, *body ? body : "null");
        int rl = snprintf(req, sizeof req,
                          "POST /2018-06-01/runtime/invocation/%s/response HTTP/1.1\r\nHost: api\r\n"
                          "Content-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
                          id, len, out);
        exchange(req, (size_t)rl, resp, sizeof resp);
    }
}
