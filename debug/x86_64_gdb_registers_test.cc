// gdb lays out `g` by the target description's register numbers and sizes,
// so the description, the table and the encoder must agree exactly; and what
// gdb writes back must land in the right ArchState field.
#include "debug/x86_64_gdb_registers.h"

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "debug/gdb_packet.h"
#include "gtest/gtest.h"
#include "hypervisor/arch_state.h"

namespace xv {
namespace {

// One element of the XML: its name and attributes.
struct Element {
  std::string name;
  std::map<std::string, std::string> attributes;
  std::string feature;  // the enclosing <feature>'s name
};

// A minimal well-formedness check for the XML we generate (no entities, no
// CDATA): declarations skipped, tags balanced and properly nested,
// attributes quoted. Returns the start tags in order; fails the test on the
// first problem.
std::vector<Element> ParseXml(std::string_view xml) {
  std::vector<Element> elements;
  std::vector<std::string> open;
  std::string feature;
  size_t i = 0;
  while ((i = xml.find('<', i)) != std::string_view::npos) {
    const size_t end = xml.find('>', i);
    if (end == std::string_view::npos) {
      ADD_FAILURE() << "unterminated tag at " << i;
      return elements;
    }
    std::string_view tag = xml.substr(i + 1, end - i - 1);
    i = end + 1;
    if (tag.starts_with('?') || tag.starts_with('!')) continue;
    if (tag.starts_with('/')) {
      const std::string name(tag.substr(1));
      if (open.empty() || open.back() != name) {
        ADD_FAILURE() << "</" << name << "> closes "
                      << (open.empty() ? "nothing" : open.back());
        return elements;
      }
      open.pop_back();
      continue;
    }
    const bool self_closing = tag.ends_with('/');
    if (self_closing) tag.remove_suffix(1);
    Element element;
    size_t p = tag.find_first_of(" \n");
    element.name = std::string(tag.substr(0, p));
    while (p != std::string_view::npos) {
      p = tag.find_first_not_of(" \n", p);
      if (p == std::string_view::npos) break;
      const size_t eq = tag.find('=', p);
      if (eq == std::string_view::npos || eq + 1 >= tag.size() ||
          tag[eq + 1] != '"') {
        ADD_FAILURE() << "unquoted attribute in <" << tag << ">";
        return elements;
      }
      const size_t close = tag.find('"', eq + 2);
      if (close == std::string_view::npos) {
        ADD_FAILURE() << "unterminated attribute in <" << tag << ">";
        return elements;
      }
      const std::string key(tag.substr(p, eq - p));
      if (!element.attributes
               .emplace(key, std::string(tag.substr(eq + 2, close - eq - 2)))
               .second) {
        ADD_FAILURE() << "attribute " << key << " twice in <" << tag << ">";
      }
      p = close + 1;
    }
    if (element.name == "feature") feature = element.attributes["name"];
    element.feature = feature;
    elements.push_back(element);
    if (!self_closing) open.push_back(element.name);
  }
  EXPECT_TRUE(open.empty()) << "unclosed <" << open.back() << ">";
  return elements;
}

TEST(TargetXmlTest, IsWellFormed) {
  const std::string xml = X86_64TargetXml();
  ParseXml(xml);
  // A real parser as a second opinion where the machine has one.
  if (access("/usr/bin/xmllint", X_OK) != 0) return;
  FILE* lint = popen("/usr/bin/xmllint --noout - 2>&1", "w");
  ASSERT_NE(lint, nullptr);
  fwrite(xml.data(), 1, xml.size(), lint);
  EXPECT_EQ(pclose(lint), 0) << "xmllint rejects:\n" << xml;
}

TEST(TargetXmlTest, ArchitectureAndFeatures) {
  const std::vector<Element> elements = ParseXml(X86_64TargetXml());
  std::vector<std::string> features;
  for (const Element& e : elements) {
    if (e.name == "feature") features.push_back(e.attributes.at("name"));
  }
  EXPECT_EQ(features,
            (std::vector<std::string>{
                "org.gnu.gdb.i386.core", "org.gnu.gdb.i386.sse",
                "org.gnu.gdb.i386.segments", "org.extravirt.x86.system"}));
  EXPECT_NE(X86_64TargetXml().find("<architecture>i386:x86-64</architecture>"),
            std::string::npos);
}

TEST(TargetXmlTest, AgreesWithTheTable) {
  std::vector<Element> registers;
  for (const Element& e : ParseXml(X86_64TargetXml())) {
    if (e.name == "reg") registers.push_back(e);
  }
  ASSERT_EQ(registers.size(), static_cast<size_t>(kGdbRegisterCount));
  std::set<std::string> names;
  int total = 0;
  for (int i = 0; i < kGdbRegisterCount; ++i) {
    SCOPED_TRACE(kGdbRegisters[i].name);
    const Element& reg = registers[i];
    EXPECT_EQ(reg.attributes.at("name"), kGdbRegisters[i].name);
    EXPECT_EQ(reg.attributes.at("regnum"), std::to_string(i));
    EXPECT_EQ(reg.attributes.at("bitsize"),
              std::to_string(8 * kGdbRegisters[i].size));
    EXPECT_TRUE(names.insert(reg.attributes.at("name")).second);
    total += kGdbRegisters[i].size;
  }
  EXPECT_EQ(total, kGdbRegistersSize);
  // What gdb expects of its standard features (the manual, "i386
  // Features"), and nothing of org.gnu.gdb.i386.linux.
  auto feature_of = [&](std::string_view name) {
    for (const Element& r : registers) {
      if (r.attributes.at("name") == name) return r.feature;
    }
    return std::string("(missing)");
  };
  for (std::string_view name :
       {"rax", "r15", "rip", "eflags", "gs", "st7", "fop"}) {
    EXPECT_EQ(feature_of(name), "org.gnu.gdb.i386.core") << name;
  }
  EXPECT_EQ(feature_of("xmm15"), "org.gnu.gdb.i386.sse");
  EXPECT_EQ(feature_of("mxcsr"), "org.gnu.gdb.i386.sse");
  EXPECT_EQ(feature_of("fs_base"), "org.gnu.gdb.i386.segments");
  EXPECT_EQ(feature_of("gs_base"), "org.gnu.gdb.i386.segments");
  EXPECT_EQ(feature_of("efer"), "org.extravirt.x86.system");
  EXPECT_EQ(feature_of("orig_rax"), "(missing)");
}

TEST(TargetXmlTest, EveryTypeIsPredefinedOrDefinedInItsFeature) {
  // The manual's "Predefined Target Types", plus "int" sized by bitsize,
  // less i386_eflags and i386_mxcsr: gdb 13 does not know them unless the
  // description defines them.
  const std::set<std::string> predefined = {
      "bool",      "int8",        "int16",       "int24",    "int32",
      "int64",     "int128",      "uint8",       "uint16",   "uint24",
      "uint32",    "uint64",      "uint128",     "code_ptr", "data_ptr",
      "ieee_half", "ieee_single", "ieee_double", "bfloat16", "arm_fpa_ext",
      "i387_ext",  "int"};
  std::map<std::string, std::set<std::string>> defined;  // feature -> ids
  for (const Element& e : ParseXml(X86_64TargetXml())) {
    if (e.attributes.contains("id")) {
      defined[e.feature].insert(e.attributes.at("id"));
    }
    if (!e.attributes.contains("type")) continue;
    const std::string& type = e.attributes.at("type");
    EXPECT_TRUE(predefined.contains(type) || defined[e.feature].contains(type))
        << "<" << e.name << "> in " << e.feature << " uses type " << type
        << " before defining it";
  }
}

// Every field gdb shows, each with a distinct value.
ArchState Filled() {
  ArchState s;
  for (size_t i = 0; i < kGeneralRegisterMembers.size(); ++i) {
    s.regs.*kGeneralRegisterMembers[i] = 0x1111111111111111ull * (i + 1) + i;
  }
  s.regs.rflags = 0x246;
  s.cs = 0x10;
  s.ss = 0x18;
  s.ds = 0x20;
  s.es = 0x28;
  s.fs = 0x30;
  s.gs = 0x38;
  for (int i = 0; i < 8; ++i) {
    for (int b = 0; b < 10; ++b) s.st[i][b] = static_cast<uint8_t>(16 * i + b);
  }
  s.fcw = 0x27f;
  s.fsw = 0x3800;
  s.ftw = 0x81;
  for (int i = 0; i < 16; ++i) {
    for (int b = 0; b < 16; ++b) {
      s.xmm[i][b] = static_cast<uint8_t>(0x80 + 16 * i + b);
    }
  }
  s.mxcsr = 0x1fa0;
  s.fs_base = 0x7f0000001000;
  s.gs_base = 0xffff800000002000;
  s.cr0 = 0x80050033;
  s.cr2 = 0xdead000;
  s.cr3 = 0x1000;
  s.cr4 = 0x6a0;
  s.cr8 = 0xf;
  s.efer = 0xd01;
  return s;
}

// Register `regnum`'s hex in a `g` reply.
std::string Slice(const std::string& g, int regnum) {
  size_t offset = 0;
  for (int i = 0; i < regnum; ++i) {
    offset += 2 * static_cast<size_t>(kGdbRegisters[i].size);
  }
  return g.substr(offset, 2 * static_cast<size_t>(kGdbRegisters[regnum].size));
}

TEST(EncodeRegistersTest, LayoutFollowsTheTable) {
  const ArchState s = Filled();
  const std::string g = EncodeRegisters(s);
  ASSERT_EQ(g.size(), 2u * kGdbRegistersSize);
  EXPECT_EQ(Slice(g, kGdbRax), LittleEndianHex(s.regs.rax, 8));
  // gdb's order puts rbp before rsp.
  EXPECT_EQ(Slice(g, kGdbRax + 6), LittleEndianHex(s.regs.rbp, 8));
  EXPECT_EQ(Slice(g, kGdbRax + 7), LittleEndianHex(s.regs.rsp, 8));
  EXPECT_EQ(Slice(g, kGdbRip), LittleEndianHex(s.regs.rip, 8));
  EXPECT_EQ(Slice(g, kGdbEflags), "46020000");
  EXPECT_EQ(Slice(g, kGdbCs), "10000000");
  EXPECT_EQ(Slice(g, kGdbCs + 5), "38000000");
  EXPECT_EQ(Slice(g, kGdbSt0 + 1), BytesToHex(s.st[1]));
  EXPECT_EQ(Slice(g, kGdbFctrl), "7f020000");
  // ftw 0x81: st(0) and st(7) in use, the rest empty (0b11).
  EXPECT_EQ(Slice(g, kGdbFctrl + 2), LittleEndianHex(0x3ffc, 4));
  EXPECT_EQ(Slice(g, kGdbFctrl + 7), "00000000");
  EXPECT_EQ(Slice(g, kGdbXmm0 + 15), BytesToHex(s.xmm[15]));
  EXPECT_EQ(Slice(g, kGdbMxcsr), "a01f0000");
  EXPECT_EQ(Slice(g, kGdbFsBase), LittleEndianHex(s.fs_base, 8));
  EXPECT_EQ(Slice(g, kGdbGsBase), LittleEndianHex(s.gs_base, 8));
  EXPECT_EQ(Slice(g, kGdbCr0), LittleEndianHex(s.cr0, 8));
  EXPECT_EQ(Slice(g, kGdbCr0 + 2), LittleEndianHex(s.cr3, 8));
  EXPECT_EQ(Slice(g, kGdbRegisterCount - 1), LittleEndianHex(s.efer, 8));
  for (int r = 0; r < kGdbRegisterCount; ++r) {
    EXPECT_EQ(EncodeRegister(s, r).value(), Slice(g, r)) << r;
  }
}

TEST(EncodeRegistersTest, FullTagWord) {
  ArchState s;
  s.ftw = 0;
  EXPECT_EQ(EncodeRegister(s, kGdbFctrl + 2).value(), "ffff0000");
  s.ftw = 0xff;
  EXPECT_EQ(EncodeRegister(s, kGdbFctrl + 2).value(), "00000000");
}

TEST(SetRegisterTest, EveryWritableRegisterRoundTrips) {
  const ArchState filled = Filled();
  for (int r = 0; r < kGdbRegisterCount; ++r) {
    SCOPED_TRACE(kGdbRegisters[r].name);
    ArchState s;
    const std::string hex = EncodeRegister(filled, r).value();
    const absl::Status status = SetRegister(s, r, hex);
    const bool read_only = (r >= kGdbCs && r < kGdbSt0) ||
                           (r > kGdbFctrl + 2 && r < kGdbXmm0) || r >= kGdbCr0;
    if (read_only && hex != EncodeRegister(ArchState{}, r).value()) {
      EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
      EXPECT_NE(status.message().find(std::string(kGdbRegisters[r].name)),
                absl::string_view::npos)
          << status;
      EXPECT_EQ(s, ArchState{});
    } else {
      ASSERT_TRUE(status.ok()) << status;
      EXPECT_EQ(EncodeRegister(s, r).value(), hex);
    }
  }
}

TEST(SetRegisterTest, LandsInTheRightField) {
  ArchState s;
  ASSERT_TRUE(SetRegister(s, kGdbRax + 7, LittleEndianHex(0x7000, 8)).ok());
  EXPECT_EQ(s.regs.rsp, 0x7000u);
  ASSERT_TRUE(SetRegister(s, kGdbRip, "0010400000000000").ok());
  EXPECT_EQ(s.regs.rip, 0x401000u);
  // Bit 1 of RFLAGS is fixed at 1.
  ASSERT_TRUE(SetRegister(s, kGdbEflags, "00010000").ok());
  EXPECT_EQ(s.regs.rflags, 0x102u);
  ASSERT_TRUE(SetRegister(s, kGdbXmm0 + 3, std::string(30, '0') + "ff").ok());
  EXPECT_EQ(s.xmm[3][15], 0xff);
  ASSERT_TRUE(SetRegister(s, kGdbFctrl + 2, LittleEndianHex(0xfffc, 4)).ok());
  EXPECT_EQ(s.ftw, 0x01);
  ASSERT_TRUE(SetRegister(s, kGdbGsBase, LittleEndianHex(0xabc, 8)).ok());
  EXPECT_EQ(s.gs_base, 0xabcu);
}

TEST(SetRegisterTest, BadInput) {
  ArchState s;
  const ArchState before = s;
  EXPECT_EQ(SetRegister(s, -1, "00").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SetRegister(s, kGdbRegisterCount, "00").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(EncodeRegister(s, kGdbRegisterCount).ok());
  EXPECT_FALSE(EncodeRegister(s, -5).ok());
  EXPECT_FALSE(SetRegister(s, kGdbRax, "00").ok());
  EXPECT_FALSE(SetRegister(s, kGdbRax, std::string(18, '0')).ok());
  EXPECT_FALSE(SetRegister(s, kGdbRax, "zz00000000000000").ok());
  // mxcsr's reserved bits.
  EXPECT_FALSE(SetRegister(s, kGdbMxcsr, "801f0100").ok());
  // A read-only register written with its own value is accepted.
  EXPECT_TRUE(SetRegister(s, kGdbCr0, EncodeRegister(s, kGdbCr0).value()).ok());
  EXPECT_EQ(SetRegister(s, kGdbCr0 + 2, LittleEndianHex(0x2000, 8)).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s, before);
}

TEST(SetRegistersTest, AllOrNothing) {
  const ArchState filled = Filled();
  // Writable registers changed, read-only ones as they are.
  ArchState target = filled;
  target.regs.rax = 42;
  target.regs.rflags = 0x202;
  target.xmm[7][0] = 1;
  target.st[2][9] = 0x40;
  target.mxcsr = 0x1f80;
  target.ftw = 0x0f;
  target.fs_base = 0x1234;
  ArchState s = filled;
  ASSERT_TRUE(SetRegisters(s, EncodeRegisters(target)).ok());
  EXPECT_EQ(s, target);

  // A changed control register refuses the whole block.
  ArchState other = target;
  other.regs.rbx = 7;
  other.cr3 = 0x5000;
  ArchState unchanged = filled;
  EXPECT_EQ(SetRegisters(unchanged, EncodeRegisters(other)).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(unchanged, filled);
  EXPECT_FALSE(SetRegisters(unchanged, "00").ok());
  EXPECT_FALSE(SetRegisters(unchanged, EncodeRegisters(filled) + "00").ok());
}

}  // namespace
}  // namespace xv
