// GuestCatalog: the guests bundled with xvirt (built from guest/), found by
// name in the binary's Bazel runfiles, or in $XVIRT_GUEST_DIR.
#ifndef EXTRAVIRT_CLI_GUEST_CATALOG_H_
#define EXTRAVIRT_CLI_GUEST_CATALOG_H_

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace xv::cli {

struct BundledGuest {
  std::string name;
  std::string description;
  std::string example;  // a representative command line
};

std::span<const BundledGuest> BundledGuests();

class GuestCatalog {
 public:
  // `argv0` locates the runfiles of the running binary.
  explicit GuestCatalog(const std::string& argv0);

  // A path if `name_or_path` names an existing file, else the bundled guest
  // of that name. The error says which names exist.
  absl::StatusOr<std::string> Resolve(const std::string& name_or_path) const;
  // Where bundled guest `name` lives, or an error if it is not available.
  absl::StatusOr<std::string> PathOf(const std::string& name) const;

 private:
  std::vector<std::string> search_dirs_;
};

}  // namespace xv::cli

#endif  // EXTRAVIRT_CLI_GUEST_CATALOG_H_
