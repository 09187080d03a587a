// PyTorch 1.13's refusals of dim attrs (op_rules.hpp: dims_refusal, draw_refused_layout): the
// layouts the gate's structural/dim_refusals property holds every op with a dim attr to.
#include <algorithm>

#include "gradoracle/engine/op_rules.hpp"

namespace gradoracle::registry {

std::optional<std::string> dims_refusal(const std::vector<int64_t>& dims, int64_t rank) {
  const int64_t r = std::max<int64_t>(rank, 1);
  for (int64_t d : dims) {
    if (d < -r || d >= r) {
      return "Dimension out of range (expected to be in range of [" + std::to_string(-r) + ", " + std::to_string(r - 1) +
             "], but got " + std::to_string(d) + ")";
    }
  }
  std::vector<bool> seen(static_cast<size_t>(r), false);
  for (int64_t d : dims) {
    const auto w = static_cast<size_t>(d < 0 ? d + r : d);
    if (seen[w]) return "dim " + std::to_string(w) + " appears multiple times in the list of dims";
    seen[w] = true;
  }
  return std::nullopt;
}

namespace {
// permute's refusals, checked as PyTorch does: the length, then each dim in order (its range,
// then a repeat).
RefusedLayout draw_refused_permutation(const OpSpec& op, const Shape& first, Chooser& c) {
  RefusedLayout r{draw_layout(op, first, c), ""};
  const auto rank = static_cast<int64_t>(first.size());
  auto dims = std::get<std::vector<int64_t>>(r.layout.attrs.at("dims"));
  const int64_t kind = rank == 0 ? 0 : c.integer(0, 3);
  if (kind == 0) {  // one dim more or (rank >= 1) one fewer
    if (rank > 0 && c.coin()) {
      dims.pop_back();
    } else {
      dims.push_back(rank == 0 ? 0 : c.pick(dims));
    }
    r.message = "permute(sparse_coo): number of dimensions in the tensor input does not match the length of the "
                "desired ordering of dimensions i.e. input.dim() = " +
                std::to_string(rank) + " is not equal to len(dims) = " + std::to_string(dims.size());
  } else {
    const auto at = static_cast<size_t>(c.integer(0, rank));
    if (kind == 1) {
      dims[at] = c.pick<int64_t>({rank, -rank - 1, rank + 2});
    } else {
      if (rank < 2) return draw_refused_permutation(op, first, c);
      const int64_t other = dims[(at + 1) % dims.size()];
      dims[at] = c.coin() ? other : (other < 0 ? other + rank : other - rank);
    }
    std::vector<bool> seen(static_cast<size_t>(rank), false);
    for (int64_t d : dims) {
      if (d < -rank || d >= rank) {
        r.message = *dims_refusal({d}, rank);
        break;
      }
      const auto w = static_cast<size_t>(d < 0 ? d + rank : d);
      if (seen[w]) {
        r.message = "permute(): duplicate dims are not allowed.";
        break;
      }
      seen[w] = true;
    }
  }
  r.layout.attrs["dims"] = dims;
  return r;
}
}  // namespace

std::optional<RefusedLayout> draw_refused_layout(const OpSpec& op, const Shape& first, Chooser& c) {
  if (!accepts_first(op, first)) return std::nullopt;
  std::vector<const AttrSpec*> dim_specs;
  for (std::string_view name : rule_info(op.shape).dim_attrs) {
    for (const AttrSpec& spec : op.attrs) {
      if (spec.name == name && (spec.type == AttrType::Int || spec.type == AttrType::IntOrList ||
                                spec.type == AttrType::Ints)) {
        dim_specs.push_back(&spec);
      }
    }
  }
  if (dim_specs.empty()) return std::nullopt;
  RefusedLayout r{draw_layout(op, first, c), ""};
  // NOTE: PyTorch's cat skips 1-D empty tensors and checks no dim when every input is one.
  if (op.shape == ShapeRule::Cat && std::all_of(r.layout.args.begin(), r.layout.args.end(), [](const auto& s) {
        return s && *s == Shape{0};
      })) {
    return std::nullopt;
  }
  if (op.shape == ShapeRule::Permute) return draw_refused_permutation(op, first, c);
  const auto rank = static_cast<int64_t>(first.size()) + rule_info(op.shape).dim_rank_extra;
  const int64_t span = std::max<int64_t>(rank, 1);
  const auto out_of_range = [&] { return c.pick<int64_t>({span, -span - 1, span + 2, -span - 4}); };
  const AttrSpec& spec = *c.pick(dim_specs);
  std::vector<int64_t> dims;
  if (spec.type == AttrType::Int || c.weighted<bool>({{1, true}, {3, false}})) {
    const int64_t d = out_of_range();
    r.layout.attrs[spec.name] = d;
    dims = {d};
  } else {
    // A valid list, then one dim more: out of range, or one already there (either form).
    dims = draw_distinct_dims(rank, c.integer(1, span + 1), c);
    int64_t extra;
    if (c.coin()) {
      extra = out_of_range();
    } else {
      const int64_t again = c.pick(dims);
      extra = c.coin() ? again : (again < 0 ? again + span : again - span);
    }
    dims.insert(dims.begin() + static_cast<std::ptrdiff_t>(c.integer(0, static_cast<int64_t>(dims.size()) + 1)), extra);
    r.layout.attrs[spec.name] = dims;
  }
  // Only this attr is invalid: PyTorch reports it, whatever the order it checks attrs in.
  r.message = *dims_refusal(dims, rank);
  return r;
}

}  // namespace gradoracle::registry
