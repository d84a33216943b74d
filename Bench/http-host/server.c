/* server.c: the Linux-process side of scripts/bench's HTTP comparison: Examples/http's GET / and /bytes/N handler in C, one epoll loop.
 *
 *   cc -O2 -o http-host Bench/http-host/server.c && ./http-host 127.0.0.1 8080
 *
 * Same shape as the unikernel server: one thread, one event loop, non-blocking
 * sockets, HTTP/1.1 keep-alive, Content-Length, the same two routes and bodies
 * ("hello from a Swift unikernel\n"; N bytes of i % 251), 404 otherwise.
 * Nothing else: no request bodies, no pipelining beyond one request per read.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAXC 4096
static unsigned char pattern[65536];

struct conn {
    char in[8192];
    size_t inlen;
    char head[256];
    size_t headlen, headsent;
    unsigned long long left, off; /* pattern bytes still to send */
    const char *body;
    size_t bodylen;
};
static struct conn *conns[MAXC];

static void closeconn(int ep, int fd) {
    epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
    close(fd);
    free(conns[fd]);
    conns[fd] = NULL;
}

/* Sends what fits; 1 when the response is done, 0 when the socket is full, -1 on error. */
static int pump(struct conn *c, int fd) {
    while (c->headsent < c->headlen) {
        ssize_t n = write(fd, c->head + c->headsent, c->headlen - c->headsent);
        if (n < 0) return errno == EAGAIN ? 0 : -1;
        c->headsent += n;
    }
    while (c->bodylen) {
        ssize_t n = write(fd, c->body, c->bodylen);
        if (n < 0) return errno == EAGAIN ? 0 : -1;
        c->body += n; c->bodylen -= n;
    }
    while (c->left) {
        size_t start = c->off % 251, k = sizeof pattern - start - 251;
        if (k > c->left) k = c->left;
        ssize_t n = write(fd, pattern + start, k);
        if (n < 0) return errno == EAGAIN ? 0 : -1;
        c->left -= n; c->off += n;
    }
    return 1;
}

static int serve(struct conn *c, int fd) {
    for (;;) {
        int r = pump(c, fd);
        if (r != 1) return r;
        c->headlen = c->headsent = 0;
        char *end = memmem(c->in, c->inlen, "\r\n\r\n", 4);
        if (!end) return 1;
        size_t used = end + 4 - c->in;
        static const char hello[] = "hello from a Swift unikernel\n";
        unsigned long long n = 0;
        if (!strncmp(c->in, "GET / ", 6)) {
            c->body = hello; c->bodylen = sizeof hello - 1;
            c->headlen = snprintf(c->head, sizeof c->head, "HTTP/1.1 200 OK\r\nServer: skiff\r\nContent-Length: %zu\r\nContent-Type: text/plain\r\n\r\n", c->bodylen);
        } else if (sscanf(c->in, "GET /bytes/%llu ", &n) == 1) {
            c->left = n; c->off = 0;
            c->headlen = snprintf(c->head, sizeof c->head, "HTTP/1.1 200 OK\r\nServer: skiff\r\nContent-Length: %llu\r\nContent-Type: text/plain\r\n\r\n", n);
        } else {
            static const char nf[] = "not found\n";
            c->body = nf; c->bodylen = sizeof nf - 1;
            c->headlen = snprintf(c->head, sizeof c->head, "HTTP/1.1 404 Not Found\r\nServer: skiff\r\nContent-Length: %zu\r\nContent-Type: text/plain\r\n\r\n", c->bodylen);
        }
        memmove(c->in, c->in + used, c->inlen - used);
        c->inlen -= used;
    }
}

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: %s ADDR PORT\n", argv[0]); return 2; }
    for (size_t i = 0; i < sizeof pattern; i++) pattern[i] = i % 251;
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
    if (inet_pton(AF_INET, argv[1], &a.sin_addr) != 1 || bind(ls, (void *)&a, sizeof a) || listen(ls, 1024)) {
        perror("http-host"); return 1;
    }
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = ls}, evs[256];
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
    printf("listening\n"); fflush(stdout);
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == ls) {
                int c;
                while ((c = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    if (c >= MAXC) { close(c); continue; }
                    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    conns[c] = calloc(1, sizeof(struct conn));
                    struct epoll_event ce = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.fd = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce);
                }
                continue;
            }
            struct conn *c = conns[fd];
            if (!c) continue;
            int dead = 0;
            for (;;) {
                if (c->inlen == sizeof c->in) { dead = 1; break; }
                ssize_t r = read(fd, c->in + c->inlen, sizeof c->in - c->inlen);
                if (r > 0) { c->inlen += r; continue; }
                if (r == 0 || errno != EAGAIN) dead = 1;
                break;
            }
            if (!dead && serve(c, fd) < 0) dead = 1;
            if (dead) closeconn(ep, fd);
        }
    }
}
