#include "kv_table.h"

#include <stdint.h>

#include "xv/string.h"

enum slot_state { SLOT_EMPTY = 0, SLOT_USED, SLOT_DELETED };

struct slot {
  enum slot_state state;
  char key[KV_KEY_MAX + 1];
  char value[KV_VALUE_MAX + 1];
};

static struct slot slots[KV_CAPACITY];
static size_t used;     // SLOT_USED slots.
static size_t claimed;  // SLOT_USED + SLOT_DELETED: bounds every probe.

static uint32_t hash(const char* key) {
  uint32_t h = 2166136261u;  // FNV-1a
  for (; *key != '\0'; key++) h = (h ^ (uint8_t)*key) * 16777619u;
  return h;
}

void kv_init(void) {
  memset(slots, 0, sizeof(slots));
  used = claimed = 0;
}

// The slot holding `key`, or NULL.
static struct slot* find(const char* key) {
  for (uint32_t i = hash(key), n = 0; n < KV_CAPACITY; i++, n++) {
    struct slot* s = &slots[i & (KV_CAPACITY - 1)];
    if (s->state == SLOT_EMPTY) return NULL;
    if (s->state == SLOT_USED && strcmp(s->key, key) == 0) return s;
  }
  return NULL;
}

enum kv_set_result kv_set(const char* key, const char* value) {
  struct slot* s = find(key);
  if (s == NULL) {
    // Keep one empty slot so that every probe ends.
    if (used + 1 >= KV_CAPACITY) return KV_SET_FULL;
    for (uint32_t i = hash(key);; i++) {
      s = &slots[i & (KV_CAPACITY - 1)];
      if (s->state != SLOT_USED) break;
    }
    if (s->state == SLOT_EMPTY) {
      if (claimed + 1 >= KV_CAPACITY) return KV_SET_FULL;
      claimed++;
    }
    s->state = SLOT_USED;
    used++;
    memcpy(s->key, key, strlen(key) + 1);
  }
  memcpy(s->value, value, strlen(value) + 1);
  return KV_SET_OK;
}

const char* kv_get(const char* key) {
  const struct slot* s = find(key);
  return s != NULL ? s->value : NULL;
}

bool kv_delete(const char* key) {
  struct slot* s = find(key);
  if (s == NULL) return false;
  s->state = SLOT_DELETED;
  used--;
  return true;
}

size_t kv_count(void) { return used; }
