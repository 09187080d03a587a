#pragma once
// Shrunk counterexamples: where they are written, under which names, and what a written case
// holds (the case as a fixture, with the facts its replay is judged by).
#include <filesystem>
#include <string>

#include "gradoracle/engine/registry.hpp"
#include "gradoracle/fixtures/engine.hpp"
#include "gradoracle/oracle/gradcheck.hpp"
#include "gradoracle/properties/generators.hpp"

namespace gradoracle::properties::detail {

// Second order in float32: a backward's backward adds its rounding to the first's; absolute
// differences below this are rounding (the checker's slack, and the differential check's).
inline constexpr double kSecondOrderFloat32Slack = 1e-3;

// The properties' names, which name their counterexample files: an op's random cases, its
// reference inputs, random programs, and second order's.
std::string op_property(const registry::OpSpec& op, DType dtype);
std::string reference_property(const registry::OpSpec& op, DType dtype);
std::string program_property(DType dtype);
std::string op2_property(const registry::OpSpec& op, DType dtype);
std::string program2_property(DType dtype);
std::filesystem::path counterexample_file(const std::string& property, const std::filesystem::path& dir);

// A failing case written as a fixture (to_fixture) that carries the facts its replay judges:
// after its backward statements, a `value` expect of every op result as gradoracle's engine
// computes it, and a `grad` expect of every leaf that requires grad as finite differences give
// it (fixtures::numeric_grads; `"grad": null` where gradoracle's grad is None and the
// differences are 0), at the checker's tolerance for the dtype. So `replay FILE` (and `replay
// --engine CMD FILE`) fails again where the engine's values or gradients are wrong, and
// `gradcheck FILE` re-runs the check. No expects where gradoracle cannot run the program.
// `failed`, the check's result when a Jacobian entry failed: the backward of that entry's root
// (output) takes a one-hot upstream at its element, so the grads replayed are the wrong row
// of the Jacobian (a drawn upstream may have shrunk to one that hides it, e.g. constant under
// softmax); the gradcheck is unchanged (it differentiates every root whatever its upstream).
struct WrittenCase {
  std::filesystem::path path;  // absolute; empty if it could not be written (reported, not fatal)
  bool replay_fails = false;   // its replay (in `engine` when given) fails on its expects
};
WrittenCase write_counterexample(const ProgramCase& p, const std::string& property, const std::string& diagnosis,
                                 const std::filesystem::path& dir, const registry::OpTable& ops,
                                 fixtures::EngineProcess* engine, const oracle::GradCheckResult* failed = nullptr);

}  // namespace gradoracle::properties::detail
