/*
 * record_replay.c: record a guest, replay the log, and (optionally) run it
 * as two replicas with a fault injected, through libextravirt's C API.
 *
 *   cc record_replay.c $(pkg-config --cflags --libs extravirt) -o record_replay
 *   ./record_replay $(pkg-config --variable=guestdir extravirt)/hello.elf
 * /tmp/hello.xvlog
 *   ./record_replay KERNEL LOG --input commands.txt --fault
 * mem:0x1a5000:3@60:leader
 *
 * Prints one line per step; exits 0 when the replay was verified (and the
 * replicated run, if asked for, recovered), 1 otherwise, 64 on bad usage.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <extravirt/extravirt.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(void) {
  fprintf(stderr,
          "usage: record_replay KERNEL LOG [--backend auto|kvm|emu] "
          "[--input FILE] [--fault SPEC] [--checkpoint-every N]\n");
  exit(64);
}

static int fail(const char* what) {
  fprintf(stderr, "record_replay: %s: %s\n", what, xv_last_error());
  return 1;
}

/* The guest's serial output, passed through to our stdout. */
static void serial_to_stdout(void* opaque, const uint8_t* bytes, size_t size) {
  (void)opaque;
  fwrite(bytes, 1, size, stdout);
}

/* Each divergence, vote and recovery of the replicated run. */
static void on_replica_event(void* opaque, const xv_replica_event* event) {
  int* recovered = opaque;
  static const char* const kinds[] = {"?", "divergence", "vote", "recovered",
                                      "fail-safe"};
  printf("event: %s at ESN %llu: %s\n",
         event->kind >= 1 && event->kind <= 4 ? kinds[event->kind] : "?",
         (unsigned long long)event->esn, event->text);
  if (event->kind == XV_EVENT_RECOVERED) ++*recovered;
}

/* A fresh guest description: a new input fd for every run, since a run
 * reads its input to the end. NULL (with the reason printed) on failure. */
static xv_guest* make_guest(const char* kernel, const char* backend,
                            const char* input, int* input_fd) {
  xv_guest* guest = NULL;
  *input_fd = -1;
  if (xv_guest_create(kernel, &guest) != XV_OK) {
    fail("xv_guest_create");
    return NULL;
  }
  if (xv_guest_set_backend(guest, backend) != XV_OK) {
    fail("xv_guest_set_backend");
    goto fail;
  }
  if (input != NULL) {
    *input_fd = open(input, O_RDONLY | O_CLOEXEC);
    if (*input_fd < 0) {
      fprintf(stderr, "record_replay: %s: %s\n", input, strerror(errno));
      goto fail;
    }
  }
  if (xv_guest_set_serial_fds(guest, *input_fd, -1) != XV_OK ||
      xv_guest_set_serial_callback(guest, serial_to_stdout, NULL) != XV_OK) {
    fail("serial set-up");
    goto fail;
  }
  return guest;
fail:
  xv_guest_destroy(guest);
  if (*input_fd >= 0) close(*input_fd);
  return NULL;
}

int main(int argc, char** argv) {
  if (argc < 3) usage();
  const char* kernel = argv[1];
  const char* log = argv[2];
  const char* backend = "auto";
  const char* input = NULL;
  const char* fault = NULL;
  unsigned long long checkpoint_every = 0;
  for (int i = 3; i < argc; i += 2) {
    if (i + 1 >= argc) usage();
    if (strcmp(argv[i], "--backend") == 0) {
      backend = argv[i + 1];
    } else if (strcmp(argv[i], "--input") == 0) {
      input = argv[i + 1];
    } else if (strcmp(argv[i], "--fault") == 0) {
      fault = argv[i + 1];
    } else if (strcmp(argv[i], "--checkpoint-every") == 0) {
      checkpoint_every = strtoull(argv[i + 1], NULL, 10);
    } else {
      usage();
    }
  }
  printf("libextravirt %s (kvm: %s, emu: %s)\n", xv_version(),
         xv_has_feature("kvm") ? "yes" : "no",
         xv_has_feature("emu") ? "yes" : "no");

  /* 1. Record. */
  int input_fd;
  xv_guest* guest = make_guest(kernel, backend, input, &input_fd);
  if (guest == NULL) return 1;
  xv_run_result run;
  XV_INIT_STRUCT(&run);
  xv_status s = xv_record(guest, log, checkpoint_every, &run);
  xv_guest_destroy(guest);
  if (input_fd >= 0) close(input_fd);
  if (s != XV_OK) return fail("record");
  fflush(stdout);
  char hex[33];
  xv_hash_to_hex(&run.final_state_hash, hex, sizeof hex);
  printf("recorded: %s, exit status %d, ESN %llu, backend %s, final state %s\n",
         log, run.exit_status, (unsigned long long)run.esn, run.backend, hex);

  /* 2. Replay it (the log is self-contained: no guest description). */
  xv_replay_options options;
  XV_INIT_STRUCT(&options);
  options.backend = backend;
  xv_replay_result replay;
  XV_INIT_STRUCT(&replay);
  if (xv_replay(log, &options, &replay) != XV_OK) return fail("replay");
  if (replay.verdict == XV_VERDICT_DIVERGED) {
    printf("replay: DIVERGED at ESN %llu (%s): expected %s, got %s\n",
           (unsigned long long)replay.divergence.esn, replay.divergence.what,
           replay.divergence.expected, replay.divergence.actual);
    return 1;
  }
  printf(
      "replay: %s, ESN %llu, %llu inputs, %llu checkpoints, exit status "
      "%d\n",
      replay.verdict == XV_VERDICT_VERIFIED ? "verified" : "incomplete",
      (unsigned long long)replay.run.esn, (unsigned long long)replay.inputs,
      (unsigned long long)replay.checkpoints, replay.run.exit_status);
  if (replay.verdict != XV_VERDICT_VERIFIED) return 1;
  if (fault == NULL) return 0;

  /* 3. Two replicas, one of them hit by `fault`. */
  guest = make_guest(kernel, backend, input, &input_fd);
  if (guest == NULL) return 1;
  int recovered = 0;
  xv_replicate_options replicate;
  XV_INIT_STRUCT(&replicate);
  replicate.checkpoint_every = checkpoint_every;
  replicate.inject = fault;
  replicate.on_event = on_replica_event;
  replicate.event_opaque = &recovered;
  xv_replicate_result result;
  XV_INIT_STRUCT(&result);
  s = xv_replicate(guest, &replicate, &result);
  xv_guest_destroy(guest);
  if (input_fd >= 0) close(input_fd);
  if (s != XV_OK) return fail("replicate");
  fflush(stdout);
  printf(
      "replicate: fault %s, %llu divergence(s), %d recovered, %s, exit "
      "status %d, %llu outputs released\n",
      result.fault_injected ? "injected" : "not reached",
      (unsigned long long)result.divergences, recovered,
      result.fail_safe ? "stopped fail-safe" : "run completed",
      result.run.exit_status, (unsigned long long)result.outputs_released);
  return result.fail_safe || (result.fault_injected && recovered == 0) ? 1 : 0;
}
