#pragma once
// The op registry: one declaration per op. The fixture interpreter, the CLI's op list, the
// property generators and fixture generation all read this table, so registering an op here
// is all it takes for it to be replayed, fuzzed and generated.
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "gradoracle/engine/ops.hpp"

namespace gradoracle::registry {

// An op argument: a tensor or a Python number (as in `1 - y`).
using Arg = std::variant<Tensor, double>;
// An attr value as the fixture format carries it ("inf" for p is a double).
using AttrValue = std::variant<bool, int64_t, double, std::string, std::vector<int64_t>>;
using Attrs = std::map<std::string, AttrValue>;

enum class AttrType {
  Int,          // an integer, e.g. dim0
  IntOrList,    // an integer or a list of integers, e.g. sum's dim
  IntList,      // a list of integers, e.g. reshape's shape
  Bool,         // keepdim, error_if_nonfinite
  Number,       // a number or the string "inf" / "-inf": norm's p, max_norm
  Choice,       // one of `choices`: mse_loss's reduction
};

struct AttrSpec {
  std::string name;
  AttrType type;
  bool required = false;
  std::vector<std::string> choices = {};  // for Choice
};

// Where an argument's values must lie for the op to be differentiable there, away from kinks
// and poles; property generators draw inside it.
enum class Domain {
  Real,        // anywhere
  Positive,    // x > 0, away from 0 (log, sqrt, pow's base)
  NonZero,     // |x| away from 0 (a divisor)
  AwayFromKink,  // |x| away from 0 where the op has a kink (relu, abs)
  Bounded,     // |x| moderate (exp, pow's exponent): no overflow
};

// How the op's argument shapes relate; property generators draw shapes by it.
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
  Loss,          // two broadcast-compatible shapes
  Identity,      // detach
  Parameters,    // the clip utilities: leaves that have grads
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

  Domain domain_of(size_t arg) const {
    if (domain.empty()) return Domain::Real;
    return arg < domain.size() ? domain[arg] : domain.back();
  }
};

const std::vector<OpSpec>& all();
const OpSpec* find(std::string_view name);  // null if unknown; extra ops (below) first

// Test hook: while alive, find() also resolves these ops (before the table; all() does not list
// them), so the fixture interpreter and the property suite can run planted broken ops
// (tests/properties/broken_ops.hpp). Scopes nest; not thread-safe.
class ScopedExtraOps {
 public:
  explicit ScopedExtraOps(std::vector<OpSpec> ops);
  ~ScopedExtraOps();
  ScopedExtraOps(const ScopedExtraOps&) = delete;
  ScopedExtraOps& operator=(const ScopedExtraOps&) = delete;
  const std::vector<OpSpec>& ops() const { return ops_; }

 private:
  std::vector<OpSpec> ops_;
};

// Attr readers with the defaults the fixture format gives.
int64_t attr_int(const Attrs& attrs, const std::string& name, int64_t fallback);
bool attr_bool(const Attrs& attrs, const std::string& name, bool fallback);
double attr_number(const Attrs& attrs, const std::string& name, double fallback);
std::vector<int64_t> attr_int_list(const Attrs& attrs, const std::string& name);  // empty if absent
std::string attr_string(const Attrs& attrs, const std::string& name, const std::string& fallback);

}  // namespace gradoracle::registry
