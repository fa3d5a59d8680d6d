// xvirt guests: list the bundled guests.
#include <iostream>

#include "absl/strings/str_format.h"
#include "cli/commands.h"
#include "cli/guest_catalog.h"
#include "nlohmann/json.hpp"

namespace xv::cli {

const CommandSpec& GuestsCommandSpec() {
  static const CommandSpec spec = {
      .name = "guests",
      .usage = "guests [--json]",
      .summary = "list the bundled guests that 'xvirt run NAME' finds",
      .description =
          "Lists the guest kernels bundled with xvirt (built from\n"
          "guest/), with what each does and where it is.",
      .options = {{"json", "", "print a JSON array instead of a table"}},
  };
  return spec;
}

int GuestsCommand(const Invocation& inv) {
  int status = 0;
  std::optional<ParsedArgs> args =
      ParseCommandArgs(GuestsCommandSpec(), inv, &status);
  if (!args) return status;
  GuestCatalog catalog(inv.argv0);
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const BundledGuest& g : BundledGuests()) {
    auto path = catalog.PathOf(g.name);
    if (args->Has("json")) {
      list.push_back({{"name", g.name},
                      {"description", g.description},
                      {"example", g.example},
                      {"path", path.ok() ? *path : ""}});
    } else {
      std::cout << absl::StrFormat("%-10s %s\n%-10s   e.g. %s%s\n", g.name,
                                   g.description, "", g.example,
                                   path.ok() ? "" : "  (not available)");
    }
  }
  if (args->Has("json")) std::cout << list.dump() << "\n";
  return 0;
}

}  // namespace xv::cli
