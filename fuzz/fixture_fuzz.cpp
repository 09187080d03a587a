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

// A run's work under ASan + UBSan costs ~20x the release build's (4·10⁹ multiply-adds, the
// default limit, take 20 s): these limits keep every input well under a second, through the
// interpreter's own RunLimits, so a long fuzz run is not spent on a few inputs at the limit.
gradoracle::fixtures::RunLimits fuzz_limits() {
  gradoracle::fixtures::RunLimits l;
  l.tensor_elements = 1'000'000;
  l.computed_elements = 10'000'000;
  l.multiply_adds = 1e8;
  return l;
}

// Fixtures small enough to gradcheck on every input: a few leaf elements, a short program,
// small results (the full Jacobian takes a backward per output element).
bool tiny(const gradoracle::fixtures::Fixture& f, const gradoracle::fixtures::ReplayResult& r) {
  int64_t leaf_elements = 0, all_elements = 0;
  for (const auto& d : f.tensors) {
    all_elements += d.literal.numel();
    if (d.requires_grad) leaf_elements += d.literal.numel();
  }
  for (const auto& [statement, result] : r.results) all_elements += result.numel();
  return leaf_elements <= 8 && all_elements <= 256 && f.program.size() <= 12;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace gradoracle::fixtures;
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const Fixture f = parse_fixture_text(text);
    ReplayOptions run;
    run.limits = fuzz_limits();
    const ReplayResult r = replay(f, run);
    (void)r.to_string();
    (void)r.to_json().dump();
    (void)to_text(f);  // the writer must handle whatever the reader accepted
    if (tiny(f, r)) {
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
