// ATA PIO on the primary master, LBA28.
//
// Reading the status register acknowledges INTRQ. IRQ14 is edge-triggered,
// so every wait re-reads the status (lowering the line) before sleeping,
// and sleeps only while the drive is busy and an interrupt is due.
//
// Sector data moves 32 bits at a time (the controllers QEMU and xvirt model
// take 32-bit data-port I/O): a `rep outs` exits once per element
// (hypervisor/string_io.h), so this halves the exits of a write.
#include "xv/ata.h"

#include "xv/irq.h"
#include "xv/pic.h"
#include "xv/port_io.h"

#define ATA_DATA 0x1f0
#define ATA_ERROR 0x1f1
#define ATA_SECTOR_COUNT 0x1f2
#define ATA_LBA_LOW 0x1f3
#define ATA_LBA_MID 0x1f4
#define ATA_LBA_HIGH 0x1f5
#define ATA_DEVICE 0x1f6
#define ATA_STATUS 0x1f7  // COMMAND on write.
#define ATA_DEVICE_CONTROL 0x3f6

#define STATUS_ERR 0x01
#define STATUS_DRQ 0x08
#define STATUS_DF 0x20
#define STATUS_BSY 0x80

#define DEVICE_MASTER 0xa0
#define DEVICE_MASTER_LBA 0xe0
#define DEVICE_CONTROL_INTERRUPTS_ON 0x00

#define CMD_READ_SECTORS 0x20
#define CMD_WRITE_SECTORS 0x30
#define CMD_FLUSH_CACHE 0xe7
#define CMD_IDENTIFY_DEVICE 0xec

#define WORDS_PER_SECTOR (XV_ATA_SECTOR_SIZE / 2)
#define DWORDS_PER_SECTOR (XV_ATA_SECTOR_SIZE / 4)

static uint16_t last_error;

// `interrupt_due`: the drive raises INTRQ when it stops being busy, so
// sleeping is safe. Otherwise (the first DRQ of a write) poll.
static uint8_t wait_not_busy(bool interrupt_due) {
  for (;;) {
    uint64_t seen = xv_irq_total_count();
    uint8_t status = xv_inb(ATA_STATUS);
    if (!(status & STATUS_BSY)) return status;
    if (interrupt_due) xv_wait_for_interrupt(seen);
  }
}

static enum xv_ata_result check(uint8_t status, bool want_data) {
  if ((status & (STATUS_ERR | STATUS_DF)) ||
      (want_data && !(status & STATUS_DRQ))) {
    last_error = (uint16_t)(status << 8 | xv_inb(ATA_ERROR));
    return XV_ATA_DEVICE_ERROR;
  }
  return XV_ATA_OK;
}

enum xv_ata_result xv_ata_identify(struct xv_ata_disk* disk) {
  xv_outb(ATA_DEVICE, DEVICE_MASTER);
  uint8_t status = xv_inb(ATA_STATUS);
  // Floating bus (no controller) reads 0xff; an empty channel reads 0.
  if (status == 0xff || status == 0) return XV_ATA_NO_DEVICE;
  xv_outb(ATA_DEVICE_CONTROL, DEVICE_CONTROL_INTERRUPTS_ON);
  xv_pic_unmask(XV_IRQ_ATA_PRIMARY);
  xv_outb(ATA_STATUS, CMD_IDENTIFY_DEVICE);
  status = wait_not_busy(true);
  if (status == 0 || (status & STATUS_ERR)) {
    // Aborted: an ATAPI or other non-ATA device.
    last_error = (uint16_t)(status << 8 | xv_inb(ATA_ERROR));
    return XV_ATA_NO_DEVICE;
  }
  enum xv_ata_result result = check(status, true);
  if (result != XV_ATA_OK) return result;
  uint16_t id[WORDS_PER_SECTOR];
  xv_insl(ATA_DATA, id, DWORDS_PER_SECTOR);
  disk->lba28_sectors = (uint32_t)id[60] | (uint32_t)id[61] << 16;
  disk->lba48 = id[83] & (1u << 10);
  disk->sectors = disk->lba28_sectors;
  if (disk->lba48) {
    uint64_t lba48 = (uint64_t)id[100] | (uint64_t)id[101] << 16 |
                     (uint64_t)id[102] << 32 | (uint64_t)id[103] << 48;
    if (lba48 > disk->sectors) disk->sectors = lba48;
  }
  return XV_ATA_OK;
}

static enum xv_ata_result start(uint8_t command, uint32_t lba, uint32_t count) {
  if (count == 0 || count > XV_ATA_MAX_SECTORS_PER_COMMAND ||
      lba >= XV_ATA_LBA28_LIMIT || count > XV_ATA_LBA28_LIMIT - lba) {
    return XV_ATA_BAD_REQUEST;
  }
  xv_outb(ATA_DEVICE, (uint8_t)(DEVICE_MASTER_LBA | ((lba >> 24) & 0x0f)));
  xv_outb(ATA_SECTOR_COUNT, (uint8_t)count);  // 256 is written as 0.
  xv_outb(ATA_LBA_LOW, (uint8_t)lba);
  xv_outb(ATA_LBA_MID, (uint8_t)(lba >> 8));
  xv_outb(ATA_LBA_HIGH, (uint8_t)(lba >> 16));
  xv_outb(ATA_STATUS, command);
  return XV_ATA_OK;
}

enum xv_ata_result xv_ata_read(uint32_t lba, uint32_t count, void* buf) {
  enum xv_ata_result result = start(CMD_READ_SECTORS, lba, count);
  uint8_t* sector = buf;
  for (uint32_t i = 0; i < count && result == XV_ATA_OK; i++) {
    result = check(wait_not_busy(true), true);
    if (result == XV_ATA_OK) xv_insl(ATA_DATA, sector, DWORDS_PER_SECTOR);
    sector += XV_ATA_SECTOR_SIZE;
  }
  return result;
}

enum xv_ata_result xv_ata_write(uint32_t lba, uint32_t count, const void* buf) {
  enum xv_ata_result result = start(CMD_WRITE_SECTORS, lba, count);
  const uint8_t* sector = buf;
  for (uint32_t i = 0; i < count && result == XV_ATA_OK; i++) {
    // The drive asks for the first sector without an interrupt, and
    // interrupts after each sector it has taken.
    result = check(wait_not_busy(i > 0), true);
    if (result == XV_ATA_OK) xv_outsl(ATA_DATA, sector, DWORDS_PER_SECTOR);
    sector += XV_ATA_SECTOR_SIZE;
  }
  if (result == XV_ATA_OK) result = check(wait_not_busy(true), false);
  return result;
}

enum xv_ata_result xv_ata_flush(void) {
  xv_outb(ATA_STATUS, CMD_FLUSH_CACHE);
  return check(wait_not_busy(true), false);
}

uint16_t xv_ata_last_error(void) { return last_error; }

const char* xv_ata_result_name(enum xv_ata_result result) {
  switch (result) {
    case XV_ATA_OK:
      return "ok";
    case XV_ATA_NO_DEVICE:
      return "no device";
    case XV_ATA_DEVICE_ERROR:
      return "device error";
    case XV_ATA_BAD_REQUEST:
      return "bad request";
  }
  return "unknown";
}
