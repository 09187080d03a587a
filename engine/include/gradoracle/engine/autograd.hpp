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
//    such as AddBackward0 or SumBackward0, runs again, as in PyTorch);
//  - a backward without create_graph runs every formula with grad mode off (the fused
//    kernels, recording nothing); with create_graph it runs them with grad mode on, and a
//    formula whose upstream or saved tensors require grad builds its result from recorded
//    engine ops (detail::creating_graph() tells it which), so the result can be
//    differentiated again.
//
// Cost model: recording an op is one allocation (from the thread's block pool) for the node,
// its lambda (stored in the node, not in a std::function) and, up to three inputs of rank <= 4,
// its edges; nothing at all is allocated or captured into a node when no input requires grad or
// grad mode is off (the lambda object the caller built is dropped). A backward keeps its per-node state (dependency
// count, summed gradient) in the nodes themselves: no hash map.
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "gradoracle/engine/block_pool.hpp"
#include "gradoracle/engine/tensor.hpp"

namespace gradoracle {

// A shape held inline up to kInline dims (no allocation for the ranks of everyday tensors),
// on the heap beyond: what an edge keeps of its input's shape.
class InlineShape {
 public:
  static constexpr size_t kInline = 4;
  InlineShape() = default;
  explicit InlineShape(const Shape& shape);
  size_t size() const { return rank_; }
  const int64_t* data() const { return rank_ <= kInline ? inline_ : heap_.data(); }
  std::span<const int64_t> dims() const { return {data(), rank_}; }
  bool equals(const Shape& shape) const;
  Shape to_shape() const { return Shape(data(), data() + rank_); }

 private:
  size_t rank_ = 0;
  int64_t inline_[kInline] = {};
  std::vector<int64_t> heap_;  // used only when rank_ > kInline
};

struct Edge {
  std::shared_ptr<Node> fn;  // null when the input needs no gradient
  InlineShape shape;         // the input's shape and dtype, to validate its gradient
  DType dtype = DType::Float32;
};

// A node's edges, one per input: up to kInline of them inside the node (most ops take one to
// three inputs), on the heap beyond.
class EdgeList {
 public:
  static constexpr size_t kInline = 3;
  EdgeList() = default;
  EdgeList(const EdgeList&) = delete;
  EdgeList& operator=(const EdgeList&) = delete;
  void push_back(Edge edge);
  size_t size() const { return size_; }
  Edge* begin() { return size_ <= kInline ? inline_ : heap_.data(); }
  Edge* end() { return begin() + size_; }
  const Edge* begin() const { return size_ <= kInline ? inline_ : heap_.data(); }
  const Edge* end() const { return begin() + size_; }
  const Edge& operator[](size_t i) const { return begin()[i]; }
  Edge& operator[](size_t i) { return begin()[i]; }

 private:
  size_t size_ = 0;
  Edge inline_[kInline];
  std::vector<Edge> heap_;  // all the edges, once there are more than kInline
};

// Which inputs of a node need a gradient, so a backward can skip the others.
class NeedsGrad {
 public:
  explicit NeedsGrad(const EdgeList& edges) : edges_(&edges) {}
  bool operator[](size_t i) const { return (*edges_)[i].fn != nullptr; }

 private:
  const EdgeList* edges_;
};

using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_output, NeedsGrad needs)>;

class Node {
 public:
  // `name` must outlive the node: a string literal (PyTorch's grad_fn class name).
  // One edge per input (an undefined input gets an empty edge).
  Node(const char* name, std::span<const Tensor> inputs, bool saves_tensors);
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;
  virtual ~Node();  // unlinks a deep graph iteratively, never one stack frame per node

  const char* name() const { return name_; }
  const EdgeList& next_edges() const { return next_; }
  // PyTorch's @once_differentiable: the formula builds no graph; under create_graph its
  // gradients differentiate only into PyTorch's error (BackwardPass wraps them).
  bool once_differentiable() const { return once_differentiable_; }
  void set_once_differentiable() { once_differentiable_ = true; }
  // Runs the backward; throws if its saved tensors were freed.
  virtual std::vector<Tensor> apply(const Tensor& grad_output);
  // Frees the saved tensors (after a backward without retain_graph).
  virtual void release() {
    if (!saves_tensors_) return;
    free_saved();
    released_ = true;
  }

 protected:
  // The op's backward formula; only called while not released.
  virtual std::vector<Tensor> call(const Tensor& grad_output, NeedsGrad needs) = 0;
  virtual void free_saved() = 0;  // destroys the formula and what it captured

  const char* name_;
  EdgeList next_;
  bool saves_tensors_;
  bool released_ = false;
  bool once_differentiable_ = false;

 private:
  friend class BackwardPass;
  // One backward's bookkeeping (BackwardPass): the pass that last reached this node, the
  // gradients still to arrive, their sum so far, and (autograd::grad only) whether running it
  // leads to a requested input. Only meaningful while `pass_` is current.
  uint64_t pass_ = 0;
  int pending_ = 0;
  int unsorted_ = 0;       // mark_needed's copy of pending_ (Kahn's order)
  bool needed_ = true;
  bool captured_ = false;  // autograd::grad asks for the gradient arriving here (mark_needed only)
  Tensor buffer_;
};

namespace detail {
[[noreturn]] void fail_freed();  // PyTorch's "backward through the graph a second time" error
// The node whose formula is running on this thread (null outside a backward): what a saved
// output is re-attached to under create_graph (SavedOutput::tensor).
Node* current_node();
std::shared_ptr<Node> current_node_owner();  // the same node, owned
// True while a backward with create_graph runs a formula: grad mode is on, so a formula must
// build its result from recorded engine ops when its upstream or saved tensors require grad.
inline bool creating_graph() { return grad_mode_enabled() && current_node() != nullptr; }
// creating_graph() and one of `tensors` requires grad: the formula's result needs a graph.
bool needs_graph(std::initializer_list<const Tensor*> tensors);
}  // namespace detail

// A node whose formula is the lambda F, stored in place (one allocation with the node).
template <class F>
class LambdaNode final : public Node {
 public:
  LambdaNode(const char* name, std::span<const Tensor> inputs, F&& fn, bool saves_tensors)
      : Node(name, inputs, saves_tensors), fn_(std::move(fn)) {}

 protected:
  std::vector<Tensor> call(const Tensor& grad_output, NeedsGrad needs) override {
    if (!fn_) detail::fail_freed();
    if constexpr (std::is_same_v<F, BackwardFn>) {
      if (!*fn_) detail::fail_freed();  // as a Node given a null BackwardFn always did
    }
    return (*fn_)(grad_output, needs);
  }
  void free_saved() override { fn_.reset(); }

 private:
  std::optional<F> fn_;
};

// The sink of a leaf that requires grad: leaf.grad += gradient. The leaf owns its accumulator
// (made on first use, kept while the leaf lives, so a graph built each step does not build it
// again); the accumulator refers back to the leaf without owning it. A gradient that arrives
// after the leaf is gone is dropped: no one can read that leaf's .grad any more.
class AccumulateGrad final : public Node {
 public:
  explicit AccumulateGrad(detail::TensorImpl* leaf);
  std::vector<Tensor> apply(const Tensor& grad_output) override;
  void release() override {}
  // Whether this accumulates into `t` (PyTorch: node.variable is t); false once the leaf is gone.
  bool accumulates_into(const Tensor& t) const;
  bool leaf_alive() const { return leaf_ != nullptr; }

 protected:
  std::vector<Tensor> call(const Tensor&, NeedsGrad) override { return {}; }
  void free_saved() override {}

 private:
  friend struct detail::TensorImpl;  // ~TensorImpl() clears leaf_
  detail::TensorImpl* leaf_;
};

// Whether a backward lambda holds tensors saved from the forward (PyTorch's SavedVariables).
enum class Saves { Tensors, Nothing };
// Whether a backward formula can itself be differentiated (create_graph). Once: PyTorch's
// @once_differentiable; differentiating its gradients raises "trying to differentiate twice a
// function that was marked with @once_differentiable". (Every built-in op is Twice.)
enum class Order { Twice, Once };

// True when grad mode is on and some input requires grad.
bool any_requires_grad(std::span<const Tensor> inputs);
inline bool any_requires_grad(const std::vector<Tensor>& inputs) {
  return any_requires_grad(std::span<const Tensor>(inputs));
}

namespace detail {
// Sets `node` as out's grad_fn and marks out as requiring grad.
void set_grad_fn(Tensor& out, std::shared_ptr<Node> node);

template <class F>
void record_span(Tensor& out, const char* name, std::span<const Tensor> inputs, F&& backward, Saves saves,
                 Order order = Order::Twice) {
  if (!any_requires_grad(inputs)) return;
  using Fn = std::decay_t<F>;
  std::shared_ptr<Node> node = std::allocate_shared<LambdaNode<Fn>>(
      PoolAllocator<LambdaNode<Fn>>(), name, inputs, Fn(std::forward<F>(backward)), saves == Saves::Tensors);
  if (order == Order::Once) node->set_once_differentiable();
  set_grad_fn(out, std::move(node));
}
}  // namespace detail

// Records `out` as the result of an op over `inputs`: when grad mode is on and any input
// requires grad, `out` gets a Node named `name` (PyTorch 1.13's grad_fn name; a string
// literal) running `backward`, a callable (const Tensor& grad, NeedsGrad) -> std::vector<Tensor>.
template <class F>
void record(Tensor& out, const char* name, const std::vector<Tensor>& inputs, F&& backward,
            Saves saves = Saves::Tensors, Order order = Order::Twice) {
  detail::record_span(out, name, std::span<const Tensor>(inputs), std::forward<F>(backward), saves, order);
}
template <class F>
void record(Tensor& out, const char* name, std::initializer_list<Tensor> inputs, F&& backward,
            Saves saves = Saves::Tensors, Order order = Order::Twice) {
  detail::record_span(out, name, std::span<const Tensor>(inputs.begin(), inputs.size()), std::forward<F>(backward),
                      saves, order);
}

// Runs backward from `root` with upstream gradient `grad` (see Tensor::backward).
void run_backward(const Tensor& root, const Tensor& grad, bool retain_graph, bool create_graph = false);

namespace autograd {
struct GradOptions {
  std::optional<bool> retain_graph;  // defaults to create_graph, as PyTorch
  bool create_graph = false;         // results carry a graph: they can be differentiated again
  bool allow_unused = false;         // an input no output reaches gives an undefined tensor
};

// torch.autograd.grad(outputs, inputs, grad_outputs, retain_graph, create_graph, allow_unused):
// the sum over outputs of grad_outputs[i]ᵀ · ∂outputs[i]/∂inputs, one tensor per input,
// accumulating nothing into .grad. grad_outputs is empty or one per output; an undefined
// entry stands for ones and is allowed only for a one-element output. An input may be a
// leaf or not; it must require grad. Raises PyTorch's errors.
std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs = {}, const GradOptions& options = {});
}  // namespace autograd

}  // namespace gradoracle
