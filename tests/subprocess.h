// Test support: run a program to completion with a time limit, capturing its
// stdout, stderr and exit status.
#ifndef EXTRAVIRT_TESTS_SUBPROCESS_H_
#define EXTRAVIRT_TESTS_SUBPROCESS_H_

#include <map>
#include <string>
#include <vector>

namespace xv::testing {

struct ProcessResult {
  int exit_status = -1;  // valid when !signaled && !timed_out
  bool signaled = false;
  int signal = 0;
  bool timed_out = false;
  double seconds = 0;
  std::string out;
  std::string err;
};

struct ProcessOptions {
  std::string stdin_path = "/dev/null";
  // Added to (or overriding) the inherited environment.
  std::map<std::string, std::string> env;
  double timeout_seconds = 120;
};

// argv[0] is the path of the program. A program still running at the time
// limit is killed (SIGKILL) and reported as timed_out.
ProcessResult RunProcess(const std::vector<std::string>& argv,
                         const ProcessOptions& options = {});

// Lines of `text` (without the newlines; no empty last line).
std::vector<std::string> Lines(const std::string& text);

}  // namespace xv::testing

#endif  // EXTRAVIRT_TESTS_SUBPROCESS_H_
