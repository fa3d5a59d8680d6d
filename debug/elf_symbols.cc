#include "debug/elf_symbols.h"

#include <elf.h>
#include <elfutils/libdw.h>
#include <libelf.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <map>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"

namespace xv {
namespace {

struct Elf32Types {
  using Ehdr = Elf32_Ehdr;
  using Shdr = Elf32_Shdr;
  using Sym = Elf32_Sym;
  static constexpr const char* kName = "ELF32";
};

struct Elf64Types {
  using Ehdr = Elf64_Ehdr;
  using Shdr = Elf64_Shdr;
  using Sym = Elf64_Sym;
  static constexpr const char* kName = "ELF64";
};

// Nothing in an image is trusted to be aligned or in bounds: every struct is
// copied out after checking that it fits.
template <typename T>
bool ReadAt(std::span<const uint8_t> image, uint64_t offset, T* out) {
  if (offset > image.size() || image.size() - offset < sizeof(T)) {
    return false;
  }
  std::memcpy(out, image.data() + offset, sizeof(T));
  return true;
}

bool FitsIn(std::span<const uint8_t> image, uint64_t offset, uint64_t size) {
  return offset <= image.size() && size <= image.size() - offset;
}

// A NUL-terminated string at `offset` of `table`; nullopt when it is outside
// the table or runs off its end.
std::optional<std::string> StringAt(std::span<const uint8_t> table,
                                    uint64_t offset) {
  if (offset >= table.size()) return std::nullopt;
  const auto* begin = reinterpret_cast<const char*>(table.data() + offset);
  const void* nul = std::memchr(begin, '\0', table.size() - offset);
  if (nul == nullptr) return std::nullopt;
  return std::string(begin, static_cast<const char*>(nul));
}

struct Section {
  uint32_t type = 0;
  uint64_t flags = 0;
  uint64_t address = 0;
  uint64_t offset = 0;
  uint64_t size = 0;
  uint32_t link = 0;
  uint64_t entry_size = 0;
  uint32_t name_offset = 0;  // in the section name table
  std::string name;
};

struct Symbol {
  uint64_t address = 0;
  uint64_t size = 0;
  uint32_t section = 0;  // index in the section header table
  uint8_t type = 0;      // STT_*
  uint8_t binding = 0;   // STB_*
  bool code = false;     // in an executable section
  std::string name;
};

// Where an address lies in the loaded image.
struct AllocSection {
  uint64_t begin = 0;
  uint64_t end = 0;
  uint32_t index = 0;
};

struct ParsedElf {
  bool elf64 = false;
  std::vector<Section> sections;
  std::vector<Symbol> symbols;
};

// Higher is the better name for an address several symbols share.
int Rank(const Symbol& symbol) {
  int rank = 0;
  switch (symbol.type) {
    case STT_FUNC:
      rank = 30;
      break;
    case STT_GNU_IFUNC:
      rank = 20;
      break;
    case STT_OBJECT:
      rank = 10;
      break;
    default:
      break;
  }
  if (symbol.binding == STB_GLOBAL) rank += 2;
  if (symbol.binding == STB_WEAK) rank += 1;
  return rank;
}

std::string SectionLabel(const std::vector<Section>& sections, size_t index) {
  if (index < sections.size() && !sections[index].name.empty()) {
    return absl::StrFormat("section %d (%s)", index, sections[index].name);
  }
  return absl::StrFormat("section %d", index);
}

template <typename Types>
absl::Status ReadSections(std::span<const uint8_t> image,
                          const typename Types::Ehdr& header,
                          std::vector<Section>* sections) {
  using Shdr = typename Types::Shdr;
  if (header.e_shoff == 0) return absl::OkStatus();  // no section table
  if (header.e_shentsize < sizeof(Shdr)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s image: section header entries of %d bytes, less than the %d of "
        "an %s section header",
        Types::kName, header.e_shentsize, sizeof(Shdr), Types::kName));
  }
  // With 0xff00 sections or more, the count and the name table's index live
  // in section 0 (the ELF extended numbering).
  uint64_t count = header.e_shnum;
  uint64_t names_index = header.e_shstrndx;
  if (count == 0 || names_index == SHN_XINDEX) {
    Shdr first;
    if (!ReadAt(image, header.e_shoff, &first)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s image: the section header table at offset %d lies past the end "
          "of the image (%d bytes)",
          Types::kName, header.e_shoff, image.size()));
    }
    if (count == 0) count = first.sh_size;
    if (names_index == SHN_XINDEX) names_index = first.sh_link;
  }
  if (count == 0) return absl::OkStatus();
  if (!FitsIn(image, header.e_shoff, count * header.e_shentsize)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s image: the section header table (%d entries of %d bytes at "
        "offset %d) runs past the end of the image (%d bytes)",
        Types::kName, count, header.e_shentsize, header.e_shoff, image.size()));
  }
  sections->reserve(count);
  for (uint64_t i = 0; i < count; ++i) {
    // In bounds: the whole table was checked above.
    Shdr raw{};
    ReadAt(image, header.e_shoff + i * header.e_shentsize, &raw);
    Section section{
        .type = raw.sh_type,
        .flags = raw.sh_flags,
        .address = raw.sh_addr,
        .offset = raw.sh_offset,
        .size = raw.sh_size,
        .link = raw.sh_link,
        .entry_size = raw.sh_entsize,
        .name_offset = raw.sh_name,
    };
    if (section.type != SHT_NOBITS && section.type != SHT_NULL &&
        !FitsIn(image, section.offset, section.size)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s image: section %d (%d bytes at offset %d) runs past the end of "
          "the image (%d bytes)",
          Types::kName, i, section.size, section.offset, image.size()));
    }
    sections->push_back(section);
  }
  // Names need the name table, which may come after the sections named.
  if (names_index == SHN_UNDEF) return absl::OkStatus();
  if (names_index >= count || (*sections)[names_index].type != SHT_STRTAB) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s image: the section name table index %d is not a string table "
        "among the %d sections",
        Types::kName, names_index, count));
  }
  const Section& names = (*sections)[names_index];
  const auto table = image.subspan(names.offset, names.size);
  for (uint64_t i = 0; i < count; ++i) {
    Section& section = (*sections)[i];
    std::optional<std::string> name = StringAt(table, section.name_offset);
    if (!name.has_value()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s image: section %d's name (offset %d) lies outside the section "
          "name table (%d bytes)",
          Types::kName, i, section.name_offset, table.size()));
    }
    section.name = *std::move(name);
  }
  return absl::OkStatus();
}

template <typename Types>
absl::Status ReadSymbols(std::span<const uint8_t> image,
                         const std::vector<Section>& sections,
                         std::vector<Symbol>* symbols) {
  using Sym = typename Types::Sym;
  // .dynsym is what a fully stripped dynamic image still has.
  size_t table_index = sections.size();
  for (uint32_t wanted : {SHT_SYMTAB, SHT_DYNSYM}) {
    for (size_t i = 0; i < sections.size() && table_index == sections.size();
         ++i) {
      if (sections[i].type == wanted) table_index = i;
    }
  }
  if (table_index == sections.size()) return absl::OkStatus();
  const Section& table = sections[table_index];
  const std::string table_label = SectionLabel(sections, table_index);
  if (table.entry_size < sizeof(Sym)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s image: symbol table %s has entries of %d bytes, less than the %d "
        "of an %s symbol",
        Types::kName, table_label, table.entry_size, sizeof(Sym),
        Types::kName));
  }
  if (table.link >= sections.size() ||
      sections[table.link].type != SHT_STRTAB) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s image: symbol table %s names string table section %d, which is "
        "not a string table among the %d sections",
        Types::kName, table_label, table.link, sections.size()));
  }
  const Section& strings_section = sections[table.link];
  const auto strings =
      image.subspan(strings_section.offset, strings_section.size);
  const uint64_t count = table.size / table.entry_size;
  // Entry 0 is the reserved null symbol.
  for (uint64_t i = 1; i < count; ++i) {
    // In bounds: the section was checked against the image.
    Sym raw{};
    ReadAt(image, table.offset + i * table.entry_size, &raw);
    std::optional<std::string> name = StringAt(strings, raw.st_name);
    if (!name.has_value()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s image: symbol %d of %s has its name (offset %d) outside its "
          "string table (%d bytes)",
          Types::kName, i, table_label, raw.st_name, strings.size()));
    }
    const uint8_t type = ELF64_ST_TYPE(raw.st_info);
    if (type != STT_FUNC && type != STT_OBJECT && type != STT_NOTYPE &&
        type != STT_GNU_IFUNC) {
      continue;  // files, sections, TLS offsets: not addresses
    }
    // Undefined, absolute (constants such as `page` in the guest's
    // assembly), common and extended-index symbols are no location in the
    // loaded image.
    if (raw.st_shndx == SHN_UNDEF || raw.st_shndx >= SHN_LORESERVE) continue;
    if (name->empty()) continue;
    if (raw.st_shndx >= sections.size()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s image: symbol %d (%s) of %s is in section %d, beyond the %d "
          "sections",
          Types::kName, i, *name, table_label, raw.st_shndx, sections.size()));
    }
    const Section& home = sections[raw.st_shndx];
    if ((home.flags & SHF_ALLOC) == 0) continue;  // not in guest memory
    symbols->push_back(Symbol{
        .address = raw.st_value,
        .size = raw.st_size,
        .section = raw.st_shndx,
        .type = type,
        .binding = static_cast<uint8_t>(ELF64_ST_BIND(raw.st_info)),
        .code = (home.flags & SHF_EXECINSTR) != 0,
        .name = *std::move(name),
    });
  }
  return absl::OkStatus();
}

template <typename Types>
absl::StatusOr<ParsedElf> ParseClass(std::span<const uint8_t> image) {
  typename Types::Ehdr header;
  if (!ReadAt(image, 0, &header)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s image of %d bytes is shorter than its ELF header (%d bytes)",
        Types::kName, image.size(), sizeof(header)));
  }
  ParsedElf parsed;
  parsed.elf64 = std::is_same_v<Types, Elf64Types>;
  if (absl::Status s = ReadSections<Types>(image, header, &parsed.sections);
      !s.ok()) {
    return s;
  }
  if (absl::Status s =
          ReadSymbols<Types>(image, parsed.sections, &parsed.symbols);
      !s.ok()) {
    return s;
  }
  return parsed;
}

absl::StatusOr<ParsedElf> ParseElf(std::span<const uint8_t> image) {
  if (image.size() < EI_NIDENT) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "image of %d bytes is too short to be ELF", image.size()));
  }
  if (std::memcmp(image.data(), ELFMAG, SELFMAG) != 0) {
    return absl::InvalidArgumentError("not an ELF image (no \\x7fELF magic)");
  }
  if (image[EI_DATA] != ELFDATA2LSB) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "ELF image with data encoding %d: only little-endian (x86) images "
        "are supported",
        image[EI_DATA]));
  }
  switch (image[EI_CLASS]) {
    case ELFCLASS32:
      return ParseClass<Elf32Types>(image);
    case ELFCLASS64:
      return ParseClass<Elf64Types>(image);
    default:
      return absl::InvalidArgumentError(absl::StrFormat(
          "ELF image of unknown class %d (neither ELF32 nor ELF64)",
          image[EI_CLASS]));
  }
}

bool HasDwarf(const std::vector<Section>& sections) {
  return std::any_of(sections.begin(), sections.end(), [](const Section& s) {
    return s.name == ".debug_info" || s.name == ".zdebug_info" ||
           s.name == ".debug_line" || s.name == ".zdebug_line";
  });
}

struct ElfEnd {
  void operator()(Elf* elf) const { elf_end(elf); }
};
struct DwarfEnd {
  void operator()(Dwarf* dwarf) const { dwarf_end(dwarf); }
};

// Line tables through libdw, over a private copy of the image (libelf wants
// a mutable buffer that lives as long as its handle).
class DwarfLines {
 public:
  static absl::StatusOr<std::unique_ptr<DwarfLines>> Open(
      std::span<const uint8_t> image) {
    // libelf refuses every call until told which ELF version the caller
    // speaks; once per process is enough.
    static const bool elf_ready = elf_version(EV_CURRENT) != EV_NONE;
    if (!elf_ready) {
      return absl::InternalError(
          absl::StrFormat("libelf: elf_version: %s", elf_errmsg(-1)));
    }
    auto lines = std::make_unique<DwarfLines>();
    lines->image_.assign(image.begin(), image.end());
    lines->elf_.reset(elf_memory(lines->image_.data(), lines->image_.size()));
    if (lines->elf_ == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrFormat("libelf: elf_memory: %s", elf_errmsg(-1)));
    }
    lines->dwarf_.reset(
        dwarf_begin_elf(lines->elf_.get(), DWARF_C_READ, nullptr));
    if (lines->dwarf_ == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrFormat("libdw: dwarf_begin_elf: %s", dwarf_errmsg(-1)));
    }
    if (!lines->HasLineTable()) {
      return absl::NotFoundError(
          "the DWARF information has no line tables (.debug_line)");
    }
    return lines;
  }

  std::optional<SourceLine> LineAt(uint64_t address) const {
    Dwarf_Die unit;
    if (dwarf_addrdie(dwarf_.get(), address, &unit) == nullptr &&
        !FindUnitByPc(address, &unit)) {
      return std::nullopt;
    }
    Dwarf_Line* line = dwarf_getsrc_die(&unit, address);
    if (line == nullptr) return std::nullopt;
    int number = 0;
    if (dwarf_lineno(line, &number) != 0) return std::nullopt;
    const char* file = dwarf_linesrc(line, nullptr, nullptr);
    return SourceLine{.file = file != nullptr ? file : "", .line = number};
  }

 private:
  bool HasLineTable() const {
    Dwarf_CU* unit = nullptr;
    Dwarf_Die die;
    while (dwarf_get_units(dwarf_.get(), unit, &unit, nullptr, nullptr, &die,
                           nullptr) == 0) {
      Dwarf_Lines* lines = nullptr;
      size_t count = 0;
      if (dwarf_getsrclines(&die, &lines, &count) == 0 && count > 0) {
        return true;
      }
    }
    return false;
  }

  // dwarf_addrdie() relies on .debug_aranges, which not every compiler
  // emits: fall back to each unit's own address ranges.
  bool FindUnitByPc(uint64_t address, Dwarf_Die* found) const {
    Dwarf_CU* unit = nullptr;
    Dwarf_Die die;
    while (dwarf_get_units(dwarf_.get(), unit, &unit, nullptr, nullptr, &die,
                           nullptr) == 0) {
      if (dwarf_haspc(&die, address) > 0) {
        *found = die;
        return true;
      }
    }
    return false;
  }

  // Destroyed in reverse: the Dwarf before the Elf before the bytes.
  std::vector<char> image_;
  std::unique_ptr<Elf, ElfEnd> elf_;
  std::unique_ptr<Dwarf, DwarfEnd> dwarf_;
};

}  // namespace

class ElfSymbols::Impl {
 public:
  bool elf64 = false;
  std::vector<Symbol> by_address;  // sorted by address
  uint64_t max_size = 0;           // of any symbol: bounds Lookup's scan
  std::vector<AllocSection> alloc_sections;  // sorted by address
  struct Named {
    uint64_t address = 0;
    bool global = false;
  };
  std::map<std::string, Named, std::less<>> by_name;
  std::unique_ptr<DwarfLines> lines;
  absl::Status line_info_status;

  const AllocSection* SectionOf(uint64_t address) const {
    auto it = std::upper_bound(
        alloc_sections.begin(), alloc_sections.end(), address,
        [](uint64_t a, const AllocSection& s) { return a < s.begin; });
    if (it == alloc_sections.begin()) return nullptr;
    --it;
    return address < it->end ? &*it : nullptr;
  }
};

ElfSymbols::ElfSymbols(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ElfSymbols::ElfSymbols(ElfSymbols&&) noexcept = default;
ElfSymbols& ElfSymbols::operator=(ElfSymbols&&) noexcept = default;
ElfSymbols::~ElfSymbols() = default;

absl::StatusOr<ElfSymbols> ElfSymbols::Parse(std::span<const uint8_t> image) {
  absl::StatusOr<ParsedElf> parsed = ParseElf(image);
  if (!parsed.ok()) return parsed.status();

  auto impl = std::make_unique<Impl>();
  impl->elf64 = parsed->elf64;
  for (size_t i = 0; i < parsed->sections.size(); ++i) {
    const Section& s = parsed->sections[i];
    if ((s.flags & SHF_ALLOC) == 0 || s.size == 0) continue;
    const uint64_t end =
        s.address + s.size < s.address ? UINT64_MAX : s.address + s.size;
    impl->alloc_sections.push_back(AllocSection{
        .begin = s.address, .end = end, .index = static_cast<uint32_t>(i)});
  }
  std::sort(impl->alloc_sections.begin(), impl->alloc_sections.end(),
            [](const AllocSection& a, const AllocSection& b) {
              return a.begin < b.begin;
            });
  for (const Symbol& symbol : parsed->symbols) {
    const bool global = symbol.binding != STB_LOCAL;
    auto [it, inserted] = impl->by_name.try_emplace(
        symbol.name, Impl::Named{symbol.address, global});
    if (!inserted && global && !it->second.global) {
      it->second = Impl::Named{symbol.address, global};
    }
    impl->max_size = std::max(impl->max_size, symbol.size);
  }
  impl->by_address = std::move(parsed->symbols);
  std::stable_sort(
      impl->by_address.begin(), impl->by_address.end(),
      [](const Symbol& a, const Symbol& b) { return a.address < b.address; });

  if (HasDwarf(parsed->sections)) {
    absl::StatusOr<std::unique_ptr<DwarfLines>> lines = DwarfLines::Open(image);
    if (lines.ok()) {
      impl->lines = *std::move(lines);
    } else {
      impl->line_info_status = lines.status();
    }
  }
  return ElfSymbols(std::move(impl));
}

bool ElfSymbols::is_elf64() const { return impl_->elf64; }

bool ElfSymbols::has_symbols() const { return !impl_->by_address.empty(); }

bool ElfSymbols::has_line_info() const { return impl_->lines != nullptr; }

absl::Status ElfSymbols::line_info_status() const {
  return impl_->line_info_status;
}

std::optional<SymbolAt> ElfSymbols::Lookup(uint64_t address) const {
  const std::vector<Symbol>& symbols = impl_->by_address;
  const auto above = std::upper_bound(
      symbols.begin(), symbols.end(), address,
      [](uint64_t a, const Symbol& s) { return a < s.address; });
  const auto found = [address](const Symbol& s) {
    return SymbolAt{.name = s.name,
                    .start = s.address,
                    .offset = address - s.address,
                    .size = s.size};
  };

  // A symbol with a size that covers the address; the innermost (highest
  // start) if they nest, the best-ranked if they coincide.
  const Symbol* best = nullptr;
  for (auto it = above; it != symbols.begin();) {
    --it;
    if (address - it->address >= impl_->max_size) break;
    if (it->size == 0 || address - it->address >= it->size) continue;
    if (best == nullptr || it->address > best->address ||
        (it->address == best->address && Rank(*it) > Rank(*best))) {
      best = &*it;
    }
  }
  if (best != nullptr) return found(*best);

  // Assembly labels have no size: the nearest code label below the address
  // in its section stands for it, unless a sized symbol starts in between
  // (then the address is past that symbol's end, e.g. in padding).
  const AllocSection* section = impl_->SectionOf(address);
  if (section == nullptr) return std::nullopt;
  auto it = above;
  while (it != symbols.begin() && std::prev(it)->address >= section->begin) {
    // The symbols at the next address down, together.
    const uint64_t at = std::prev(it)->address;
    const Symbol* label = nullptr;
    bool sized = false;
    while (it != symbols.begin() && std::prev(it)->address == at) {
      --it;
      if (it->section != section->index) continue;
      if (it->size > 0) sized = true;
      const bool code_label =
          it->code && (it->type == STT_FUNC || it->type == STT_NOTYPE ||
                       it->type == STT_GNU_IFUNC);
      if (code_label && (label == nullptr || Rank(*it) > Rank(*label))) {
        label = &*it;
      }
    }
    if (sized) return std::nullopt;
    if (label != nullptr) return found(*label);
  }
  return std::nullopt;
}

std::optional<uint64_t> ElfSymbols::Find(std::string_view name) const {
  auto it = impl_->by_name.find(name);
  if (it == impl_->by_name.end()) return std::nullopt;
  return it->second.address;
}

std::optional<SourceLine> ElfSymbols::LineAt(uint64_t address) const {
  if (impl_->lines == nullptr) return std::nullopt;
  return impl_->lines->LineAt(address);
}

}  // namespace xv
