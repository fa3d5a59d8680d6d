// Record/replay for a VMM that owns its own KVM loop, in C++ inside this
// Bazel workspace: the contract of LogRecorder / LogReplayer step by step.
//
// Programs outside this build use the installed C API with the same
// contract (include/extravirt/extravirt.h, or its C++ wrapper
// extravirt.hpp): this header includes internal ones (generated Cap'n
// Proto among them) and libextravirt.so does not export its symbols.
// Bazel: //replay:own_loop_contract; nothing else of xvirt is needed. The
// library never touches KVM, your guest memory or your devices: your VMM runs
// the vCPU and reports to it what crossed the guest's boundary; the library
// writes the nondeterminism log (LogRecorder), and on replay tells you what to
// apply and checks what you report (LogReplayer). tests/own_kvm_loop_test.cc is
// a complete example: a few hundred lines of raw KVM ioctls recording and
// replaying a guest.
//
// ## Determinism model (the rules your VMM must follow)
//
// * One vCPU. Your device models ("front-ends") must be deterministic
//   functions of guest accesses and of inputs. Everything nondeterministic
//   (host time, host randomness, bytes from a terminal or a socket, the value
//   of a device you cannot model) enters the guest only as an *input*
//   (InputEvent) that you report while recording and take from the log while
//   replaying. Interrupts are not inputs: decide them from device state, and
//   inject them only at the rendezvous points below (never asynchronously,
//   never through KVM's in-kernel irqchip or LAPIC timer).
// * Positions are ESNs (exit sequence numbers). Keep a counter, 0 before the
//   first KVM_RUN, and increment it for every *guest-initiated* exit — PIO,
//   MMIO, HLT, shutdown (and interrupt-window exits if you use them) — before
//   you handle it; "exit `esn`" is the exit that made the counter `esn`.
//   Never count exits the host caused: KVM_RUN failing with EINTR, or
//   KVM_EXIT_INTR (signals, `immediate_exit`). Those must also be invisible
//   to the guest: just re-enter. ESNs passed to the library never decrease.
// * The guest must not read the TSC, RDRAND or RDSEED (on many hosts they
//   cannot be trapped); if it does, replay reports a divergence at the first
//   state hash or output that the values reach.
//
// ## Recording: in your vCPU loop
//
//   1. Set the guest up (load the image, set registers). Compute the state
//      hash (below) and create the recorder. The header is what your replay
//      needs to rebuild the guest (the log is self-contained): fill
//      kernel_image, cmdline, memory_bytes, cpuid as they apply to you and
//      leave the other fields zero.
//        RecordedMachine m;
//        m.recorded_by = "myvmm 1.2";
//        m.kernel_image = image;
//        m.initial_state_hash = StateHash();
//        auto rec = LogRecorder::Create(path, m, options);
//   2. KVM_RUN. A host-caused return: re-enter (or stop, see 6). Otherwise
//      ++esn, then handle the exit:
//      * a guest write to a device: if it leaves the guest (a byte sent to a
//        terminal, a disk write, a result), RecordOutput(esn, output).
//        Outputs are digested per DeviceOutput::device; for `kind` take the
//        closest OutputKind (kSerialTx for any byte stream). `data` need
//        only live during the call;
//      * a guest read of a *boundary device* — one whose value comes from the
//        host and that you cannot split into a deterministic front-end plus
//        inputs (a sensor, a hardware RNG port, a passthrough register): get
//        the value from the host, store it in kvm_run (io data or mmio.data)
//        and RecordInput(esn, InputEvent::BoundaryRead(address, size, value)).
//        A boundary read is an input *of the exit that reads it*: same ESN,
//        reported during that exit's handling, before its other inputs.
//   3. Apply the inputs you decided to give the guest now (clock advance,
//      bytes received, a disk read completing), in order, each preceded by
//      RecordInput(esn, input). The order of RecordInput calls at one ESN is
//      the order replay hands them back.
//   4. Inject an interrupt if your interrupt controller model has one pending
//      and the vCPU can take it (IF=1, no interrupt shadow).
//   5. Rendezvous: rec->Rendezvous(esn, rec->CheckpointDue(esn)
//                                       ? std::optional(StateHash())
//                                       : std::nullopt);
//      after *every* exit that does not end the run. Then re-enter (2).
//      A HLT with interrupts enabled: wait for an input that makes an
//      interrupt pending, record and apply it at the HLT's ESN (3), inject
//      (4), rendezvous (5), re-enter.
//   6. The run ends at exit `esn` (the guest shut down, halted with IF=0,
//      wrote an exit port...) — that exit gets no rendezvous — or because the
//      host stopped it. Either way:
//        rec->Finish({.esn = esn, .exit_status = ..., .stop_reason = ...,
//                     .final_state_hash = StateHash()});
//      Leave final_state_hash unset if the host stopped the guest *between*
//      exits (you kicked KVM_RUN out mid-computation): that state depends on
//      host timing. stop_reason is your text, compared verbatim on replay,
//      except for runs the host ended: name those "timeout", "interrupted"
//      or "stop_point", so that a replay stopping there (StopHere) matches.
//
// ## Replaying: in a fresh VM
//
//   1. rep = LogReplayer::Open(path). Build the guest exactly as recorded
//      from rep->machine() (your fields), compute the state hash and
//      rep->CheckInitialState(hash).
//   2. Before each KVM_RUN: if rep->StopHere(esn), stop (6). KVM_RUN; skip
//      host-caused returns; ++esn for a guest-initiated exit.
//   3. inputs.clear(); rep->InputsAt(esn, inputs) — at every exit, before
//      handling it, because a boundary read needs its value now:
//      * a guest read of a boundary device: take the value from `inputs`
//        (TakeBoundaryRead below) and store it in kvm_run; never ask the
//        device or the host. No matching value is a divergence;
//      * outputs: rep->OnOutput(esn, output) — the library checks them. What
//        you release to the outside world is your policy (a replay usually
//        releases nothing).
//   4. Apply the remaining `inputs` in order (a boundary read left over means
//      the guest did not read what it read when recorded: a divergence).
//   5. Inject interrupts exactly as when recording, then
//        auto due = rep->CheckpointDue(esn);   // StatusOr<bool>
//        rep->Rendezvous(esn, *due ? std::optional(StateHash()) : nullopt);
//      A HLT with IF=1 that no interrupt can end even with this exit's
//      inputs applied: the recording did not wait here, and
//      rep->StuckHalted(esn) returns the divergence. (InputsAt may be called
//      again at the same ESN; it returns only what was not taken yet.)
//   6. The end: the guest ended the run itself at exit `esn` (no rendezvous
//      for it), or StopHere(esn) said stop. Then
//        rep->Finish({.esn = esn, .exit_status = ..., .stop_reason = ...,
//                     .at_stop_point = <StopHere stopped it>,
//                     .final_state_hash = StateHash()});
//      OK plus rep->complete(): the whole recording was replayed and every
//      input, output, checkpoint and the final state matched. OK without
//      complete(): what could be checked matched, rep->notes() says what
//      could not (a torn log, `until`, a final state the recording could
//      not hash).
//
// ## The state hash
//
// Yours to compute (Hasher / HashBytes from base/hash128.h are here for
// it), and it must be a deterministic function of the guest's state: equal
// on record and replay whenever the guest states are equal. Cover everything
// the guest's future depends on — general registers, RIP, RFLAGS, segment
// and control registers, EFER, FPU/SSE state if the guest uses it, guest
// memory, your device models' state (including pending interrupts) — and
// nothing that depends on the host: not the TSC, not MSRs that move with
// host time, not host pointers, not padding bytes of structs you did not
// zero. Hash explicit fields rather than raw kernel structs. Take it at the
// rendezvous (after the exit's inputs and interrupt injection); at a PIO or
// MMIO exit KVM completes the instruction only on the next KVM_RUN, which is
// fine as long as record and replay hash at the same point.
//
// ## Errors
//
// * absl::AbortedError from a LogReplayer call: a divergence — the replay
//   disagreed with the recording. rep->divergence() names the ESN where it
//   was detected, what was compared ("initial state", "state hash",
//   "output of <device>", "input", "exit sequence", "halt", "end of run",
//   "final state hash"), the expected and actual values, and
//   last_verified_esn: the last ESN whose whole state hash matched (a
//   checkpoint; 0 is the initial state). The divergence began after
//   last_verified_esn and at or before `esn`; matching output digests in
//   between do not move last_verified_esn (they say nothing of the rest of
//   the state). Divergences are sticky: later InputsAt, Rendezvous and
//   Finish calls return the same error. Stop the replay; treat outputs after
//   last_verified_esn as suspect.
// * absl::InvalidArgumentError from Rendezvous: your VMM broke the protocol
//   (a state hash given when CheckpointDue was false, or missing when true).
// * Other errors: the log file itself — cannot be created or written
//   (recording), cannot be opened, is corrupt (DataLoss, naming the byte
//   offset) or of a version this library cannot read (FailedPrecondition).
//   A log whose tail was torn by a crash replays up to its last complete
//   record; Finish() then succeeds with complete() false and a note.
//
// Neither class is thread-safe: call them from the vCPU's thread.
#ifndef EXTRAVIRT_REPLAY_OWN_LOOP_CONTRACT_H_
#define EXTRAVIRT_REPLAY_OWN_LOOP_CONTRACT_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "base/hash128.h"
#include "devices/output_sink.h"
#include "machine/input_event.h"
#include "replay/log_recorder.h"
#include "replay/log_records.h"
#include "replay/log_replayer.h"

namespace xv {

// Replay side, at exit `esn` where the guest reads the boundary device at
// `address` (a port, or a guest-physical address) with a `size`-byte access:
// removes that read's recorded value from `inputs` (what
// LogReplayer::InputsAt(esn) returned) and returns it. If the recording has
// no such read at this exit, the guest is not doing what it did when
// recorded: the divergence is reported to `replayer` (divergence() has it,
// like every other) and returned as absl::AbortedError.
inline absl::StatusOr<uint64_t> TakeBoundaryRead(
    LogReplayer& replayer, uint64_t esn, std::vector<InputEvent>& inputs,
    uint64_t address, uint8_t size, bool is_mmio = false) {
  auto describe = [](uint64_t address, uint8_t size, bool is_mmio) {
    return absl::StrFormat("a %d-byte read of %s 0x%x", size,
                           is_mmio ? "address" : "port", address);
  };
  for (auto it = inputs.begin(); it != inputs.end(); ++it) {
    if (it->kind != InputKind::kBoundaryRead) continue;
    if (it->address != address || it->size != size || it->is_mmio != is_mmio) {
      return replayer.ReportDivergence(
          esn, "boundary read", describe(it->address, it->size, it->is_mmio),
          describe(address, size, is_mmio));
    }
    const uint64_t value = it->value;
    inputs.erase(it);
    return value;
  }
  return replayer.ReportDivergence(esn, "boundary read",
                                   "no boundary read at this exit",
                                   describe(address, size, is_mmio));
}

}  // namespace xv

#endif  // EXTRAVIRT_REPLAY_OWN_LOOP_CONTRACT_H_
