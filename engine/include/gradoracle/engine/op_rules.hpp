#pragma once
// What each ShapeRule and Domain of the registry means: the one home of these facts.
//
//  - a Domain: where an argument's values are drawn, what range they then lie in, its name;
//  - a ShapeRule: which first arguments an op accepts, how the other arguments' shapes and
//    the attrs are drawn from the first, which attrs hold dims, how large the result is and
//    how much work it takes (the fixture interpreter's limits), its name.
//
// Every consumer calls these functions: the property generators (through a RapidCheck
// Chooser), `gradoracle generate` (which draws from those generators), the fixture
// interpreter's dim checks and size predictions, and `gradoracle ops`. The switches over the
// enums in op_rules.cpp have no `default:`, so adding a rule or a domain makes the compiler
// (-Wswitch, an error under -Werror) name every place to extend — and no place else needs to.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gradoracle/engine/random.hpp"
#include "gradoracle/engine/registry.hpp"

namespace gradoracle::registry {

inline constexpr int kMaxRank = 4;        // drawn shapes have rank 0..4
inline constexpr int64_t kMaxDim = 6;     // and dims 0..6
inline constexpr int64_t kMaxNumel = 48;  // per tensor, so that a full Jacobian stays cheap

// A source of choices. Rules draw through it, so one rule serves every driver: the property
// suite's RapidCheck chooser shrinks each choice towards its low end (the first option).
class Chooser {
 public:
  virtual ~Chooser() = default;
  // An integer in [lo, hi) (hi > lo), uniformly; shrinks towards lo.
  virtual int64_t integer(int64_t lo, int64_t hi) = 0;

  bool coin() { return integer(0, 2) == 1; }
  // One of `options` (not empty), uniformly; shrinks towards the first.
  template <class T>
  T pick(const std::vector<T>& options) {
    return options[static_cast<size_t>(integer(0, static_cast<int64_t>(options.size())))];
  }
  // One of the options, each with its weight; shrinks towards the first.
  template <class T>
  T weighted(const std::vector<std::pair<int, T>>& options) {
    int64_t total = 0;
    for (const auto& o : options) total += o.first;
    int64_t k = integer(0, total);
    for (const auto& [w, v] : options) {
      if (k < w) return v;
      k -= w;
    }
    return options.back().second;
  }
};

// A Chooser over the engine's Generator: the same draws by seed, without shrinking (tests and
// benchmarks that want a rule's draws outside RapidCheck).
class GeneratorChooser final : public Chooser {
 public:
  explicit GeneratorChooser(Generator& gen) : gen_(gen) {}
  int64_t integer(int64_t lo, int64_t hi) override { return gen_.integer(lo, hi - 1); }

 private:
  Generator& gen_;
};

// ---------------------------------------------------------------- domains

// The values [lo, hi] less the open band (-min_abs, min_abs).
struct ValueRange {
  double lo = 0;
  double hi = 0;
  double min_abs = 0;
};

struct DomainInfo {
  std::string_view name;  // as `gradoracle ops` prints it: "real", "positive", ...
  ValueRange drawn;       // where draw_value puts values (on a 1/2000 grid)
  std::string_view why;   // what the domain keeps away from
};
DomainInfo domain_info(Domain d);

// Whether every value in `have` is a valid argument where `want` is asked for.
bool within(const ValueRange& have, Domain want);
// Whether one value lies in `d`'s drawn range.
bool contains(Domain d, double v);

// A value inside `d`, on a 1/2000 grid; shrinks towards 0 (towards the edge nearest 0 where 0
// is excluded).
double draw_value(Domain d, Chooser& c);
// n values inside `d`; for the domains that exclude 0 the magnitudes are made pairwise
// distinct, so that max-like ops (norm with p = inf) see no ties; Distinct's values are pairwise
// distinct grid points (at least a grid step apart: far wider than a finite-difference step).
std::vector<double> draw_values(Domain d, int64_t n, Chooser& c);

// ---------------------------------------------------------------- shape rules

struct RuleInfo {
  std::string_view name;                  // as `gradoracle ops` prints it: "unary", "broadcast", ...
  bool drawable = true;                   // draw_layout can make cases (Identity, Parameters: no)
  int min_rank = 0;                       // ranks of a first argument the op accepts
  int max_rank = kMaxRank;
  int max_drawn_rank = kMaxRank;          // the highest rank draw_first_shape gives
  std::vector<std::string_view> dim_attrs;  // attrs holding dims of the first tensor argument
  int dim_rank_extra = 0;  // dims index a tensor of the first argument's rank + this (unsqueeze: 1)
  bool nonempty = false;   // first arguments have no zero-size dim (a max over no elements is refused)
  int64_t min_numel = 0;   // first arguments have no elements or at least this many
};
RuleInfo rule_info(ShapeRule r);

// A shape of rank [min_rank, max_rank], dims 0..kMaxDim (small ones likelier), numel at most
// kMaxNumel (larger draws are trimmed, largest dim first). Dims shrink towards 0 and 1.
Shape draw_shape(Chooser& c, int min_rank = 0, int max_rank = kMaxRank);
// A shape that broadcasts with `full`: leading dims dropped, some dims set to 1.
Shape draw_broadcast_partner(const Shape& full, Chooser& c);
// A dim index valid for `rank`, as PyTorch wraps it: 0, 1, ..., then the negative forms.
int64_t draw_dim_index(int64_t rank, Chooser& c);
// `count` distinct dims of a tensor of rank `rank` (a 0-d tensor has one, 0), in drawn order,
// each as d or d - max(rank, 1).
std::vector<int64_t> draw_distinct_dims(int64_t rank, int64_t count, Chooser& c);

// The structure of an op case: each argument's shape (nullopt: a Python number) and attrs.
struct OpLayout {
  std::vector<std::optional<Shape>> args;
  Attrs attrs;
  size_t first_at = 0;  // which argument has the given first shape (1 for `number - y`)
  // Per argument (empty: none): an index or condition drawn with the layout, its values valid
  // for the other arguments' shapes and the attrs (in range, with repeats); it never requires grad.
  std::vector<std::optional<ReferenceTensor>> constants = {};
};
// Whether `op` can take a tensor of shape `first` as its first argument.
bool accepts_first(const OpSpec& op, const Shape& first);
// A first-argument shape for `op`.
Shape draw_first_shape(const OpSpec& op, Chooser& c);
// The layout for `op` given its first argument's shape, from its ShapeRule and AttrSpecs.
OpLayout draw_layout(const OpSpec& op, const Shape& first, Chooser& c);

// The window rule (op_rules_window.cpp): max_pool2d's kernel_size, stride and padding, drawn
// valid for `first` ((C,H,W) or (N,C,H,W), no zero-size dim), and a bound on its result's numel.
OpLayout draw_window_layout(const Shape& first, Chooser& c);
double window_numel_bound(const Shape& first);

// A layout PyTorch 1.13 refuses for a dim attr, with PyTorch's message.
struct RefusedLayout {
  OpLayout layout;
  std::string message;
};
// For an op whose rule has dim attrs (RuleInfo::dim_attrs, declared Int, IntOrList or Ints): a layout
// as draw_layout gives, with one dim attr made invalid: out of range, or for a dim list
// (IntOrList) a list with a dim out of range or repeated (an int or a negative form of one
// already there). nullopt: the op has no dim attr, or PyTorch checks none for `first` (cat of
// 1-D empty tensors, which it skips). permute's dims (Permute): a list of the wrong length, a dim
// out of range or a repeated dim, with permute's messages.
std::optional<RefusedLayout> draw_refused_layout(const OpSpec& op, const Shape& first, Chooser& c);
// PyTorch 1.13's refusal of dims for a tensor of rank `rank`, in its words: the first dim out of
// [-r, r) (r = max(rank, 1): a 0-d tensor takes 0 and -1) in list order, else the first dim
// (wrapped) met a second time. nullopt: the list is valid.
std::optional<std::string> dims_refusal(const std::vector<int64_t>& dims, int64_t rank);

// How an op of the rule takes part when a fixture's program is gradient-checked (format v1,
// "Gradient checking a fixture"): run and differentiated; held at the unperturbed run's value
// (detach); or a constant taken from the reference run (the clip utilities' norms).
enum class GradcheckRole { Op, Hold, Constant };
GradcheckRole gradcheck_role(ShapeRule r);

// Elements of an op's result, predicted from its arguments' shapes (nullopt: a number) and its
// attrs before the engine allocates it: an upper bound (for conv2d, of its result and of its
// im2col buffer, whichever is larger); 0 when the shapes are invalid (the engine says why).
double predict_numel(const OpSpec& op, const std::vector<std::optional<Shape>>& args, const Attrs& attrs = {});
// Multiply-adds the op performs given its result's size (matmul, linear); 0 for the others.
double predict_multiply_adds(const OpSpec& op, const std::vector<std::optional<Shape>>& args, double out_numel);

}  // namespace gradoracle::registry
