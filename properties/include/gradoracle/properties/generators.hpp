#pragma once
// RapidCheck generators over an op table: shapes, broadcast pairs, tensors inside an op's
// Domain, attrs from its ShapeRule and AttrSpecs, whole op cases, and random programs (DAGs
// of the table's ops) expressed as format-v1 fixture programs. What a rule or a domain means
// is the engine's op_rules.hpp: these generators draw through it with a RapidCheck Chooser,
// so registering an op is all it takes for it to be fuzzed. They are the project's one
// generator: `gradoracle generate` draws from them by seed (generate.hpp).
//
// Shrinking order: a case's structure (op layout, shapes, attrs, program wiring) is drawn
// before its values, so RapidCheck shrinks shapes before values.
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <variant>
#include <vector>

#include <rapidcheck.h>

#include "gradoracle/engine/op_rules.hpp"
#include "gradoracle/engine/registry.hpp"

namespace gradoracle::properties {

using registry::kMaxDim;
using registry::kMaxNumel;
using registry::kMaxRank;

// A leaf: a tensor literal (row-major data) and whether it requires grad.
struct TensorCase {
  Shape shape;
  std::vector<double> data;
  bool requires_grad = true;
  std::optional<DType> dtype = std::nullopt;  // int64 or bool (an index, a condition; no grad); nullopt: the case's
};

// An argument of an op: a tensor or a Python number (as in `1 - y`).
using ArgCase = std::variant<TensorCase, double>;

// One op applied to generated leaves: the unit of the per-op gradcheck property. The op is the
// declaration itself (its table outlives the case).
struct OpCase {
  const registry::OpSpec* op = nullptr;
  DType dtype = DType::Float64;
  std::vector<ArgCase> args;
  registry::Attrs attrs;
};

// A random program: leaves, then `let` statements over registered ops (each argument a bound
// name or a number), then one backward statement (retain_graph) per root. It is a format-v1
// program (see to_fixture in fixture_io.hpp), gradchecked as one function of its leaves.
struct ProgramCase {
  using Operand = std::variant<std::string, double>;
  struct Step {
    std::string let;
    const registry::OpSpec* op = nullptr;
    std::vector<Operand> args;
    registry::Attrs attrs;
  };
  std::string name = "program";
  DType dtype = DType::Float64;
  std::vector<std::pair<std::string, TensorCase>> leaves;
  std::vector<Step> steps;
  std::vector<std::string> roots;  // the results no step consumes; each is backward-ed
  std::vector<Shape> root_shapes;  // their shapes (for the backward statements' grad literals)
  std::vector<std::vector<double>> upstreams;  // each root's upstream values; absent: ones
  std::vector<Step> after_backward;  // ops run after the backwards (the clip utilities); let "" binds nothing
  // Second order: each root's gradient with respect to every leaf that requires grad is a value
  // of the program (`grad_of` with create_graph, upstream a leaf `u<i>` that requires grad,
  // holding upstreams[i] or ones), and the backwards are of those gradients, not of the roots:
  // its gradcheck is the roots' gradgradcheck. Gradients a root does not reach are left out.
  bool second_order = false;
};

// The one-step program of an op case: leaves a0, a1, ..., `let y = op(...)`, root y.
ProgramCase to_program(const OpCase& c);

// A Chooser (op_rules.hpp) that draws with RapidCheck: usable only inside a generator or a
// property (where `*gen` is), each choice shrinking towards its low end.
class RapidCheckChooser final : public registry::Chooser {
 public:
  int64_t integer(int64_t lo, int64_t hi) override;
};

// ---- draws over their whole range at every RapidCheck size, shrinking ----

// An integer in [min, max), uniformly whatever the case's size (rc::gen::inRange narrows the
// range at small sizes); shrinks towards min.
template <class T>
rc::Gen<T> in_range(T min, T max) {
  return rc::gen::resize(rc::kNominalSize, rc::gen::inRange<T>(min, max));
}

// One of `options`, uniformly; shrinks towards the first.
template <class T>
rc::Gen<T> gen_choice(std::vector<T> options) {
  const auto n = options.size();
  return rc::gen::map(in_range<size_t>(0, n), [options = std::move(options)](size_t i) { return options[i]; });
}
// One of the weighted options; shrinks towards the first.
template <class T>
rc::Gen<T> gen_weighted(std::vector<std::pair<int, T>> options) {
  int total = 0;
  for (const auto& o : options) total += o.first;
  return rc::gen::map(in_range(0, total), [options = std::move(options)](int k) {
    for (const auto& [w, v] : options) {
      if (k < w) return v;
      k -= w;
    }
    return options.back().second;
  });
}

// ---- structure: shapes, layouts ----

// A shape of rank [min_rank, max_rank], dims 0..6, numel at most kMaxNumel (larger draws
// are trimmed, largest dim first). Dims shrink towards 0 and 1, ranks towards min_rank.
rc::Gen<Shape> gen_shape(int min_rank = 0, int max_rank = kMaxRank);

// Two broadcast-compatible shapes, in either order (one is derived from the other by
// dropping leading dims and setting dims to 1).
struct BroadcastPair {
  Shape a;
  Shape b;
};
rc::Gen<BroadcastPair> gen_broadcast_pair();

// Whether the property suite can draw cases for this op (differentiable, a ShapeRule that
// draws layouts). Non-fuzzable ops (detach, clip_*) are covered by the structural properties.
bool fuzzable(const registry::OpSpec& op);
// The layout for `op` given its first argument's shape (registry::draw_layout).
rc::Gen<registry::OpLayout> gen_layout(const registry::OpSpec& op, const Shape& first);

// ---- values ----

// A value inside `domain`, on a 1/2000 grid; shrinks towards 0 (towards the domain's
// edge nearest 0 where 0 is excluded).
rc::Gen<double> gen_value(registry::Domain domain);
// n values inside `domain`; for the kink domains magnitudes are made pairwise distinct, so
// that max-like ops (norm with p = inf) see no ties.
rc::Gen<std::vector<double>> gen_values(registry::Domain domain, int64_t n);
rc::Gen<TensorCase> gen_tensor(const Shape& shape, registry::Domain domain);

// ---- cases ----

// A whole case for `op` in `dtype`: structure first, then values inside the op's Domain.
rc::Gen<OpCase> gen_op_case(const registry::OpSpec& op, DType dtype);

struct ProgramOptions {
  int max_depth = 4;   // longest chain of ops from a leaf to a root (domain adapters excluded)
  int max_steps = 6;   // ops drawn (domain adapters excluded)
  // Ops to draw from; empty: every fuzzable op of `table`.
  std::vector<const registry::OpSpec*> ops;
  // The table the ops come from; the domain adapters (sin, mul, add) are looked up in it.
  const registry::OpTable* table = &registry::builtin_ops();
};
// A random DAG of registered ops. An argument whose op has a Domain gets either a fresh leaf
// inside it or an earlier result passed through a domain adapter (sin(v)·0.5 + 1, in
// [0.5, 1.5]; sin(v) for Bounded), so every program is differentiable where it is drawn.
rc::Gen<ProgramCase> gen_program(DType dtype, const ProgramOptions& options = {});

// ---- evaluation helpers (engine only) ----

// The tensor of a literal, in `dtype`; requires_grad as the literal says.
Tensor make_tensor(const TensorCase& t, DType dtype);
// Fresh leaves for an op case, in order (numbers stay numbers).
std::vector<registry::Arg> make_args(const OpCase& c);
// Whether an argument of the case sits exactly at one of the op's declared kinks
// (OpSpec::kinks): PyTorch's first derivative there is a choice (relu'(0) = 0, pow's mask at
// exponent 0) whose own derivative neither finite differences nor symmetry can judge.
bool at_declared_kink(const OpCase& c);
// Runs the op on `args`; throws what the op throws.
Tensor call_op(const OpCase& c, const std::vector<registry::Arg>& args);
// The op case of a reference input (registry::ReferenceInput) of `op`, in `dtype`.
OpCase reference_case(const registry::OpSpec& op, const registry::ReferenceInput& r, DType dtype);
// The op's output shape for the case (a forward on zeros without grad).
Shape output_shape(const OpCase& c);

// ---- showValue: counterexamples as readable as fixtures ----
void showValue(const TensorCase& t, std::ostream& os);
void showValue(const OpCase& c, std::ostream& os);
void showValue(const ProgramCase& p, std::ostream& os);
void showValue(const BroadcastPair& p, std::ostream& os);
void show_attrs(const registry::Attrs& attrs, std::ostream& os);

}  // namespace gradoracle::properties

namespace gradoracle::registry {
// A drawn op (rc::gen choices of `const OpSpec*`) shows as its name; a null one, drawn where
// a property may go without an op, as "no op" (RapidCheck's own show of a raw pointer
// dereferences it: describing such a failing case crashed the gate).
void showValue(const OpSpec& op, std::ostream& os);
void showValue(const OpSpec* op, std::ostream& os);
}  // namespace gradoracle::registry

namespace rc {
template <>
struct Arbitrary<gradoracle::properties::BroadcastPair> {
  static Gen<gradoracle::properties::BroadcastPair> arbitrary() { return gradoracle::properties::gen_broadcast_pair(); }
};
template <>
struct Arbitrary<gradoracle::DType> {
  static Gen<gradoracle::DType> arbitrary() { return gen::element(gradoracle::DType::Float64, gradoracle::DType::Float32); }
};
// A program in float64 by default; use gen_program(dtype) for float32.
template <>
struct Arbitrary<gradoracle::properties::ProgramCase> {
  static Gen<gradoracle::properties::ProgramCase> arbitrary() {
    return gradoracle::properties::gen_program(gradoracle::DType::Float64);
  }
};
}  // namespace rc
