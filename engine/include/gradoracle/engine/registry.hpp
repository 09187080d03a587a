#pragma once
// The op registry: one declaration per op (OpSpec), gathered in tables (OpTable). The fixture
// interpreter, the CLI's op list, the property generators and fixture generation all read the
// table they are given (the built-in one by default), so registering an op is all it takes for
// it to be replayed, fuzzed, generated and checked at its reference inputs. What a ShapeRule or
// a Domain means is in op_rules.hpp.
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "gradoracle/engine/dtype.hpp"
#include "gradoracle/engine/ops.hpp"
#include "gradoracle/engine/tolerance.hpp"

namespace gradoracle::registry {

// An op argument: a tensor or a Python number (as in `1 - y`).
using Arg = std::variant<Tensor, double>;
// An attr value as the fixture format carries it ("inf" for p is a double).
using AttrValue = std::variant<bool, int64_t, double, std::string, std::vector<int64_t>>;
using Attrs = std::map<std::string, AttrValue>;

enum class AttrType {
  Int,          // an integer, e.g. dim0
  IntOrList,    // an integer or a list of integers, e.g. sum's dim
  IntList,      // a shape: a list of integers >= -1, at most one -1 (reshape's shape)
  Ints,         // a list of any integers, checked by the op (permute's dims, expand's size)
  Bool,         // keepdim, error_if_nonfinite
  Number,       // a number or the string "inf" / "-inf": norm's p, max_norm
  Choice,       // one of `choices`: mse_loss's reduction
};

struct AttrSpec {
  std::string name;
  AttrType type;
  bool required = false;
  std::vector<std::string> choices = {};  // for Choice
  std::vector<double> drawn = {};         // for Number: the values generators draw (empty: 1, 2, 0.5, 3)
};

// Where an argument's values must lie for the op to be differentiable there, away from kinks
// and poles; property generators draw inside it. Meaning: op_rules.hpp (domain_info).
enum class Domain {
  Real,        // anywhere
  Positive,    // x > 0, away from 0 (log, sqrt, pow's base)
  NonZero,     // |x| away from 0 (a divisor)
  AwayFromKink,  // |x| away from 0 where the op has a kink (relu, abs)
  Bounded,     // |x| moderate (exp, pow's exponent): no overflow
  AboveMinusOne,  // x > -1, away from -1 (log1p)
  NearOne,     // 0.5 <= |x| <= 1.5: a product of many factors stays moderate, away from 0 (prod)
  Spread,      // values at least 0.1 apart: no (near-)ties, std's kink at zero variance
  Distinct,    // pairwise distinct values: no ties (max, amax)
  OffGrid,     // between the grid points the other domains draw on: never equal to another
               // argument's value nor to a bound drawn on the grid (maximum's ties, clamp's bounds)
};

// How the op's argument shapes relate; property generators draw shapes by it. Meaning:
// op_rules.hpp (rule_info, draw_layout, predict_numel).
enum class ShapeRule {
  Unary,         // any shape
  Broadcast,     // two broadcast-compatible shapes, either may be a Python number
  Matmul,        // torch.matmul-compatible shapes
  Linear,        // x (..., in), weight (out, in), optional bias (out)
  Transpose2D,   // rank <= 2
  Transpose,     // rank >= 0 with dim0, dim1
  Reshape,       // any shape with a target of the same numel
  Reduction,     // any shape with optional dim (int or list) and keepdim
  Norm,          // any shape with p
  SoftmaxDim,    // any shape with dim
  Cat,           // shapes equal except along dim
  Unsqueeze,     // any shape with dim in [-rank - 1, rank]
  Squeeze,       // any shape with optional dim
  Permute,       // any shape with dims, a permutation of its dims
  Expand,        // any shape with size, a shape it broadcasts to (-1 keeps a dim)
  // Selection (ops_select.cpp): the index or condition argument is drawn with its values.
  Where,         // cond (bool), a, b: three broadcast-compatible shapes; a or b may be a number
  IndexSelect,   // a of any shape, dim, index (int64, 1-D) in range with repeats
  Gather,        // a of rank >= 1, dim, index (int64) of a's rank, no larger apart from dim, in range
  Embedding,     // indices (int64) of any shape in range, weight (rows, D)
  Loss,          // two broadcast-compatible shapes
  Clamp,         // any shape with min, max or both (numbers)
  MaxDim,        // a shape without zero-size dims, optional int dim (keepdim only with it)
  MaxReduction,  // as Reduction, over a shape without zero-size dims (amax, amin)
  Identity,      // detach
  Parameters,    // the clip utilities: leaves that have grads
  Moments,       // rank >= 1 with optional dim (int or list), unbiased and keepdim (var, std)
  // Classification losses (ops_loss_class.cpp): input (C), (N, C) or (N, C, d1, ...); target int64
  // classes in [0, C) with repeats and ignore_index, or (cross_entropy) probabilities of input's shape.
  ClassTarget,
  // Normalization (ops_norm.cpp, op_rules_norm.cpp).
  Normalized,    // x of rank >= 1, normalized_shape its trailing dims, optional weight and bias of that shape
  // Convolution (ops_conv.cpp, draws: op_rules_conv.cpp).
  Conv2d,        // input (N, C, H, W) or (C, H, W), weight (O, C/groups, kH, kW), optional bias (O); valid geometry
  Pool2d,        // (C,H,W) or (N,C,H,W) without zero-size dims, kernel_size, stride, padding (op_rules_window.cpp)
};

// A point where an op is not differentiable: random cases keep away from it (its Domain),
// reference inputs sit on it and pin what PyTorch's backward gives there.
struct Kink {
  size_t arg = 0;         // which argument
  double at = 0.0;        // the value there
  std::string gradient;   // PyTorch's choice there, e.g. "relu'(0) = 0"
};

// A tensor of a reference input: shape and row-major values.
struct ReferenceTensor {
  Shape shape;
  std::vector<double> data;
  // Int64 or Bool for an index or a condition, which never requires grad; nullopt: the case's
  // float dtype, requiring grad.
  std::optional<DType> dtype = std::nullopt;
};
using ReferenceArg = std::variant<ReferenceTensor, double>;

// A hand-chosen case the gate and the op's property run every time, besides the random ones:
// a kink or a tie, a zero-size or 0-d tensor, magnitudes where the op must stay stable.
// Judged by finite differences (the op's gradcheck), unless `grads` pins the gradient (at a
// kink or tie, where finite differences cannot decide); always, values and grads must be
// finite. The torch suite (tests/python) replays every reference input in PyTorch.
struct ReferenceInput {
  std::string label;                       // what it probes: "at the kink", "|x| ~ 1000"
  std::vector<ReferenceArg> args;          // every tensor argument requires grad
  Attrs attrs = {};
  std::vector<std::vector<double>> grads;  // each tensor argument's grad under a ones upstream; empty: finite differences
  std::optional<ReferenceTensor> value = std::nullopt;  // the result PyTorch gives, where semantics (not only gradients) are probed
};

// Magnitudes |x| of an op's arguments: [least, most].
struct MagnitudeRange {
  double least = 0;
  double most = 0;
};

// What an op promises about numerical stability, beyond the moderate values its random cases
// take; the gate's stability property (properties/src/stability.cpp) checks every promise made.
// Declare only what PyTorch 1.13 keeps: each range below was checked against torch 1.13 over
// the cases the property draws (tests/properties/stability_torch.py).
struct Stability {
  // The Int attr naming a dim along which f(x + c) = f(x) for the first argument x and any c
  // constant along that dim (c may differ between the other dims' slices): softmax and
  // log_softmax's "dim". Empty: no such promise.
  std::string shift_invariant_along;
  // Arguments whose every element has a magnitude in the range (each sign, every attr the
  // generators draw) give finite values and finite grads under a moderate upstream, per dtype.
  // None: no promise.
  std::optional<MagnitudeRange> finite_float64;
  std::optional<MagnitudeRange> finite_float32;

  std::optional<MagnitudeRange> finite(DType d) const { return d == DType::Float64 ? finite_float64 : finite_float32; }
  bool promises(DType d) const { return !shift_invariant_along.empty() || finite(d).has_value(); }
};

struct OpSpec {
  std::string name;     // as in the fixture format
  std::string summary;  // one line for `gradoracle ops`
  std::string grad_fn;  // PyTorch 1.13's grad_fn in the common case (the engine names each result exactly)
  int min_args = 1;
  int max_args = 1;              // -1: any number
  bool accepts_numbers = false;  // an argument may be a Python number
  std::vector<Domain> domain;    // per argument; the last entry repeats
  ShapeRule shape = ShapeRule::Unary;
  std::vector<AttrSpec> attrs;
  bool differentiable = true;  // false: detach and the clip utilities
  bool binds_result = true;    // false: clip_grad_value_ (side effects only)
  std::function<Tensor(const std::vector<Arg>& args, const Attrs& attrs)> call;
  // The gradchecks' tolerance where the checker's default does not fit this op; none: the default.
  std::optional<Tolerance> tolerance_float64;
  std::optional<Tolerance> tolerance_float32;
  std::vector<Kink> kinks;                   // where it is not differentiable
  std::vector<ReferenceInput> references;    // run by the gate and the op's property every time
  Stability stability;                       // checked by the gate's stability property

  Domain domain_of(size_t arg) const {
    if (domain.empty()) return Domain::Real;
    return arg < domain.size() ? domain[arg] : domain.back();
  }
  std::optional<Tolerance> tolerance(DType d) const {
    return d == DType::Float64 ? tolerance_float64 : tolerance_float32;
  }
};

// A table of ops, looked up by name. Tables are passed, never global: the interpreter, the
// property suite and the CLI take one (builtin_ops() by default); a test extends the built-in
// table with planted broken ops. An OpSpec's address is stable while its table lives.
class OpTable {
 public:
  explicit OpTable(std::vector<OpSpec> ops);
  // `base`'s ops, then `more` (whose names must be new).
  OpTable(const OpTable& base, std::vector<OpSpec> more);
  OpTable(const OpTable&) = delete;
  OpTable& operator=(const OpTable&) = delete;

  const OpSpec* find(std::string_view name) const;  // null if unknown
  const std::vector<OpSpec>& ops() const { return ops_; }

 private:
  OpTable(std::vector<OpSpec> more, const OpTable* base);
  std::vector<OpSpec> ops_;
};

// The engine's ops.
const OpTable& builtin_ops();

// Attr readers with the defaults the fixture format gives.
int64_t attr_int(const Attrs& attrs, const std::string& name, int64_t fallback);
bool attr_bool(const Attrs& attrs, const std::string& name, bool fallback);
double attr_number(const Attrs& attrs, const std::string& name, double fallback);
std::vector<int64_t> attr_int_list(const Attrs& attrs, const std::string& name);  // empty if absent
std::string attr_string(const Attrs& attrs, const std::string& name, const std::string& fallback);

}  // namespace gradoracle::registry
