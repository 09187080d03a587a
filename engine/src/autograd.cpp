#include "gradoracle/engine/autograd.hpp"

#include <algorithm>
#include <atomic>

#include "gradoracle/engine/ops.hpp"
#include "kernels.hpp"
#include "small_stack.hpp"
#include "tensor_access.hpp"

namespace gradoracle {

using detail::SmallStack;

namespace {
const char* kFreedMessage =
    "Trying to backward through the graph a second time (or directly access saved tensors after they have already "
    "been freed). Saved intermediate values of the graph are freed when you call .backward() or autograd.grad(). "
    "Specify retain_graph=True if you need to backward through the graph a second time or if you need to access "
    "saved tensors after calling backward.";

std::shared_ptr<Node> accumulator_of(const Tensor& leaf) {
  TensorImpl& impl = impl_of(leaf);
  if (!impl.grad_accumulator) impl.grad_accumulator = std::make_shared<AccumulateGrad>(&impl);
  return impl.grad_accumulator;
}

// The node a gradient for `t` flows into: its grad_fn, or its accumulator if it is a leaf.
std::shared_ptr<Node> gradient_edge(const Tensor& t) {
  if (!t.requires_grad()) return nullptr;
  if (t.grad_fn()) return t.grad_fn();
  return accumulator_of(t);
}

// Whether `from` broadcasts to `to` (every dim of `from`, right-aligned, is 1 or equal).
bool broadcasts_to(std::span<const int64_t> from, const Shape& to) {
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
  if (!edge.shape.equals(grad.shape())) {
    if (!broadcasts_to(edge.shape.dims(), grad.shape())) {
      fail(ErrorKind::Autograd, std::string("Function ") + node.name() + " returned an invalid gradient at index " +
                                    std::to_string(i) + " - got " + to_string(grad.shape()) +
                                    " but expected shape compatible with " + to_string(edge.shape.to_shape()));
    }
    // sum_to's value without its bookkeeping (no graph is recorded during a backward).
    Tensor summed = Tensor::empty(edge.shape.to_shape(), grad.dtype());
    dispatch(grad.dtype(), [&](auto s) {
      using T = decltype(s);
      kernels::sum_into<T>(grad, summed.shape(), summed.data<T>());
    });
    grad = std::move(summed);
  }
  if (grad.dtype() != edge.dtype) grad = grad.to(edge.dtype);
  return grad;
}
}  // namespace

InlineShape::InlineShape(const Shape& shape) : rank_(shape.size()) {
  if (rank_ <= kInline) {
    std::copy(shape.begin(), shape.end(), inline_);
  } else {
    heap_ = shape;
  }
}

bool InlineShape::equals(const Shape& shape) const {
  return shape.size() == rank_ && std::equal(shape.begin(), shape.end(), data());
}

void EdgeList::push_back(Edge edge) {
  if (size_ < kInline) {
    inline_[size_++] = std::move(edge);
    return;
  }
  if (size_ == kInline) {  // spill: from here on all the edges live in heap_
    heap_.reserve(2 * kInline);
    for (Edge& e : inline_) heap_.push_back(std::move(e));
  }
  heap_.push_back(std::move(edge));
  ++size_;
}

Node::Node(const char* name, std::span<const Tensor> inputs, bool saves_tensors)
    : name_(name), saves_tensors_(saves_tensors) {
  for (const Tensor& t : inputs) {
    if (!t.defined()) {
      next_.push_back(Edge{});
      continue;
    }
    next_.push_back(Edge{gradient_edge(t), InlineShape(t.shape()), t.dtype()});
  }
}

Node::~Node() {
  // Destroying a chain of N nodes through shared_ptr would recurse N deep: instead take the edges
  // of every node we are the last owner of, and let each die with no edges left. A node someone
  // else still owns (a leaf's accumulator, a shared subgraph) is only let go.
  SmallStack<std::shared_ptr<Node>, 8> stack;
  const auto take_edges = [&stack](EdgeList& edges) {
    for (Edge& e : edges) {
      if (e.fn.use_count() == 1) {
        stack.push(std::move(e.fn));
      } else {
        e.fn.reset();
      }
    }
  };
  take_edges(next_);
  while (!stack.empty()) {
    std::shared_ptr<Node> n = stack.pop();
    take_edges(n->next_);
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

void set_grad_fn(Tensor& out, std::shared_ptr<Node> node) {
  TensorImpl& impl = impl_of(out);
  impl.grad_fn = std::move(node);
  impl.requires_grad = true;
}
}  // namespace detail

namespace {
// A plain tensor that only its handle refers to (run_backward's local upstream): no other
// handle, no view or detach() sharing its storage, no history, no .grad of its own.
bool owned_outright(const Tensor& t) {
  const auto& impl = impl_ptr_of(t);
  return impl.use_count() == 1 && impl->storage.use_count() == 1 && !impl->grad_fn && !impl->grad &&
         !impl->grad_accumulator;
}
}  // namespace

AccumulateGrad::AccumulateGrad(TensorImpl* leaf) : Node("AccumulateGrad", {}, false), leaf_(leaf) {}

bool AccumulateGrad::accumulates_into(const Tensor& t) const { return leaf_ && leaf_ == impl_ptr_of(t).get(); }

TensorImpl::~TensorImpl() {
  if (grad_accumulator) grad_accumulator->leaf_ = nullptr;
}

std::vector<Tensor> AccumulateGrad::apply(const Tensor& grad_output) {
  if (!leaf_) return {};  // the leaf is gone: nobody can read this gradient
  if (leaf_->grad) {
    Tensor existing = tensor_of(leaf_->grad);
    dispatch(existing.dtype(), [&](auto s) {
      using T = decltype(s);
      T* p = existing.data<T>();
      const T* g = grad_output.data<T>();
      for (int64_t i = 0; i < existing.numel(); ++i) p[i] += g[i];
    });
  } else if (owned_outright(grad_output)) {
    // Nobody else can see this gradient: keep it as .grad instead of a copy (as PyTorch's
    // AccumulateGrad steals it), with the metadata a clone would have.
    TensorImpl& g = impl_of(grad_output);
    g.requires_grad = false;
    g.is_view = false;
    g.torch_strides.clear();
    leaf_->grad = impl_ptr_of(grad_output);
  } else {
    leaf_->grad = impl_ptr_of(grad_output.clone());
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
  SmallStack<Node*> reached;  // every node of this pass, to clear on the way out
  reached.push(start.get());
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
        reached.push(n);
      }
      ++n->pending_;
    }
  }
  // Buffers left by a throwing backward are dropped, not kept alive by the graph.
  struct Clear {
    SmallStack<Node*>& nodes;
    ~Clear() {
      for (size_t i = 0; i < nodes.size(); ++i) nodes[i]->buffer_ = Tensor();
    }
  } clear{reached};

  // Kahn's order: a node runs once every gradient flowing into it has been summed.
  start->buffer_ = g;
  SmallStack<Node*> ready;
  ready.push(start.get());
  std::vector<Tensor> grads;
  while (!ready.empty()) {
    Node* n = ready.pop();
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
      if (--next->pending_ == 0) ready.push(next);
    }
  }
}

}  // namespace gradoracle
