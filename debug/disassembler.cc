#include "debug/disassembler.h"

#include <algorithm>
#include <array>
#include <limits>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"

namespace xv {
namespace {

// The architectural limit: longer encodings fault with #GP.
constexpr size_t kMaxInstructionLength = 15;

// How far below RIP candidate start points are tried when the caller gives
// no usable function start: far enough for the instructions asked for, and
// never so far that the quadratic worst case of a bad guess matters.
constexpr uint64_t kMinBackWindow = 64;
constexpr uint64_t kMaxBackWindow = 4096;

// A function start further below RIP than this is more likely a wrong
// symbol (e.g. the last label before a gap) than the function RIP is in.
constexpr uint64_t kMaxFunctionWindow = uint64_t{64} * 1024;

// Memory becomes unreadable at page granularity.
constexpr uint64_t kPageSize = 4096;

cs_mode ToCapstoneMode(CodeMode mode) {
  switch (mode) {
    case CodeMode::k16:
      return CS_MODE_16;
    case CodeMode::k32:
      return CS_MODE_32;
    case CodeMode::k64:
      break;
  }
  return CS_MODE_64;
}

const char* ModeName(CodeMode mode) {
  switch (mode) {
    case CodeMode::k16:
      return "16-bit";
    case CodeMode::k32:
      return "32-bit";
    case CodeMode::k64:
      break;
  }
  return "64-bit";
}

Instruction FromCapstone(const cs_insn& insn) {
  Instruction out;
  out.address = insn.address;
  out.bytes.assign(insn.bytes, insn.bytes + insn.size);
  out.mnemonic = insn.mnemonic;
  out.operands = insn.op_str;
  return out;
}

// The next page boundary above `address`, but never beyond `limit`
// (also where rounding up would wrap around the address space).
uint64_t NextPageCapped(uint64_t address, uint64_t limit) {
  const uint64_t rounded = (address | (kPageSize - 1)) + 1;
  if (rounded < address || rounded > limit) return limit;
  return rounded;
}

}  // namespace

std::string Instruction::Text() const {
  if (operands.empty()) return mnemonic;
  return absl::StrFormat("%s %s", mnemonic, operands);
}

absl::StatusOr<Disassembler> Disassembler::Create(CodeMode mode,
                                                  AsmSyntax syntax) {
  csh handle = 0;
  if (cs_err err = cs_open(CS_ARCH_X86, ToCapstoneMode(mode), &handle);
      err != CS_ERR_OK) {
    return absl::InternalError(absl::StrFormat(
        "capstone: cs_open(x86, %s): %s", ModeName(mode), cs_strerror(err)));
  }
  // Owned from here on, so every early return below closes it.
  Disassembler disassembler(handle, nullptr, mode);
  if (syntax == AsmSyntax::kAtt) {
    if (cs_err err = cs_option(handle, CS_OPT_SYNTAX, CS_OPT_SYNTAX_ATT);
        err != CS_ERR_OK) {
      return absl::InternalError(absl::StrFormat(
          "capstone: cs_option(CS_OPT_SYNTAX, AT&T): %s", cs_strerror(err)));
    }
  }
  disassembler.scratch_ = cs_malloc(handle);
  if (disassembler.scratch_ == nullptr) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "capstone: cs_malloc: %s", cs_strerror(cs_errno(handle))));
  }
  return disassembler;
}

Disassembler::Disassembler(csh handle, cs_insn* scratch, CodeMode mode)
    : handle_(handle), scratch_(scratch), mode_(mode) {}

Disassembler::Disassembler(Disassembler&& other) noexcept
    : handle_(std::exchange(other.handle_, 0)),
      scratch_(std::exchange(other.scratch_, nullptr)),
      mode_(other.mode_) {}

Disassembler& Disassembler::operator=(Disassembler&& other) noexcept {
  if (this != &other) {
    Close();
    handle_ = std::exchange(other.handle_, 0);
    scratch_ = std::exchange(other.scratch_, nullptr);
    mode_ = other.mode_;
  }
  return *this;
}

Disassembler::~Disassembler() { Close(); }

void Disassembler::Close() {
  if (scratch_ != nullptr) cs_free(std::exchange(scratch_, nullptr), 1);
  if (handle_ != 0) cs_close(&handle_);
  handle_ = 0;
}

size_t Disassembler::LengthAt(std::span<const uint8_t> code) const {
  const uint8_t* bytes = code.data();
  size_t left = std::min(code.size(), kMaxInstructionLength);
  uint64_t address = 0;
  if (!cs_disasm_iter(handle_, &bytes, &left, &address, scratch_)) return 0;
  return scratch_->size;
}

std::vector<Instruction> Disassembler::Decode(std::span<const uint8_t> code,
                                              uint64_t address,
                                              size_t max_count) const {
  std::vector<Instruction> out;
  const uint8_t* bytes = code.data();
  size_t left = code.size();
  uint64_t at = address;
  while (out.size() < max_count && left > 0) {
    if (cs_disasm_iter(handle_, &bytes, &left, &at, scratch_)) {
      out.push_back(FromCapstone(*scratch_));
      continue;
    }
    // Capstone fails alike on garbage and on an instruction cut off by the
    // end of `code`. Decoding the tail padded to the longest instruction
    // tells them apart: an instruction that needs the padding was cut off,
    // and is not "(bad)" in the guest.
    if (left < kMaxInstructionLength) {
      std::array<uint8_t, kMaxInstructionLength> padded{};
      std::copy_n(bytes, left, padded.begin());
      const size_t length = LengthAt(padded);
      if (length > left) break;
    }
    Instruction bad;
    bad.address = at;
    bad.bytes.assign(bytes, bytes + 1);
    bad.mnemonic = "(bad)";
    out.push_back(std::move(bad));
    break;
  }
  return out;
}

absl::StatusOr<AroundListing> Disassembler::DisassembleAround(
    ReadMemoryFn read, uint64_t rip, size_t before, size_t after,
    std::optional<uint64_t> function_start) const {
  // RIP and what follows it.
  const size_t front_count = after + 1;
  uint64_t front_size = front_count * kMaxInstructionLength;
  const uint64_t to_top = std::numeric_limits<uint64_t>::max() - rip;
  if (to_top < front_size) front_size = to_top + 1;
  std::vector<uint8_t> front(front_size);
  const size_t front_read = std::min<size_t>(read(rip, front), front.size());
  if (front_read == 0) {
    return absl::OutOfRangeError(
        absl::StrFormat("cannot read guest memory at rip 0x%x", rip));
  }
  std::vector<Instruction> following = Decode(
      std::span<const uint8_t>(front).first(front_read), rip, front_count);
  if (following.empty()) {
    return absl::OutOfRangeError(absl::StrFormat(
        "the instruction at rip 0x%x runs into unreadable memory after %d "
        "bytes",
        rip, front_read));
  }

  AroundListing listing;
  if (before > 0 && rip > 0) {
    const uint64_t window = std::clamp<uint64_t>(
        before * kMaxInstructionLength, kMinBackWindow, kMaxBackWindow);
    const bool function_usable = function_start.has_value() &&
                                 *function_start < rip &&
                                 rip - *function_start <= kMaxFunctionWindow;
    // With a function start, the window reaches below it as far as below
    // RIP otherwise, so that near the function's entry the listing goes on
    // into the code before it.
    uint64_t low = rip - std::min(window, rip);
    if (function_usable) {
      low = std::min(low, *function_start - std::min(window, *function_start));
    }

    // Reads fail from the first unreadable byte on, so an unmapped page low
    // in the window would hide the readable ones above it: retry from each
    // page boundary up.
    std::vector<uint8_t> back(rip - low);
    uint64_t start = low;
    while (start < rip) {
      const size_t want = rip - start;
      const std::span<uint8_t> out =
          std::span<uint8_t>(back).subspan(start - low, want);
      if (read(start, out) >= want) break;
      start = NextPageCapped(start, rip);
    }
    const std::span<const uint8_t> code =
        std::span<const uint8_t>(back).subspan(start - low);

    // reach[i]: how many instructions decoding from code[i] takes to land
    // exactly on RIP (0: it never does). Every start's next instruction
    // begins at i + length, so one decode per byte offset, right to left,
    // gives all starts at once. through[i]: whether that decode passes the
    // function start.
    const size_t size = code.size();
    constexpr size_t kNone = std::numeric_limits<size_t>::max();
    const size_t entry = function_usable && *function_start >= start
                             ? *function_start - start
                             : kNone;
    std::vector<size_t> reach(size, 0);
    std::vector<bool> through(size, false);
    for (size_t i = size; i-- > 0;) {
      const size_t length = LengthAt(code.subspan(i));
      if (length == 0) continue;
      if (i + length == size) {
        reach[i] = 1;
      } else if (reach[i + length] > 0) {
        reach[i] = reach[i + length] + 1;
      }
      through[i] = i == entry || (entry != kNone && i + length <= entry &&
                                  through[i + length]);
    }

    // Decodes out of different starts fall into step after a few
    // instructions; the longest run is the one most likely to have started
    // on a real boundary. The function start, when it lands on RIP, is a
    // real boundary for certain: only runs through it count then.
    const bool use_entry = entry != kNone && reach[entry] > 0;
    size_t chosen = kNone;
    for (size_t i = 0; i < size; ++i) {
      if (reach[i] == 0 || (use_entry && !through[i])) continue;
      if (chosen == kNone || reach[i] > reach[chosen]) chosen = i;
    }
    if (chosen != kNone) {
      std::vector<Instruction> preceding =
          Decode(code.subspan(chosen), start + chosen, reach[chosen]);
      const size_t keep = std::min(before, preceding.size());
      listing.instructions.assign(
          std::make_move_iterator(preceding.end() - keep),
          std::make_move_iterator(preceding.end()));
    }
  }
  listing.rip_index = listing.instructions.size();
  listing.instructions.insert(listing.instructions.end(),
                              std::make_move_iterator(following.begin()),
                              std::make_move_iterator(following.end()));
  return listing;
}

}  // namespace xv
