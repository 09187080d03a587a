// fixtures::read_fixture over a directory of fixtures (issue 7: the reader's share of
// `gradoracle gradcheck DIR`), against the same reader on nlohmann's lexer, simdjson's parse
// alone, the former reader (the whole DOM, then parse_fixture:
// read_dom, still the reader of refused text), nlohmann's plain DOM parse and SAX passes with a
// handler that builds nothing (issue 18: how close the reader is to a raw parse). The files: every *.json under $GRADORACLE_READ_BENCH_DIR if set, else the
// throughput set written by tools/checker_throughput.sh
// (build-bench/throughput-fixtures/float64-s1-n300), else the repository's fixtures/ tree;
// only those read_fixture accepts are timed.
#include <benchmark/benchmark.h>
#include <simdjson.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "fixture_parse.hpp"  // read_dom, check_json_limits: the reader's internals
#include "gradoracle/fixtures/fixture.hpp"

namespace {
namespace fs = std::filesystem;
using gradoracle::fixtures::FixtureError;
using nlohmann::json;

struct Corpus {
  std::vector<fs::path> paths;  // fixtures read_fixture accepts
  std::vector<std::string> texts;
  size_t bytes = 0;
};

fs::path corpus_dir() {
  if (const char* d = std::getenv("GRADORACLE_READ_BENCH_DIR")) return d;
  const fs::path throughput = fs::path(GRADORACLE_SOURCE_DIR) / "build-bench/throughput-fixtures/float64-s1-n300";
  if (fs::is_directory(throughput)) return throughput;
  return fs::path(GRADORACLE_SOURCE_DIR) / "corpus";
}

const Corpus& corpus() {
  static const Corpus c = [] {
    Corpus c;
    std::vector<fs::path> all;
    for (const auto& e : fs::recursive_directory_iterator(corpus_dir()))
      if (e.is_regular_file() && e.path().extension() == ".json") all.push_back(e.path());
    std::sort(all.begin(), all.end());
    for (const fs::path& p : all) {
      try {
        (void)gradoracle::fixtures::read_fixture(p);
      } catch (const FixtureError&) {
        continue;  // only accepted fixtures: the fast path is what gradcheck DIR spends time in
      }
      std::ifstream in(p, std::ios::binary);
      c.texts.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
      c.bytes += c.texts.back().size();
      c.paths.push_back(p);
    }
    return c;
  }();
  return c;
}

void set_counters(benchmark::State& state) {
  const Corpus& c = corpus();
  state.counters["files"] = static_cast<double>(c.paths.size());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(c.bytes));
}

// All files, from disk, per iteration: what gradcheck DIR pays.
void BM_ReadFixture(benchmark::State& state) {
  const Corpus& c = corpus();
  for (auto _ : state)
    for (const fs::path& p : c.paths) {
      gradoracle::fixtures::Fixture f = gradoracle::fixtures::read_fixture(p);
      benchmark::DoNotOptimize(f.program.data());
    }
  set_counters(state);
}
BENCHMARK(BM_ReadFixture)->Unit(benchmark::kMillisecond);

// The same from memory (no file I/O).
void BM_ParseFixtureText(benchmark::State& state) {
  const Corpus& c = corpus();
  for (auto _ : state)
    for (const std::string& t : c.texts) {
      gradoracle::fixtures::Fixture f = gradoracle::fixtures::parse_fixture_text(t);
      benchmark::DoNotOptimize(f.program.data());
    }
  set_counters(state);
}
BENCHMARK(BM_ParseFixtureText)->Unit(benchmark::kMillisecond);

// The event reader on nlohmann's lexer (StreamSax: small DOMs per tensor and statement; what
// reads text simdjson does not parse, and what the reader was before cf04d43).
void BM_ParseFixtureTextNlohmannEvents(benchmark::State& state) {
  const Corpus& c = corpus();
  using gradoracle::fixtures::detail::Lexer;
  for (auto _ : state)
    for (const std::string& t : c.texts) {
      auto f = gradoracle::fixtures::detail::read_streaming(t, gradoracle::registry::builtin_ops(), Lexer::Nlohmann);
      benchmark::DoNotOptimize(f->program.data());
    }
  set_counters(state);
}
BENCHMARK(BM_ParseFixtureTextNlohmannEvents)->Unit(benchmark::kMillisecond);

// Reference: simdjson's parse alone (the parse the reader reads in place; one parser, its
// buffers reused).
void BM_SimdjsonParse(benchmark::State& state) {
  const Corpus& c = corpus();
  simdjson::dom::parser parser;
  for (auto _ : state)
    for (const std::string& t : c.texts) {
      simdjson::dom::element root;
      benchmark::DoNotOptimize(parser.parse(t.data(), t.size(), true).get(root));
    }
  set_counters(state);
}
BENCHMARK(BM_SimdjsonParse)->Unit(benchmark::kMillisecond);

// The former reader: check_json_limits, the whole DOM in one SAX pass, then parse_fixture
// (read_dom: what parse_fixture_text still does with text the streaming reader leaves).
void BM_ParseFixtureTextDom(benchmark::State& state) {
  const Corpus& c = corpus();
  for (auto _ : state)
    for (const std::string& t : c.texts) {
      gradoracle::fixtures::detail::check_json_limits(t);
      gradoracle::fixtures::Fixture f = gradoracle::fixtures::detail::read_dom(t, gradoracle::registry::builtin_ops());
      benchmark::DoNotOptimize(f.program.data());
    }
  set_counters(state);
}
BENCHMARK(BM_ParseFixtureTextDom)->Unit(benchmark::kMillisecond);

// Reference: nlohmann's DOM parse alone.
void BM_JsonDomParse(benchmark::State& state) {
  const Corpus& c = corpus();
  for (auto _ : state)
    for (const std::string& t : c.texts) {
      json doc = json::parse(t);
      benchmark::DoNotOptimize(doc.size());
    }
  set_counters(state);
}
BENCHMARK(BM_JsonDomParse)->Unit(benchmark::kMillisecond);

// Reference: a SAX pass that builds nothing (the lexer and number conversion alone).
struct NoopSax : nlohmann::json_sax<json> {
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return true; }
  bool key(string_t&) override { return true; }
  bool end_object() override { return true; }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }
};

void BM_JsonSaxNoop(benchmark::State& state) {
  const Corpus& c = corpus();
  for (auto _ : state)
    for (const std::string& t : c.texts) {
      NoopSax sax;
      benchmark::DoNotOptimize(json::sax_parse(t, &sax));
    }
  set_counters(state);
}
BENCHMARK(BM_JsonSaxNoop)->Unit(benchmark::kMillisecond);

// Reference: the raw parse, as the reader's own handler is called (a template argument of
// sax_parse, no virtual calls) with a handler that builds nothing.
struct NullSax {
  using number_integer_t = json::number_integer_t;
  using number_unsigned_t = json::number_unsigned_t;
  using number_float_t = json::number_float_t;
  using string_t = json::string_t;
  using binary_t = json::binary_t;
  bool null() { return true; }
  bool boolean(bool) { return true; }
  bool number_integer(number_integer_t) { return true; }
  bool number_unsigned(number_unsigned_t) { return true; }
  bool number_float(number_float_t, const string_t&) { return true; }
  bool string(string_t&) { return true; }
  bool binary(binary_t&) { return true; }
  bool start_object(std::size_t) { return true; }
  bool key(string_t&) { return true; }
  bool end_object() { return true; }
  bool start_array(std::size_t) { return true; }
  bool end_array() { return true; }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) { return false; }
};

void BM_JsonSaxNull(benchmark::State& state) {
  const Corpus& c = corpus();
  for (auto _ : state)
    for (const std::string& t : c.texts) {
      NullSax sax;
      benchmark::DoNotOptimize(json::sax_parse(t, &sax));
    }
  set_counters(state);
}
BENCHMARK(BM_JsonSaxNull)->Unit(benchmark::kMillisecond);

// parse_fixture on an already parsed DOM: the validation alone.
void BM_ParseFixtureDom(benchmark::State& state) {
  const Corpus& c = corpus();
  std::vector<json> docs;
  for (const std::string& t : c.texts) docs.push_back(json::parse(t));
  for (auto _ : state)
    for (const json& d : docs) {
      gradoracle::fixtures::Fixture f = gradoracle::fixtures::parse_fixture(d);
      benchmark::DoNotOptimize(f.program.data());
    }
  set_counters(state);
}
BENCHMARK(BM_ParseFixtureDom)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
