// first_output CMD [ARGS...]: runs CMD, copies its stdout to ours, and
// reports on stderr, as one JSON line, the seconds from spawn to the first
// byte of output and to exit, and the exit status. The harness uses it to
// time boot-to-first-output and whole runs the same way for every peer.
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>

namespace {

double Now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: first_output CMD [ARGS...]\n");
    return 2;
  }
  int fds[2];
  if (pipe(fds) != 0) return 2;
  const double start = Now();
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    close(fds[1]);
    execvp(argv[1], argv + 1);
    _exit(127);
  }
  close(fds[1]);
  double first = -1;
  char buf[65536];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) {
    if (first < 0) first = Now() - start;
    fwrite(buf, 1, n, stdout);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  const double total = Now() - start;
  std::fflush(stdout);
  std::fprintf(
      stderr, "{\"first_output_s\": %.6f, \"total_s\": %.6f, \"status\": %d}\n",
      first, total, WIFEXITED(status) ? WEXITSTATUS(status) : 128);
  return 0;
}
