/*
 * capi_misuse.c: what extravirt.h promises about bad calls — a NULL,
 * destroyed or wrong-type handle, a NULL or undersized argument, a missing
 * or corrupt file — each gets its error code and a message, never a crash.
 * Built against an installed libextravirt by tests/install_test.sh, with
 * pkg-config only, and run under valgrind there.
 *
 *   capi_misuse KERNEL SCRATCH_DIR    exits 0 when every check held
 */
#define _POSIX_C_SOURCE 200809L
#include <extravirt/extravirt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;

/* `got` must be `want`, with a message when it is an error. */
static void expect(const char* what, xv_status got, xv_status want) {
  const char* message = xv_last_error();
  if (got != want) {
    printf("FAIL %s: got %s, want %s (%s)\n", what, xv_status_name(got),
           xv_status_name(want), message);
    ++failures;
  } else if (want != XV_OK && (message == NULL || message[0] == '\0')) {
    printf("FAIL %s: %s without a message\n", what, xv_status_name(got));
    ++failures;
  } else {
    printf("ok   %s: %s%s%s\n", what, xv_status_name(got),
           want != XV_OK ? ": " : "", want != XV_OK ? message : "");
  }
}

static void write_file(const char* path, const char* bytes, size_t size) {
  FILE* f = fopen(path, "wb");
  if (f == NULL || fwrite(bytes, 1, size, f) != size || fclose(f) != 0) {
    perror(path);
    exit(2);
  }
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: capi_misuse KERNEL SCRATCH_DIR\n");
    return 64;
  }
  const char* kernel = argv[1];
  char path[4096];

  /* NULL handles. */
  expect("xv_run(NULL)", xv_run(NULL, NULL), XV_E_BAD_HANDLE);
  expect("xv_guest_destroy(NULL): like free(NULL)", xv_guest_destroy(NULL),
         XV_OK);
  expect("xv_recorder_rendezvous(NULL)", xv_recorder_rendezvous(NULL, 1, NULL),
         XV_E_BAD_HANDLE);
  expect("xv_replayer_inputs_at(NULL)", xv_replayer_inputs_at(NULL, 1, NULL),
         XV_E_BAD_HANDLE);
  expect("xv_hasher_update(NULL)", xv_hasher_update(NULL, "x", 1),
         XV_E_BAD_HANDLE);

  /* NULL and bad arguments. */
  expect("xv_guest_create(NULL path)", xv_guest_create(NULL, NULL),
         XV_E_INVALID_ARGUMENT);
  xv_guest* guest = NULL;
  expect("xv_guest_create", xv_guest_create(kernel, &guest), XV_OK);
  expect("xv_guest_set_backend(\"qemu\")", xv_guest_set_backend(guest, "qemu"),
         XV_E_INVALID_ARGUMENT);
  expect("xv_guest_set_memory(1000)", xv_guest_set_memory(guest, 1000),
         XV_E_INVALID_ARGUMENT);
  expect("xv_guest_set_timeout(-1)", xv_guest_set_timeout(guest, -1),
         XV_E_INVALID_ARGUMENT);
  expect("xv_guest_set_serial_fds(-5)", xv_guest_set_serial_fds(guest, -5, -1),
         XV_E_INVALID_ARGUMENT);
  xv_run_result small;
  XV_INIT_STRUCT(&small);
  small.struct_size = 8;
  expect("xv_run(result too small)", xv_run(guest, &small),
         XV_E_INVALID_ARGUMENT);
  expect("xv_record(NULL log)", xv_record(guest, NULL, 0, NULL),
         XV_E_INVALID_ARGUMENT);

  /* A handle of one type is not a handle of another. */
  expect("xv_replayer_destroy(a guest)",
         xv_replayer_destroy((xv_replayer*)(void*)guest), XV_E_BAD_HANDLE);
  xv_hasher* hasher = NULL;
  expect("xv_hasher_create", xv_hasher_create(&hasher), XV_OK);
  expect("xv_guest_set_cmdline(a hasher)",
         xv_guest_set_cmdline((xv_guest*)(void*)hasher, "x"), XV_E_BAD_HANDLE);

  /* Stale handles: destroyed, then used. */
  expect("xv_guest_destroy", xv_guest_destroy(guest), XV_OK);
  expect("xv_run(destroyed guest)", xv_run(guest, NULL), XV_E_BAD_HANDLE);
  expect("xv_guest_destroy(twice)", xv_guest_destroy(guest), XV_E_BAD_HANDLE);
  expect("xv_hasher_destroy", xv_hasher_destroy(hasher), XV_OK);
  xv_hash128 h = {1, 2}; /* a state no guest has */
  expect("xv_hasher_digest(destroyed)", xv_hasher_digest(hasher, &h),
         XV_E_BAD_HANDLE);

  /* Files that are missing, or not what they should be. */
  xv_guest* missing = NULL;
  expect("xv_guest_create(missing kernel)",
         xv_guest_create("/nonexistent/kernel.elf", &missing), XV_OK);
  expect("xv_run(missing kernel)", xv_run(missing, NULL), XV_E_NOT_FOUND);
  xv_guest_destroy(missing);
  xv_replay_result replay;
  XV_INIT_STRUCT(&replay);
  xv_replay_options emu;
  XV_INIT_STRUCT(&emu);
  emu.backend = "emu";
  expect("xv_replay(missing log)",
         xv_replay("/nonexistent/run.xvlog", &emu, &replay), XV_E_NOT_FOUND);
  snprintf(path, sizeof path, "%s/garbage.xvlog", argv[2]);
  write_file(path, "this is not a log at all, just some text\n", 41);
  expect("xv_replay(not a log)", xv_replay(path, &emu, &replay), XV_E_CORRUPT);
  xv_replayer* replayer = NULL;
  expect("xv_replayer_open(not a log)", xv_replayer_open(path, &replayer),
         XV_E_CORRUPT);

  /* The own-loop recorder: protocol errors, and use after destroy. */
  snprintf(path, sizeof path, "%s/own.xvlog", argv[2]);
  xv_recorded_machine machine;
  XV_INIT_STRUCT(&machine);
  machine.recorded_by = "capi_misuse";
  xv_recorder* recorder = NULL;
  expect("xv_recorder_create(no kernel image)",
         xv_recorder_create(path, &machine, 4, &recorder),
         XV_E_INVALID_ARGUMENT);
  static const uint8_t kImage[] = {0xf4}; /* hlt */
  machine.kernel_image = kImage;
  machine.kernel_image_size = sizeof kImage;
  expect("xv_recorder_create", xv_recorder_create(path, &machine, 4, &recorder),
         XV_OK);
  expect("xv_recorder_rendezvous(hash when not due)",
         xv_recorder_rendezvous(recorder, 1, &h), XV_E_PROTOCOL);
  expect("xv_recorder_rendezvous(no hash when due)",
         xv_recorder_rendezvous(recorder, 4, NULL), XV_E_PROTOCOL);
  xv_input input;
  XV_INIT_STRUCT(&input);
  input.kind = (xv_input_kind)99;
  expect("xv_recorder_input(bad kind)", xv_recorder_input(recorder, 1, &input),
         XV_E_INVALID_ARGUMENT);
  input.kind = XV_INPUT_BOUNDARY_READ;
  input.size = 9;
  expect("xv_recorder_input(9-byte read)",
         xv_recorder_input(recorder, 1, &input), XV_E_INVALID_ARGUMENT);
  xv_run_end end;
  XV_INIT_STRUCT(&end);
  end.esn = 2;
  end.stop_reason = "halt";
  expect("xv_recorder_finish", xv_recorder_finish(recorder, &end), XV_OK);
  expect("xv_recorder_rendezvous(after finish)",
         xv_recorder_rendezvous(recorder, 3, NULL), XV_E_PROTOCOL);
  expect("xv_recorder_destroy", xv_recorder_destroy(recorder), XV_OK);
  expect("xv_recorder_finish(destroyed)", xv_recorder_finish(recorder, &end),
         XV_E_BAD_HANDLE);

  /* Its log replays, and a replayer outlives nothing it should not. */
  expect("xv_replayer_open", xv_replayer_open(path, &replayer), XV_OK);
  expect("xv_replayer_check_initial_state(wrong)",
         xv_replayer_check_initial_state(replayer, &h), XV_E_DIVERGED);
  int diverged = 0;
  xv_divergence divergence;
  XV_INIT_STRUCT(&divergence);
  expect("xv_replayer_divergence",
         xv_replayer_divergence(replayer, &divergence, &diverged), XV_OK);
  if (!diverged || strcmp(divergence.what, "initial state") != 0) {
    printf("FAIL divergence: diverged=%d what='%s'\n", diverged,
           divergence.what);
    ++failures;
  }
  expect("xv_replayer_destroy", xv_replayer_destroy(replayer), XV_OK);
  expect("xv_replayer_stop_here(destroyed)",
         xv_replayer_stop_here(replayer, 1, &diverged), XV_E_BAD_HANDLE);

  printf("%s: %d failure(s)\n", failures ? "FAILED" : "passed", failures);
  return failures ? 1 : 0;
}
