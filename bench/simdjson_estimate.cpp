// Not built by CMake: a measured estimate for issue 18 of what a faster Debian-packaged JSON
// parser (libsimdjson-dev 3.0.1, Debian 12) would give the fixture read path. The raw parse of
// the same texts: nlohmann sax_parse with a null handler (the reader's floor today) against
// simdjson's DOM parse plus a walk that visits every value (numbers as double). Needs
// libsimdjson-dev (not a dependency of gradoracle):
//
//   c++ -std=c++20 -O3 -DNDEBUG bench/simdjson_estimate.cpp -o /tmp/simdjson_estimate -lsimdjson
//   /tmp/simdjson_estimate build-bench/throughput-fixtures/float64-s1-n300 [REPEATS]
#include <simdjson.h>
#include <nlohmann/json.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>
#include <algorithm>
using json = nlohmann::json;
struct Null {
  using number_integer_t = json::number_integer_t; using number_unsigned_t = json::number_unsigned_t;
  using number_float_t = json::number_float_t; using string_t = json::string_t; using binary_t = json::binary_t;
  double sum = 0; size_t n = 0;
  bool null() { ++n; return true; } bool boolean(bool) { ++n; return true; }
  bool number_integer(number_integer_t v) { sum += v; ++n; return true; }
  bool number_unsigned(number_unsigned_t v) { sum += v; ++n; return true; }
  bool number_float(number_float_t v, const string_t&) { sum += v; ++n; return true; }
  bool string(string_t& s) { n += s.size() > 0; return true; } bool binary(binary_t&) { return true; }
  bool start_object(size_t) { ++n; return true; } bool key(string_t&) { return true; } bool end_object() { return true; }
  bool start_array(size_t) { ++n; return true; } bool end_array() { return true; }
  bool parse_error(size_t, const std::string&, const nlohmann::detail::exception&) { return false; }
};
static void walk(simdjson::dom::element e, double& sum, size_t& n) {
  ++n;
  switch (e.type()) {
    case simdjson::dom::element_type::ARRAY: for (auto c : e.get_array()) walk(c, sum, n); break;
    case simdjson::dom::element_type::OBJECT: for (auto f : e.get_object()) walk(f.value, sum, n); break;
    case simdjson::dom::element_type::DOUBLE: sum += double(e); break;
    case simdjson::dom::element_type::INT64: sum += double(int64_t(e)); break;
    default: break;
  }
}
int main(int argc, char** argv) {
  std::vector<std::string> texts; size_t bytes = 0;
  for (auto& p : std::filesystem::directory_iterator(argv[1])) if (p.path().extension() == ".json") {
    std::ifstream in(p.path(), std::ios::binary); texts.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()); bytes += texts.back().size(); }
  std::vector<simdjson::padded_string> padded; for (auto& t : texts) padded.emplace_back(t);
  const int reps = argc > 2 ? atoi(argv[2]) : 30;
  double best_n = 1e9, best_s = 1e9; double sum = 0; size_t n1 = 0, n2 = 0;
  simdjson::dom::parser parser;
  for (int r = 0; r < reps; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    for (auto& t : texts) { Null h; json::sax_parse(t, &h); sum += h.sum; n1 += h.n; }
    auto t1 = std::chrono::steady_clock::now();
    for (auto& t : padded) { simdjson::dom::element doc; if (parser.parse(t).get(doc)) return 1; walk(doc, sum, n2); }
    auto t2 = std::chrono::steady_clock::now();
    best_n = std::min(best_n, std::chrono::duration<double, std::milli>(t1 - t0).count());
    best_s = std::min(best_s, std::chrono::duration<double, std::milli>(t2 - t1).count());
  }
  std::printf("%zu files, %zu bytes, best of %d: nlohmann sax_parse (null handler) %.2f ms, simdjson dom parse + walk %.2f ms (%.1fx); implementation %s; checksum %g %zu %zu\n",
              texts.size(), bytes, reps, best_n, best_s, best_n / best_s, simdjson::get_active_implementation()->name().c_str(), sum, n1 / reps, n2 / reps);
}
