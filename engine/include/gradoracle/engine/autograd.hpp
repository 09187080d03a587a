#pragma once
// The backward graph. Every op has one output; its Node holds one edge per input and a
// backward lambda that maps the output's gradient to one gradient per input.
//
// Contract the engine enforces, so that ops need not:
//  - a backward returns exactly one tensor per input (undefined = no gradient);
//  - a gradient whose shape is a broadcast of its input's is summed back to that shape here,
//    in one place; any other shape is an engine bug and raises;
//  - gradients are cast to the input's dtype and accumulated with +=;
//  - saved tensors are freed after a backward unless retain_graph, and a second backward
//    through a node that had saved tensors raises PyTorch's error (one that saved none,
//    such as AddBackward0 or SumBackward0, runs again, as in PyTorch).
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gradoracle/engine/tensor.hpp"

namespace gradoracle {

struct Edge {
  std::shared_ptr<Node> fn;  // null when the input needs no gradient
  Shape shape;               // the input's shape and dtype, to validate its gradient
  DType dtype = DType::Float32;
};

// Which inputs of a node need a gradient, so a backward can skip the others.
class NeedsGrad {
 public:
  explicit NeedsGrad(const std::vector<Edge>& edges) : edges_(&edges) {}
  bool operator[](size_t i) const { return (*edges_)[i].fn != nullptr; }

 private:
  const std::vector<Edge>* edges_;
};

using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_output, NeedsGrad needs)>;

class Node {
 public:
  Node(std::string name, std::vector<Edge> next, BackwardFn backward, bool saves_tensors)
      : name_(std::move(name)), next_(std::move(next)), backward_(std::move(backward)), saves_tensors_(saves_tensors) {}
  virtual ~Node();  // unlinks a deep graph iteratively, never one stack frame per node

  const std::string& name() const { return name_; }
  const std::vector<Edge>& next_edges() const { return next_; }
  // Runs the backward; throws if its saved tensors were freed.
  virtual std::vector<Tensor> apply(const Tensor& grad_output);
  // Frees the saved tensors (after a backward without retain_graph).
  virtual void release() {
    if (!saves_tensors_) return;
    backward_ = nullptr;
    released_ = true;
  }

 protected:
  std::string name_;
  std::vector<Edge> next_;
  BackwardFn backward_;
  bool saves_tensors_;
  bool released_ = false;
};

// The sink of a leaf that requires grad: leaf.grad += gradient.
class AccumulateGrad final : public Node {
 public:
  explicit AccumulateGrad(std::shared_ptr<TensorImpl> leaf);
  std::vector<Tensor> apply(const Tensor& grad_output) override;
  void release() override {}
  const std::shared_ptr<TensorImpl>& leaf() const { return leaf_; }

 private:
  std::shared_ptr<TensorImpl> leaf_;
};

// Whether a backward lambda holds tensors saved from the forward (PyTorch's SavedVariables).
enum class Saves { Tensors, Nothing };

// Records `out` as the result of an op over `inputs`: when grad mode is on and any input
// requires grad, `out` gets a Node named `name` (PyTorch 1.13's grad_fn name) running `backward`.
void record(Tensor& out, const char* name, const std::vector<Tensor>& inputs, BackwardFn backward,
            Saves saves = Saves::Tensors);
inline void record(Tensor& out, const char* name, std::initializer_list<Tensor> inputs, BackwardFn backward,
                   Saves saves = Saves::Tensors) {
  record(out, name, std::vector<Tensor>(inputs), std::move(backward), saves);
}
// True when grad mode is on and some input requires grad.
bool any_requires_grad(const std::vector<Tensor>& inputs);

// Runs backward from `root` with upstream gradient `grad` (see Tensor::backward).
void run_backward(const Tensor& root, const Tensor& grad, bool retain_graph);

}  // namespace gradoracle
