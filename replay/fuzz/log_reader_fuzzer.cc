// libFuzzer target: any bytes given to LogReader either read as records,
// every field of which can then be read, or end in an error or a torn tail;
// never a crash, an escaping exception, or unbounded memory.
//
// Most mutations of a log only break a frame checksum, so each input is also
// read a second time with every complete frame's checksum recomputed: that
// lets the fuzzer reach the zstd and Cap'n Proto decoding behind it.
#include <capnp/message.h>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <string>

#include "replay/log.capnp.h"
#include "replay/log_format.h"
#include "replay/log_reader.h"

namespace xv {
namespace {

// Folds everything read into one value the compiler must compute.
struct Sink {
  uint64_t value = 0;
  void Add(uint64_t v) { value = value * 31 + v; }
  void Add(capnp::Text::Reader t) {
    Add(t.size());
    for (char c : t) Add(static_cast<uint8_t>(c));
  }
  void Add(capnp::Data::Reader d) {
    Add(d.size());
    for (uint8_t b : d) Add(b);
  }
  void Add(schema::Hash128::Reader h) {
    Add(h.getLow());
    Add(h.getHigh());
  }
};

void TouchHeader(log::Header::Reader h, Sink& s) {
  s.Add(h.getFormatVersion());
  s.Add(h.getRecordedBy());
  s.Add(static_cast<uint64_t>(h.getRecordedAtUnixNs()));
  s.Add(h.getKernelName());
  s.Add(h.getKernelImage());
  s.Add(h.getCmdline());
  s.Add(h.getMemoryBytes());
  s.Add(h.getDiskSectors());
  s.Add(static_cast<uint64_t>(h.getRtcEpochSeconds()));
  for (schema::CpuidEntry::Reader e : h.getCpuid()) {
    s.Add(e.getFunction());
    s.Add(e.getIndex());
    s.Add(e.getFlags());
    s.Add(e.getEax());
    s.Add(e.getEbx());
    s.Add(e.getEcx());
    s.Add(e.getEdx());
  }
  s.Add(h.getInitialStateHash());
  s.Add(h.getCheckpointInterval());
  s.Add(h.getOutputDigestBytes());
  s.Add(h.getOutputDigestExits());
  s.Add(h.getBackend());
}

void TouchInput(log::Input::Reader in, Sink& s) {
  s.Add(in.getEsn());
  switch (in.which()) {
    case log::Input::CLOCK_ADVANCE:
      s.Add(in.getClockAdvance());
      break;
    case log::Input::UART_RX:
      s.Add(in.getUartRx());
      break;
    case log::Input::DISK_READ:
      s.Add(in.getDiskRead().getLba());
      s.Add(in.getDiskRead().getData());
      break;
    case log::Input::BOUNDARY_READ: {
      auto b = in.getBoundaryRead();
      s.Add(b.getAddress());
      s.Add(b.getSize());
      s.Add(b.getIsMmio());
      s.Add(b.getValue());
      break;
    }
    default:  // a newer writer's input kind
      s.Add(static_cast<uint64_t>(in.which()));
      break;
  }
}

void TouchRecord(const RecordView& view, Sink& s) {
  s.Add(view.index);
  s.Add(view.frame_offset);
  s.Add(view.bytes);
  log::Record::Reader r = view.record;
  s.Add(r.getOptional());
  s.Add(r.totalSize().wordCount);
  {
    // Copying visits every pointer, known to this schema or not.
    capnp::MallocMessageBuilder copy;
    copy.setRoot(r);
    s.Add(copy.getRoot<log::Record>().asReader().totalSize().wordCount);
  }
  switch (r.which()) {
    case log::Record::HEADER:
      TouchHeader(r.getHeader(), s);
      break;
    case log::Record::INPUT:
      TouchInput(r.getInput(), s);
      break;
    case log::Record::CHECKPOINT:
      s.Add(r.getCheckpoint().getEsn());
      s.Add(r.getCheckpoint().getStateHash());
      break;
    case log::Record::OUTPUT_DIGEST: {
      auto d = r.getOutputDigest();
      s.Add(d.getEsn());
      s.Add(d.getDevice());
      s.Add(d.getOutputs());
      s.Add(d.getBytes());
      s.Add(d.getHash());
      break;
    }
    case log::Record::END: {
      auto e = r.getEnd();
      s.Add(e.getEsn());
      s.Add(static_cast<uint64_t>(e.getExitStatus()));
      s.Add(e.getStopReason());
      s.Add(e.getDebugExitValue());
      s.Add(e.getFinalStateComparable());
      s.Add(e.getFinalStateHash());
      s.Add(e.getExits());
      s.Add(std::bit_cast<uint64_t>(e.getWallSeconds()));
      break;
    }
    case log::Record::FAULT: {
      auto f = r.getFault();
      s.Add(f.getEsn());
      s.Add(f.getRegister());
      s.Add(f.getBit());
      break;
    }
    default:
      // The reader never returns a kind it does not know.
      __builtin_trap();
  }
}

void ReadEverything(std::string bytes, Sink& s) {
  auto reader = LogReader::FromBytes(std::move(bytes), "fuzz");
  if (!reader.ok()) {
    s.Add(reader.status().message().size());
    return;
  }
  uint64_t records = 0;
  for (;;) {
    absl::StatusOr<const RecordView*> view = reader->Next();
    if (!view.ok()) {
      s.Add(view.status().message().size());
      // An error is final.
      if (reader->Next().ok()) __builtin_trap();
      break;
    }
    if (*view == nullptr) break;
    if ((*view)->index < records) __builtin_trap();  // numbers only grow
    records = (*view)->index + 1;
    TouchRecord(**view, s);
  }
  const LogReaderStats& stats = reader->stats();
  s.Add(stats.file_bytes + stats.frames + stats.compressed_frames +
        stats.stored_bytes + stats.compressed_bytes + stats.uncompressed_bytes +
        stats.records + stats.skipped_records);
  for (const auto& [kind, counts] : stats.by_kind) {
    s.Add(kind);
    s.Add(counts.records + counts.bytes);
    s.Add(RecordKindName(kind).size());
  }
  if (const auto& torn = reader->torn_tail(); torn.has_value()) {
    if (torn->offset + torn->bytes_discarded != stats.file_bytes) {
      __builtin_trap();  // a torn tail runs to the end of the file
    }
    s.Add(torn->reason.size());
  }
  for (const std::string& w : reader->warnings()) s.Add(w.size());
}

// `bytes` with the checksum of every complete frame recomputed.
std::string WithChecksumsFixed(std::string bytes) {
  auto* data = reinterpret_cast<uint8_t*>(bytes.data());
  uint64_t offset = kLogFileHeaderBytes;
  while (offset + kLogFrameHeaderBytes <= bytes.size()) {
    const uint64_t length = LoadLe32(data + offset);
    const uint64_t end = offset + kLogFrameHeaderBytes + length;
    if (end > bytes.size()) break;
    StoreLe64(data + offset + 8,
              LogPayloadChecksum({data + offset + kLogFrameHeaderBytes,
                                  static_cast<size_t>(length)}));
    offset = end;
  }
  return bytes;
}

}  // namespace
}  // namespace xv

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  xv::Sink sink;
  xv::ReadEverything(bytes, sink);
  std::string fixed = xv::WithChecksumsFixed(bytes);
  if (fixed != bytes) xv::ReadEverything(std::move(fixed), sink);
  // Keep the reads from being optimised away.
  volatile uint64_t keep = sink.value;
  (void)keep;
  return 0;
}
