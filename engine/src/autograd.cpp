#include "gradoracle/engine/autograd.hpp"

#include <atomic>

#include "gradoracle/engine/ops.hpp"
#include "kernels.hpp"

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

// Whether `from` broadcasts to `to` (every dim of `from`, right-aligned, is 1 or equal).
bool broadcasts_to(const Shape& from, const Shape& to) {
  if (from.size() > to.size()) return false;
  const size_t off = to.size() - from.size();
  for (size_t i = 0; i < from.size(); ++i) {
    if (from[i] != 1 && from[i] != to[i + off]) return false;
  }
  return true;
}

// Brings a gradient to its input's shape and dtype, or raises (an engine bug, not a user error).
// The common case, a gradient already of the input's shape and dtype, does no work.
Tensor validate(const Node& node, size_t i, Tensor grad, const Edge& edge) {
  if (grad.shape() != edge.shape) {
    if (!broadcasts_to(edge.shape, grad.shape())) {
      fail(ErrorKind::Autograd, std::string("Function ") + node.name() + " returned an invalid gradient at index " +
                                    std::to_string(i) + " - got " + to_string(grad.shape()) +
                                    " but expected shape compatible with " + to_string(edge.shape));
    }
    // sum_to's value without its bookkeeping (no graph is recorded during a backward).
    Tensor summed = Tensor::empty(edge.shape, grad.dtype());
    dispatch(grad.dtype(), [&](auto s) {
      using T = decltype(s);
      kernels::sum_into<T>(grad, edge.shape, summed.data<T>());
    });
    grad = std::move(summed);
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
  if (released_) fail(ErrorKind::Autograd, kFreedMessage);
  std::vector<Tensor> grads = call(grad_output, NeedsGrad(next_));
  if (grads.size() != next_.size()) {
    fail(ErrorKind::Autograd, std::string("Function ") + name_ + " returned an incorrect number of gradients (expected " +
                                  std::to_string(next_.size()) + ", got " + std::to_string(grads.size()) + ")");
  }
  return grads;
}

namespace detail {
[[noreturn]] void fail_freed() { fail(ErrorKind::Autograd, kFreedMessage); }

std::vector<Edge> collect_edges(std::span<const Tensor> inputs) {
  std::vector<Edge> next;
  next.reserve(inputs.size());
  for (const Tensor& t : inputs) {
    if (!t.defined()) {
      next.push_back(Edge{});
      continue;
    }
    next.push_back(Edge{gradient_edge(t), t.shape(), t.dtype()});
  }
  return next;
}

void set_grad_fn(Tensor& out, std::shared_ptr<Node> node) {
  TensorImpl& impl = out.impl();
  impl.grad_fn = std::move(node);
  impl.requires_grad = true;
}
}  // namespace detail

namespace {
// A plain tensor that only its handle refers to (run_backward's local upstream): no other
// handle, no view or detach() sharing its storage, no history, no .grad of its own.
bool owned_outright(const Tensor& t) {
  const auto& impl = t.impl_ptr();
  return impl.use_count() == 1 && impl->storage.use_count() == 1 && !impl->grad_fn && !impl->grad &&
         impl->grad_accumulator.expired();
}
}  // namespace

AccumulateGrad::AccumulateGrad(std::shared_ptr<TensorImpl> leaf)
    : Node("AccumulateGrad", {}, false), leaf_(std::move(leaf)) {}

std::vector<Tensor> AccumulateGrad::apply(const Tensor& grad_output) {
  if (leaf_->grad) {
    Tensor existing(leaf_->grad);
    dispatch(existing.dtype(), [&](auto s) {
      using T = decltype(s);
      T* p = existing.data<T>();
      const T* g = grad_output.data<T>();
      for (int64_t i = 0; i < existing.numel(); ++i) p[i] += g[i];
    });
  } else if (owned_outright(grad_output)) {
    // Nobody else can see this gradient: keep it as .grad instead of a copy (as PyTorch's
    // AccumulateGrad steals it), with the metadata a clone would have.
    TensorImpl& g = grad_output.impl();
    g.requires_grad = false;
    g.is_view = false;
    g.torch_strides.clear();
    leaf_->grad = grad_output.impl_ptr();
  } else {
    leaf_->grad = grad_output.clone().impl_ptr();
  }
  return {};
}

bool any_requires_grad(std::span<const Tensor> inputs) {
  if (!grad_mode_enabled()) return false;
  for (const Tensor& t : inputs) {
    if (t.defined() && t.requires_grad()) return true;
  }
  return false;
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
  // This pass's id: a node whose pass_ differs has not been reached yet (its pending_ and
  // buffer_ are stale). Global so that passes on any thread never share an id.
  static std::atomic<uint64_t> passes{0};
  const uint64_t pass = ++passes;

  // Dependency counts over the graph reachable from the root (explicit stack, no recursion):
  // pending_ = the number of edges into the node from reachable nodes.
  std::vector<Node*> reached{start.get()};  // every node of this pass, to clear on the way out
  start->pass_ = pass;
  start->pending_ = 0;
  start->buffer_ = Tensor();
  for (size_t s = 0; s < reached.size(); ++s) {
    for (const Edge& e : reached[s]->next_edges()) {
      Node* n = e.fn.get();
      if (!n) continue;
      if (n->pass_ != pass) {
        n->pass_ = pass;
        n->pending_ = 0;
        n->buffer_ = Tensor();
        reached.push_back(n);
      }
      ++n->pending_;
    }
  }
  // Buffers left by a throwing backward are dropped, not kept alive by the graph.
  struct Clear {
    std::vector<Node*>& nodes;
    ~Clear() {
      for (Node* n : nodes) n->buffer_ = Tensor();
    }
  } clear{reached};

  // Kahn's order: a node runs once every gradient flowing into it has been summed.
  start->buffer_ = g;
  std::vector<Node*> ready{start.get()};
  std::vector<Tensor> grads;
  while (!ready.empty()) {
    Node* n = ready.back();
    ready.pop_back();
    const auto& edges = n->next_edges();
    if (n->buffer_.defined()) {
      Tensor upstream = std::move(n->buffer_);
      n->buffer_ = Tensor();
      grads = n->apply(upstream);
    } else {  // no path gave this node a gradient: it passes none on
      grads.assign(edges.size(), Tensor());
    }
    if (!retain_graph) n->release();
    for (size_t i = 0; i < edges.size(); ++i) {
      const Edge& e = edges[i];
      Node* next = e.fn.get();
      if (!next) continue;
      if (grads[i].defined()) {
        Tensor gi = validate(*n, i, std::move(grads[i]), e);
        next->buffer_ = next->buffer_.defined() ? add(next->buffer_, gi) : std::move(gi);
      }
      if (--next->pending_ == 0) ready.push_back(next);
    }
  }
}

}  // namespace gradoracle
