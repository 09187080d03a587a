#pragma once
// Test-only planted second-order bugs: a cube op y = x³ (elementwise) built with the engine's
// record(), whose backward g ↦ 3x²·g is right at first order (first-order gradcheck passes every
// variant) and whose own derivative is wrong in one known way. With upstream v, the checked
// F(x, v) = 3x²·v has ∂F/∂x = 6x·v and ∂F/∂v = 3x² (both diagonal).
#include <string>
#include <vector>

#include "gradoracle/engine/autograd.hpp"
#include "gradoracle/engine/ops.hpp"
#include "gradoracle/oracle/gradcheck.hpp"

namespace gradoracle::oracle::testing {

enum class Bug2 {
  None,                  // backward from recorded engine ops: 3·g·x·x with x as saved (its graph kept)
  NoneOwnBackwardOp,     // backward is an op of its own, PlantedCubeBackwardBackward: ∂/∂g = 3x², ∂/∂x = 6x·g
  DetachedSaved,         // backward uses x.detach(): ∂F/∂x misses 6x·v, ∂F/∂v right
  NonRecordingKernel,    // backward computes 3x²·g on to_vector() and rebuilds a tensor: no graph at all
  WrongSecondTerm,       // own backward op with ∂/∂x = 3x·g (half the true 6x·g)
  WrongUpstreamTerm,     // own backward op with ∂/∂g = 2x² (the first-order value 3x²·g is right)
};

inline const std::vector<Bug2>& all_bugs2() {
  static const std::vector<Bug2> bugs = {Bug2::DetachedSaved, Bug2::NonRecordingKernel, Bug2::WrongSecondTerm,
                                         Bug2::WrongUpstreamTerm};
  return bugs;
}

inline std::string bug_name(Bug2 b) {
  switch (b) {
    case Bug2::None: return "none (recorded formula)";
    case Bug2::NoneOwnBackwardOp: return "none (own backward op)";
    case Bug2::DetachedSaved: return "saved tensor captured detached";
    case Bug2::NonRecordingKernel: return "non-recording kernel under create_graph";
    case Bug2::WrongSecondTerm: return "wrong second-derivative term (d/dx halved)";
    case Bug2::WrongUpstreamTerm: return "wrong upstream term (d/dg 2x^2)";
  }
  return "";
}

// The backward's value 3x²·g (no graph), from the detached operands.
inline Tensor cube_backward_value(const Tensor& g, const Tensor& x) {
  const Tensor xd = x.detach();
  return mul(mul(g.detach(), mul(xd, xd)), 3.0);
}

inline Tensor planted_cube(const Tensor& x, Bug2 bug) {
  Tensor out = mul(mul(x.detach(), x.detach()), x.detach());  // the value, without history
  const Tensor saved = bug == Bug2::DetachedSaved ? x.detach() : x;
  record(out, "PlantedCubeBackward", {x}, [saved, bug](const Tensor& g, NeedsGrad) {
    switch (bug) {
      case Bug2::None:
      case Bug2::DetachedSaved: return std::vector<Tensor>{mul(mul(g, mul(saved, saved)), 3.0)};
      case Bug2::NonRecordingKernel: {
        std::vector<double> gv = g.to_vector();
        const std::vector<double> xv = saved.to_vector();
        for (size_t l = 0; l < gv.size(); ++l) gv[l] *= 3.0 * xv[l] * xv[l];
        return std::vector<Tensor>{Tensor::from_data(g.shape(), gv, g.dtype())};
      }
      case Bug2::NoneOwnBackwardOp:
      case Bug2::WrongSecondTerm:
      case Bug2::WrongUpstreamTerm: {
        Tensor b = cube_backward_value(g, saved);
        const Tensor gs = g, xs = saved;
        record(b, "PlantedCubeBackwardBackward", {g, saved}, [gs, xs, bug](const Tensor& gg, NeedsGrad) {
          const double upstream_factor = bug == Bug2::WrongUpstreamTerm ? 2.0 : 3.0;
          const double input_factor = bug == Bug2::WrongSecondTerm ? 3.0 : 6.0;
          return std::vector<Tensor>{mul(mul(gg, mul(xs, xs)), upstream_factor), mul(mul(gg, mul(xs, gs)), input_factor)};
        });
        return std::vector<Tensor>{b};
      }
    }
    return std::vector<Tensor>{};
  });
  return out;
}

// f(x, w) = cube(x) · w + w (w a second input, so reports name which grad of which input).
inline Function planted_function2(Bug2 bug) {
  return [bug](const std::vector<Tensor>& v) { return std::vector<Tensor>{add(mul(planted_cube(v[0], bug), v[1]), v[1])}; };
}

}  // namespace gradoracle::oracle::testing
