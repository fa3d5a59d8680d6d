#include "cli/guest_catalog.h"

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <memory>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "tools/cpp/runfiles/runfiles.h"

namespace xv::cli {
namespace {

using bazel::tools::cpp::runfiles::Runfiles;

const BundledGuest kGuests[] = {
    {"hello", "prints a greeting and exits 0", "xvirt run hello"},
    {"compute", "SHA-256 and CRC32 over generated data (mib=N)",
     "xvirt run compute --cmdline mib=4"},
    {"kvstore", "key-value store answering SET/GET/DEL/COUNT/QUIT on COM1",
     "printf 'SET a 1\\nGET a\\nQUIT\\n' | xvirt run kvstore"},
    {"disk", "writes, reads back and verifies sectors of the ATA disk",
     "truncate -s 1M d.img && xvirt run disk --disk d.img"},
    {"timer", "counts PIT ticks across sti;hlt and checks the RTC (ticks=N)",
     "xvirt run timer"},
    {"memtouch", "dirties N MiB of memory (mib=N)",
     "xvirt run memtouch --cmdline mib=64"},
    {"vro", "long computation with voluntary rendezvous points",
     "xvirt run vro"},
};

bool IsFile(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

}  // namespace

std::span<const BundledGuest> BundledGuests() { return kGuests; }

GuestCatalog::GuestCatalog(const std::string& argv0) {
  if (const char* dir = std::getenv("XVIRT_GUEST_DIR"); dir && *dir) {
    search_dirs_.push_back(dir);
  }
  std::string error;
  std::unique_ptr<Runfiles> runfiles(Runfiles::Create(argv0, &error));
  if (runfiles) {
    // Rlocation of a directory works with both manifest and tree runfiles
    // only through a file, so probe a known one.
    std::string hello = runfiles->Rlocation("extravirt/guest/hello.elf");
    if (!hello.empty()) {
      search_dirs_.push_back(hello.substr(0, hello.rfind('/')));
    }
  }
  // An installed xvirt (//:install): PREFIX/bin/xvirt, guests in
  // PREFIX/share/extravirt/guests.
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    search_dirs_.push_back(
        (exe.parent_path() / "../share/extravirt/guests").lexically_normal());
  }
}

absl::StatusOr<std::string> GuestCatalog::PathOf(
    const std::string& name) const {
  for (const std::string& dir : search_dirs_) {
    std::string path = absl::StrFormat("%s/%s.elf", dir, name);
    if (IsFile(path)) return path;
  }
  return absl::NotFoundError(absl::StrFormat(
      "bundled guest '%s' is not available next to this xvirt (set "
      "XVIRT_GUEST_DIR, or run it with 'bazel run //cli:xvirt')",
      name));
}

absl::StatusOr<std::string> GuestCatalog::Resolve(
    const std::string& name_or_path) const {
  if (IsFile(name_or_path)) return name_or_path;
  for (const BundledGuest& g : kGuests) {
    if (g.name == name_or_path) return PathOf(g.name);
  }
  if (name_or_path.find('/') != std::string::npos ||
      name_or_path.find('.') != std::string::npos) {
    struct stat st;
    if (::stat(name_or_path.c_str(), &st) == 0) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s: not a regular file", name_or_path));
    }
    return absl::NotFoundError(
        absl::StrFormat("%s: no such file", name_or_path));
  }
  std::vector<std::string> names;
  for (const BundledGuest& g : kGuests) names.push_back(g.name);
  return absl::NotFoundError(absl::StrFormat(
      "'%s' is neither a file nor a bundled guest (bundled: %s)", name_or_path,
      absl::StrJoin(names, ", ")));
}

}  // namespace xv::cli
