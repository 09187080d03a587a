#pragma once
// Where a property's case runs: gradoracle's engine in process, or an outside engine
// (RunOptions::engine); and the differential check between the two.
#include <string>

#include "gradoracle/engine/registry.hpp"
#include "gradoracle/fixtures/check.hpp"
#include "gradoracle/fixtures/engine.hpp"
#include "gradoracle/fixtures/interpreter.hpp"

namespace gradoracle::properties::detail {

// A case's run: in gradoracle's engine, or in the outside one (whose expects are judged; without
// check_expects their verdicts are dropped, as in process).
fixtures::ReplayResult run_case(const fixtures::Fixture& f, bool check_expects, const registry::OpTable& ops,
                                fixtures::EngineProcess* engine);

// A case's gradcheck, in gradoracle's engine or the outside one.
fixtures::FixtureCheck check_fixture(const fixtures::Fixture& f, const oracle::GradCheckOptions& o,
                                     const registry::OpTable& ops, fixtures::EngineProcess* engine);

// The differential check: the outside engine's run of a case against gradoracle's own, every op
// result, grad_of result and leaf's final grad, at the fixture's tolerance or the checker's for
// its dtype, with atol at least `atol_floor` (values, not the gradients' truth: finite
// differences judge those). "" when they agree; else where and how the two differ.
std::string differs(const fixtures::Fixture& f, const fixtures::ReplayResult& outside, const registry::OpTable& ops,
                    double atol_floor = 0.0);

}  // namespace gradoracle::properties::detail
