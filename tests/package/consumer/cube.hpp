#pragma once
// A custom op: cube(x) = x³, elementwise, with backward g ↦ g·3x².
#include <vector>

#include "gradoracle/engine/autograd.hpp"
#include "gradoracle/engine/ops.hpp"

inline gradoracle::Tensor cube(const gradoracle::Tensor& x) {
  using namespace gradoracle;
  Tensor y;
  {
    NoGradGuard no_grad;  // the forward's own products record nothing
    y = x * x * x;
  }
  // y gets one node, "CubeBackward", when x requires grad (and grad mode is on). Its backward
  // returns one gradient per input; the lambda keeps x alive. It runs with grad mode off, or
  // on under create_graph: built from engine ops, it then records a graph, so cube is twice
  // differentiable.
  record(y, "CubeBackward", {x}, [x](const Tensor& g, NeedsGrad) {
    return std::vector<Tensor>{g * 3.0 * x * x};
  });
  return y;
}
