#include "gradoracle/engine/autograd.hpp"

#include <unordered_map>

#include "gradoracle/engine/ops.hpp"

namespace gradoracle {

namespace {
const char* kFreedMessage =
    "Trying to backward through the graph a second time (or directly access saved tensors after they have already "
    "been freed). Saved intermediate values of the graph are freed when you call .backward() or autograd.grad(). "
    "Specify retain_graph=True if you need to backward through the graph a second time or if you need to access "
    "saved tensors after calling backward.";

std::shared_ptr<Node> accumulator_of(const Tensor& leaf) {
  TensorImpl& impl = leaf.impl();
  if (auto existing = impl.grad_accumulator.lock()) return existing;
  auto acc = std::make_shared<AccumulateGrad>(leaf.impl_ptr());
  impl.grad_accumulator = acc;
  return acc;
}

// The node a gradient for `t` flows into: its grad_fn, or its accumulator if it is a leaf.
std::shared_ptr<Node> gradient_edge(const Tensor& t) {
  if (!t.requires_grad()) return nullptr;
  if (t.grad_fn()) return t.grad_fn();
  return accumulator_of(t);
}

// Brings a gradient to its input's shape and dtype, or raises (an engine bug, not a user error).
Tensor validate(const Node& node, size_t i, Tensor grad, const Edge& edge) {
  if (grad.shape() != edge.shape) {
    Shape b;
    try {
      b = broadcast_shapes(grad.shape(), edge.shape);
    } catch (const Error&) {
    }
    if (b != grad.shape()) {
      fail(ErrorKind::Autograd, "Function " + node.name() + " returned an invalid gradient at index " +
                                    std::to_string(i) + " - got " + to_string(grad.shape()) +
                                    " but expected shape compatible with " + to_string(edge.shape));
    }
    grad = sum_to(grad, edge.shape);
  }
  if (grad.dtype() != edge.dtype) grad = grad.to(edge.dtype);
  return grad;
}
}  // namespace

Node::~Node() {
  // Destroying a chain of N nodes through shared_ptr would recurse N deep: instead take the edges
  // of every node we are the last owner of, and let each die with no edges left.
  std::vector<std::shared_ptr<Node>> stack;
  for (Edge& e : next_) {
    if (e.fn) stack.push_back(std::move(e.fn));
  }
  while (!stack.empty()) {
    std::shared_ptr<Node> n = std::move(stack.back());
    stack.pop_back();
    if (n.use_count() == 1) {
      for (Edge& e : n->next_) {
        if (e.fn) stack.push_back(std::move(e.fn));
      }
    }
  }
}

std::vector<Tensor> Node::apply(const Tensor& grad_output) {
  if (released_ || !backward_) fail(ErrorKind::Autograd, kFreedMessage);
  std::vector<Tensor> grads = backward_(grad_output, NeedsGrad(next_));
  if (grads.size() != next_.size()) {
    fail(ErrorKind::Autograd, "Function " + name_ + " returned an incorrect number of gradients (expected " +
                                  std::to_string(next_.size()) + ", got " + std::to_string(grads.size()) + ")");
  }
  return grads;
}

AccumulateGrad::AccumulateGrad(std::shared_ptr<TensorImpl> leaf)
    : Node("AccumulateGrad", {}, nullptr, false), leaf_(std::move(leaf)) {}

std::vector<Tensor> AccumulateGrad::apply(const Tensor& grad_output) {
  if (leaf_->grad) {
    Tensor existing(leaf_->grad);
    dispatch(existing.dtype(), [&](auto s) {
      using T = decltype(s);
      T* p = existing.data<T>();
      const T* g = grad_output.data<T>();
      for (int64_t i = 0; i < existing.numel(); ++i) p[i] += g[i];
    });
  } else {
    leaf_->grad = grad_output.clone().impl_ptr();
  }
  return {};
}

bool any_requires_grad(const std::vector<Tensor>& inputs) {
  if (!grad_mode_enabled()) return false;
  for (const Tensor& t : inputs) {
    if (t.defined() && t.requires_grad()) return true;
  }
  return false;
}

void record(Tensor& out, const char* name, const std::vector<Tensor>& inputs, BackwardFn backward, Saves saves) {
  if (!any_requires_grad(inputs)) return;
  std::vector<Edge> next;
  next.reserve(inputs.size());
  for (const Tensor& t : inputs) {
    if (!t.defined()) {
      next.push_back(Edge{});
      continue;
    }
    next.push_back(Edge{gradient_edge(t), t.shape(), t.dtype()});
  }
  TensorImpl& impl = out.impl();
  impl.grad_fn = std::make_shared<Node>(name, std::move(next), std::move(backward), saves == Saves::Tensors);
  impl.requires_grad = true;
}

void run_backward(const Tensor& root, const Tensor& grad, bool retain_graph) {
  if (!root.requires_grad()) {
    fail(ErrorKind::Autograd, "element 0 of tensors does not require grad and does not have a grad_fn");
  }
  Tensor g = grad;
  if (!g.defined()) {
    if (root.numel() != 1) fail(ErrorKind::Autograd, "grad can be implicitly created only for scalar outputs");
    g = Tensor::ones(root.shape(), root.dtype());
  } else if (g.shape() != root.shape()) {
    fail(ErrorKind::Shape, "Mismatch in shape: grad_output[0] has a shape of torch.Size(" + to_string(g.shape()) +
                               ") and output[0] has a shape of torch.Size(" + to_string(root.shape()) + ").");
  } else if (g.dtype() != root.dtype()) {
    g = g.detach().to(root.dtype());
  }

  NoGradGuard no_grad;  // backward formulas build no graph
  const std::shared_ptr<Node> start = gradient_edge(root);

  // Dependency counts over the graph reachable from the root (explicit stack, no recursion).
  std::unordered_map<Node*, int> dependencies;
  std::vector<Node*> stack{start.get()};
  dependencies[start.get()] = 0;
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    for (const Edge& e : n->next_edges()) {
      if (!e.fn) continue;
      auto [it, inserted] = dependencies.try_emplace(e.fn.get(), 0);
      ++it->second;
      if (inserted) stack.push_back(e.fn.get());
    }
  }

  // Kahn's order: a node runs once every gradient flowing into it has been summed.
  std::unordered_map<Node*, Tensor> buffers;
  buffers[start.get()] = g;
  std::vector<Node*> ready{start.get()};
  while (!ready.empty()) {
    Node* n = ready.back();
    ready.pop_back();
    auto found = buffers.find(n);
    std::vector<Tensor> grads;
    if (found != buffers.end()) {  // else no path gave this node a gradient: it passes none on
      Tensor upstream = std::move(found->second);
      buffers.erase(found);
      grads = n->apply(upstream);
    } else {
      grads.resize(n->next_edges().size());
    }
    if (!retain_graph) n->release();
    const auto& edges = n->next_edges();
    for (size_t i = 0; i < edges.size(); ++i) {
      const Edge& e = edges[i];
      if (!e.fn) continue;
      if (grads[i].defined()) {
        Tensor gi = validate(*n, i, std::move(grads[i]), e);
        Tensor& buffer = buffers[e.fn.get()];
        buffer = buffer.defined() ? add(buffer, gi) : gi;
      }
      if (--dependencies[e.fn.get()] == 0) ready.push_back(e.fn.get());
    }
  }
}

}  // namespace gradoracle
