// Symbols and source lines of a guest kernel's ELF image held in memory (the
// image a recording log carries), so that replay debugging can name the
// function and line at a guest address. The bundled guests are ELF32
// multiboot images holding 64-bit code; ELF64 images are read too.
#ifndef EXTRAVIRT_DEBUG_ELF_SYMBOLS_H_
#define EXTRAVIRT_DEBUG_ELF_SYMBOLS_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace xv {

struct SymbolAt {
  std::string name;
  uint64_t start = 0;   // the symbol's address
  uint64_t offset = 0;  // of the looked-up address from `start`
  uint64_t size = 0;    // 0 when the image does not say (assembly labels)
};

struct SourceLine {
  std::string file;  // as the DWARF line table names it (often a full path)
  int line = 0;
};

class ElfSymbols {
 public:
  // Everything read from `image` is copied: the span need not outlive the
  // result. A truncated or malformed image is an InvalidArgument error
  // naming what does not fit; an image without symbols is not an error.
  static absl::StatusOr<ElfSymbols> Parse(std::span<const uint8_t> image);

  ElfSymbols(ElfSymbols&&) noexcept;
  ElfSymbols& operator=(ElfSymbols&&) noexcept;
  ElfSymbols(const ElfSymbols&) = delete;
  ElfSymbols& operator=(const ElfSymbols&) = delete;
  ~ElfSymbols();

  bool is_elf64() const;

  // False for a stripped image.
  bool has_symbols() const;

  // The function or object containing `address`; where sizes are missing
  // (assembly labels), the nearest code label below it in the same section.
  std::optional<SymbolAt> Lookup(uint64_t address) const;

  // The address of the symbol named `name` (a global one if several share
  // the name).
  std::optional<uint64_t> Find(std::string_view name) const;

  // Whether the image has DWARF line tables that libdw could read.
  bool has_line_info() const;

  // Why there are no line tables although the image has DWARF sections
  // (libdw could not read them); OK when there is line information or no
  // DWARF at all. Broken DWARF does not fail Parse(): symbols still work.
  absl::Status line_info_status() const;

  // The source line of the code at `address`; nullopt without line
  // information or for an address no line table covers. Not thread-safe
  // (libdw reads line tables lazily).
  std::optional<SourceLine> LineAt(uint64_t address) const;

 private:
  class Impl;
  explicit ElfSymbols(std::unique_ptr<Impl> impl);

  std::unique_ptr<Impl> impl_;
};

}  // namespace xv

#endif  // EXTRAVIRT_DEBUG_ELF_SYMBOLS_H_
