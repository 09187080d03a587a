// `gradoracle generate`: fixtures drawn by seed from the property generators, recorded by the
// engine; and the fixture gradcheck's value reuse over such programs.
#include <gtest/gtest.h>

#include "gradoracle/fixtures/check.hpp"
#include "gradoracle/fixtures/interpreter.hpp"
#include "gradoracle/properties/generate.hpp"

namespace gradoracle::properties {
namespace {

using namespace gradoracle::fixtures;

TEST(Generate, EveryOpAndProgramReplaysAndGradchecks) {
  for (const registry::OpSpec& spec : registry::builtin_ops().ops()) {
    for (uint64_t seed = 0; seed < 3; ++seed) {
      const GeneratedFixture g = op_fixture(spec, {DType::Float64, seed});
      EXPECT_TRUE(replay(g.fixture).passed()) << spec.name << " " << seed;
      EXPECT_EQ(parse_fixture_text(to_text(g.fixture)), g.fixture);
      EXPECT_TRUE(g.verdict.passed()) << g.verdict.to_string();
    }
  }
  for (uint64_t seed = 0; seed < 30; ++seed) {
    const GeneratedFixture g = random_program({DType::Float64, seed});
    EXPECT_TRUE(replay(g.fixture).passed()) << seed;
    EXPECT_EQ(g.verdict.status, CheckStatus::Pass) << seed << ": " << g.verdict.to_string();
  }
}

// The gradcheck function reuses the remembered no-grad run's values for the statements that
// do not depend on the perturbed input: the results must be bit for bit those of a full run.
TEST(FixtureGradcheck, ReusedValuesAreThoseOfAFullRun) {
  std::vector<Fixture> fixtures = {read_fixture(std::string(GRADORACLE_FIXTURES_DIR) + "/examples/detach-held.json")};
  for (uint64_t seed = 0; seed < 40; ++seed) fixtures.push_back(random_program({DType::Float64, seed}).fixture);
  int64_t compared = 0;
  for (const Fixture& f : fixtures) {
    SCOPED_TRACE(f.name);
    const ReplayResult reference = replay(f, ReplayOptions{false, true});
    const ProgramFunction pf = program_function(f, reference);
    const NoGradGuard no_grad;
    pf.function(pf.input_values);  // remembered
    for (size_t k = 0; k < pf.input_values.size(); ++k) {
      std::vector<Tensor> inputs = pf.input_values;
      inputs[k] = inputs[k].clone();
      if (inputs[k].numel() == 0) continue;  // an empty leaf: nothing to perturb
      inputs[k].data<double>()[0] += 1e-3;
      const std::vector<Tensor> reused = pf.function(inputs);
      const std::vector<Tensor> full = program_function(f, reference).function(inputs);  // a first call: every step
      ASSERT_EQ(reused.size(), full.size());
      for (size_t j = 0; j < full.size(); ++j) {
        EXPECT_EQ(reused[j].to_vector(), full[j].to_vector()) << "input " << k << " output " << j;
        ++compared;
      }
    }
  }
  EXPECT_GT(compared, 60);
}

TEST(Generate, SameSeedSameFixtureOtherSeedOtherFixture) {
  const registry::OpSpec& softmax = *registry::builtin_ops().find("softmax");
  EXPECT_EQ(op_fixture(softmax, {DType::Float64, 5}).fixture, op_fixture(softmax, {DType::Float64, 5}).fixture);
  EXPECT_NE(to_text(op_fixture(softmax, {DType::Float64, 5}).fixture), to_text(op_fixture(softmax, {DType::Float64, 6}).fixture));
  EXPECT_EQ(random_program({DType::Float32, 3}).fixture, random_program({DType::Float32, 3}).fixture);
}

}  // namespace
}  // namespace gradoracle::properties
