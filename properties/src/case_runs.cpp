// Where a property's case runs, and the differential check (case_runs.hpp).
#include "case_runs.hpp"

#include <algorithm>

#include "gradoracle/fixtures/engine_check.hpp"
#include "gradoracle/fixtures/judge.hpp"
#include "gradoracle/oracle/compare.hpp"

namespace gradoracle::properties::detail {

fixtures::ReplayResult run_case(const fixtures::Fixture& f, bool check_expects, const registry::OpTable& ops,
                                fixtures::EngineProcess* engine) {
  if (!engine) {
    fixtures::ReplayOptions run;
    run.check_expects = check_expects;
    run.ops = &ops;
    return fixtures::replay(f, run);
  }
  fixtures::ReplayResult r = fixtures::replay_in(*engine, f);
  if (!check_expects) std::erase_if(r.failures, [](const fixtures::Failure& x) { return x.kind == "expect"; });
  return r;
}

fixtures::FixtureCheck check_fixture(const fixtures::Fixture& f, const oracle::GradCheckOptions& o,
                                     const registry::OpTable& ops, fixtures::EngineProcess* engine) {
  return engine ? fixtures::gradcheck_in(*engine, f, o, ops) : fixtures::gradcheck_fixture(f, o, ops);
}

std::string differs(const fixtures::Fixture& f, const fixtures::ReplayResult& outside, const registry::OpTable& ops,
                    double atol_floor) {
  const fixtures::ReplayResult own = run_case(f, false, ops, nullptr);
  if (!own.passed()) return "";  // gradoracle's own run fails: the check's verdict says why
  oracle::Tolerance tol = f.tolerance.value_or(oracle::gradcheck_tolerance(f.dtype));
  tol.atol = std::max(tol.atol, atol_floor);
  auto against = [&](const Tensor& theirs, const Tensor& ours, const std::string& what) -> std::string {
    if (!theirs.defined() || !ours.defined()) {
      if (theirs.defined() == ours.defined()) return "";
      return what + ": the engine gives " + (theirs.defined() ? "a tensor" : "None") + ", gradoracle " +
             (ours.defined() ? "a tensor" : "None");
    }
    const oracle::CompareResult c = oracle::compare(theirs, ours, tol);
    return c.passed ? "" : what + ": the engine's against gradoracle's: " + c.to_string();
  };
  for (const auto& [i, ours] : own.results) {
    const auto it = outside.results.find(i);
    if (it == outside.results.end()) continue;
    if (std::string d = against(it->second, ours, fixtures::statement_path(i) + " (" + fixtures::describe(f.program[i]) + ")"); !d.empty())
      return d;
  }
  for (const auto& [i, ours] : own.grad_of_results) {
    const auto it = outside.grad_of_results.find(i);
    if (it == outside.grad_of_results.end()) continue;
    for (size_t k = 0; k < ours.size() && k < it->second.size(); ++k)
      if (std::string d = against(it->second[k], ours[k], fixtures::statement_path(i) + " (grad_of result " + std::to_string(k) + ")"); !d.empty())
        return d;
  }
  for (const fixtures::TensorDecl& d : f.tensors) {
    if (!d.requires_grad) continue;
    const auto it = outside.env.find(d.name), mine = own.env.find(d.name);
    if (it == outside.env.end() || mine == own.env.end()) continue;
    if (std::string diff = against(it->second.grad(), mine->second.grad(), "the final grad of " + d.name); !diff.empty()) return diff;
  }
  return "";
}

}  // namespace gradoracle::properties::detail
