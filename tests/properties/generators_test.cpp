// The generators draw what they promise: shapes in bounds, broadcastable pairs, values inside
// each Domain, and programs that are valid format-v1 fixtures.
#include <algorithm>
#include <cmath>
#include <sstream>

#include "gradoracle/fixtures/interpreter.hpp"
#include "property_test.hpp"

namespace gradoracle::properties {
namespace {

GRADORACLE_PROP(Generators, ShapesHaveRankAtMost4AndDimsAtMost6, 300) {
  const Shape s = *gen_shape();
  RC_ASSERT(s.size() <= 4u);
  for (int64_t d : s) RC_ASSERT(d >= 0 && d <= kMaxDim);
  RC_ASSERT(numel(s) <= kMaxNumel);
  RC_CLASSIFY(numel(s) == 0, "zero-size");
  RC_CLASSIFY(s.empty(), "0-d");
}

GRADORACLE_PROP(Generators, BroadcastPairsBroadcast, 300) {
  const BroadcastPair p = *gen_broadcast_pair();
  RC_ASSERT(broadcast_shapes(p.a, p.b).size() == std::max(p.a.size(), p.b.size()));
}

GRADORACLE_PROP(Generators, ValuesLieInsideTheirDomain, 300) {
  using registry::Domain;
  const Domain d = *gen_choice<Domain>(
      {Domain::Real, Domain::Positive, Domain::NonZero, Domain::AwayFromKink, Domain::Bounded, Domain::AboveMinusOne,
       Domain::NearOne, Domain::Spread, Domain::Distinct, Domain::OffGrid});
  const std::vector<double> values = *gen_values(d, d == Domain::Spread ? 8 : 48);
  if (d == Domain::Spread || d == Domain::Distinct) {  // pairwise at least 0.1 (Spread) or a grid step apart
    const double gap = d == Domain::Spread ? 0.1 : 1.0 / 2000;
    std::vector<double> sorted = values;
    std::sort(sorted.begin(), sorted.end());
    for (size_t i = 1; i < sorted.size(); ++i) RC_ASSERT(sorted[i] - sorted[i - 1] >= gap - 1e-12);
  }
  for (double v : values) {
    switch (d) {
      case Domain::Real: RC_ASSERT(std::abs(v) <= 3.0); break;
      case Domain::Bounded: RC_ASSERT(std::abs(v) <= 2.0); break;
      case Domain::Positive: RC_ASSERT(v >= 0.25); break;
      case Domain::AboveMinusOne: RC_ASSERT(v >= -0.75); break;
      case Domain::NearOne: RC_ASSERT(std::abs(v) >= 0.5 && std::abs(v) <= 1.5 + 1e-4); break;
      case Domain::Spread: RC_ASSERT(v >= -3.0 && v <= 8.0); break;
      case Domain::NonZero:
      case Domain::AwayFromKink: RC_ASSERT(std::abs(v) >= 0.25); break;
      case Domain::Distinct: RC_ASSERT(std::abs(v) <= 3.0); break;
      case Domain::OffGrid:  // halfway between grid points: a quarter step from any of them
        RC_ASSERT(std::abs(v) <= 3.0);
        RC_ASSERT(std::abs(v * 2000 - std::round(v * 2000)) >= 0.5 - 1e-9);
        break;
    }
  }
}

GRADORACLE_PROP(Generators, OpCasesRunForwardForEveryOp, 100) {
  const auto ops = fuzzable_ops();
  const registry::OpSpec* op = *gen_choice(ops);
  const OpCase c = *gen_op_case(*op, DType::Float64);
  RC_ASSERT(to_program(c).root_shapes.size() == 1u);
  (void)output_shape(c);  // throws if the engine refuses the drawn layout
}

GRADORACLE_PROP(Generators, ProgramsAreValidFixturesThatReplay, 200) {
  const ProgramCase p = *gen_program(*rc::gen::arbitrary<DType>());
  RC_ASSERT(!p.roots.empty());
  const fixtures::Fixture f = to_fixture(p);
  RC_ASSERT(fixtures::parse_fixture(fixtures::to_json(f)) == f);
  fixtures::ReplayOptions o;
  o.check_expects = false;
  const auto r = fixtures::replay(f, o);
  RC_ASSERT(r.passed());
  RC_CLASSIFY(p.steps.size() > 3, "more than 3 steps");
}

TEST(Generators, ADrawnOpShowsAsItsNameAndNoneAsNoOp) {
  // RapidCheck describes a failing case's drawn values with rc::show; a property may draw a
  // null op (structural/detach_and_to does), and a raw pointer's default show dereferences it.
  std::ostringstream none, add;
  rc::show(static_cast<const registry::OpSpec*>(nullptr), none);
  rc::show(registry::builtin_ops().find("add"), add);
  EXPECT_EQ(none.str(), "no op");
  EXPECT_EQ(add.str(), "op add");
}

}  // namespace
}  // namespace gradoracle::properties
