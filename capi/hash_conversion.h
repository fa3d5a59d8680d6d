// Hash128 <-> xv_hash128.
#ifndef EXTRAVIRT_CAPI_HASH_CONVERSION_H_
#define EXTRAVIRT_CAPI_HASH_CONVERSION_H_

#include "base/hash128.h"
#include "extravirt/extravirt.h"

namespace xv::capi {

inline xv_hash128 ToC(const Hash128& h) { return {h.high, h.low}; }
inline Hash128 FromC(const xv_hash128& h) { return {h.high, h.low}; }

}  // namespace xv::capi

#endif  // EXTRAVIRT_CAPI_HASH_CONVERSION_H_
