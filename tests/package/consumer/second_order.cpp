#include <cmath>
#include <iostream>
#include <vector>

#include "gradoracle/engine/autograd.hpp"
#include "gradoracle/engine/ops.hpp"
#include "gradoracle/engine/random.hpp"
#include "gradoracle/oracle/gradcheck.hpp"

#include "cube.hpp"

using namespace gradoracle;

// cube with the classic second-order bug: its backward uses x detached, so its gradient is
// right but carries no graph back to x (the second derivative 6x is lost).
Tensor cube_detached_backward(const Tensor& x) {
  Tensor y;
  {
    NoGradGuard no_grad;
    y = x * x * x;
  }
  record(y, "CubeBackward", {x}, [x](const Tensor& g, NeedsGrad) {
    const Tensor xd = x.detach();
    return std::vector<Tensor>{g * 3.0 * xd * xd};
  });
  return y;
}

bool near(const Tensor& a, const Tensor& b) { return norm(a - b, kInf).item() < 1e-12; }

int main() {
  Generator gen(0);
  const Tensor x = Tensor::randn({3}, gen, DType::Float64).requires_grad_();
  const Tensor v = Tensor::randn({3}, gen, DType::Float64);

  // f(x) = Σ x³: the gradient 3x² as a tensor with a graph, then H·v = 6x ⊙ v from it.
  autograd::GradOptions graph;
  graph.create_graph = true;
  const Tensor g = autograd::grad({sum(cube(x))}, {x}, {}, graph)[0];
  autograd::GradOptions keep;
  keep.retain_graph = true;  // g's graph is differentiated once more below
  const Tensor hv = autograd::grad({sum(g * v)}, {x}, {}, keep)[0];
  std::cout << "H·v = 6x·v: " << (near(hv, 6.0 * x * v) ? "yes" : "no") << "\n";

  // A gradient penalty: backward of ‖∇f‖² = Σ 9x⁴ leaves 36x³ in x.grad.
  sum(g * g).backward();
  std::cout << "x.grad = 36x³: " << (near(x.grad(), 36.0 * x * x * x) ? "yes" : "no") << "\n";

  // gradgradcheck: the Jacobian of the vector–Jacobian product, in x and in the upstream,
  // against finite differences of the first backward. jvpcheck: J·u by the double VJP.
  const std::vector<Tensor> at = {Tensor::randn({2, 3}, gen, DType::Float64)};
  const auto with = [](Tensor (*op)(const Tensor&)) {
    return oracle::Function([op](const std::vector<Tensor>& in) { return std::vector<Tensor>{op(in[0])}; });
  };
  const oracle::GradCheckResult right = oracle::gradgradcheck(with(cube), at);
  const oracle::GradCheckResult first = oracle::gradcheck(with(cube_detached_backward), at);
  const oracle::GradCheckResult second = oracle::gradgradcheck(with(cube_detached_backward), at);
  const oracle::GradCheckResult jvp = oracle::jvpcheck(with(cube), at);
  std::cout << "cube: gradgradcheck " << (right ? "passed" : "failed") << ", jvpcheck "
            << (jvp ? "passed" : "failed") << "\n";
  std::cout << "cube with a detached saved x: gradcheck " << (first ? "passed" : "failed") << ", gradgradcheck "
            << (second ? "passed" : "failed") << "\n" << second;
  return right && jvp && first && !second ? 0 : 1;
}
