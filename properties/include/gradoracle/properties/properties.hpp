#pragma once
// The properties, as RapidCheck property bodies: each draws its case with `*gen`, asserts with
// RC_ASSERT, and draws again (RC_DISCARD) where the checker reports a kink or a domain edge.
// tests/properties wraps each in RC_GTEST_PROP (one test per op for the gradchecks); the
// runner (runner.hpp) runs the same bodies in-process for `gradoracle check`.
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "gradoracle/fixtures/check.hpp"
#include "gradoracle/fixtures/engine.hpp"
#include "gradoracle/oracle/gradcheck.hpp"
#include "gradoracle/properties/generators.hpp"

namespace gradoracle::properties {

// What a gradcheck property saw over the cases it ran (kept across cases by the caller).
struct CaseStats {
  int cases = 0;            // cases checked (passed or failed)
  int discarded = 0;        // cases drawn again: kinks, domain edges
  double worst_abs = 0.0;   // largest |analytic - numeric| over the checker's worst entries seen
  double worst_rel = 0.0;   // largest relative error over them
  double worst_ratio = 0.0; // largest |analytic - numeric| / allowed over them: the share of the tolerance used
  std::optional<ProgramCase> last_failure;  // the last failing case: after shrinking, the shrunk one
  std::string last_diagnosis;               // the checker's report for it
  std::filesystem::path last_fixture;       // where it was written, if it was
  bool last_replay_fails = false;           // its replay fails on the expects written with it
  bool last_gradcheck_fails = false;        // its gradcheck fails (not only the differential check)
  uint64_t digest = 0;      // fingerprint of the sequence of cases checked (FNV-1a over leaves and steps)
};

// The case as a format-v1 fixture: its leaves, its steps, one backward (retain_graph, ones
// upstream) per root; second order, a grad_of per root and a backward per gradient (gradients
// a root does not reach, found by running the program in `ops`, are left out). `gradoracle
// gradcheck FILE` checks it as the property did; `replay` runs it.
fixtures::Fixture to_fixture(const ProgramCase& p, const std::string& description = "",
                             const registry::OpTable& ops = registry::builtin_ops(), fixtures::EngineProcess* engine = nullptr);

// The fixture gradcheck of a case (fixtures::gradcheck_fixture of to_fixture(p)); the case's
// ops must be in `ops`.
fixtures::FixtureCheck gradcheck_case(const ProgramCase& p, const registry::OpTable& ops = registry::builtin_ops(),
                                      fixtures::EngineProcess* engine = nullptr);

// Where shrunk counterexamples go, whatever the current directory: $GRADORACLE_COUNTEREXAMPLE_DIR;
// else `counterexamples` in the build directory of the running executable (the nearest
// directory at or above it holding CMakeCache.txt: build/gradoracle -> build/counterexamples);
// else, for an installed executable, $XDG_CACHE_HOME/gradoracle/counterexamples
// (~/.cache/gradoracle/counterexamples without it).
std::filesystem::path counterexample_dir();

// ---- gradient checks (finite differences through the fixtures library) ----
//
// `engine`: an outside engine (fixtures/engine_check.hpp) runs every case, its replays and
// gradchecks; each case is also compared with gradoracle's own run (the differential check:
// every op result and every leaf's final grad, at the fixture's tolerance). Null: in process.

// Gradcheck of `op` on a case drawn by gen_op_case. On failure the case is written as a
// fixture `<dir>/<property>.json` (overwritten by each failing shrink step, so the file ends
// as the shrunk case) and the assertion names op, element, analytic vs numeric and the file.
void prop_op_gradcheck(const registry::OpSpec& op, DType dtype, CaseStats* stats = nullptr,
                       const std::filesystem::path& dir = counterexample_dir(),
                       const registry::OpTable& ops = registry::builtin_ops(), fixtures::EngineProcess* engine = nullptr);
// Gradcheck of a random program (gen_program over options.table) as one function of its leaves.
void prop_program_gradcheck(DType dtype, CaseStats* stats = nullptr, const ProgramOptions& options = {},
                            const std::filesystem::path& dir = counterexample_dir(), fixtures::EngineProcess* engine = nullptr);

// Second order (gradgradcheck through a fixture, ProgramCase::second_order): of `op` on a case
// drawn by gen_op_case, and of a random program. Counterexamples as above (op2-<op>-<dtype>.json,
// program2-<dtype>.json); `gradoracle gradcheck FILE` checks them again.
void prop_op_gradgradcheck(const registry::OpSpec& op, DType dtype, CaseStats* stats = nullptr,
                           const std::filesystem::path& dir = counterexample_dir(),
                           const registry::OpTable& ops = registry::builtin_ops(), fixtures::EngineProcess* engine = nullptr);
void prop_program_gradgradcheck(DType dtype, CaseStats* stats = nullptr, const ProgramOptions& options = {},
                                const std::filesystem::path& dir = counterexample_dir(), fixtures::EngineProcess* engine = nullptr);

// The op's reference inputs (OpSpec::references), each as a one-op fixture: a pinned gradient
// (`grads`) as expects, checked by replay; otherwise gradchecked; values and grads finite.
// The first failure, as the gradcheck properties report one (written under `dir`); none: all pass.
struct ReferenceFailure {
  std::string label;                 // the reference input's label
  std::string diagnosis;             // what is wrong
  std::filesystem::path fixture;     // the fixture that fails again (replay or gradcheck)
  bool pinned = false;               // a pinned gradient failed (replay FILE fails) or finite differences did (gradcheck FILE)
  double worst_abs = 0.0, worst_rel = 0.0, worst_ratio = 0.0;  // the checker's worst entries, as CaseStats has them
};
std::optional<ReferenceFailure> check_references(const registry::OpSpec& op, DType dtype,
                                                 const std::filesystem::path& dir = counterexample_dir(),
                                                 const registry::OpTable& ops = registry::builtin_ops(),
                                                 int* checked = nullptr, fixtures::EngineProcess* engine = nullptr);
// The example database (as Hypothesis keeps one): the files under `dir` a task's failures are
// written to, one per property, each holding its last shrunk case. An op's reference inputs
// (ref-<op>-<dtype>.json) and random cases (op-<op>-<dtype>.json); random programs'
// (program-<dtype>.json) when `op` is null; with `second_order`, the second-order task's
// (op2-<op>-<dtype>.json, program2-<dtype>.json).
std::vector<std::filesystem::path> counterexample_files(const registry::OpSpec* op, DType dtype,
                                                        const std::filesystem::path& dir, bool second_order = false);
// Re-runs the cases earlier runs saved there, before any new case: each replayed (its expects)
// and gradchecked with the property's options. The first that fails again is the failure
// (pinned: its expects failed, `replay FILE` fails again; else `gradcheck FILE` does). A case
// the properties wrote that fails at a point its property would draw again at is not judged.
struct SavedCases {
  int checked = 0;                          // saved cases re-run
  std::optional<ReferenceFailure> failure;  // the first that fails again; label: its file name
  std::vector<std::string> unreadable;      // "FILE: why" for saved files the table cannot read (not re-run)
  std::vector<std::string> not_judged;      // "FILE: why" for saved cases at a point the property draws again
                                            // at (a declared kink in second order, say): not judged
};
SavedCases rerun_saved(const registry::OpSpec* op, DType dtype, const std::filesystem::path& dir,
                       const registry::OpTable& ops = registry::builtin_ops(), bool second_order = false,
                       fixtures::EngineProcess* engine = nullptr);
// The one-op fixture of a reference input (with its pinned grads as expects, if any).
fixtures::Fixture reference_fixture(const registry::OpSpec& op, const registry::ReferenceInput& r, DType dtype);

// ---- structural properties (engine and closed forms only) ----

// Two backward calls (retain_graph) through a random op give exactly twice one call's grads.
void prop_backward_twice(DType dtype);
// Grads are linear in the upstream: g(a·u + b·v) = a·g(u) + b·g(v).
void prop_linear_in_upstream(DType dtype);
// Tutorial section 2 generalised: a random row-wise model (linear, activation, linear) gives
// the same grads on a batch as on its two parts, each weighted, backward-ed one after the
// other (accumulating); with no activation, the closed form of weighted_batches.
void prop_split_batch(DType dtype);
// clip_grad_norm_ returns the closed-form total norm, leaves a total norm <= max_norm and
// keeps each grad's direction (grads scaled by min(1, max_norm / (total + 1e-6))).
void prop_clip_grad_norm(DType dtype);
// y = op(args) + op(args with one detached): the detached leaf gets only y's path, the others both.
void prop_detach_cuts_path(DType dtype);
// Values are equal with and without grad tracking; no_grad results carry no graph.
void prop_values_without_grad(DType dtype);
// The nn API (Linear, zero_grad both ways, detach_, both clips, mixed dtypes) in random command
// sequences against a model written without the engine (nn_model.cpp).
void prop_nn_model(DType dtype);

// ---- declared stability and dim refusals (stability.cpp) ----

// A case of `op` (structure as gen_op_case draws it) whose tensor elements and numbers have
// magnitudes in the op's declared finite range for `dtype` (OpSpec::stability), either sign.
rc::Gen<OpCase> gen_large_magnitude_case(const registry::OpSpec& op, DType dtype);
// One promise of one fuzzable op of `ops` that makes any (OpSpec::stability), on a drawn case:
// shift invariance (f(x + c) against f(x) at moderate x, |c| from 100 to the dtype's largest
// finite sums, values and grads under rule 1 of docs/comparison.md), or finite values and grads
// at the declared magnitudes wherever they are finite at moderate values.
void prop_stability(DType dtype, const registry::OpTable& ops = registry::builtin_ops());
// A dim attr PyTorch refuses (out of range, or a dim repeated in a list; registry::
// draw_refused_layout) for a fuzzable op of `ops` whose rule has dim attrs: the op raises
// PyTorch 1.13's message, word for word.
void prop_dim_refusals(DType dtype, const registry::OpTable& ops = registry::builtin_ops());

// Autograd bookkeeping and layout, as PyTorch 1.13 (bookkeeping.cpp states each fact): a leaf's
// .grad after backward; grad mode, and the errors of backward and requires_grad_ misuse;
// detach, detach_ and to(dtype); a node consumed k times gets the sum of its consumers' grads;
// strides along random transpose/t/reshape chains.
void prop_grad_bookkeeping(DType dtype);
void prop_grad_mode(DType dtype);
void prop_detach_and_to(DType dtype);
void prop_fan_in(DType dtype);
void prop_layout(DType dtype);
// Those properties with their names in the gate's task ids (structural/<name>/<dtype>).
struct NamedProperty {
  const char* name;
  void (*body)(DType);
};
std::vector<NamedProperty> bookkeeping_properties();

// Second order (second_order.cpp), through autograd::grad on a drawn op case:
// the Hessian of ⟨u, f⟩ is symmetric (⟨w, H·v⟩ = ⟨v, H·w⟩, HVPs by a create_graph grad);
// grad of several outputs is the sum of their grads; without create_graph neither grad() nor
// backward() leaves a graph, and with it backward's .grad is grad()'s.
void prop_hessian_symmetry(DType dtype, const registry::OpTable& ops = registry::builtin_ops());
void prop_grad_of_sum(DType dtype, const registry::OpTable& ops = registry::builtin_ops());
void prop_no_graph_without_create_graph(DType dtype, const registry::OpTable& ops = registry::builtin_ops());
// A structural property over an op table (the gate's: RunOptions::table).
struct TableProperty {
  const char* name;
  void (*body)(DType, const registry::OpTable&);
};
std::vector<TableProperty> second_order_properties();

// The ops the gradcheck sweep covers: every fuzzable op of `ops`.
std::vector<const registry::OpSpec*> fuzzable_ops(const registry::OpTable& ops = registry::builtin_ops());

}  // namespace gradoracle::properties
