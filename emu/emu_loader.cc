#include "emu/emu_loader.h"

#include <dlfcn.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "emu/emu_entry.h"

namespace xv {
namespace {

bool IsFile(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// The running program's path, symlinks resolved (a Bazel binary's runfiles
// sit next to the real file); empty if /proc is unavailable.
std::string ExecutablePath() {
  std::string path(4096, '\0');
  const ssize_t n = ::readlink("/proc/self/exe", path.data(), path.size());
  if (n <= 0 || static_cast<size_t>(n) >= path.size()) return "";
  path.resize(static_cast<size_t>(n));
  return path;
}

std::string EnvOrEmpty(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? value : "";
}

// The file this code was loaded from: the program, or the shared library
// that contains the loader.
std::string LoaderObjectPath() {
  Dl_info info{};
  if (::dladdr(reinterpret_cast<void*>(&LoaderObjectPath), &info) == 0 ||
      info.dli_fname == nullptr) {
    return "";
  }
  std::error_code ec;
  const auto path = std::filesystem::canonical(info.dli_fname, ec);
  return ec ? std::string(info.dli_fname) : path.string();
}

// Where to look, most specific first.
std::vector<std::string> CandidatePaths() {
  const std::string in_runfiles =
      std::string("extravirt/emu/") + kEmuLibraryName;
  std::vector<std::string> paths;
  auto add = [&paths](const std::string& raw) {
    const std::string path = std::filesystem::path(raw).lexically_normal();
    for (const std::string& p : paths) {
      if (p == path) return;
    }
    paths.push_back(path);
  };
  const std::string exe = ExecutablePath();
  if (!exe.empty()) add(exe + ".runfiles/" + in_runfiles);
  for (const char* var : {"RUNFILES_DIR", "TEST_SRCDIR"}) {
    if (std::string dir = EnvOrEmpty(var); !dir.empty()) {
      add(absl::StrCat(dir, "/", in_runfiles));
    }
  }
  if (!exe.empty()) {
    const std::string dir = exe.substr(0, exe.rfind('/'));
    add(dir + "/" + kEmuLibraryName);
    add(dir + "/../emu/" + kEmuLibraryName);
    add(dir + "/../lib/xvirt/" + kEmuLibraryName);
  }
  // The loader may live in a shared library (libextravirt.so, loaded by
  // any program): look next to that library too, where //:install puts the
  // emulator (PREFIX/lib/xvirt/).
  if (const std::string lib = LoaderObjectPath(); !lib.empty() && lib != exe) {
    const std::string dir = lib.substr(0, lib.rfind('/'));
    add(dir + "/xvirt/" + kEmuLibraryName);
    add(dir + "/" + kEmuLibraryName);
    add(dir + "/../emu/" + kEmuLibraryName);
  }
  return paths;
}

// What to do about a dlopen failure, when it is a missing system library.
std::string DlopenAdvice(const std::string& error) {
  if (error.find("libunicorn") != std::string::npos) {
    return "; the emulator backend needs Unicorn 2 installed (apt-get "
           "install libunicorn2)";
  }
  if (error.find("libcapstone") != std::string::npos) {
    return "; the emulator backend needs Capstone installed (apt-get "
           "install libcapstone4)";
  }
  return "";
}

absl::StatusOr<EmuEntryFn> LoadEntry(const std::string& path) {
  // Never closed: the backend's objects run code from it.
  void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* error = ::dlerror();
    const std::string why = error != nullptr ? error : "unknown error";
    return absl::FailedPreconditionError(
        absl::StrFormat("emulator backend: cannot load %s: %s%s", path, why,
                        DlopenAdvice(why)));
  }
  void* entry = ::dlsym(handle, kEmuEntrySymbol);
  if (entry == nullptr) {
    const char* error = ::dlerror();
    return absl::FailedPreconditionError(absl::StrFormat(
        "emulator backend: %s does not export %s (%s); is it "
        "libxvirt_emu.so?",
        path, kEmuEntrySymbol, error != nullptr ? error : "not found"));
  }
  return reinterpret_cast<EmuEntryFn>(entry);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Hypervisor>> LoadEmuHypervisor() {
  std::string path;
  if (std::string env = EnvOrEmpty("XVIRT_EMU_LIBRARY"); !env.empty()) {
    if (!IsFile(env)) {
      return absl::NotFoundError(absl::StrFormat(
          "emulator backend: $XVIRT_EMU_LIBRARY=%s is not a file", env));
    }
    path = env;
  } else {
    const std::vector<std::string> candidates = CandidatePaths();
    for (const std::string& candidate : candidates) {
      if (IsFile(candidate)) {
        path = candidate;
        break;
      }
    }
    if (path.empty()) {
      return absl::NotFoundError(
          absl::StrFormat("emulator backend: %s not found (tried %s); set "
                          "XVIRT_EMU_LIBRARY to its path",
                          kEmuLibraryName, absl::StrJoin(candidates, ", ")));
    }
  }
  auto entry = LoadEntry(path);
  if (!entry.ok()) return entry.status();
  absl::StatusOr<std::unique_ptr<Hypervisor>> result = absl::InternalError(
      absl::StrFormat("emulator backend: %s set no result", kEmuEntrySymbol));
  (*entry)(&result);
  return result;
}

}  // namespace xv
