// Writes the stability property's large-magnitude cases (gen_large_magnitude_case, every op
// declaring a finite range, both dtypes) as format-v1 fixtures, each one op with a backward
// under a moderate upstream and no expects, for stability_torch.py to run in PyTorch: the
// declared ranges hold there too.
//
// usage: stability_cases OUT_DIR [CASES_PER_OP_AND_DTYPE]
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <string>

#include "gradoracle/fixtures/fixture.hpp"
#include "gradoracle/properties/properties.hpp"

int main(int argc, char** argv) {
  using namespace gradoracle;
  if (argc < 2) {
    std::cerr << "usage: stability_cases OUT_DIR [CASES_PER_OP_AND_DTYPE]\n";
    return 2;
  }
  const std::filesystem::path out = argv[1];
  const int cases = argc > 2 ? std::atoi(argv[2]) : 100;
  std::filesystem::create_directories(out);
  Generator upstream(14);
  int written = 0;
  for (const registry::OpSpec* op : properties::fuzzable_ops()) {
    for (DType dtype : {DType::Float64, DType::Float32}) {
      if (!op->stability.finite(dtype)) continue;
      const rc::Gen<properties::OpCase> gen = properties::gen_large_magnitude_case(*op, dtype);
      for (int seed = 0; seed < cases; ++seed) {
        const properties::OpCase c = gen(rc::Random(static_cast<uint64_t>(seed)), 100).value();
        properties::ProgramCase p = properties::to_program(c);
        std::vector<double> u(static_cast<size_t>(numel(p.root_shapes.at(0))));
        for (double& v : u) v = std::round(upstream.uniform(-3, 3) * 2000) / 2000;
        p.upstreams = {u};
        const std::string id = op->name + "-" + name(dtype) + "-" + std::to_string(seed);
        fixtures::Fixture f = properties::to_fixture(p, "stability case: " + op->name + " at its declared magnitudes");
        f.name = "stability/" + id;
        fixtures::write_fixture(f, out / (id + ".json"));
        ++written;
      }
    }
  }
  std::cout << written << " fixtures in " << out.string() << "\n";
  return written > 0 ? 0 : 1;
}
