// libFuzzer target over the fixture reader, the interpreter and (for tiny programs) the
// fixture gradcheck: any input must either run or be refused with a FixtureError. Anything
// else escaping (another exception, a crash, a sanitizer report, a leak) is a finding.
//
//     tools/fuzz.sh [SECONDS]          # clang-14, ASan + UBSan + libFuzzer, seeds from fixtures/
//
// Built without -fsanitize=fuzzer (GCC, the normal and sanitizer builds), replay_main.cpp
// drives the same function over files: the ctest fuzz.replay_corpus.
#include <cstddef>
#include <cstdint>
#include <string>

#include "gradoracle/fixtures/check.hpp"
#include "gradoracle/fixtures/fixture.hpp"
#include "gradoracle/fixtures/interpreter.hpp"

namespace {

// Fixtures small enough to gradcheck on every input: a few leaf elements, a short program.
bool tiny(const gradoracle::fixtures::Fixture& f) {
  int64_t leaf_elements = 0, all_elements = 0;
  for (const auto& d : f.tensors) {
    all_elements += d.literal.numel();
    if (d.requires_grad) leaf_elements += d.literal.numel();
  }
  return leaf_elements <= 8 && all_elements <= 64 && f.program.size() <= 12;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace gradoracle::fixtures;
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const Fixture f = parse_fixture_text(text);
    const ReplayResult r = replay(f);
    (void)r.to_string();
    (void)r.to_json().dump();
    (void)to_text(f);  // the writer must handle whatever the reader accepted
    if (tiny(f)) {
      gradoracle::oracle::GradCheckOptions o;
      o.worst_k = 2;
      const FixtureCheck c = gradcheck_fixture(f, o);
      (void)c.to_string();
      (void)c.to_json().dump();
    }
  } catch (const FixtureError&) {
    // refused: the CLI prints it and exits 2
  }
  return 0;
}
