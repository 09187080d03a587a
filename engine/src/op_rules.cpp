#include "gradoracle/engine/op_rules.hpp"

#include <algorithm>
#include <numeric>
#include <cmath>
#include <exception>
#include <limits>

#include "op_rules_loss_class.hpp"
#include "op_rules_norm.hpp"
#include "op_rules_conv.hpp"
#include "op_rules_select.hpp"

namespace gradoracle::registry {

// ---------------------------------------------------------------- shape rules

RuleInfo rule_info(ShapeRule r) {
  switch (r) {
    case ShapeRule::Unary: return {"unary", true, 0, kMaxRank, kMaxRank, {}};
    case ShapeRule::Broadcast: return {"broadcast", true, 0, kMaxRank, kMaxRank, {}};
    case ShapeRule::Matmul: return {"matmul", true, 1, kMaxRank, 3, {}};
    case ShapeRule::Linear: return {"linear", true, 1, kMaxRank, 3, {}};
    case ShapeRule::Transpose2D: return {"transpose2d", true, 0, 2, 2, {}};
    case ShapeRule::Transpose: return {"transpose", true, 0, kMaxRank, kMaxRank, {"dim0", "dim1"}};
    case ShapeRule::Reshape: return {"reshape", true, 0, kMaxRank, kMaxRank, {}};
    case ShapeRule::Reduction: return {"reduction", true, 0, kMaxRank, kMaxRank, {"dim"}};
    case ShapeRule::Moments: return {"moments", true, 1, kMaxRank, kMaxRank, {"dim"}};
    case ShapeRule::Norm: return {"norm", true, 0, kMaxRank, kMaxRank, {}};
    case ShapeRule::SoftmaxDim: return {"softmax-dim", true, 0, kMaxRank, kMaxRank, {"dim"}};
    case ShapeRule::Cat: return {"cat", true, 1, kMaxRank, kMaxRank, {"dim"}};
    case ShapeRule::Unsqueeze: return {"unsqueeze", true, 0, kMaxRank - 1, kMaxRank - 1, {"dim"}, 1};
    case ShapeRule::Squeeze: return {"squeeze", true, 0, kMaxRank, kMaxRank, {"dim"}};
    case ShapeRule::Permute: return {"permute", true, 0, kMaxRank, kMaxRank, {"dims"}};
    case ShapeRule::Expand: return {"expand", true, 0, kMaxRank - 1, kMaxRank - 1, {}};
    case ShapeRule::Loss: return {"loss", true, 0, kMaxRank, kMaxRank, {}};
    case ShapeRule::Clamp: return {"clamp", true, 0, kMaxRank, kMaxRank, {}};
    case ShapeRule::MaxDim: return {"max-dim", true, 0, kMaxRank, kMaxRank, {"dim"}, 0, true};
    case ShapeRule::MaxReduction: return {"max-reduce", true, 0, kMaxRank, kMaxRank, {"dim"}, 0, true};
    case ShapeRule::Identity: return {"identity", false, 0, kMaxRank, kMaxRank, {}};
    case ShapeRule::Parameters: return {"parameters", false, 0, -1, -1, {}};
    case ShapeRule::Where: return {"where", true, 0, kMaxRank, kMaxRank, {}};
    case ShapeRule::IndexSelect: return {"index-select", true, 0, kMaxRank, kMaxRank, {"dim"}};
    case ShapeRule::Gather: return {"gather", true, 0, kMaxRank, kMaxRank, {"dim"}};
    case ShapeRule::Embedding: return {"embedding", true, 2, 2, 2, {}};
    case ShapeRule::ClassTarget: return {"class-target", true, 1, kMaxRank, kMaxRank, {}, 0, true};
    case ShapeRule::Normalized: return {"normalized", true, 1, kMaxRank, kMaxRank, {}, 0, false, 3};
    case ShapeRule::Conv2d: return {"conv2d", true, 3, 4, 4, {}, 0, true};
    case ShapeRule::Pool2d: return {"pool2d", true, 3, 4, 4, {}, 0, true};
  }
  return {"?", false, 0, -1, -1, {}};
}

namespace {

// A dim in 0..6, small ones likelier; shrinks towards 0, then 1.
int64_t draw_dim(Chooser& c) {
  return c.weighted<int64_t>({{1, 0}, {4, 1}, {4, 2}, {3, 3}, {2, 4}, {1, 5}, {1, kMaxDim}});
}

// A dim in 1..max(1, limit): a new dim that keeps a tensor within kMaxNumel given the product of the others.
int64_t fit(int64_t dim, int64_t others) {
  if (others <= 0) return dim;
  return std::max<int64_t>(std::min<int64_t>(dim, kMaxNumel / others), dim == 0 ? 0 : 1);
}

Shape trim(Shape s) {
  while (numel(s) > kMaxNumel) {
    auto it = std::max_element(s.begin(), s.end());
    --*it;
  }
  return s;
}

// Optional attrs are left out (the op's default) a third of the time.
bool draw_present(Chooser& c) { return c.weighted<bool>({{1, false}, {2, true}}); }

// Attrs no ShapeRule sets, from their AttrSpec alone.
void draw_generic_attrs(const OpSpec& op, Attrs& attrs, Chooser& c) {
  for (const AttrSpec& spec : op.attrs) {
    if (attrs.count(spec.name)) continue;
    if (!spec.required && !draw_present(c)) continue;
    switch (spec.type) {
      case AttrType::Bool: attrs[spec.name] = c.coin(); break;
      case AttrType::Choice:
        if (!spec.choices.empty()) attrs[spec.name] = c.pick(spec.choices);
        break;
      case AttrType::Number: attrs[spec.name] = c.pick<double>(spec.drawn.empty() ? std::vector<double>{1.0, 2.0, 0.5, 3.0} : spec.drawn); break;
      case AttrType::Int:
      case AttrType::IntOrList:
      case AttrType::IntList:
      case AttrType::Ints: break;  // dims and shapes need the ShapeRule's meaning
    }
  }
}

// How a dim attr that takes an int or a list is given.
enum class DimForm { Absent, Int, OneElementList, SeveralDims, EmptyList };

Shape draw_reshape_target(const Shape& s, Chooser& c) {
  const int64_t n = numel(s);
  std::vector<Shape> targets = {Shape{n}};
  targets.emplace_back(s.rbegin(), s.rend());
  if (n > 0) targets.push_back(Shape{-1});
  for (size_t i = 0; i <= s.size(); ++i) {  // a 1 inserted
    Shape t = s;
    t.insert(t.begin() + static_cast<std::ptrdiff_t>(i), 1);
    targets.push_back(t);
  }
  for (size_t i = 0; i + 1 < s.size(); ++i) {  // two adjacent dims merged, or -1 for one of them
    Shape t = s;
    t[i] *= t[i + 1];
    t.erase(t.begin() + static_cast<std::ptrdiff_t>(i) + 1);
    targets.push_back(t);
    if (n > 0) {
      Shape u = s;
      u[i] = -1;
      targets.push_back(u);
    }
  }
  return c.pick(targets);
}

// A size `s` expands to: each size-1 dim kept, grown or given as -1, each other dim kept or -1,
// up to two new leading dims; what is grown stays within kMaxNumel (`s` itself may exceed it).
std::vector<int64_t> draw_expand_size(const Shape& s, Chooser& c) {
  Shape out = s;
  for (int64_t& d : out) {
    if (d == 1 && c.coin()) d = fit(draw_dim(c), numel(out));
  }
  const int64_t leading = c.weighted<int64_t>({{2, 0}, {2, 1}, {1, 2}});
  for (int64_t k = 0; k < leading; ++k) out.insert(out.begin(), fit(draw_dim(c), numel(out)));
  for (size_t i = out.size() - s.size(); i < out.size(); ++i) {
    if (c.weighted<bool>({{3, false}, {1, true}})) out[i] = -1;
  }
  return out;
}

}  // namespace

Shape draw_shape(Chooser& c, int min_rank, int max_rank) {
  const auto rank = static_cast<size_t>(c.integer(min_rank, max_rank + 1));
  Shape s(rank);
  for (int64_t& d : s) d = draw_dim(c);
  return trim(std::move(s));
}

Shape draw_broadcast_partner(const Shape& full, Chooser& c) {
  const auto drop = static_cast<size_t>(c.integer(0, static_cast<int64_t>(full.size()) + 1));
  Shape s(full.begin() + static_cast<std::ptrdiff_t>(drop), full.end());
  for (int64_t& d : s) {
    if (c.weighted<bool>({{3, false}, {1, true}})) d = 1;
  }
  return s;
}

int64_t draw_dim_index(int64_t rank, Chooser& c) {
  std::vector<int64_t> dims;
  const int64_t r = std::max<int64_t>(rank, 1);  // a 0-d tensor takes dim 0 and -1
  for (int64_t d = 0; d < r; ++d) dims.push_back(d);
  for (int64_t d = -1; d >= -r; --d) dims.push_back(d);
  return c.pick(dims);
}

std::vector<int64_t> draw_distinct_dims(int64_t rank, int64_t count, Chooser& c) {
  const int64_t r = std::max<int64_t>(rank, 1);
  std::vector<int64_t> left;
  for (int64_t d = 0; d < r; ++d) left.push_back(d);
  std::vector<int64_t> dims;
  for (int64_t k = 0; k < count && !left.empty(); ++k) {
    const auto at = static_cast<size_t>(c.integer(0, static_cast<int64_t>(left.size())));
    dims.push_back(c.coin() ? left[at] - r : left[at]);
    left.erase(left.begin() + static_cast<std::ptrdiff_t>(at));
  }
  return dims;
}

bool accepts_first(const OpSpec& op, const Shape& first) {
  const RuleInfo info = rule_info(op.shape);
  const auto rank = static_cast<int>(first.size());
  const int64_t n = numel(first);
  return info.drawable && rank >= info.min_rank && rank <= info.max_rank && !(info.nonempty && n == 0) &&
         (n == 0 || n >= info.min_numel);
}

Shape draw_first_shape(const OpSpec& op, Chooser& c) {
  const RuleInfo info = rule_info(op.shape);
  Shape s = draw_shape(c, info.min_rank, std::max(info.min_rank, info.max_drawn_rank));
  if (info.nonempty) std::replace(s.begin(), s.end(), int64_t{0}, int64_t{1});
  if (numel(s) > 0 && numel(s) < info.min_numel) s.back() = std::max<int64_t>(s.back(), info.min_numel);
  return s;
}

OpLayout draw_layout(const OpSpec& op, const Shape& first, Chooser& c) {
  OpLayout l;
  const auto rank = static_cast<int64_t>(first.size());
  switch (op.shape) {
    case ShapeRule::Unary:
    case ShapeRule::Identity:
    case ShapeRule::Transpose2D:
    case ShapeRule::Parameters: l.args = {first}; break;
    case ShapeRule::Where:
    case ShapeRule::IndexSelect:
    case ShapeRule::Gather:
    case ShapeRule::Embedding: return detail::draw_select_layout(op, first, c);
    case ShapeRule::ClassTarget: l = detail::draw_loss_class_layout(op, first, c); break;
    case ShapeRule::Normalized: l = detail::draw_norm_layout(op, first, c); break;
    case ShapeRule::Conv2d: return detail::draw_conv_layout(op, first, c);
    case ShapeRule::Pool2d: return draw_window_layout(first, c);
    case ShapeRule::Transpose:
      l.args = {first};
      l.attrs["dim0"] = draw_dim_index(rank, c);
      l.attrs["dim1"] = draw_dim_index(rank, c);
      break;
    case ShapeRule::Reshape:
      l.args = {first};
      l.attrs["shape"] = draw_reshape_target(first, c);
      break;
    case ShapeRule::Reduction:
    case ShapeRule::Moments:
    case ShapeRule::MaxReduction: {
      l.args = {first};
      // Every form PyTorch 1.13 takes: no dim (all), an int, a one-element list, several dims,
      // an empty list (all dims); each dim as d or d - rank. The dim's AttrSpec narrows them: an
      // Int takes no list, a required one is never absent nor empty (logsumexp refuses []).
      // Moments (var, std) draw no empty list (PyTorch's backward then counts one element), and
      // all dims only where numel >= 2 (its backward refuses one element reduced whole).
      const AttrSpec* spec = nullptr;
      for (const AttrSpec& a : op.attrs) spec = a.name == "dim" ? &a : spec;
      const bool int_only = spec && spec->type == AttrType::Int, required = spec && spec->required;
      const bool all_ok = !required && (op.shape != ShapeRule::Moments || numel(first) >= 2);
      const bool empty_ok = !required && !int_only && op.shape != ShapeRule::Moments;
      std::vector<std::pair<int, DimForm>> forms = {{3, DimForm::Int}};
      if (all_ok) forms.insert(forms.begin(), {2, DimForm::Absent});
      if (!int_only) forms.insert(forms.end(), {{2, DimForm::OneElementList}, {3, DimForm::SeveralDims}});
      if (empty_ok) forms.push_back({1, DimForm::EmptyList});
      const DimForm form = c.weighted<DimForm>(forms);
      if (form == DimForm::Int) {
        l.attrs["dim"] = draw_dim_index(rank, c);
      } else if (form != DimForm::Absent) {
        const int64_t count = form == DimForm::EmptyList ? 0
                              : form == DimForm::OneElementList || rank < 2 ? 1
                                                                           : c.integer(2, rank + 1);
        l.attrs["dim"] = draw_distinct_dims(rank, count, c);
      } else if (int_only) {
        l.attrs["keepdim"] = false;  // torch.prod(a) takes no keepdim
      }
      if (op.shape == ShapeRule::Moments) {  // slices of one element: NaN, unless biased (0)
        int64_t n = 1;
        for (int64_t d : attr_int_list(l.attrs, "dim")) n *= first[static_cast<size_t>(d < 0 ? d + rank : d)];
        if (numel(first) < 2) l.attrs["unbiased"] = false;  // else NaN and a refused backward
        else if (l.attrs.count("dim") && n < 2) l.attrs.erase("dim");
      }
      break;
    }
    // NOTE: these rules decide which of their attrs are present (no generic draws after them):
    // clamp takes min, max or both, never neither; max takes keepdim only with a dim.
    case ShapeRule::Clamp: {
      l.args = {first};
      const int64_t which = c.integer(0, 3);  // min, max, both
      for (const AttrSpec& spec : op.attrs) {
        const bool wanted = (spec.name == "min" && which != 1) || (spec.name == "max" && which != 0);
        if (wanted) l.attrs[spec.name] = c.pick<double>(spec.drawn.empty() ? std::vector<double>{-1.0, 1.0} : spec.drawn);
      }
      return l;
    }
    case ShapeRule::MaxDim:
      l.args = {first};
      if (draw_present(c)) {
        l.attrs["dim"] = draw_dim_index(rank, c);
        if (draw_present(c)) l.attrs["keepdim"] = c.coin();
      }
      return l;
    case ShapeRule::Norm:
      l.args = {first};
      if (draw_present(c)) l.attrs["p"] = c.pick<double>({2.0, 1.0, 3.0, 1.5, kInf});
      break;
    case ShapeRule::SoftmaxDim:
      l.args = {first};
      l.attrs["dim"] = draw_dim_index(rank, c);
      break;
    case ShapeRule::Unsqueeze:
      l.args = {first};
      l.attrs["dim"] = draw_dim_index(rank + 1, c);
      break;
    case ShapeRule::Squeeze:
      l.args = {first};
      if (draw_present(c)) l.attrs["dim"] = draw_dim_index(rank, c);
      break;
    case ShapeRule::Permute:
      l.args = {first};
      l.attrs["dims"] = rank == 0 ? std::vector<int64_t>{} : draw_distinct_dims(rank, rank, c);
      break;
    case ShapeRule::Expand:
      l.args = {first};
      l.attrs["size"] = draw_expand_size(first, c);
      break;
    case ShapeRule::Cat: {
      const bool has_dim = draw_present(c);  // absent: the default, 0
      const int64_t dim = has_dim ? draw_dim_index(rank, c) : 0;
      const auto d = static_cast<size_t>(dim < 0 ? dim + rank : dim);
      l.args = {first};
      const int64_t max_more = op.max_args < 0 ? 2 : std::min<int64_t>(2, op.max_args - 1);
      const int64_t more = c.integer(0, max_more + 1);
      for (int64_t i = 0; i < more; ++i) {
        Shape s = first;
        s[d] = 1;
        s[d] = fit(draw_dim(c), numel(s));
        l.args.push_back(s);
      }
      if (has_dim) l.attrs["dim"] = dim;
      break;
    }
    case ShapeRule::Broadcast:
    case ShapeRule::Loss: {
      std::optional<Shape> other;
      if (!(op.accepts_numbers && c.weighted<bool>({{3, false}, {1, true}}))) {
        other = c.coin() ? draw_broadcast_partner(first, c) : first;
      }
      if (c.coin()) {
        l.args = {first, other};
      } else {
        l.args = {other, first};
        l.first_at = 1;
      }
      break;
    }
    case ShapeRule::Matmul: {
      const int64_t k = first.back();
      const int64_t kind = c.integer(0, 3);  // vector, matrix, batched matrix
      Shape b;
      if (kind == 0) {
        b = {k};
      } else {
        b = {k, 1};
        b[1] = fit(draw_dim(c), k);
        if (kind == 2 && first.size() <= 2) b.insert(b.begin(), fit(draw_dim(c), numel(b)));
      }
      l.args = {first, b};
      break;
    }
    case ShapeRule::Linear: {
      const int64_t in = first.back();
      const Shape w = {fit(draw_dim(c), in), in};
      l.args = {first, w};
      if (op.max_args >= 3 && draw_present(c)) l.args.push_back(Shape{w[0]});
      break;
    }
  }
  draw_generic_attrs(op, l.attrs, c);
  return l;
}

GradcheckRole gradcheck_role(ShapeRule r) {
  switch (r) {
    case ShapeRule::Identity: return GradcheckRole::Hold;
    case ShapeRule::Parameters: return GradcheckRole::Constant;
    case ShapeRule::Unary:
    case ShapeRule::Broadcast:
    case ShapeRule::Matmul:
    case ShapeRule::Linear:
    case ShapeRule::Transpose2D:
    case ShapeRule::Transpose:
    case ShapeRule::Reshape:
    case ShapeRule::Reduction:
    case ShapeRule::Moments:
    case ShapeRule::Norm:
    case ShapeRule::SoftmaxDim:
    case ShapeRule::Cat:
    case ShapeRule::Unsqueeze:
    case ShapeRule::Squeeze:
    case ShapeRule::Permute:
    case ShapeRule::Expand:
    case ShapeRule::Loss:
    case ShapeRule::Clamp:
    case ShapeRule::MaxDim:
    case ShapeRule::MaxReduction:
    case ShapeRule::Where:
    case ShapeRule::IndexSelect:
    case ShapeRule::Gather:
    case ShapeRule::Embedding:
    case ShapeRule::ClassTarget:
    case ShapeRule::Normalized:
    case ShapeRule::Conv2d:
    case ShapeRule::Pool2d: return GradcheckRole::Op;
  }
  return GradcheckRole::Op;
}

}  // namespace gradoracle::registry
