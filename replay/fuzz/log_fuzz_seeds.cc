#include "replay/fuzz/log_fuzz_seeds.h"

#include <capnp/any.h>
#include <capnp/message.h>
#include <capnp/schema.h>

#include <fstream>
#include <functional>
#include <iterator>

#include "absl/strings/str_format.h"
#include "replay/log.capnp.h"
#include "replay/log_writer.h"

namespace xv {

namespace {

using Fill = std::function<void(log::Record::Builder)>;

// Header, every Input variant, Checkpoint, OutputDigest, End.
std::vector<Fill> EveryKind() {
  return {
      [](log::Record::Builder r) {
        auto h = r.initHeader();
        h.setFormatVersion(1);
        h.setRecordedBy("xvirt seed");
        h.setKernelName("k");
        const uint8_t image[] = {0x7f, 'E', 'L', 'F', 1, 2, 3, 4, 5};
        h.setKernelImage(kj::arrayPtr(image, sizeof image));
        h.setCmdline("a=b");
        h.setMemoryBytes(1 << 20);
        h.setDiskSectors(8);
        auto cpuid = h.initCpuid(1);
        cpuid[0].setFunction(0x40000000);
        cpuid[0].setEax(1);
        h.initInitialStateHash().setHigh(3);
        h.setCheckpointInterval(4);
        h.setOutputDigestBytes(64);
      },
      [](log::Record::Builder r) {
        auto in = r.initInput();
        in.setEsn(1);
        in.setClockAdvance(1000);
      },
      [](log::Record::Builder r) {
        auto in = r.initInput();
        in.setEsn(2);
        const uint8_t bytes[] = {'o', 'k', '\n'};
        in.setUartRx(kj::arrayPtr(bytes, sizeof bytes));
      },
      [](log::Record::Builder r) {
        auto d = r.initInput().initDiskRead();
        d.setLba(5);
        const uint8_t sector[16] = {1, 2, 3};
        d.setData(kj::arrayPtr(sector, sizeof sector));
      },
      [](log::Record::Builder r) {
        auto b = r.initInput().initBoundaryRead();
        b.setAddress(0xfee00000);
        b.setSize(4);
        b.setIsMmio(true);
        b.setValue(7);
      },
      [](log::Record::Builder r) {
        auto c = r.initCheckpoint();
        c.setEsn(4);
        c.initStateHash().setLow(0x1234);
      },
      [](log::Record::Builder r) {
        auto d = r.initOutputDigest();
        d.setEsn(4);
        d.setDevice("uart");
        d.setOutputs(1);
        d.setBytes(3);
        d.initHash().setHigh(1);
      },
      [](log::Record::Builder r) {
        auto e = r.initEnd();
        e.setEsn(5);
        e.setStopReason("debug_exit");
        e.setFinalStateComparable(true);
        e.setExits(5);
      },
      [](log::Record::Builder r) {
        auto f = r.initFault();
        f.setEsn(3);
        f.setRegister("rbx");
        f.setBit(5);
      },
  };
}

// A record of a kind this schema does not have (union discriminant 9).
void UnknownOptionalKind(log::Record::Builder r) {
  r.setOptional(true);
  r.initCheckpoint().setEsn(9);
  capnp::AnyStruct::Builder any = log::Record::Builder(r);
  const uint32_t at = 2 * capnp::Schema::from<log::Record>()
                              .getProto()
                              .getStruct()
                              .getDiscriminantOffset();
  any.getDataSection()[at] = 9;
  any.getDataSection()[at + 1] = 0;
}

absl::StatusOr<SeedLog> WriteSeed(const std::string& dir,
                                  const std::string& name,
                                  LogWriterOptions options,
                                  const std::vector<Fill>& records) {
  const std::string path = absl::StrFormat("%s/%s", dir, name);
  auto writer = LogWriter::Create(path, options);
  if (!writer.ok()) return writer.status();
  for (const Fill& fill : records) {
    capnp::MallocMessageBuilder message;
    fill(message.initRoot<log::Record>());
    if (absl::Status s = writer->Append(message); !s.ok()) return s;
  }
  if (absl::Status s = writer->Close(); !s.ok()) return s;
  std::ifstream in(path, std::ios::binary);
  return SeedLog{name, std::string(std::istreambuf_iterator<char>(in), {})};
}

}  // namespace

absl::StatusOr<std::vector<SeedLog>> MakeSeedLogs(const std::string& dir) {
  const std::vector<Fill> every = EveryKind();
  std::vector<Fill> many = {every[0]};
  for (int i = 0; i < 12; ++i) many.push_back(every[1 + i % 8]);
  std::vector<Fill> unknown = {every[0], UnknownOptionalKind, every[5]};

  struct Spec {
    const char* name;
    LogWriterOptions options;
    const std::vector<Fill>* records;
  };
  const Spec specs[] = {
      {"every_kind_raw.xvlog", {.compress = false}, &every},
      {"every_kind_zstd.xvlog", {.compress = true}, &every},
      {"frames_raw.xvlog", {.compress = false, .segment_bytes = 128}, &many},
      {"frames_zstd.xvlog", {.compress = true, .segment_bytes = 256}, &many},
      {"unknown_optional_raw.xvlog", {.compress = false}, &unknown},
  };
  std::vector<SeedLog> seeds;
  for (const Spec& spec : specs) {
    absl::StatusOr<SeedLog> seed =
        WriteSeed(dir, spec.name, spec.options, *spec.records);
    if (!seed.ok()) return seed.status();
    seeds.push_back(*std::move(seed));
  }
  return seeds;
}

}  // namespace xv
