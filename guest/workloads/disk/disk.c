// Exercises the ATA disk: IDENTIFY, then writes a deterministic pattern to
// `sectors` sectors at the start, the middle and the end of the disk (the
// last run ends at the last sector), reads everything back and verifies it.
// The model string is not printed: it differs between VMMs.
//
// Options: sectors=N (default 64). Without a disk it says so and exits
// XV_EXIT_NO_DEVICE.
#include "xv/xv.h"

#define CHUNK_SECTORS 128
#define RUNS 3

static uint8_t write_buffer[CHUNK_SECTORS * XV_ATA_SECTOR_SIZE];
static uint8_t read_buffer[CHUNK_SECTORS * XV_ATA_SECTOR_SIZE];

// Every 8-byte word names its sector and offset, so a misplaced sector
// cannot verify.
static void fill_pattern(uint32_t lba, uint32_t count, uint8_t* buf) {
  uint64_t* words = (uint64_t*)buf;
  for (uint32_t s = 0; s < count; s++) {
    for (uint32_t w = 0; w < XV_ATA_SECTOR_SIZE / 8; w++) {
      uint64_t x = ((uint64_t)(lba + s) << 20 | w) * 0x9e3779b97f4a7c15ull;
      words[s * (XV_ATA_SECTOR_SIZE / 8) + w] =
          x ^ (x >> 29) ^ 0x786976697274ull;
    }
  }
}

static bool check(enum xv_ata_result result, const char* what, uint32_t lba) {
  if (result == XV_ATA_OK) return true;
  xv_printf("disk: %s at LBA %u failed: %s (status/error 0x%04x)\n", what, lba,
            xv_ata_result_name(result), xv_ata_last_error());
  return false;
}

// Writes or verifies `count` sectors from `first`, a chunk at a time.
static bool process_run(uint32_t first, uint32_t count, bool write) {
  for (uint32_t done = 0; done < count;) {
    uint32_t n = count - done < CHUNK_SECTORS ? count - done : CHUNK_SECTORS;
    uint32_t lba = first + done;
    fill_pattern(lba, n, write_buffer);
    if (write) {
      if (!check(xv_ata_write(lba, n, write_buffer), "write", lba))
        return false;
    } else {
      if (!check(xv_ata_read(lba, n, read_buffer), "read", lba)) return false;
      if (memcmp(read_buffer, write_buffer, n * XV_ATA_SECTOR_SIZE) != 0) {
        xv_printf("disk: data read back from LBA %u..%u differs\n", lba,
                  lba + n - 1);
        return false;
      }
    }
    done += n;
  }
  return true;
}

int xv_main(void) {
  xv_cmdline_allow_only((const char* const[]){"sectors", NULL});
  uint64_t sectors = xv_cmdline_u64("sectors", 64);

  struct xv_ata_disk disk;
  enum xv_ata_result result = xv_ata_identify(&disk);
  if (result == XV_ATA_NO_DEVICE) {
    xv_puts("disk: no ATA disk on the primary master");
    return XV_EXIT_NO_DEVICE;
  }
  if (!check(result, "IDENTIFY", 0)) return XV_EXIT_FAILURE;
  xv_printf("disk: capacity %llu sectors\n", (unsigned long long)disk.sectors);

  uint32_t usable = disk.lba28_sectors;
  if (sectors == 0 || RUNS * sectors > usable) {
    xv_printf("disk: sectors=%llu does not fit %d times in %u sectors\n",
              (unsigned long long)sectors, RUNS, usable);
    return XV_EXIT_USAGE;
  }
  uint32_t n = (uint32_t)sectors;
  const uint32_t starts[RUNS] = {0, usable / 2 - n / 2, usable - n};
  for (int pass = 0; pass < 2; pass++) {
    for (int r = 0; r < RUNS; r++) {
      if (!process_run(starts[r], n, pass == 0)) return XV_EXIT_FAILURE;
    }
  }
  xv_printf(
      "disk: wrote and read back %d x %u sectors at LBA %u, %u, %u: "
      "verified\n",
      RUNS, n, starts[0], starts[1], starts[2]);
  return XV_EXIT_SUCCESS;
}
