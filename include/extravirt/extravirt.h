/*
 * extravirt.h: the stable C API of libextravirt.
 *
 * Deterministic record/replay and replicated (fault-tolerant) runs of a
 * one-vCPU x86-64 guest, on KVM or on the software CPU, from any language
 * that calls C. Link with `pkg-config --cflags --libs extravirt`.
 *
 * Conventions (they hold for every function below unless it says otherwise):
 *
 * - Status. Functions return an xv_status: XV_OK (0) or a negative error
 *   code. After an error, xv_last_error() returns a one-line message naming
 *   what failed (the file and offset, the ioctl and errno, the argument).
 *   The message is per thread: it belongs to the last failing call on the
 *   calling thread.
 * - Handles are opaque pointers (xv_guest, xv_recorder, xv_replayer,
 *   xv_hasher). Each is created by one function, which sets *out to NULL
 *   when it fails, and released by its _destroy function, which like
 *   free() accepts NULL (and does nothing). Passing NULL elsewhere, a
 *   destroyed handle, or a handle of another type returns XV_E_BAD_HANDLE;
 *   it never crashes (handles are looked up in a table, never dereferenced,
 *   and never reused).
 * - Thread safety. Different handles may be used from different threads at
 *   the same time. One handle must not be used by two threads at once
 *   (serialise the calls yourself); it may move between threads. Functions
 *   without a handle (xv_run, xv_replay, ...) are safe to call from any
 *   thread, concurrently.
 * - Sized structs. Every struct starts with `uint32_t struct_size`: set it
 *   to sizeof the struct you compiled against (XV_INIT does). Fields a
 *   newer library adds go at the end; the library reads and writes only the
 *   first struct_size bytes, so old programs keep working. A struct_size
 *   smaller than the first version of that struct is XV_E_INVALID_ARGUMENT.
 *   A zero field means "the default" wherever a default is documented.
 *   Structs the library fills in (results, xv_divergence, the input of
 *   xv_replayer_next_input) need struct_size set too; on return it says
 *   how many bytes the library filled.
 * - Memory. Pointers you pass are only read during the call (copied if
 *   needed later) unless stated. Strings the library returns stay valid
 *   until the handle they came from is destroyed, or as stated.
 * - Positions are exit sequence numbers (ESNs): the count of guest-initiated
 *   exits (port I/O, MMIO, HLT, shutdown) since boot. See the record/replay
 *   section.
 *
 * The library never calls exit(), never lets a C++ exception out, and
 * never writes to stdout or stderr (except a guest's serial output you
 * directed there).
 *
 * Signals: on the kvm backend a run installs a process-wide handler for
 * SIGUSR1 and sends it to its own vCPU threads, to bring a vCPU out of
 * KVM_RUN (timeouts, replica coordination). A program using the library
 * must leave SIGUSR1 to it, and not block it in threads that run guests.
 * The emu backend uses no signal.
 */
#ifndef EXTRAVIRT_H_
#define EXTRAVIRT_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Version and features ------------------------------------------- */

#define XV_VERSION_MAJOR 0
#define XV_VERSION_MINOR 1
#define XV_VERSION_PATCH 0
#define XV_VERSION_STRING "0.1.0"

/* The library's version, "MAJOR.MINOR.PATCH" (static storage). Compare it
 * with XV_VERSION_STRING to detect running against another build. */
const char* xv_version(void);

/* 1 if this build and host offer `feature`, else 0 (unknown names: 0).
 *   "kvm"        /dev/kvm exists and a VM can be created on it
 *   "emu"        the software CPU (libxvirt_emu.so) can be loaded
 *   "record", "replay", "replicate", "own_loop"   always 1 in this version
 * "kvm" and "emu" probe the host: call them once, not in a loop. */
int xv_has_feature(const char* feature);

/* ---- Errors ------------------------------------------------------------ */

typedef enum xv_status {
  XV_OK = 0,
  XV_E_INVALID_ARGUMENT = -1, /* a NULL pointer, a bad value, a bad size */
  XV_E_BAD_HANDLE = -2,       /* NULL, destroyed or wrong-type handle */
  XV_E_NOT_FOUND = -3,        /* a file that does not exist */
  XV_E_UNAVAILABLE = -4,      /* the backend cannot run on this host */
  XV_E_DIVERGED = -5,         /* a replay disagreed with its recording */
  XV_E_CORRUPT = -6,          /* a log or image is damaged */
  XV_E_UNSUPPORTED = -7,      /* a format, guest or feature not supported */
  XV_E_PROTOCOL = -8,         /* a call out of order (see its description) */
  XV_E_IO = -9,               /* reading or writing a file failed */
  XV_E_INTERNAL = -10         /* a bug in libextravirt: please report it */
} xv_status;

/* The message of the last call on this thread that failed ("" if none).
 * Valid until the next failing call on this thread. */
const char* xv_last_error(void);

/* "XV_OK", "XV_E_BAD_HANDLE", ... (static storage; "unknown" otherwise). */
const char* xv_status_name(xv_status status);

/* Zeroes the struct `*p` and sets its struct_size:
 *   xv_run_result r; XV_INIT_STRUCT(&r); */
#define XV_INIT_STRUCT(p)                                                  \
  do {                                                                     \
    unsigned char* xv_b_ = (unsigned char*)(p);                            \
    for (size_t xv_i_ = 0; xv_i_ < sizeof *(p); ++xv_i_) xv_b_[xv_i_] = 0; \
    (p)->struct_size = (uint32_t)sizeof *(p);                              \
  } while (0)

/* ---- State hashes -------------------------------------------------------- */

/* A 128-bit XXH3 hash: the form of every state and output hash. */
typedef struct xv_hash128 {
  uint64_t high;
  uint64_t low;
} xv_hash128;

/* The hash of `size` bytes at `data` (data may be NULL when size is 0). */
xv_status xv_hash_bytes(const void* data, size_t size, xv_hash128* out);

/* An incremental hash, for a state hash built from several pieces
 * (registers, memory, device models): the same bytes give the same hash
 * however they are split into updates. */
typedef struct xv_hasher xv_hasher;
/* A new hasher with nothing hashed yet. */
xv_status xv_hasher_create(xv_hasher** out);
/* Adds `size` bytes at `data` (data may be NULL when size is 0). */
xv_status xv_hasher_update(xv_hasher* hasher, const void* data, size_t size);
/* The hash of everything so far; the hasher can go on being updated. */
xv_status xv_hasher_digest(xv_hasher* hasher, xv_hash128* out);
/* Releases the hasher (NULL: nothing to do). */
xv_status xv_hasher_destroy(xv_hasher* hasher);

/* "0123...": 32 lowercase hex digits, high half first, into `buf` of at
 * least 33 bytes. */
xv_status xv_hash_to_hex(const xv_hash128* hash, char* buf, size_t size);

/* ---- Guests: running a multiboot kernel -------------------------------- */

/* A guest to run: a multiboot v1 ELF kernel and its machine. Created with
 * defaults (256 MiB, no command line, no disk, serial output discarded, no
 * serial input, backend "auto", no timeout), then set up with the setters.
 * A guest description may be run any number of times; it holds no VM. */
typedef struct xv_guest xv_guest;

/* `kernel_path`: a multiboot v1 ELF file, checked when run. */
xv_status xv_guest_create(const char* kernel_path, xv_guest** out);
/* Releases the description (NULL: nothing to do). Not while a run made
 * from it is in progress on another thread. */
xv_status xv_guest_destroy(xv_guest* guest);

/* Guest RAM in bytes: at least 2 MiB, a multiple of 4 KiB. */
xv_status xv_guest_set_memory(xv_guest* guest, uint64_t bytes);
/* The multiboot command line (NULL: empty). */
xv_status xv_guest_set_cmdline(xv_guest* guest, const char* cmdline);
/* A raw disk image for the ATA disk (NULL: no disk). Written to only with
 * outputs the run released (replicated runs: verified ones). */
xv_status xv_guest_set_disk(xv_guest* guest, const char* image_path);
/* "auto" (KVM where usable, else the software CPU), "kvm" or "emu". */
xv_status xv_guest_set_backend(xv_guest* guest, const char* backend);
/* Stop the run after this many seconds of host time (0: never). */
xv_status xv_guest_set_timeout(xv_guest* guest, double seconds);
/* The guest's UART: bytes it receives are read from `in_fd` (-1: none;
 * a pipe lets you feed it from code), bytes it sends are written to
 * `out_fd` (-1: discarded). The fds stay yours: they must stay open while
 * a run uses them and are never closed by the library. */
xv_status xv_guest_set_serial_fds(xv_guest* guest, int in_fd, int out_fd);
/* Or: each run calls `write(opaque, bytes, size)` with the bytes the guest
 * sent, on the thread that called xv_run/xv_record/xv_replicate, in order.
 * Replaces out_fd. NULL removes it. */
typedef void (*xv_serial_write_fn)(void* opaque, const uint8_t* bytes,
                                   size_t size);
xv_status xv_guest_set_serial_callback(xv_guest* guest,
                                       xv_serial_write_fn write, void* opaque);

/* Why a run stopped. */
typedef enum xv_stop_reason {
  XV_STOP_DEBUG_EXIT = 0,   /* the guest wrote its exit code to port 0xf4 */
  XV_STOP_TRIPLE_FAULT = 1, /* the guest crashed */
  XV_STOP_INTERNAL_ERROR = 2,
  XV_STOP_FAIL_ENTRY = 3,
  XV_STOP_HALTED_FOREVER = 4,   /* HLT with interrupts off */
  XV_STOP_UNSUPPORTED_EXIT = 5, /* an access the backend cannot carry out */
  XV_STOP_TIMEOUT = 6,
  XV_STOP_INTERRUPTED = 7,
  XV_STOP_STOP_POINT = 8 /* a replay reached the ESN it was asked to stop at */
} xv_stop_reason;

typedef struct xv_run_result {
  uint32_t struct_size;
  xv_stop_reason stop_reason;
  /* What `xvirt run` exits with: the low 8 bits of the guest's debug-exit
   * value, 124 timeout, 126 a crash, 130 interrupted. */
  int exit_status;
  uint64_t debug_exit_value;
  uint64_t esn; /* the guest-initiated exits of the run */
  double wall_seconds;
  /* The final state (architectural + devices + memory), when computed. */
  int has_final_state_hash;
  xv_hash128 final_state_hash;
  char backend[16];  /* "kvm" or "emu" */
  char message[256]; /* why it stopped, for people (truncated) */
} xv_run_result;

/* Boots `guest` on a fresh machine and runs it to its end. XV_OK means the
 * run happened (whatever the guest did: see result->stop_reason); errors
 * are host problems (no such kernel, the backend unusable, a disk that
 * cannot be opened). `result` may be NULL. Blocks the calling thread. */
xv_status xv_run(const xv_guest* guest, xv_run_result* result);

/* Like xv_run, and records the run into the nondeterminism log `log_path`
 * (created or truncated). The log is self-contained: xv_replay needs
 * nothing else. `checkpoint_interval`: a state hash every that many exits
 * (0: 20000). */
xv_status xv_record(const xv_guest* guest, const char* log_path,
                    uint64_t checkpoint_interval, xv_run_result* result);

/* ---- Replaying a log ------------------------------------------------------
 */

typedef enum xv_verdict {
  XV_VERDICT_VERIFIED = 0,  /* every input, output, checkpoint and the end
                               matched */
  XV_VERDICT_DIVERGED = 1,  /* see the divergence */
  XV_VERDICT_INCOMPLETE = 2 /* what was replayed matched, but not all could
                               be checked (a torn log, until_esn) */
} xv_verdict;

/* Where a replay first disagreed with its recording. */
typedef struct xv_divergence {
  uint32_t struct_size;
  uint64_t esn; /* where it was detected */
  /* The last ESN whose whole state hash matched (0: the initial state);
   * the divergence began after it and at or before `esn`. */
  uint64_t last_verified_esn;
  int has_rip;
  uint64_t rip;  /* the guest's RIP when detected, if known */
  char what[64]; /* "state hash", "output of uart0", "input", ... */
  char expected[256];
  char actual[256];
} xv_divergence;

typedef struct xv_replay_options {
  uint32_t struct_size;
  const char* backend; /* NULL: "auto". Any backend replays any log. */
  uint64_t until_esn;  /* stop at this ESN's rendezvous (0: the end) */
  /* The guest's serial output as it is replayed (NULL: not shown). */
  xv_serial_write_fn serial_write;
  void* serial_opaque;
} xv_replay_options;

typedef struct xv_replay_result {
  uint32_t struct_size;
  xv_verdict verdict;
  xv_run_result run; /* how the replayed run ended */
  uint64_t inputs;   /* applied */
  uint64_t checkpoints;
  xv_divergence divergence; /* filled when verdict is XV_VERDICT_DIVERGED */
} xv_replay_result;

/* Replays `log_path` on a fresh machine and compares it with the
 * recording. XV_OK means the replay ran: the verdict says whether it
 * matched (a divergence is an outcome, not an error). Errors: the log
 * cannot be read (XV_E_NOT_FOUND, XV_E_CORRUPT naming the byte offset,
 * XV_E_UNSUPPORTED for a newer format) or the backend is unusable.
 * `options` may be NULL. */
xv_status xv_replay(const char* log_path, const xv_replay_options* options,
                    xv_replay_result* result);

/* ---- Replicated runs --------------------------------------------------- */

typedef enum xv_replica_event_kind {
  XV_EVENT_DIVERGENCE = 1, /* the replicas disagreed at `esn` */
  XV_EVENT_VOTE = 2,       /* a third replica named the faulty one */
  XV_EVENT_RECOVERED = 3,  /* the faulty replica was replaced; going on */
  XV_EVENT_FAIL_SAFE = 4   /* no majority: the run stops, nothing more is
                              released */
} xv_replica_event_kind;

typedef struct xv_replica_event {
  uint32_t struct_size;
  xv_replica_event_kind kind;
  uint64_t esn;     /* the divergence point this event belongs to */
  const char* text; /* one line for people; valid during the callback */
} xv_replica_event;

/* Called on the thread that called xv_replicate, as events happen. It
 * must not call into the library with handles the run uses. */
typedef void (*xv_replica_event_fn)(void* opaque,
                                    const xv_replica_event* event);

typedef struct xv_replicate_options {
  uint32_t struct_size;
  uint64_t checkpoint_every; /* a verified checkpoint every N exits (0:
                                20000) */
  double checkpoint_ms;      /* and/or every this many ms (0: not by time) */
  /* A fault to inject, as `xvirt replicate --inject` takes it (NULL: none):
   * "reg:rbx:3@40:follower", "mem:0x1000:0@7", "hang@90", "crash@12",
   * "random:SEED". */
  const char* inject;
  const char* follower_backend; /* NULL: the guest's backend */
  const char* record_path; /* also write the verified log here (NULL: no) */
  xv_replica_event_fn on_event; /* NULL: none */
  void* event_opaque;
} xv_replicate_options;

typedef struct xv_replicate_result {
  uint32_t struct_size;
  xv_run_result run; /* the (surviving) leader's run */
  uint64_t checkpoints_verified;
  uint64_t outputs_released;
  uint64_t divergences;
  uint64_t recoveries;
  int fail_safe;      /* the run stopped fail-safe */
  int fault_injected; /* the injected fault's ESN was reached */
  char fail_safe_reason[256];
} xv_replicate_result;

/* Runs `guest` as two replicas (leader and follower on separate threads)
 * whose every output is compared before it is released; a divergence is
 * settled by a third replica rebuilt from the last verified checkpoint and
 * a 2-of-3 vote. XV_OK means the run happened (a recovery or a fail-safe
 * stop is an outcome); errors are host problems or a bad fault spec.
 * `options` may be NULL. */
xv_status xv_replicate(const xv_guest* guest,
                       const xv_replicate_options* options,
                       xv_replicate_result* result);

/* ---- Record/replay for a VMM with its own vCPU loop -------------------- */
/*
 * Your VMM runs the vCPU (KVM, an emulator, anything) and its device
 * models; the library writes and checks the nondeterminism log. The rules:
 *
 * - One vCPU. Device models are deterministic functions of guest accesses
 *   and of inputs. Everything nondeterministic (host time, bytes from a
 *   terminal, the value of a device you cannot model: a "boundary device")
 *   enters the guest only as an input (xv_input), reported while recording
 *   and taken from the log while replaying. Interrupts are not inputs:
 *   decide them from device state and inject them only at rendezvous.
 * - Keep an ESN counter, 0 before the guest first runs. Increment it for
 *   every guest-initiated exit (port I/O, MMIO, HLT, shutdown) before you
 *   handle the exit; never for a host-caused return (a signal, EINTR).
 * - The guest must not read the TSC, RDRAND or RDSEED.
 *
 * Recording, in your loop:
 *   1. xv_recorder_create() after setting the guest up, with the initial
 *      state hash.
 *   2. Run to the next exit; ++esn. While handling it: a guest read of a
 *      boundary device gets its value from the host and is reported with
 *      xv_recorder_input(BOUNDARY_READ) (first, before the exit's other
 *      inputs); a write that leaves the guest is xv_recorder_output().
 *   3. The inputs you apply now (clock, bytes received...): each reported
 *      with xv_recorder_input() in the order you apply them.
 *   4. Inject an interrupt if one is pending and the vCPU can take it.
 *   5. xv_recorder_rendezvous(esn, due ? &state_hash : NULL) after every
 *      exit that does not end the run, where due is
 *      xv_recorder_checkpoint_due(esn). Then run on (2).
 *   6. At the end: xv_recorder_finish() with how it ended, then destroy.
 *
 * Replaying, in a fresh VM:
 *   1. xv_replayer_open(); rebuild the guest from xv_replayer_machine();
 *      xv_replayer_check_initial_state().
 *   2. Before each entry: xv_replayer_stop_here(esn) → stop (6). Run; ++esn.
 *   3. xv_replayer_inputs_at(esn) at every exit before handling it. A read
 *      of a boundary device takes its value with
 *      xv_replayer_take_boundary_read(); outputs go to xv_replayer_output().
 *   4. Apply the remaining inputs, xv_replayer_next_input() in order.
 *   5. Inject as when recording; xv_replayer_rendezvous(esn, due ? &hash :
 *      NULL) with due from xv_replayer_checkpoint_due(). A HLT with
 *      interrupts on that nothing can end: xv_replayer_stuck_halted().
 *   6. xv_replayer_finish() with how it ended; `complete` says the whole
 *      recording replayed and matched.
 *   Any call returning XV_E_DIVERGED means the replay disagreed with the
 *   recording; xv_replayer_divergence() says where and what. Divergences
 *   are sticky: later calls return XV_E_DIVERGED too.
 *
 * The state hash is yours to compute (xv_hasher), a deterministic function
 * of the guest's state: registers, memory, device models, pending
 * interrupts; never the TSC, host pointers or struct padding. Take it at
 * the rendezvous, after the exit's inputs and interrupt injection. At a
 * port I/O exit, an `in` may not have completed yet when you hash (KVM
 * completes it on the next entry; an emulator hook runs before it): that
 * is fine as long as record and replay hash at the same point.
 */

typedef enum xv_input_kind {
  XV_INPUT_CLOCK_ADVANCE = 1, /* value: the new virtual time, ns since boot */
  XV_INPUT_SERIAL_RX = 2,     /* data: bytes arriving at the UART */
  XV_INPUT_DISK_READ = 3,     /* value: the LBA; data: the sectors read */
  XV_INPUT_BOUNDARY_READ = 4  /* value: what the guest read at address */
} xv_input_kind;

typedef struct xv_input {
  uint32_t struct_size;
  xv_input_kind kind;
  uint64_t value;
  const uint8_t* data; /* data_size bytes; may be NULL when 0 */
  size_t data_size;
  uint64_t address; /* BOUNDARY_READ: a port, or a guest-physical address */
  uint8_t size;     /* BOUNDARY_READ: the access size in bytes (1..8) */
  uint8_t is_mmio;  /* BOUNDARY_READ: address is guest-physical */
} xv_input;

typedef enum xv_output_kind {
  XV_OUTPUT_SERIAL_TX = 1,         /* data: bytes sent (any byte stream) */
  XV_OUTPUT_DISK_WRITE = 2,        /* arg: the LBA; data: the sectors */
  XV_OUTPUT_DISK_READ_REQUEST = 3, /* arg: the LBA; count: sectors */
  XV_OUTPUT_DEBUG_EXIT = 4         /* arg: the value written; the run ends */
} xv_output_kind;

typedef struct xv_output {
  uint32_t struct_size;
  xv_output_kind kind;
  const char* device; /* outputs are digested per device name ("uart0") */
  uint64_t arg;
  uint32_t count;
  const uint8_t* data;
  size_t data_size;
} xv_output;

/* What a replay needs to rebuild the guest, as your VMM defines it.
 * kernel_image is required: the guest's code as your VMM loads it (a
 * replay rebuilds the guest from the log alone). */
typedef struct xv_recorded_machine {
  uint32_t struct_size;
  const char* recorded_by; /* "myvmm 1.2" */
  const char* kernel_name;
  const uint8_t* kernel_image;
  size_t kernel_image_size;
  const char* cmdline;
  uint64_t memory_bytes;
  xv_hash128 initial_state_hash;
} xv_recorded_machine;

/* How a run ended, as your VMM saw it. `stop_reason` is your text,
 * compared verbatim on replay; name runs the host ended "timeout",
 * "interrupted" or "stop_point". Leave has_final_state_hash 0 when the
 * host stopped the guest between exits. */
typedef struct xv_run_end {
  uint32_t struct_size;
  uint64_t esn;
  int exit_status;
  const char* stop_reason;
  uint64_t debug_exit_value;
  int at_stop_point; /* replay: xv_replayer_stop_here stopped it */
  int has_final_state_hash;
  xv_hash128 final_state_hash;
} xv_run_end;

typedef struct xv_recorder xv_recorder;

/* Creates `path` (truncating it) and writes the header from `machine`.
 * `checkpoint_interval`: a state hash every that many exits (0: 20000). */
xv_status xv_recorder_create(const char* path,
                             const xv_recorded_machine* machine,
                             uint64_t checkpoint_interval, xv_recorder** out);
/* Records `input`, applied at exit `esn` (in the order of the calls).
 * Errors: the log could not be written (XV_E_IO), an input that is not
 * valid (XV_E_INVALID_ARGUMENT), a call after finish (XV_E_PROTOCOL). */
xv_status xv_recorder_input(xv_recorder* recorder, uint64_t esn,
                            const xv_input* input);
/* Records an output the guest produced at exit `esn`: it is folded into
 * the device's digest, which the log holds for replay to compare. The same
 * errors as xv_recorder_input. */
xv_status xv_recorder_output(xv_recorder* recorder, uint64_t esn,
                             const xv_output* output);
/* *due = 1 when the rendezvous at `esn` must carry a state hash. */
xv_status xv_recorder_checkpoint_due(xv_recorder* recorder, uint64_t esn,
                                     int* due);
/* `state_hash` must be non-NULL exactly when checkpoint_due said so
 * (else XV_E_PROTOCOL). */
xv_status xv_recorder_rendezvous(xv_recorder* recorder, uint64_t esn,
                                 const xv_hash128* state_hash);
/* Writes the end and closes the log (fsync). Nothing may follow. */
xv_status xv_recorder_finish(xv_recorder* recorder, const xv_run_end* end);
/* Without finish, the log is left as a crash would leave it: everything
 * recorded so far replays, and the replay says the end is missing. */
xv_status xv_recorder_destroy(xv_recorder* recorder);

typedef struct xv_replayer xv_replayer;

/* Opens the log at `path` for replay. Errors: XV_E_NOT_FOUND, XV_E_CORRUPT
 * (not a log, or damaged: the message names the byte offset),
 * XV_E_UNSUPPORTED (a format this library cannot read). */
xv_status xv_replayer_open(const char* path, xv_replayer** out);
/* The recorded header; its pointers stay valid until destroy. */
xv_status xv_replayer_machine(xv_replayer* replayer, xv_recorded_machine* out);
/* Compares your rebuilt guest's state hash with the recorded one:
 * XV_E_DIVERGED when they differ (the guest was not rebuilt as recorded). */
xv_status xv_replayer_check_initial_state(xv_replayer* replayer,
                                          const xv_hash128* state_hash);
/* Call before every entry into the guest, the first (esn 0) included.
 * *stop = 1: the recording ended here without the guest ending it (the
 * host stopped it: a timeout, an interrupt, a torn log's last complete
 * exit) or the replay reached the ESN it was opened to stop at: do not
 * enter; finish with at_stop_point = 1, stop_reason "stop_point" and
 * exit_status 0. */
xv_status xv_replayer_stop_here(xv_replayer* replayer, uint64_t esn, int* stop);
/* Loads exit `esn`'s recorded inputs; *count (may be NULL) says how many.
 * May be called again at the same ESN: it loads only what was not taken. */
xv_status xv_replayer_inputs_at(xv_replayer* replayer, uint64_t esn,
                                size_t* count);
/* A guest read of a boundary device at exit `esn`: removes the recorded
 * value from the loaded inputs. No such read recorded: XV_E_DIVERGED. */
xv_status xv_replayer_take_boundary_read(xv_replayer* replayer, uint64_t esn,
                                         uint64_t address, uint8_t size,
                                         int is_mmio, uint64_t* value);
/* The next loaded input, in recorded order: *has = 0 when none is left.
 * `input->data` stays valid until the next call on this replayer. */
xv_status xv_replayer_next_input(xv_replayer* replayer, xv_input* input,
                                 int* has);
/* An output the guest produced at exit `esn`: checked against the
 * recording's digests (a mismatch is reported when the digest it belongs
 * to closes, at the latest at the next checkpoint or the end). */
xv_status xv_replayer_output(xv_replayer* replayer, uint64_t esn,
                             const xv_output* output);
/* *due = 1 when the rendezvous at `esn` must carry a state hash (the
 * recording has a checkpoint there). */
xv_status xv_replayer_checkpoint_due(xv_replayer* replayer, uint64_t esn,
                                     int* due);
/* The end of exit `esn`'s handling, with the state hash when due: the
 * hash is compared with the recording's (XV_E_DIVERGED when different);
 * a hash given or missing against checkpoint_due is XV_E_PROTOCOL. Inputs
 * loaded but not taken are your VMM's to notice (xv_replayer_next_input
 * after handling; xv_replayer_report_divergence). */
xv_status xv_replayer_rendezvous(xv_replayer* replayer, uint64_t esn,
                                 const xv_hash128* state_hash);
/* The vCPU halted at `esn` with interrupts on and nothing can wake it:
 * returns the divergence (the recording did not wait here). */
xv_status xv_replayer_stuck_halted(xv_replayer* replayer, uint64_t esn);
/* *complete = 1: the whole recording replayed and everything matched.
 * XV_OK with *complete = 0: what could be checked matched (a torn log). */
xv_status xv_replayer_finish(xv_replayer* replayer, const xv_run_end* end,
                             int* complete);
/* Your VMM found the replay disagreeing with the recording itself (an
 * input left over that the guest did not take, a device in a state the
 * recording cannot have produced): records it as the replay's divergence
 * (what, expected, actual: one line each, for people) and returns
 * XV_E_DIVERGED. Like every divergence it is sticky. */
xv_status xv_replayer_report_divergence(xv_replayer* replayer, uint64_t esn,
                                        const char* what, const char* expected,
                                        const char* actual);
/* *diverged = 1 and `out` filled when the replay has diverged. */
xv_status xv_replayer_divergence(xv_replayer* replayer, xv_divergence* out,
                                 int* diverged);
/* Releases the replayer and everything it handed out (NULL: nothing). */
xv_status xv_replayer_destroy(xv_replayer* replayer);

#ifdef __cplusplus
}
#endif

#endif /* EXTRAVIRT_H_ */
