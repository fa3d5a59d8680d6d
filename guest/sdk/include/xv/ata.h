// ATA PIO driver for the primary master (0x1f0-0x1f7, 0x3f6, IRQ14), LBA28.
// Commands wait for IRQ14 (sleeping between interrupts) and read the status
// register, which also acknowledges the interrupt; sector data moves with one
// 32-bit `rep insl`/`rep outsl` per sector.
#ifndef XV_ATA_H_
#define XV_ATA_H_

#include <stdbool.h>
#include <stdint.h>

#define XV_ATA_SECTOR_SIZE 512
#define XV_ATA_MAX_SECTORS_PER_COMMAND 256
#define XV_ATA_LBA28_LIMIT (1u << 28)

enum xv_ata_result {
  XV_ATA_OK = 0,
  XV_ATA_NO_DEVICE,     // Nothing (or not an ATA disk) on the primary master.
  XV_ATA_DEVICE_ERROR,  // The drive set ERR or DF; see xv_ata_last_error().
  XV_ATA_BAD_REQUEST,   // Out of LBA28 range or a zero/oversized count.
};

struct xv_ata_disk {
  uint64_t sectors;        // Capacity in sectors (LBA48 count if supported).
  uint32_t lba28_sectors;  // Sectors addressable with LBA28.
  bool lba48;
};

// Selects the primary master, runs IDENTIFY DEVICE, enables IRQ14.
enum xv_ata_result xv_ata_identify(struct xv_ata_disk* disk);
// `count` sectors (1..256) starting at `lba`; `lba + count` must not exceed
// the LBA28 limit.
enum xv_ata_result xv_ata_read(uint32_t lba, uint32_t count, void* buf);
enum xv_ata_result xv_ata_write(uint32_t lba, uint32_t count, const void* buf);
// FLUSH CACHE.
enum xv_ata_result xv_ata_flush(void);
// Status and error registers after the last failed command.
uint16_t xv_ata_last_error(void);
const char* xv_ata_result_name(enum xv_ata_result result);

#endif  // XV_ATA_H_
