/*
 * own_loop_vmm.c: record and replay a guest whose vCPU loop is yours.
 *
 * A tiny "VMM" built on the Unicorn CPU emulator. It owns everything a real
 * VMM owns (the vCPU, guest RAM, the device models), and uses libextravirt
 * only to write and check the nondeterminism log, through the C API of
 * <extravirt/extravirt.h> (section "Record/replay for a VMM with its own
 * vCPU loop"). The library never sees the CPU or the RAM: the VMM tells it
 * what crossed the guest's boundary and where the guest is.
 *
 * The machine: 64 KiB of RAM, one 32-bit x86 vCPU, three I/O ports.
 *   port 0x60  in   a sensor: a *boundary device*, whose value comes from
 *                   the host (here rand()). Not deterministic, so it is an
 *                   input: recorded while recording, taken from the log
 *                   while replaying.
 *   port 0x61  out  a running result, an output ("port61").
 *   port 0x62  out  the final result, an output ("port62").
 * The guest (GUEST_CODE below) reads the sensor N times, folds the readings
 * into acc = acc * 31 + reading, writes each acc to port 0x61, writes the
 * last to port 0x62 and halts. N is passed on the "command line": "n=1000"
 * becomes ECX when the vCPU starts (this VMM's boot protocol).
 *
 * The shape of the loop: every IN, OUT and the final HLT is an exit, and
 * each exit is numbered (its ESN). Unicorn reports IN and OUT through
 * instruction hooks, in the middle of uc_emu_start(), so all the
 * per-exit work (count, handle, rendezvous) happens inside the hooks; the
 * HLT ends uc_emu_start() and is handled after it returns.
 *
 * Build:
 *   cc own_loop_vmm.c $(pkg-config --cflags --libs extravirt) -lunicorn \
 *      -o own_loop_vmm
 * Run:
 *   ./own_loop_vmm record guest.xvlog 1000   record 1000 readings
 *   ./own_loop_vmm replay guest.xvlog        replay them and check the run
 *   ./own_loop_vmm replay-tampered guest.xvlog
 *                        replay with the first reading off by one: the
 *                        library reports the divergence
 * Exit status: 0 done (recorded / replay verified), 1 an error, 2 the
 * replay diverged from its recording, 3 what was replayed matched but the
 * log does not hold the whole run (torn by a crash), 64 bad usage.
 */
#define _POSIX_C_SOURCE 200809L /* getpid() */

#include <errno.h>
#include <extravirt/extravirt.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unicorn/unicorn.h>
#include <unistd.h>

/* What the log's header says about who wrote it. A replay checks it: a log
 * made by another VMM describes a machine this one cannot rebuild. */
#define RECORDED_BY "own_loop_vmm 1"

#define GUEST_BASE 0x1000u       /* where the code image is loaded and starts */
#define RAM_BYTES 0x10000u       /* 64 KiB, mapped at guest address 0 */
#define MAX_RAM_BYTES 0x1000000u /* what a replay accepts from a log header */
#define PORT_SENSOR 0x60u
#define PORT_RESULT 0x61u
#define PORT_FINAL 0x62u
#define DEFAULT_READINGS 1000ul
#define MAX_READINGS 100000000ul
/* A state hash every 16 exits: a replay that goes wrong is caught within 16
 * exits of it; the price is hashing the registers and 64 KiB each time. */
#define CHECKPOINT_INTERVAL 16u

/*
 * The guest, hand-assembled (32-bit code, flat segments).
 *   0x1000  31 DB     xor  ebx, ebx        acc = 0
 *   0x1002  E3 0D     jecxz 0x1011         N == 0: no readings
 *   0x1004  E5 60     in   eax, 0x60       v = sensor          (exit)
 *   0x1006  6B DB 1F  imul ebx, ebx, 31    acc = acc * 31
 *   0x1009  01 C3     add  ebx, eax                  + v
 *   0x100B  89 D8     mov  eax, ebx
 *   0x100D  E7 61     out  0x61, eax       report acc          (exit)
 *   0x100F  E2 F3     loop 0x1004          --ecx != 0: again
 *   0x1011  89 D8     mov  eax, ebx
 *   0x1013  E7 62     out  0x62, eax       final acc           (exit)
 *   0x1015  F4        hlt                                      (exit)
 * ESNs: reading i (1..N) is the IN at ESN 2i-1 and the OUT 0x61 at ESN 2i;
 * the OUT 0x62 is ESN 2N+1 and the HLT, which ends the run, ESN 2N+2.
 */
static const uint8_t GUEST_CODE[] = {
    0x31, 0xDB, 0xE3, 0x0D, 0xE5, 0x60, 0x6B, 0xDB, 0x1F, 0x01, 0xC3,
    0x89, 0xD8, 0xE7, 0x61, 0xE2, 0xF3, 0x89, 0xD8, 0xE7, 0x62, 0xF4,
};

/* The VMM. Exactly one of rec (recording) and rep (replaying) is set. */
struct vmm {
  uc_engine* uc;
  uint8_t* ram_copy; /* a buffer for hashing guest RAM */
  uint32_t ram_bytes;
  xv_recorder* rec;
  xv_replayer* rep;
  uint64_t esn;      /* guest-initiated exits so far; 0 before the first */
  uint32_t result;   /* the last value written to port 0x62 */
  int tamper;        /* replay-tampered: the next reading gets +1 */
  int stopping;      /* we asked Unicorn to stop: ignore further exits */
  int at_stop_point; /* replay: xv_replayer_stop_here stopped the run */
  int exit_code;     /* set when something failed: what main returns */
};

/* ---- Failing ------------------------------------------------------------ */

/* Ends the run from inside a hook. uc_emu_stop() only takes effect at the
 * end of the current translation block: the guest may run a few more
 * instructions, and their hooks must do nothing (see exit_begin). */
static void stop_guest(struct vmm* v) {
  v->stopping = 1;
  if (v->uc != NULL) uc_emu_stop(v->uc);
}

static void print_divergence(struct vmm* v) {
  xv_divergence d;
  int diverged = 0;
  XV_INIT_STRUCT(&d);
  if (xv_replayer_divergence(v->rep, &d, &diverged) != XV_OK || !diverged) {
    fprintf(stderr, "own_loop_vmm: xv_replayer_divergence: %s\n",
            xv_last_error());
    return;
  }
  fprintf(stderr,
          "own_loop_vmm: replay diverged at ESN %" PRIu64
          ": %s\n"
          "  expected: %s\n"
          "  actual:   %s\n"
          "  last verified state: ESN %" PRIu64 "\n",
          d.esn, d.what, d.expected, d.actual, d.last_verified_esn);
}

/* An xv_* call failed: report it and stop. XV_E_DIVERGED is not an error
 * of the program but the replay's finding: the guest did not do what it did
 * when recorded. */
static void xv_fail(struct vmm* v, const char* what, xv_status status) {
  if (status == XV_E_DIVERGED && v->rep != NULL) {
    print_divergence(v);
    v->exit_code = 2;
  } else {
    fprintf(stderr, "own_loop_vmm: %s: %s\n", what, xv_last_error());
    v->exit_code = 1;
  }
  stop_guest(v);
}

static void uc_fail(struct vmm* v, const char* what, uc_err err) {
  fprintf(stderr, "own_loop_vmm: %s: %s\n", what, uc_strerror(err));
  v->exit_code = 1;
  stop_guest(v);
}

/* ---- The state hash ----------------------------------------------------- */

static void put_le32(uint8_t* p, uint32_t x) {
  p[0] = (uint8_t)x;
  p[1] = (uint8_t)(x >> 8);
  p[2] = (uint8_t)(x >> 16);
  p[3] = (uint8_t)(x >> 24);
}

/* The guest's whole state: the registers it uses and all of RAM (the device
 * models have no state: the sensor is a boundary device and the outputs
 * remember nothing). Registers are hashed as explicit little-endian bytes,
 * never as a struct with padding.
 *
 * Inside an IN or OUT hook Unicorn 2.0 is in the middle of a translation
 * block: EIP reads as the start of that block rather than the I/O
 * instruction, EFLAGS is computed from lazily kept flags, and an IN's EAX is
 * not written yet (the hook's return value is). That is fine: it is the
 * same on record and replay, because both take the hash at the same hook
 * points of the same run; like KVM finishing an IN on the next KVM_RUN. */
static int state_hash(struct vmm* v, xv_hash128* out) {
  static const int regs[] = {
      UC_X86_REG_EAX, UC_X86_REG_EBX,    UC_X86_REG_ECX, UC_X86_REG_EDX,
      UC_X86_REG_ESI, UC_X86_REG_EDI,    UC_X86_REG_EBP, UC_X86_REG_ESP,
      UC_X86_REG_EIP, UC_X86_REG_EFLAGS,
  };
  uint8_t reg_bytes[sizeof regs / sizeof regs[0] * 4];
  xv_hasher* hasher = NULL;
  xv_status s;
  uc_err err;
  size_t i;

  for (i = 0; i < sizeof regs / sizeof regs[0]; ++i) {
    uint32_t value = 0;
    if ((err = uc_reg_read(v->uc, regs[i], &value)) != UC_ERR_OK) {
      uc_fail(v, "uc_reg_read", err);
      return -1;
    }
    put_le32(reg_bytes + 4 * i, value);
  }
  if ((err = uc_mem_read(v->uc, 0, v->ram_copy, v->ram_bytes)) != UC_ERR_OK) {
    uc_fail(v, "uc_mem_read", err);
    return -1;
  }
  if ((s = xv_hasher_create(&hasher)) != XV_OK) {
    xv_fail(v, "xv_hasher_create", s);
    return -1;
  }
  if ((s = xv_hasher_update(hasher, reg_bytes, sizeof reg_bytes)) != XV_OK ||
      (s = xv_hasher_update(hasher, v->ram_copy, v->ram_bytes)) != XV_OK ||
      (s = xv_hasher_digest(hasher, out)) != XV_OK) {
    xv_fail(v, "xv_hasher", s);
    xv_hasher_destroy(hasher);
    return -1;
  }
  xv_hasher_destroy(hasher);
  return 0;
}

/* ---- Exits -------------------------------------------------------------- */

/* First thing at every guest-initiated exit: count it, then (replay) load
 * the inputs the recording has for it, before handling it, because a
 * boundary read needs its value now. Returns 0 when the exit is to be
 * ignored: the run is stopping. */
static int exit_begin(struct vmm* v) {
  xv_status s;
  if (v->stopping) return 0;
  ++v->esn;
  if (v->rep != NULL &&
      (s = xv_replayer_inputs_at(v->rep, v->esn, NULL)) != XV_OK) {
    xv_fail(v, "xv_replayer_inputs_at", s);
    return 0;
  }
  return 1;
}

/* Replay, after handling an exit: apply the inputs the exit did not take,
 * in recorded order. This VMM applies no inputs other than the sensor's
 * (no clock, no serial input), so anything left is a recorded input the
 * guest did not ask for this time, e.g. a sensor reading at an exit that is
 * now an OUT: the replay has diverged. The library cannot see that (it
 * does not know what we apply), so we report it ourselves. */
static int apply_remaining_inputs(struct vmm* v) {
  xv_input input;
  int has = 0;
  xv_status s;
  if (v->rep == NULL) return 0;
  XV_INIT_STRUCT(&input);
  if ((s = xv_replayer_next_input(v->rep, &input, &has)) != XV_OK) {
    xv_fail(v, "xv_replayer_next_input", s);
    return -1;
  }
  if (has) {
    /* The recording gave this exit an input the guest did not take: tell
     * the library, so that its verdict (and xv_replayer_finish) has it. */
    char actual[96];
    snprintf(actual, sizeof actual,
             "recorded input of kind %d, value 0x%" PRIx64
             ", address 0x%" PRIx64,
             (int)input.kind, input.value, input.address);
    xv_replayer_report_divergence(v->rep, v->esn, "input",
                                  "no input left at this exit", actual);
    print_divergence(v);
    v->exit_code = 2;
    stop_guest(v);
    return -1;
  }
  return 0;
}

/* Last thing at every exit that does not end the run: the rendezvous, with
 * a state hash when one is due, then (replay) ask whether the recording
 * stopped here before entering the guest again. There are no interrupts to
 * inject: this machine has no interrupt controller. */
static void exit_end(struct vmm* v) {
  xv_hash128 hash;
  int due = 0;
  int stop = 0;
  xv_status s;

  if (apply_remaining_inputs(v) != 0) return;
  s = v->rec != NULL ? xv_recorder_checkpoint_due(v->rec, v->esn, &due)
                     : xv_replayer_checkpoint_due(v->rep, v->esn, &due);
  if (s != XV_OK) {
    xv_fail(v, "checkpoint_due", s);
    return;
  }
  if (due && state_hash(v, &hash) != 0) return;
  s = v->rec != NULL
          ? xv_recorder_rendezvous(v->rec, v->esn, due ? &hash : NULL)
          : xv_replayer_rendezvous(v->rep, v->esn, due ? &hash : NULL);
  if (s != XV_OK) {
    xv_fail(v, "rendezvous", s);
    return;
  }
  if (v->rep != NULL) {
    if ((s = xv_replayer_stop_here(v->rep, v->esn, &stop)) != XV_OK) {
      xv_fail(v, "xv_replayer_stop_here", s);
    } else if (stop) {
      v->at_stop_point = 1;
      stop_guest(v);
    }
  }
}

static uint32_t size_mask(int size) {
  return size >= 4 ? 0xffffffffu : (1u << (8 * size)) - 1u;
}

/* The host's side of the sensor: anything the replay could not recompute. */
static uint32_t host_sensor_reading(void) {
  return ((uint32_t)rand() << 16) ^ (uint32_t)rand();
}

/* IN: Unicorn calls this in place of the port read and puts the value we
 * return into EAX/AX/AL. */
static uint32_t on_in(uc_engine* uc, uint32_t port, int size, void* opaque) {
  struct vmm* v = opaque;
  uint64_t value = 0xffffffffu; /* no device at the port: reads all ones */
  xv_status s;
  (void)uc;

  if (!exit_begin(v)) return 0;
  if (port == PORT_SENSOR) {
    if (v->rec != NULL) {
      /* Recording: ask the host, and log the value as an input of this
       * exit (first, before any other input of the exit). */
      xv_input input;
      value = host_sensor_reading() & size_mask(size);
      XV_INIT_STRUCT(&input);
      input.kind = XV_INPUT_BOUNDARY_READ;
      input.value = value;
      input.address = port;
      input.size = (uint8_t)size;
      input.is_mmio = 0;
      if ((s = xv_recorder_input(v->rec, v->esn, &input)) != XV_OK) {
        xv_fail(v, "xv_recorder_input", s);
        return 0;
      }
    } else {
      /* Replaying: never ask the host; the value is the recorded one. */
      s = xv_replayer_take_boundary_read(v->rep, v->esn, port, (uint8_t)size, 0,
                                         &value);
      if (s != XV_OK) {
        xv_fail(v, "xv_replayer_take_boundary_read", s);
        return 0;
      }
      if (v->tamper) { /* replay-tampered: pretend the sensor misread */
        value += 1;
        v->tamper = 0;
      }
    }
  }
  exit_end(v);
  return (uint32_t)value & size_mask(size);
}

/* OUT: both result ports send the value's bytes out of the guest. The
 * library digests outputs per device name; on replay it compares them with
 * the recording's. Writes to other ports go nowhere (no device). */
static void on_out(uc_engine* uc, uint32_t port, int size, uint32_t value,
                   void* opaque) {
  struct vmm* v = opaque;
  xv_status s;
  (void)uc;

  if (!exit_begin(v)) return;
  if (port == PORT_RESULT || port == PORT_FINAL) {
    uint8_t data[4];
    xv_output output;
    put_le32(data, value);
    XV_INIT_STRUCT(&output);
    output.kind = XV_OUTPUT_SERIAL_TX;
    output.device = port == PORT_RESULT ? "port61" : "port62";
    output.data = data;
    output.data_size = size >= 1 && size <= 4 ? (size_t)size : 4;
    s = v->rec != NULL ? xv_recorder_output(v->rec, v->esn, &output)
                       : xv_replayer_output(v->rep, v->esn, &output);
    if (s != XV_OK) {
      xv_fail(v, "output", s);
      return;
    }
    if (port == PORT_FINAL) v->result = value;
  }
  exit_end(v);
}

/* ---- The machine -------------------------------------------------------- */

/* Builds the machine: RAM, the code image at GUEST_BASE, the boot registers
 * (EIP, ECX = N) and the I/O hooks. The same function serves record and
 * replay, so that both start from the same state. */
static int build_guest(struct vmm* v, const uint8_t* image, size_t image_size,
                       uint64_t ram_bytes, unsigned long readings) {
  uint32_t eip = GUEST_BASE;
  uint32_t ecx = (uint32_t)readings;
  uc_cb_insn_in_t in_fn = on_in;
  uc_cb_insn_out_t out_fn = on_out;
  void* in_cb;
  void* out_cb;
  uc_hook in_hook, out_hook;
  uc_err err;

  if (ram_bytes <= GUEST_BASE || ram_bytes % 4096 != 0 ||
      ram_bytes > MAX_RAM_BYTES || image_size == 0 ||
      image_size > ram_bytes - GUEST_BASE) {
    fprintf(stderr,
            "own_loop_vmm: a %zu-byte image in %" PRIu64
            " bytes of RAM is not a machine this VMM builds\n",
            image_size, ram_bytes);
    return 1;
  }
  v->ram_bytes = (uint32_t)ram_bytes;
  if ((v->ram_copy = malloc(v->ram_bytes)) == NULL) {
    fprintf(stderr, "own_loop_vmm: out of memory\n");
    return 1;
  }
  /* uc_hook_add() takes every kind of callback as a void *. ISO C leaves
   * converting a function pointer to void * undefined (POSIX defines it);
   * copying the bits does the same without a cast -pedantic rejects. */
  memcpy(&in_cb, &in_fn, sizeof in_cb);
  memcpy(&out_cb, &out_fn, sizeof out_cb);

  if ((err = uc_open(UC_ARCH_X86, UC_MODE_32, &v->uc)) != UC_ERR_OK) {
    v->uc = NULL;
    fprintf(stderr, "own_loop_vmm: uc_open: %s\n", uc_strerror(err));
    return 1;
  }
  if ((err = uc_mem_map(v->uc, 0, v->ram_bytes, UC_PROT_ALL)) != UC_ERR_OK ||
      (err = uc_mem_write(v->uc, GUEST_BASE, image, image_size)) != UC_ERR_OK ||
      (err = uc_reg_write(v->uc, UC_X86_REG_EIP, &eip)) != UC_ERR_OK ||
      (err = uc_reg_write(v->uc, UC_X86_REG_ECX, &ecx)) != UC_ERR_OK ||
      (err = uc_hook_add(v->uc, &in_hook, UC_HOOK_INSN, in_cb, v, 1, 0,
                         UC_X86_INS_IN)) != UC_ERR_OK ||
      (err = uc_hook_add(v->uc, &out_hook, UC_HOOK_INSN, out_cb, v, 1, 0,
                         UC_X86_INS_OUT)) != UC_ERR_OK) {
    fprintf(stderr, "own_loop_vmm: setting up the guest: %s\n",
            uc_strerror(err));
    return 1;
  }
  return 0;
}

/* Runs the guest from where it is to its HLT. Returns 0 when it halted
 * (the HLT exit counted and, on replay, its inputs applied), or when a
 * replay reached its stop point (v->at_stop_point); else v->exit_code. */
static int run_guest(struct vmm* v) {
  uint32_t eip = 0;
  uint8_t insn = 0;
  uc_err err;

  if ((err = uc_reg_read(v->uc, UC_X86_REG_EIP, &eip)) != UC_ERR_OK) {
    uc_fail(v, "uc_reg_read", err);
    return v->exit_code;
  }
  /* Until the end of RAM, an address the guest never executes: Unicorn
   * returns when the guest executes HLT or a hook calls uc_emu_stop(). */
  err = uc_emu_start(v->uc, eip, v->ram_bytes, 0, 0);
  if (v->stopping) return v->exit_code; /* a hook stopped it, and said why */
  if (err != UC_ERR_OK) {
    uc_fail(v, "uc_emu_start", err);
    return v->exit_code;
  }
  /* Unicorn leaves EIP after the HLT, like KVM's HLT exit. */
  if ((err = uc_reg_read(v->uc, UC_X86_REG_EIP, &eip)) != UC_ERR_OK ||
      eip == 0 || (err = uc_mem_read(v->uc, eip - 1, &insn, 1)) != UC_ERR_OK ||
      insn != 0xF4) {
    fprintf(stderr,
            "own_loop_vmm: the guest stopped at EIP 0x%08" PRIx32
            " without a HLT\n",
            eip);
    v->exit_code = 1;
    return v->exit_code;
  }
  /* The HLT is an exit too, the last: it ends the run, so it gets no
   * rendezvous (the end record takes its place). */
  if (!exit_begin(v) || apply_remaining_inputs(v) != 0) return v->exit_code;
  return 0;
}

/* "1000" → 1000, within 0..MAX_READINGS. */
static int parse_readings(const char* text, unsigned long* out) {
  char* end = NULL;
  unsigned long n;
  if (text[0] < '0' || text[0] > '9') return -1;
  errno = 0;
  n = strtoul(text, &end, 10);
  if (errno != 0 || *end != '\0' || n > MAX_READINGS) return -1;
  *out = n;
  return 0;
}

/* ---- record ------------------------------------------------------------- */

static int record(struct vmm* v, const char* log_path, unsigned long readings) {
  char cmdline[32];
  xv_recorded_machine machine;
  xv_run_end end;
  xv_hash128 initial, final_hash;
  xv_status s;
  int rc;

  if (build_guest(v, GUEST_CODE, sizeof GUEST_CODE, RAM_BYTES, readings))
    return 1;
  if (state_hash(v, &initial) != 0) return v->exit_code;

  /* The log's header is everything a replay needs to rebuild this guest:
   * the log is self-contained. */
  snprintf(cmdline, sizeof cmdline, "n=%lu", readings);
  XV_INIT_STRUCT(&machine);
  machine.recorded_by = RECORDED_BY;
  machine.kernel_name = "own_loop_guest";
  machine.kernel_image = GUEST_CODE;
  machine.kernel_image_size = sizeof GUEST_CODE;
  machine.cmdline = cmdline;
  machine.memory_bytes = RAM_BYTES;
  machine.initial_state_hash = initial;
  s = xv_recorder_create(log_path, &machine, CHECKPOINT_INTERVAL, &v->rec);
  if (s != XV_OK) {
    v->rec = NULL;
    fprintf(stderr, "own_loop_vmm: xv_recorder_create: %s\n", xv_last_error());
    return 1;
  }

  srand((unsigned)time(NULL) ^ ((unsigned)getpid() << 16));
  if ((rc = run_guest(v)) != 0) return rc;

  if (state_hash(v, &final_hash) != 0) return v->exit_code;
  XV_INIT_STRUCT(&end);
  end.esn = v->esn; /* the HLT's */
  end.exit_status = 0;
  end.stop_reason = "halt";
  end.has_final_state_hash = 1;
  end.final_state_hash = final_hash;
  if ((s = xv_recorder_finish(v->rec, &end)) != XV_OK) {
    fprintf(stderr, "own_loop_vmm: xv_recorder_finish: %s\n", xv_last_error());
    return 1;
  }
  printf("recorded %lu readings, ESN %" PRIu64 ", result 0x%08" PRIx32 "\n",
         readings, v->esn, v->result);
  return 0;
}

/* ---- replay ------------------------------------------------------------- */

static int replay(struct vmm* v, const char* log_path, int tamper) {
  xv_recorded_machine machine;
  xv_run_end end;
  xv_hash128 initial, final_hash;
  unsigned long readings = 0;
  int stop = 0;
  int complete = 0;
  xv_status s;
  int rc;

  if ((s = xv_replayer_open(log_path, &v->rep)) != XV_OK) {
    v->rep = NULL;
    fprintf(stderr, "own_loop_vmm: xv_replayer_open: %s\n", xv_last_error());
    return 1;
  }
  XV_INIT_STRUCT(&machine);
  if ((s = xv_replayer_machine(v->rep, &machine)) != XV_OK) {
    fprintf(stderr, "own_loop_vmm: xv_replayer_machine: %s\n", xv_last_error());
    return 1;
  }
  /* Rebuild the guest from the log alone: the image, the RAM size and N
   * all come from its header, not from this program. */
  if (machine.recorded_by == NULL ||
      strcmp(machine.recorded_by, RECORDED_BY) != 0) {
    fprintf(stderr, "own_loop_vmm: %s was recorded by \"%s\", not by \"%s\"\n",
            log_path, machine.recorded_by ? machine.recorded_by : "",
            RECORDED_BY);
    return 1;
  }
  if (machine.cmdline == NULL || strncmp(machine.cmdline, "n=", 2) != 0 ||
      parse_readings(machine.cmdline + 2, &readings) != 0) {
    fprintf(stderr, "own_loop_vmm: %s: bad command line \"%s\"\n", log_path,
            machine.cmdline ? machine.cmdline : "");
    return 1;
  }
  if (build_guest(v, machine.kernel_image, machine.kernel_image_size,
                  machine.memory_bytes, readings))
    return 1;
  if (state_hash(v, &initial) != 0) return v->exit_code;
  if ((s = xv_replayer_check_initial_state(v->rep, &initial)) != XV_OK) {
    xv_fail(v, "xv_replayer_check_initial_state", s);
    return v->exit_code;
  }

  /* Before the first entry, as before every entry (the others are checked
   * at the end of each exit, in exit_end). */
  v->tamper = tamper;
  if ((s = xv_replayer_stop_here(v->rep, 0, &stop)) != XV_OK) {
    xv_fail(v, "xv_replayer_stop_here", s);
    return v->exit_code;
  }
  if (stop) {
    v->at_stop_point = 1;
  } else if ((rc = run_guest(v)) != 0) {
    return rc;
  }

  XV_INIT_STRUCT(&end);
  end.esn = v->esn;
  end.exit_status = 0;
  if (v->at_stop_point) {
    /* The recording ended here without the guest ending it. Unicorn ran on
     * to the end of its translation block after uc_emu_stop(), so this is
     * not the state at an exit: no final state hash. */
    end.stop_reason = "stop_point";
    end.at_stop_point = 1;
  } else {
    if (state_hash(v, &final_hash) != 0) return v->exit_code;
    end.stop_reason = "halt";
    end.has_final_state_hash = 1;
    end.final_state_hash = final_hash;
  }
  if ((s = xv_replayer_finish(v->rep, &end, &complete)) != XV_OK) {
    xv_fail(v, "xv_replayer_finish", s);
    return v->exit_code;
  }
  if (!complete) {
    fprintf(stderr,
            "own_loop_vmm: replayed to ESN %" PRIu64
            " and it "
            "matched, but %s does not hold the whole run\n",
            v->esn, log_path);
    return 3;
  }
  printf("replay verified: ESN %" PRIu64 ", result 0x%08" PRIx32 "\n", v->esn,
         v->result);
  return 0;
}

/* ---- main --------------------------------------------------------------- */

static void release(struct vmm* v) {
  /* Destroying a recorder that was not finished leaves the log as a crash
   * would: it still replays up to where it ends. */
  if (v->rec != NULL) xv_recorder_destroy(v->rec);
  if (v->rep != NULL) xv_replayer_destroy(v->rep);
  if (v->uc != NULL) uc_close(v->uc);
  free(v->ram_copy);
}

int main(int argc, char** argv) {
  struct vmm v;
  unsigned long readings = DEFAULT_READINGS;
  int rc;

  memset(&v, 0, sizeof v);
  if (argc >= 3 && argc <= 4 && strcmp(argv[1], "record") == 0 &&
      (argc == 3 || parse_readings(argv[3], &readings) == 0)) {
    rc = record(&v, argv[2], readings);
  } else if (argc == 3 && strcmp(argv[1], "replay") == 0) {
    rc = replay(&v, argv[2], 0);
  } else if (argc == 3 && strcmp(argv[1], "replay-tampered") == 0) {
    rc = replay(&v, argv[2], 1);
  } else {
    fprintf(stderr,
            "usage: own_loop_vmm record LOG [N] | replay LOG | "
            "replay-tampered LOG\n");
    return 64;
  }
  release(&v);
  return rc;
}
