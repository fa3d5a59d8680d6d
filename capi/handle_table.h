// HandleTable: the objects behind the C API's opaque handles. A handle is a
// number that is never reused and never dereferenced, so a NULL, destroyed
// or wrong-type handle is found missing and reported, instead of being a
// use-after-free (extravirt.h promises an error code, never a crash).
#ifndef EXTRAVIRT_CAPI_HANDLE_TABLE_H_
#define EXTRAVIRT_CAPI_HANDLE_TABLE_H_

#include <cstdint>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"

namespace xv::capi {

// The next handle value, shared by every table so that a handle of one type
// is never found in another's table.
uintptr_t NextHandleValue();

// `Handle` is the C type (xv_recorder), `T` the object behind it.
template <typename Handle, typename T>
class HandleTable {
 public:
  Handle* Add(std::unique_ptr<T> object) {
    const uintptr_t value = NextHandleValue();
    absl::MutexLock lock(&mu_);
    objects_.emplace(value, std::move(object));
    return reinterpret_cast<Handle*>(value);
  }

  // nullptr when `handle` is not live. The object stays valid until
  // Remove(handle): extravirt.h forbids using one handle from two threads
  // at once, so nobody removes it meanwhile.
  T* Find(const Handle* handle) {
    absl::MutexLock lock(&mu_);
    auto it = objects_.find(reinterpret_cast<uintptr_t>(handle));
    return it == objects_.end() ? nullptr : it->second.get();
  }

  // The object, now owned by the caller; nullptr when not live.
  std::unique_ptr<T> Remove(const Handle* handle) {
    absl::MutexLock lock(&mu_);
    auto node = objects_.extract(reinterpret_cast<uintptr_t>(handle));
    return node.empty() ? nullptr : std::move(node.mapped());
  }

 private:
  absl::Mutex mu_;
  absl::flat_hash_map<uintptr_t, std::unique_ptr<T>> objects_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace xv::capi

#endif  // EXTRAVIRT_CAPI_HANDLE_TABLE_H_
