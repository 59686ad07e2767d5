/*
 * The C peers of scripts/bench.mjs: the machine's limit for the same work, with nothing between
 * the program and the kernel. POSIX only; scripts/bench.mjs compiles it with `cc -O2`.
 *
 *   peers b1 <chunk> <total> <pipe-size>   pipe2 + fork: the child writes <total> stamped bytes in
 *                                            <chunk>-byte writes, the parent reads them (1 MiB reads)
 *   peers b1s <chunk> <total>              the same over a socketpair (Node's stdio: 'pipe' on Linux)
 *   peers b2 <count> <size>                 one pipe, <count> x (write <size> B, read <size> B)
 *   peers b5 <count>                        <count> x (pipe2 + close + close)
 *
 * Each prints one line of JSON: { ok, seconds, ..., cpuSeconds, maxRssKiB } (ok false + error on
 * a failed check). The stamp format is the one in scripts/bench/child.mjs: every 4096-byte block
 * of the stream starts with u32le(block index), u32le(0x50495057 'WPIP'); the rest is 'a'.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BLOCK 4096u
#define MAGIC 0x50495057u
#define READ_BUF (1u << 20)

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static long max_rss_kib(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss; /* KiB on Linux */
}

static int fail(const char *what) {
  printf("{\"ok\":false,\"error\":\"%s: %s\"}\n", what, strerror(errno));
  return 1;
}

static int make_pipe(int fds[2]) {
#ifdef __linux__
  return pipe2(fds, O_CLOEXEC);
#else
  if (pipe(fds) != 0) return -1;
  fcntl(fds[0], F_SETFD, FD_CLOEXEC);
  fcntl(fds[1], F_SETFD, FD_CLOEXEC);
  return 0;
#endif
}

static void put32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)v;
  p[1] = (unsigned char)(v >> 8);
  p[2] = (unsigned char)(v >> 16);
  p[3] = (unsigned char)(v >> 24);
}

static uint32_t get32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* b1 over a pipe2 pair (socket 0), or over a socketpair (socket 1: what libuv gives a Node child
 * for stdio: 'pipe' on Linux, with the kernel's default buffer sizes, as libuv leaves them). */
static int b1(long long chunk, long long total, long pipe_size, int socket) {
  int fds[2];
  if (socket) {
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) return fail("socketpair");
  } else {
    if (make_pipe(fds) != 0) return fail("pipe2");
#ifdef F_SETPIPE_SZ
    if (pipe_size > 0) fcntl(fds[1], F_SETPIPE_SZ, (int)pipe_size);
#endif
  }
  pid_t pid = fork();
  if (pid < 0) return fail("fork");
  if (pid == 0) {
    close(fds[0]);
    unsigned char *buf = malloc((size_t)chunk);
    memset(buf, 'a', (size_t)chunk);
    long long off = 0;
    while (off < total) {
      long long n = total - off < chunk ? total - off : chunk;
      for (long long b = 0; b < n; b += BLOCK) {
        put32(buf + b, (uint32_t)((off + b) / BLOCK));
        put32(buf + b + 4, MAGIC);
      }
      long long done = 0;
      while (done < n) {
        ssize_t w = write(fds[1], buf + done, (size_t)(n - done));
        if (w < 0) {
          if (errno == EINTR) continue;
          _exit(2);
        }
        done += w;
      }
      off += n;
    }
    _exit(0);
  }
  close(fds[1]);
  /* Page-aligned: glibc puts a 1 MiB malloc 16 bytes past a page boundary, and on AMD Zen 3 a
   * read(2) from a pipe into a destination 1-31 bytes past a page boundary runs 2-3x slower (the
   * kernel's rep movsb copy stalls on 4 KiB aliasing with the page-aligned source). The reference
   * reader must not lose to that. */
  unsigned char *buf;
  if (posix_memalign((void **)&buf, 4096, READ_BUF) != 0) return fail("posix_memalign");
  long long pos = 0, first = 0, bad = 0;
  double t0 = 0, c0 = 0;
  for (;;) {
    ssize_t n = read(fds[0], buf, READ_BUF);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("read");
    }
    if (n == 0) break;
    if (pos == 0) {
      t0 = now();
      c0 = cpu();
      first = n;
    }
    /* The first block boundary inside this read, if its stamp is whole here. */
    long long a = (pos + BLOCK - 1) / BLOCK * BLOCK;
    if (a + 8 <= pos + n) {
      const unsigned char *p = buf + (a - pos);
      if (get32(p) != (uint32_t)(a / BLOCK) || get32(p + 4) != MAGIC) bad++;
    }
    pos += n;
  }
  double t1 = now(), c1 = cpu();
  int status = 0;
  waitpid(pid, &status, 0);
  int ok = pos == total && bad == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  printf("{\"ok\":%s,\"bytes\":%lld,\"measuredBytes\":%lld,\"seconds\":%.9f,\"cpuSeconds\":%.6f,\"maxRssKiB\":%ld%s}\n", ok ? "true" : "false", pos,
         pos - first, t1 - t0, c1 - c0, max_rss_kib(), ok ? "" : ",\"error\":\"byte count, stamp or child exit check failed\"");
  return ok ? 0 : 1;
}

static int b2(long count, long size) {
  int fds[2];
  if (make_pipe(fds) != 0) return fail("pipe2");
  unsigned char *out = malloc((size_t)size), *in = malloc((size_t)size);
  memset(out, 'm', (size_t)size);
  long bad = 0;
  double t0 = now(), c0 = cpu();
  for (long i = 0; i < count; i++) {
    put32(out, (uint32_t)i);
    if (write(fds[1], out, (size_t)size) != size) return fail("write");
    long got = 0;
    while (got < size) {
      ssize_t n = read(fds[0], in + got, (size_t)(size - got));
      if (n <= 0) return fail("read");
      got += n;
    }
    if (get32(in) != (uint32_t)i) bad++;
  }
  double t1 = now(), c1 = cpu();
  int ok = bad == 0;
  printf("{\"ok\":%s,\"count\":%ld,\"seconds\":%.9f,\"cpuSeconds\":%.6f,\"maxRssKiB\":%ld}\n", ok ? "true" : "false", count, t1 - t0, c1 - c0, max_rss_kib());
  return ok ? 0 : 1;
}

static int b5(long count) {
  int fds[2];
  long made = 0;
  double t0 = now(), c0 = cpu();
  for (long i = 0; i < count; i++) {
    if (make_pipe(fds) != 0) return fail("pipe2");
    if (close(fds[0]) != 0 || close(fds[1]) != 0) return fail("close");
    made++;
  }
  double t1 = now(), c1 = cpu();
  printf("{\"ok\":%s,\"count\":%ld,\"seconds\":%.9f,\"cpuSeconds\":%.6f,\"maxRssKiB\":%ld}\n", made == count ? "true" : "false", made, t1 - t0, c1 - c0, max_rss_kib());
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 5 && strcmp(argv[1], "b1") == 0) return b1(atoll(argv[2]), atoll(argv[3]), atol(argv[4]), 0);
  if (argc >= 4 && strcmp(argv[1], "b1s") == 0) return b1(atoll(argv[2]), atoll(argv[3]), 0, 1);
  if (argc >= 4 && strcmp(argv[1], "b2") == 0) return b2(atol(argv[2]), atol(argv[3]));
  if (argc >= 3 && strcmp(argv[1], "b5") == 0) return b5(atol(argv[2]));
  fprintf(stderr, "usage: peers b1 <chunk> <total> <pipe-size> | b1s <chunk> <total> | b2 <count> <size> | b5 <count>\n");
  return 2;
}
