// xv_hash_bytes, xv_hasher_*, xv_hash_to_hex: base/hash128.h for C.
#include <cstring>
#include <memory>

#include "base/hash128.h"
#include "capi/c_status.h"
#include "capi/handle_table.h"
#include "capi/hash_conversion.h"
#include "extravirt/extravirt.h"

namespace xv::capi {
namespace {

HandleTable<xv_hasher, Hasher>& Hashers() {
  static auto* table = new HandleTable<xv_hasher, Hasher>();
  return *table;
}

std::span<const uint8_t> Bytes(const void* data, size_t size) {
  return {static_cast<const uint8_t*>(data), size};
}

}  // namespace
}  // namespace xv::capi

using xv::capi::Guarded;
using xv::capi::NullArgument;

extern "C" {

xv_status xv_hash_bytes(const void* data, size_t size, xv_hash128* out) {
  const char* const fn = __func__;
  return Guarded(fn, [&] {
    if (out == nullptr) return NullArgument(fn, "out");
    if (data == nullptr && size != 0) return NullArgument(fn, "data");
    *out = xv::capi::ToC(xv::HashBytes(xv::capi::Bytes(data, size)));
    return XV_OK;
  });
}

xv_status xv_hasher_create(xv_hasher** out) {
  const char* const fn = __func__;
  return Guarded(fn, [&] {
    if (out == nullptr) return NullArgument(fn, "out");
    *out = xv::capi::Hashers().Add(std::make_unique<xv::Hasher>());
    return XV_OK;
  });
}

xv_status xv_hasher_update(xv_hasher* hasher, const void* data, size_t size) {
  const char* const fn = __func__;
  return Guarded(fn, [&] {
    xv::Hasher* h = xv::capi::Hashers().Find(hasher);
    if (h == nullptr) return xv::capi::BadHandle(fn, hasher);
    if (data == nullptr && size != 0) return NullArgument(fn, "data");
    h->Update(xv::capi::Bytes(data, size));
    return XV_OK;
  });
}

xv_status xv_hasher_digest(xv_hasher* hasher, xv_hash128* out) {
  const char* const fn = __func__;
  return Guarded(fn, [&] {
    xv::Hasher* h = xv::capi::Hashers().Find(hasher);
    if (h == nullptr) return xv::capi::BadHandle(fn, hasher);
    if (out == nullptr) return NullArgument(fn, "out");
    *out = xv::capi::ToC(h->Digest());
    return XV_OK;
  });
}

xv_status xv_hasher_destroy(xv_hasher* hasher) {
  const char* const fn = __func__;
  return Guarded(fn, [&] {
    if (hasher == nullptr) return XV_OK;
    if (xv::capi::Hashers().Remove(hasher) == nullptr) {
      return xv::capi::BadHandle(fn, hasher);
    }
    return XV_OK;
  });
}

xv_status xv_hash_to_hex(const xv_hash128* hash, char* buf, size_t size) {
  const char* const fn = __func__;
  return Guarded(fn, [&] {
    if (hash == nullptr) return NullArgument(fn, "hash");
    if (buf == nullptr) return NullArgument(fn, "buf");
    const std::string hex = xv::capi::FromC(*hash).ToHex();
    if (size < hex.size() + 1) {
      return xv::capi::Report(XV_E_INVALID_ARGUMENT,
                              std::string(fn) + ": buf holds " +
                                  std::to_string(size) + " bytes, needs " +
                                  std::to_string(hex.size() + 1));
    }
    std::memcpy(buf, hex.c_str(), hex.size() + 1);
    return XV_OK;
  });
}

}  // extern "C"
