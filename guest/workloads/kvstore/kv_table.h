// A fixed-capacity hash table of string keys and values (open addressing,
// linear probing, tombstones), all in static storage.
#ifndef XV_GUEST_KVSTORE_KV_TABLE_H_
#define XV_GUEST_KVSTORE_KV_TABLE_H_

#include <stdbool.h>
#include <stddef.h>

#define KV_CAPACITY 1024  // Power of two.
#define KV_KEY_MAX 64     // Bytes, excluding the terminating NUL.
#define KV_VALUE_MAX 256

enum kv_set_result { KV_SET_OK, KV_SET_FULL };

void kv_init(void);
// `key` and `value` must fit the limits above (the caller checks).
enum kv_set_result kv_set(const char* key, const char* value);
// NULL if absent.
const char* kv_get(const char* key);
bool kv_delete(const char* key);
size_t kv_count(void);

#endif  // XV_GUEST_KVSTORE_KV_TABLE_H_
