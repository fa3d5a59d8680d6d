#include "capi/own_loop_conversion.h"

#include "absl/strings/str_format.h"
#include "capi/c_status.h"
#include "capi/hash_conversion.h"

namespace xv::capi {
namespace {

std::span<const uint8_t> DataOf(const uint8_t* data, size_t size) {
  return {data, size};
}

}  // namespace

absl::StatusOr<InputEvent> InputFromC(const xv_input& in) {
  if (in.data == nullptr && in.data_size != 0) {
    return absl::InvalidArgumentError("input->data is NULL, data_size is not");
  }
  switch (in.kind) {
    case XV_INPUT_CLOCK_ADVANCE:
      return InputEvent::ClockAdvance(in.value);
    case XV_INPUT_SERIAL_RX:
      if (in.data_size == 0) {
        return absl::InvalidArgumentError("a SERIAL_RX input with no bytes");
      }
      return InputEvent::SerialRx(DataOf(in.data, in.data_size));
    case XV_INPUT_DISK_READ: {
      auto bytes = DataOf(in.data, in.data_size);
      return InputEvent::DiskReadCompletion(
          in.value, std::vector<uint8_t>(bytes.begin(), bytes.end()));
    }
    case XV_INPUT_BOUNDARY_READ:
      if (in.size == 0 || in.size > 8) {
        return absl::InvalidArgumentError(
            absl::StrFormat("a BOUNDARY_READ of %d bytes (1 to 8)", in.size));
      }
      return InputEvent::BoundaryRead(in.address, in.size, in.value,
                                      in.is_mmio != 0);
  }
  return absl::InvalidArgumentError(
      absl::StrFormat("input->kind %d is not an xv_input_kind", in.kind));
}

xv_input InputToC(const InputEvent& in) {
  xv_input out{};
  out.struct_size = sizeof out;
  switch (in.kind) {
    case InputKind::kClockAdvance:
      out.kind = XV_INPUT_CLOCK_ADVANCE;
      break;
    case InputKind::kSerialRx:
      out.kind = XV_INPUT_SERIAL_RX;
      break;
    case InputKind::kDiskReadCompletion:
      out.kind = XV_INPUT_DISK_READ;
      break;
    case InputKind::kBoundaryRead:
      out.kind = XV_INPUT_BOUNDARY_READ;
      break;
  }
  out.value = in.value;
  out.data = in.data.empty() ? nullptr : in.data.data();
  out.data_size = in.data.size();
  out.address = in.address;
  out.size = in.size;
  out.is_mmio = in.is_mmio ? 1 : 0;
  return out;
}

absl::StatusOr<DeviceOutput> OutputFromC(const xv_output& in) {
  if (in.device == nullptr || *in.device == '\0') {
    return absl::InvalidArgumentError("output->device is NULL or empty");
  }
  if (in.data == nullptr && in.data_size != 0) {
    return absl::InvalidArgumentError("output->data is NULL, data_size is not");
  }
  DeviceOutput out{.device = in.device,
                   .arg = in.arg,
                   .count = in.count,
                   .data = DataOf(in.data, in.data_size)};
  switch (in.kind) {
    case XV_OUTPUT_SERIAL_TX:
      out.kind = OutputKind::kSerialTx;
      return out;
    case XV_OUTPUT_DISK_WRITE:
      out.kind = OutputKind::kDiskWrite;
      return out;
    case XV_OUTPUT_DISK_READ_REQUEST:
      out.kind = OutputKind::kDiskReadRequest;
      return out;
    case XV_OUTPUT_DEBUG_EXIT:
      out.kind = OutputKind::kDebugExit;
      return out;
  }
  return absl::InvalidArgumentError(
      absl::StrFormat("output->kind %d is not an xv_output_kind", in.kind));
}

xv_status ReadOutputArgument(const char* function, const xv_output* output,
                             DeviceOutput& out) {
  xv_output o{};
  if (xv_status c = ReadSized(function, "output", output, &o); c != XV_OK) {
    return c;
  }
  auto converted = OutputFromC(o);
  if (!converted.ok()) {
    return Report(absl::Status(
        converted.status().code(),
        absl::StrFormat("%s: %s", function, converted.status().message())));
  }
  out = *converted;
  return XV_OK;
}

LoggedEnd LoggedEndFromC(const xv_run_end& end) {
  LoggedEnd out;
  out.esn = end.esn;
  out.exit_status = end.exit_status;
  out.stop_reason = end.stop_reason == nullptr ? "" : end.stop_reason;
  out.debug_exit_value = end.debug_exit_value;
  if (end.has_final_state_hash) {
    out.final_state_hash = FromC(end.final_state_hash);
  }
  return out;
}

ReplayedEnd ReplayedEndFromC(const xv_run_end& end) {
  ReplayedEnd out;
  out.esn = end.esn;
  out.exit_status = end.exit_status;
  out.stop_reason = end.stop_reason == nullptr ? "" : end.stop_reason;
  out.debug_exit_value = end.debug_exit_value;
  out.at_stop_point = end.at_stop_point != 0;
  if (end.has_final_state_hash) {
    out.final_state_hash = FromC(end.final_state_hash);
  }
  return out;
}

}  // namespace xv::capi
