#pragma once
// The gate's fixtures, embedded at build time (cli/embed_fixtures.cmake writes
// embedded_fixtures.cpp from corpus/tutorial, examples, semantics and nonfinite, as
// cli/CMakeLists.txt lists them), so `gradoracle check` needs no files.
#include <vector>

namespace gradoracle::cli {

struct EmbeddedFixture {
  const char* path;  // relative to the source tree: "corpus/tutorial/1-simple-example.json"
  const char* text;  // the JSON, verbatim
  bool gradcheck;    // the gate gradchecks it too (false: replayed only: corpus/nonfinite, semantics)
};

const std::vector<EmbeddedFixture>& embedded_fixtures();

}  // namespace gradoracle::cli
