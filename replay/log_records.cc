#include "replay/log_records.h"

#include <type_traits>

#include "absl/strings/str_format.h"
#include "hypervisor/arch_state.h"
#include "hypervisor/cpu_state_schema.h"
#include "kj/exception.h"

namespace xv {
namespace {

capnp::Data::Reader AsData(std::span<const uint8_t> bytes) {
  return {bytes.data(), bytes.size()};
}

capnp::Text::Reader AsText(const std::string& s) {
  return {s.data(), s.size()};
}

std::string FromText(capnp::Text::Reader text) {
  return {text.begin(), text.size()};
}

void BuildHeader(const RecordedMachine& m, log::Header::Builder h) {
  h.setFormatVersion(kLogFormatVersion);
  h.setRecordedBy(AsText(m.recorded_by));
  h.setRecordedAtUnixNs(m.recorded_at_unix_ns);
  h.setKernelName(AsText(m.kernel_name));
  h.setKernelImage(AsData(m.kernel_image));
  h.setCmdline(AsText(m.cmdline));
  h.setMemoryBytes(m.memory_bytes);
  h.setDiskSectors(m.disk_sectors);
  h.setRtcEpochSeconds(m.rtc_epoch_seconds);
  ToSchema(m.cpuid, h.initCpuid(m.cpuid.size()));
  ToSchema(m.initial_state_hash, h.initInitialStateHash());
  h.setCheckpointInterval(m.checkpoint_interval);
  h.setOutputDigestBytes(m.output_digest_bytes);
  h.setOutputDigestExits(m.output_digest_exits);
  h.setBackend(AsText(m.backend));
}

absl::StatusOr<RecordedMachine> ParseHeader(log::Header::Reader h) {
  if (h.getFormatVersion() < kLogFormatVersion) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "made by an older xvirt (format %d); re-record it (this xvirt reads "
        "log format %d)",
        h.getFormatVersion(), kLogFormatVersion));
  }
  if (h.getFormatVersion() > kLogFormatVersion) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "made by a newer xvirt (format %d); this xvirt reads log format %d",
        h.getFormatVersion(), kLogFormatVersion));
  }
  RecordedMachine m;
  m.recorded_by = FromText(h.getRecordedBy());
  m.recorded_at_unix_ns = h.getRecordedAtUnixNs();
  m.kernel_name = FromText(h.getKernelName());
  auto image = h.getKernelImage();
  m.kernel_image.assign(image.begin(), image.end());
  m.cmdline = FromText(h.getCmdline());
  m.memory_bytes = h.getMemoryBytes();
  m.disk_sectors = h.getDiskSectors();
  m.rtc_epoch_seconds = h.getRtcEpochSeconds();
  m.cpuid = FromSchema(h.getCpuid());
  m.initial_state_hash = FromSchema(h.getInitialStateHash());
  m.checkpoint_interval = h.getCheckpointInterval();
  m.output_digest_bytes = h.getOutputDigestBytes();
  m.output_digest_exits = h.getOutputDigestExits();
  m.backend = FromText(h.getBackend());
  if (m.kernel_image.empty()) {
    return absl::InvalidArgumentError("the header holds no kernel image");
  }
  return m;
}

void BuildInput(const LoggedInput& in, log::Input::Builder out) {
  out.setEsn(in.esn);
  const InputEvent& e = in.input;
  switch (e.kind) {
    case InputKind::kClockAdvance:
      out.setClockAdvance(e.value);
      break;
    case InputKind::kSerialRx:
      out.setUartRx(AsData(e.data));
      break;
    case InputKind::kDiskReadCompletion: {
      auto d = out.initDiskRead();
      d.setLba(e.value);
      d.setData(AsData(e.data));
      break;
    }
    case InputKind::kBoundaryRead: {
      auto b = out.initBoundaryRead();
      b.setAddress(e.address);
      b.setSize(e.size);
      b.setIsMmio(e.is_mmio);
      b.setValue(e.value);
      break;
    }
  }
}

absl::StatusOr<LoggedInput> ParseInput(log::Input::Reader in) {
  LoggedInput out;
  out.esn = in.getEsn();
  switch (in.which()) {
    case log::Input::CLOCK_ADVANCE:
      out.input = InputEvent::ClockAdvance(in.getClockAdvance());
      return out;
    case log::Input::UART_RX: {
      auto data = in.getUartRx();
      out.input = InputEvent::SerialRx({data.begin(), data.size()});
      return out;
    }
    case log::Input::DISK_READ: {
      auto d = in.getDiskRead();
      auto data = d.getData();
      out.input = InputEvent::DiskReadCompletion(
          d.getLba(), std::vector<uint8_t>(data.begin(), data.end()));
      return out;
    }
    case log::Input::BOUNDARY_READ: {
      auto b = in.getBoundaryRead();
      out.input = InputEvent::BoundaryRead(b.getAddress(), b.getSize(),
                                           b.getValue(), b.getIsMmio());
      return out;
    }
  }
  return absl::InvalidArgumentError(
      absl::StrFormat("input of kind %d, which this xvirt does not know",
                      static_cast<int>(in.which())));
}

}  // namespace

std::string InputDetail(const InputEvent& in) {
  switch (in.kind) {
    case InputKind::kClockAdvance:
      return absl::StrFormat("%d ns", in.value);
    case InputKind::kSerialRx: {
      std::string text;
      for (uint8_t c : in.data) {
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
          text.push_back(static_cast<char>(c));
        } else {
          absl::StrAppendFormat(&text, "\\x%02x", c);
        }
      }
      return absl::StrFormat("%d bytes \"%s\"", in.data.size(), text);
    }
    case InputKind::kDiskReadCompletion:
      return absl::StrFormat("lba %d, %d bytes, data %s", in.value,
                             in.data.size(), HashBytes(in.data).ToHex());
    case InputKind::kBoundaryRead:
      return absl::StrFormat("address 0x%x size %d value 0x%x", in.address,
                             in.size, in.value);
  }
  return "";
}

absl::Status CheckFault(const LoggedFault& fault) {
  GeneralRegisters probe;
  if (GeneralRegister(probe, fault.reg) == nullptr || fault.bit > 63) {
    return absl::InvalidArgumentError(
        absl::StrFormat("cannot flip bit %d of '%s': no such general register "
                        "bit",
                        fault.bit, fault.reg));
  }
  return absl::OkStatus();
}

std::string DescribeFault(const LoggedFault& fault) {
  return absl::StrFormat("%s bit %d flipped after exit %d", fault.reg,
                         fault.bit, fault.esn);
}

uint64_t EntryEsn(const LogEntry& entry) {
  return std::visit(
      [](const auto& e) -> uint64_t {
        if constexpr (std::is_same_v<std::decay_t<decltype(e)>,
                                     RecordedMachine>) {
          return 0;
        } else {
          return e.esn;
        }
      },
      entry);
}

std::string_view EntryKindName(const LogEntry& entry) {
  static constexpr std::string_view kNames[] = {
      "header", "input", "checkpoint", "output_digest", "end", "fault"};
  return kNames[entry.index()];
}

void BuildRecord(const LogEntry& entry, log::Record::Builder record) {
  struct Visitor {
    log::Record::Builder r;
    void operator()(const RecordedMachine& m) {
      BuildHeader(m, r.initHeader());
    }
    void operator()(const LoggedInput& in) { BuildInput(in, r.initInput()); }
    void operator()(const LoggedCheckpoint& c) {
      auto out = r.initCheckpoint();
      out.setEsn(c.esn);
      ToSchema(c.state_hash, out.initStateHash());
    }
    void operator()(const LoggedDigest& d) {
      auto out = r.initOutputDigest();
      out.setEsn(d.esn);
      out.setDevice(AsText(d.device));
      out.setOutputs(d.outputs);
      out.setBytes(d.bytes);
      ToSchema(d.hash, out.initHash());
      out.setAtEnd(d.at_end);
    }
    void operator()(const LoggedEnd& e) {
      auto out = r.initEnd();
      out.setEsn(e.esn);
      out.setExitStatus(e.exit_status);
      out.setStopReason(AsText(e.stop_reason));
      out.setDebugExitValue(e.debug_exit_value);
      out.setFinalStateComparable(e.final_state_hash.has_value());
      if (e.final_state_hash) {
        ToSchema(*e.final_state_hash, out.initFinalStateHash());
      }
      out.setExits(e.exits);
      out.setWallSeconds(e.wall_seconds);
    }
    void operator()(const LoggedFault& f) {
      auto out = r.initFault();
      out.setEsn(f.esn);
      out.setRegister(AsText(f.reg));
      out.setBit(static_cast<uint8_t>(f.bit));
    }
  };
  std::visit(Visitor{record}, entry);
}

namespace {

absl::StatusOr<LogEntry> ParseRecordUnchecked(log::Record::Reader record) {
  switch (record.which()) {
    case log::Record::HEADER: {
      auto h = ParseHeader(record.getHeader());
      if (!h.ok()) return h.status();
      return LogEntry(std::move(*h));
    }
    case log::Record::INPUT: {
      auto in = ParseInput(record.getInput());
      if (!in.ok()) return in.status();
      return LogEntry(std::move(*in));
    }
    case log::Record::CHECKPOINT: {
      auto c = record.getCheckpoint();
      return LogEntry(
          LoggedCheckpoint{c.getEsn(), FromSchema(c.getStateHash())});
    }
    case log::Record::OUTPUT_DIGEST: {
      auto d = record.getOutputDigest();
      return LogEntry(LoggedDigest{d.getEsn(), FromText(d.getDevice()),
                                   d.getOutputs(), d.getBytes(),
                                   FromSchema(d.getHash()), d.getAtEnd()});
    }
    case log::Record::END: {
      auto e = record.getEnd();
      LoggedEnd end{
          .esn = e.getEsn(),
          .exit_status = e.getExitStatus(),
          .stop_reason = FromText(e.getStopReason()),
          .debug_exit_value = e.getDebugExitValue(),
          .exits = e.getExits(),
          .wall_seconds = e.getWallSeconds(),
      };
      if (e.getFinalStateComparable()) {
        end.final_state_hash = FromSchema(e.getFinalStateHash());
      }
      return LogEntry(std::move(end));
    }
    case log::Record::FAULT: {
      auto f = record.getFault();
      LoggedFault fault{.esn = f.getEsn(),
                        .reg = FromText(f.getRegister()),
                        .bit = f.getBit()};
      if (absl::Status s = CheckFault(fault); !s.ok()) {
        return absl::InvalidArgumentError(
            absl::StrFormat("a fault record: %s", s.message()));
      }
      return LogEntry(std::move(fault));
    }
  }
  return absl::InvalidArgumentError(
      absl::StrFormat("record of kind %d, which this xvirt does not know",
                      static_cast<int>(record.which())));
}

}  // namespace

absl::StatusOr<LogEntry> ParseRecord(log::Record::Reader record) {
  // Cap'n Proto checks pointers lazily, as fields are read, and throws on
  // malformed ones: no exception may leave the log layer.
  try {
    return ParseRecordUnchecked(record);
  } catch (const kj::Exception& e) {
    return absl::DataLossError(
        absl::StrFormat("malformed record: %s", e.getDescription().cStr()));
  }
}

absl::StatusOr<LogEntry> ParseRecordAt(const LogReader& reader,
                                       const RecordView& view) {
  auto entry = ParseRecord(view.record);
  if (!entry.ok()) {
    return absl::Status(
        entry.status().code(),
        absl::StrFormat("%s: record %d (frame at byte %d): %s", reader.name(),
                        view.index, view.frame_offset,
                        std::string(entry.status().message())));
  }
  return entry;
}

absl::Status ForEachLogEntry(
    LogReader& reader,
    absl::FunctionRef<bool(const RecordView&, const LogEntry&)> visit) {
  for (;;) {
    auto view = reader.Next();
    if (!view.ok()) return view.status();
    if (*view == nullptr) return absl::OkStatus();
    auto entry = ParseRecordAt(reader, **view);
    if (!entry.ok()) return absl::DataLossError(entry.status().message());
    if (!visit(**view, *entry)) return absl::OkStatus();
  }
}

absl::StatusOr<LoggedRecording> LoggedRecording::Read(const std::string& path) {
  auto reader = LogReader::Open(path);
  if (!reader.ok()) return reader.status();
  LoggedRecording r;
  bool have_header = false;
  absl::Status read =
      ForEachLogEntry(*reader, [&](const RecordView&, const LogEntry& entry) {
        if (auto* h = std::get_if<RecordedMachine>(&entry)) {
          r.header = *h;
          have_header = true;
        } else if (auto* in = std::get_if<LoggedInput>(&entry)) {
          r.inputs.push_back(*in);
        } else if (auto* d = std::get_if<LoggedDigest>(&entry)) {
          r.digests.push_back(*d);
        } else if (auto* c = std::get_if<LoggedCheckpoint>(&entry)) {
          r.checkpoints.push_back(*c);
        } else if (auto* e = std::get_if<LoggedEnd>(&entry)) {
          r.end = *e;
        } else if (auto* f = std::get_if<LoggedFault>(&entry)) {
          r.faults.push_back(*f);
        }
        return true;
      });
  if (!read.ok()) return read;
  if (!have_header) {
    return absl::DataLossError(absl::StrFormat("%s: no header record", path));
  }
  return r;
}

}  // namespace xv
