#include "memshare/zero_page_reclaimer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/time/time.h"

namespace xv {
namespace {

// /proc/self/pagemap: one u64 per virtual page.
constexpr uint64_t kPagePresent = uint64_t{1} << 63;
constexpr uint64_t kPageFileOrSharedAnon = uint64_t{1} << 61;
constexpr uint64_t kEntriesPerRead = 4096;

}  // namespace

ZeroPageReclaimer::ZeroPageReclaimer(const GuestMemory* memory,
                                     std::chrono::milliseconds period)
    : memory_(memory),
      pagemap_(::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC)),
      released_(memory->pages()) {
  if (pagemap_.valid()) thread_ = std::thread([this, period] { Loop(period); });
}

ZeroPageReclaimer::~ZeroPageReclaimer() {
  stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

void ZeroPageReclaimer::Loop(std::chrono::milliseconds period) {
  while (!stop_.WaitForNotificationWithTimeout(
      absl::Milliseconds(period.count()))) {
    // A failed scan only leaves memory unreleased; the next one retries.
    (void)ScanOnce();
  }
}

absl::StatusOr<uint64_t> ZeroPageReclaimer::ScanOnce() {
  if (!pagemap_.valid()) {
    return absl::UnavailableError("cannot open /proc/self/pagemap");
  }
  const auto base_addr =
      reinterpret_cast<uint64_t>(memory_->host_span().data());
  std::vector<uint64_t> entries(kEntriesPerRead);
  DirtyBitmap fresh(memory_->pages());
  uint64_t found = 0;
  for (uint64_t first = 0; first < memory_->pages(); first += kEntriesPerRead) {
    const uint64_t n = std::min(kEntriesPerRead, memory_->pages() - first);
    const off_t offset =
        static_cast<off_t>((base_addr / kPageSize + first) * sizeof(uint64_t));
    const ssize_t got =
        ::pread(pagemap_.get(), entries.data(), n * sizeof(uint64_t), offset);
    if (got != static_cast<ssize_t>(n * sizeof(uint64_t))) {
      return absl::InternalError(
          absl::StrFormat("pread(/proc/self/pagemap, offset %d): %s", offset,
                          got < 0 ? std::strerror(errno) : "short read"));
    }
    for (uint64_t i = 0; i < n; ++i) {
      // Present and anonymous in a private file mapping: a private copy.
      const bool copied =
          (entries[i] & kPagePresent) && !(entries[i] & kPageFileOrSharedAnon);
      if (copied && !released_.Test(first + i)) {
        fresh.Set(first + i);
        released_.Set(first + i);
        ++found;
      }
    }
  }
  if (found == 0) return found;
  if (absl::Status s = memory_->base()->ReleaseUnwrittenPages(fresh.Runs());
      !s.ok()) {
    return s;
  }
  return found;
}

}  // namespace xv
