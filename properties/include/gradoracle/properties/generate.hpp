#pragma once
// Reference fixtures from the engine (`gradoracle generate`), drawn by seed from the property
// suite's generators (generators.hpp), the project's one generator, and recorded by the
// engine (fixtures/record.hpp): values and grad_fns after each op, grads at the end.
//
//  - op_fixture: one op on a case drawn as its gradcheck property draws them (gen_op_case),
//    with a random upstream; detach (Identity rule) as d = detach(x), y = d·x; the clip
//    utilities (Parameters rule) on the grads of a linear layer.
//  - random_program: a program drawn as the program property draws them (gen_program), with
//    a random upstream per root.
// The description says whether finite differences pass (GeneratedFixture::verdict).
#include <cstdint>
#include <string>

#include "gradoracle/engine/registry.hpp"
#include "gradoracle/fixtures/check.hpp"
#include "gradoracle/fixtures/fixture.hpp"

namespace gradoracle::properties {

struct GenerateOptions {
  DType dtype = DType::Float64;  // of every tensor; float64
  uint64_t seed = 0;             // the draw; 0
};

struct GeneratedFixture {
  fixtures::Fixture fixture;
  fixtures::FixtureCheck verdict;  // its gradcheck (Skip for a fixture with nothing to check)
};

// A fixture for `op` (from `ops`), named "<op>/<seed>".
GeneratedFixture op_fixture(const registry::OpSpec& op, const GenerateOptions& options = {},
                            const registry::OpTable& ops = registry::builtin_ops());
// A random program over the fuzzable ops of `ops`, named "program/<seed>".
GeneratedFixture random_program(const GenerateOptions& options = {},
                                const registry::OpTable& ops = registry::builtin_ops());

// An op's reference input as a fixture (properties::reference_fixture), recorded by the engine.
GeneratedFixture reference_fixture_recorded(const registry::OpSpec& op, const registry::ReferenceInput& r, DType dtype,
                                            const registry::OpTable& ops = registry::builtin_ops());

}  // namespace gradoracle::properties
