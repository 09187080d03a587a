// The graph family: detach and the nn clip utilities, which act on the graph or on .grad rather than compute a differentiable result.
#include "registry_family.hpp"

#include "gradoracle/engine/nn.hpp"

namespace gradoracle::registry::family {

std::vector<OpSpec> graph() {
  std::vector<OpSpec> ops;
  {
    OpSpec s;
    s.name = "detach";
    s.summary = "the same values, cut from the graph (shares storage)";
    s.grad_fn = "";
    s.shape = ShapeRule::Identity;
    s.differentiable = false;
    s.call = [](const std::vector<Arg>& args, const Attrs&) { return tensor_arg(args, 0, "detach").detach(); };
    ops.push_back(std::move(s));
  }
  {
    OpSpec s;
    s.name = "clip_grad_norm_";
    s.summary = "scale the params' grads to total norm <= max_norm; binds the total norm before clipping";
    s.grad_fn = "";
    s.min_args = 0;
    s.max_args = -1;
    s.shape = ShapeRule::Parameters;
    s.differentiable = false;
    s.attrs = {{"max_norm", AttrType::Number, true}, {"norm_type", AttrType::Number}, {"error_if_nonfinite", AttrType::Bool}};
    s.call = [](const std::vector<Arg>& args, const Attrs& attrs) {
      return nn::clip_grad_norm_(tensor_args(args, "clip_grad_norm_"), attr_number(attrs, "max_norm", 0.0),
                                 attr_number(attrs, "norm_type", 2.0), attr_bool(attrs, "error_if_nonfinite", false));
    };
    ops.push_back(std::move(s));
  }
  {
    OpSpec s;
    s.name = "clip_grad_value_";
    s.summary = "clamp the params' grads into [-clip_value, clip_value]";
    s.grad_fn = "";
    s.min_args = 0;
    s.max_args = -1;
    s.shape = ShapeRule::Parameters;
    s.differentiable = false;
    s.binds_result = false;
    s.attrs = {{"clip_value", AttrType::Number, true}};
    s.call = [](const std::vector<Arg>& args, const Attrs& attrs) {
      nn::clip_grad_value_(tensor_args(args, "clip_grad_value_"), attr_number(attrs, "clip_value", 0.0));
      return Tensor();
    };
    ops.push_back(std::move(s));
  }
  return ops;
}

}  // namespace gradoracle::registry::family
