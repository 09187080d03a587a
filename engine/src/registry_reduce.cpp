// The reduction family: sums, means, norms, softmaxes and losses (kernels: ops_reduce.cpp).
#include "registry_family.hpp"

namespace gradoracle::registry::family {

std::vector<OpSpec> reduce() {
  using D = Domain;
  std::vector<OpSpec> ops;
  for (const char* name : {"sum", "mean"}) {
    OpSpec s;
    s.name = name;
    const bool is_sum = s.name == "sum";
    s.summary = is_sum ? "sum over all elements or over dim (int or list), keepdim" : "mean over all or over dim, keepdim";
    s.grad_fn = is_sum ? "SumBackward0" : "MeanBackward0";
    s.shape = ShapeRule::Reduction;
    s.attrs = {{"dim", AttrType::IntOrList}, {"keepdim", AttrType::Bool}};
    s.call = [is_sum](const std::vector<Arg>& args, const Attrs& attrs) {
      const Tensor& a = tensor_arg(args, 0, is_sum ? "sum" : "mean");
      if (attrs.empty()) return is_sum ? gradoracle::sum(a) : gradoracle::mean(a);  // no attr lookups
      if (!attrs.count("dim")) {
        // PyTorch: a.sum(keepdim=True) is not a signature; keepdim without dim reduces all dims.
        if (attr_bool(attrs, "keepdim", false)) return is_sum ? gradoracle::sum(a, {}, true) : gradoracle::mean(a, {}, true);
        return is_sum ? gradoracle::sum(a) : gradoracle::mean(a);
      }
      const bool keepdim = attr_bool(attrs, "keepdim", false);
      return is_sum ? gradoracle::sum(a, dims_attr(attrs), keepdim) : gradoracle::mean(a, dims_attr(attrs), keepdim);
    };
    using Dims = std::vector<int64_t>;
    const ReferenceTensor x = mat(2, 3, {1, 2, 3, 4, 5, 7});
    // NOTE: an empty dim list reduces every dim, as PyTorch 1.13.
    s.references = {
        valued("an empty dim list reduces all", {x}, {{"dim", Dims{}}}, {Shape{}, {is_sum ? 22.0 : 22.0 / 6}}),
        valued("a dim list with negative dims, keepdim", {x}, {{"dim", Dims{0, -1}}, {"keepdim", true}},
               {Shape{1, 1}, {is_sum ? 22.0 : 22.0 / 6}}),
        valued("one negative dim", {x}, {{"dim", int64_t{-2}}}, vec(is_sum ? std::vector<double>{5, 7, 10}
                                                                             : std::vector<double>{2.5, 3.5, 5})),
        at("0-d", {Shape{}, {1.5}}),
    };
    if (is_sum) s.references.push_back(valued("zero-size", {ReferenceTensor{Shape{0, 3}, {}}}, {{"dim", Dims{0}}}, vec({0, 0, 0})));
    ops.push_back(std::move(s));
  }
  {
    OpSpec s;
    s.name = "norm";
    s.summary = "torch.norm(a, p) over all elements; p a number, \"inf\" or \"-inf\" (default 2)";
    s.grad_fn = "NormBackward1";
    s.domain = {D::AwayFromKink};
    s.shape = ShapeRule::Norm;
    s.attrs = {{"p", AttrType::Number}};
    s.call = [](const std::vector<Arg>& args, const Attrs& attrs) {
      return gradoracle::norm(tensor_arg(args, 0, "norm"), attrs.empty() ? 2.0 : attr_number(attrs, "p", 2.0));
    };
    // NOTE: at the zero vector PyTorch's subgradient is 0 for every p; with p = inf, maxima
    // tied in |x| share the gradient equally.
    s.kinks = {{0, 0.0, "at the zero vector: 0; p = inf ties share the gradient"}};
    s.references = {pinned("the zero vector, p = 2", vec({0, 0, 0}), {0, 0, 0}),
                    pinned("the zero vector, p = 1", vec({0, 0, 0}), {0, 0, 0}, {{"p", 1.0}}),
                    pinned("the zero vector, p = 3", vec({0, 0, 0}), {0, 0, 0}, {{"p", 3.0}}),
                    pinned("tied maxima, p = inf", vec({1, -1, 0.5}), {0.5, -0.5, 0}, {{"p", kInf}}),
                    at("p = 2 over a matrix", mat(2, 2, {3, -4, 1, 2}))};
    // PyTorch 1.13 forms Σ|x|^p in the dtype without rescaling: float64 p = 3 overflows past
    // |x| ~ 1e102 (p = 2 past 1e154); float32 p = 3 past 1e12. Tiny values underflow to a norm
    // of 0, whose grads are 0: finite.
    s.stability = finite_within({1e-200, 1e100}, {1e-30, 1e12});
    ops.push_back(std::move(s));
  }
  for (const char* name : {"softmax", "log_softmax"}) {
    OpSpec s;
    s.name = name;
    const bool log = s.name == "log_softmax";
    s.summary = log ? "log of softmax along dim" : "exp(a) / sum(exp(a)) along dim";
    s.grad_fn = log ? "LogSoftmaxBackward0" : "SoftmaxBackward0";
    s.shape = ShapeRule::SoftmaxDim;
    s.attrs = {{"dim", AttrType::Int, true}};
    s.call = [log](const std::vector<Arg>& args, const Attrs& attrs) {
      const Tensor& a = tensor_arg(args, 0, log ? "log_softmax" : "softmax");
      const int64_t dim = attr_int(attrs, "dim", 0);
      return log ? gradoracle::log_softmax(a, dim) : gradoracle::softmax(a, dim);
    };
    s.references = large_magnitudes(0);
    s.stability = finite_anywhere();
    s.stability.shift_invariant_along = "dim";
    ops.push_back(std::move(s));
  }
  {
    OpSpec s;
    s.name = "mse_loss";
    s.summary = "mean squared error; reduction mean (default), sum or none";
    s.grad_fn = "MseLossBackward0";
    s.min_args = s.max_args = 2;
    s.shape = ShapeRule::Loss;
    s.attrs = {{"reduction", AttrType::Choice, false, {"mean", "sum", "none"}}};
    s.call = [](const std::vector<Arg>& args, const Attrs& attrs) {
      const std::string r = attr_string(attrs, "reduction", "mean");
      if (r != "mean" && r != "sum" && r != "none") fail(ErrorKind::Value, r + " is not a valid value for reduction");
      const Reduction red = r == "sum" ? Reduction::Sum : r == "none" ? Reduction::None : Reduction::Mean;
      return gradoracle::mse_loss(tensor_arg(args, 0, "mse_loss"), tensor_arg(args, 1, "mse_loss"), red);
    };
    // (x - t)² summed over up to kMaxNumel elements stays finite while |x - t| <= 2e150 (float32: 2e17).
    s.stability = finite_within({1e-300, 1e150}, {1e-30, 1e17});
    ops.push_back(std::move(s));
  }
  return ops;
}

}  // namespace gradoracle::registry::family
