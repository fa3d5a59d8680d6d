# A schema that only proves capnp_cc_library works (third_party tests).
@0xb1f2a3c4d5e6f708;

struct Probe {
  esn @0 :UInt64;
  payload @1 :Data;
  note @2 :Text;
}
